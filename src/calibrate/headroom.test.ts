import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { seededRng } from '../tensor/index.ts';
import { agreementCurve, answerableShare, inSampleSelection } from './headroom.ts';
import { NEVER, simulate, type CalibrationTable } from './policy.ts';
import { selectPolicy } from './select.ts';

describe('answerableShare (hand-computed)', () => {
  // Most confident first: 0.9 ✓, 0.8 ✓, 0.7 ✗, 0.6 ✓, 0.5 ✓, 0.4 ✗, 0.3 ✓, 0.2 ✓, 0.1 ✓, 0.05 ✗.
  const score = [0.5, 0.9, 0.7, 0.3, 0.8, 0.05, 0.6, 0.2, 0.4, 0.1];
  const correct = [1, 1, 0, 1, 1, 0, 1, 1, 0, 1];

  it('takes the longest most-confident prefix whose agreement reaches the level', () => {
    // 100%: the first two. 75%: the first 5 have 4/5 = 80% and the first 9 have 7/9 ≈ 78%; the first 10 have 7/10.
    assert.equal(answerableShare(score, correct, 1), 0.2);
    assert.equal(answerableShare(score, correct, 0.75), 0.9);
    assert.equal(answerableShare(score, correct, 0.7), 1);
    // 80%: 4/5 = 80% exactly counts.
    assert.equal(answerableShare(score, correct, 0.8), 0.5);
  });

  it('never cuts through tied scores, which one threshold cannot split', () => {
    // The two most confident tie; one of them disagrees, so at 100% nothing can be answered.
    assert.equal(answerableShare([0.9, 0.9, 0.5], [1, 0, 1], 1), 0);
    assert.equal(answerableShare([0.9, 0.8, 0.5], [1, 0, 1], 1), 1 / 3);
  });

  it('is 0 on no samples', () => {
    assert.equal(answerableShare([], [], 0.99), 0);
  });
});

describe('agreementCurve', () => {
  it('gives the agreement of the most confident answers at every share answered (hand-computed, with a tie)', () => {
    // Most confident first: 0.9 ✓, then 0.8 ✗ and 0.8 ✓ tied, then 0.5 ✓.
    const c = agreementCurve([0.8, 0.9, 0.5, 0.8], [0, 1, 1, 1], 4);
    // The tie is never split: no point at 2 of 4 answered.
    assert.deepEqual(c.hitRate, [0.25, 0.75, 1]);
    assert.deepEqual(c.agreement, [1, 2 / 3, 3 / 4]);
  });

  it('keeps at most points points, one per 1/points of the hit rate, the last one at hit rate 1', () => {
    const rng = seededRng(4);
    const score = Array.from({ length: 1000 }, () => rng.uniform());
    const correct = score.map((s): number => (rng.uniform() < s ? 1 : 0));
    const c = agreementCurve(score, correct, 10);
    assert.ok(c.hitRate.length <= 10, `${c.hitRate.length} points`);
    // Untied scores: one point at every tenth exactly.
    assert.deepEqual(c.hitRate, [0.1, 0.2, 0.3, 0.4, 0.5, 0.6, 0.7, 0.8, 0.9, 1]);
    assert.equal(c.hitRate.at(-1), 1);
    assert.equal(c.agreement.at(-1), correct.reduce((a, b) => a + b, 0) / 1000);
    for (let k = 1; k < c.hitRate.length; k++) assert.ok(c.hitRate[k]! > c.hitRate[k - 1]!);
  });

  it('at full resolution, answerableShare is its largest hit rate with agreement at the level (oracle)', () => {
    const rng = seededRng(9);
    for (let trial = 0; trial < 50; trial++) {
      const n = 20 + Math.floor(rng.uniform() * 200);
      // Scores on a coarse grid so that ties are common.
      const score = Array.from({ length: n }, () => Math.round(rng.uniform() * 20) / 20);
      const correct = score.map((s) => (rng.uniform() < 0.5 + s / 2 ? 1 : 0));
      const c = agreementCurve(score, correct, n);
      for (const level of [0.6 + 0.4 * rng.uniform(), 0.9 + 0.1 * rng.uniform(), 1]) {
        const fromCurve = Math.max(0, ...c.hitRate.filter((_, k) => c.agreement[k]! >= level));
        assert.ok(Math.abs(fromCurve - answerableShare(score, correct, level)) < 1e-12, `trial ${trial}, level ${level}`);
      }
    }
  });

  it('is empty on no samples and rejects mismatched inputs', () => {
    assert.deepEqual(agreementCurve([], []), { hitRate: [], agreement: [] });
    assert.throws(() => agreementCurve([0.5], [1, 0]), /1 scores but 2 agreement flags/);
    assert.throws(() => agreementCurve([0.5], [1], 0), /points 0/);
  });
});

/** The cheapest policy with at most maxErrors disagreements, by trying every threshold of every exit. */
function exhaustive(table: CalibrationTable, maxErrors: number): number {
  const choices = table.exits.map((c) => [NEVER, ...new Set(c.score)]);
  const thresholds = table.exits.map(() => NEVER);
  let best = Number.POSITIVE_INFINITY;
  const visit = (e: number): void => {
    if (e === table.exits.length) {
      const o = simulate(table, { thresholds });
      if (o.errors <= maxErrors && o.meanCost < best) best = o.meanCost;
      return;
    }
    for (const t of choices[e]!) {
      thresholds[e] = t;
      visit(e + 1);
    }
  };
  visit(0);
  return best;
}

describe('inSampleSelection', () => {
  // Three exits at costs 1, 2, 3 of a backbone costing 4, heads at 0.1; 20 samples, each exit wrong on 4.
  const n = 20;
  const column = (cost: number, seed: number): CalibrationTable['exits'][number] => ({
    cost, headCost: 0.1,
    score: Float64Array.from({ length: n }, (_, i) => ((i * 7 + seed * 13) % 20) / 20),
    correct: Uint8Array.from({ length: n }, (_, i) => ((i * 3 + seed) % 5 === 0 ? 0 : 1)),
  });
  const table: CalibrationTable = { n, fullCost: 4, exits: [column(1, 1), column(2, 2), column(3, 3)] };

  it('finds the exhaustive optimum where the λ search alone does not', () => {
    // At 5% (1 disagreement) the λ search keeps no exit (cost 4); the optimum is 3.295.
    const lambdaOnly = simulate(table, selectPolicy(table, { tolerance: 0.05, margin: 0, crossValidate: false }).policy).meanCost;
    assert.equal(lambdaOnly, 4);
    for (const tolerance of [0.05, 0.1, 0.2]) {
      const best = inSampleSelection(table, tolerance);
      const optimum = exhaustive(table, Math.floor(tolerance * n + 1e-9));
      assert.ok(Math.abs(best.outcome.meanCost - optimum) < 1e-9, `tolerance ${tolerance}: ${best.outcome.meanCost} vs the optimum ${optimum}`);
    }
    assert.ok(Math.abs(exhaustive(table, 1) - 3.295) < 1e-9);
  });

  it('on random small tables: always within budget, never worse than the λ search, at the optimum on nearly all', () => {
    let optimal = 0;
    let cases = 0;
    for (let q = 0; q < 100; q++) {
      const rng = seededRng(q + 1);
      const m = 14;
      const t: CalibrationTable = {
        n: m, fullCost: 4,
        exits: [1, 2, 3].map((cost) => {
          const score = Float64Array.from({ length: m }, () => Math.floor(rng.uniform() * 8) / 8);
          return { cost, headCost: 0.1, score, correct: Uint8Array.from(score, (s) => (rng.uniform() < 0.5 + 0.5 * s ? 1 : 0)) };
        }),
      };
      for (const tolerance of [0.08, 0.15, 0.25]) {
        const maxErrors = Math.floor(tolerance * m + 1e-9);
        const best = inSampleSelection(t, tolerance);
        const lambdaOnly = simulate(t, selectPolicy(t, { tolerance, margin: 0, crossValidate: false }).policy);
        const optimum = exhaustive(t, maxErrors);
        assert.ok(best.outcome.errors <= maxErrors);
        assert.ok(best.outcome.meanCost >= optimum - 1e-9, 'cheaper than the exhaustive optimum: the simulation or the budget is wrong');
        assert.ok(best.outcome.meanCost <= lambdaOnly.meanCost + 1e-9);
        cases++;
        if (best.outcome.meanCost < optimum + 1e-9) optimal++;
      }
    }
    // Measured when written: 277 of 300 (the λ search alone reached the optimum on about 55% of such tables).
    assert.ok(optimal >= 0.9 * cases, `at the optimum on ${optimal} of ${cases}`);
  });
});
