import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { seededRng } from '../tensor/index.ts';
import { NEVER, simulate, type CalibrationTable, type Policy } from './policy.ts';
import { cutBetween, deriveScoreOrders, optimizeForBudget, optimizeForLambda, scoreOrders, shiftPolicy } from './threshold-search.ts';

/**
 * Random tables with integer costs (so every sum is exact and ties resolve the same way however they are summed),
 * scores from a few levels (so ties are common), and some exits that cannot be kept (infinite head cost).
 */
function randomTable(seed: number, n: number, exits: number): CalibrationTable {
  const rng = seededRng(seed).uniform;
  const columns = Array.from({ length: exits }, (_, e) => ({
    cost: 3 * (e + 1),
    headCost: rng() < 0.2 ? NEVER : 1 + Math.floor(rng() * 2),
    score: Float64Array.from({ length: n }, () => Math.floor(rng() * 12) / 4),
    correct: Uint8Array.from({ length: n }, () => (rng() < 0.75 ? 1 : 0)),
  }));
  return { n, fullCost: 3 * (exits + 1), exits: columns };
}

/** The cuts of exit e: midway between the distinct scores of the samples that reach e, highest first, then the lowest score. */
function cutsAt(table: CalibrationTable, thresholds: readonly number[], e: number): number[] {
  const reached: number[] = [];
  for (let i = 0; i < table.n; i++) {
    if (!thresholds.slice(0, e).some((t, f) => table.exits[f]!.score[i]! >= t)) reached.push(table.exits[e]!.score[i]!);
  }
  const levels = [...new Set(reached)].sort((a, b) => b - a);
  return levels.map((s, k) => (k + 1 < levels.length ? (s + levels[k + 1]!) / 2 : s));
}

/** Coordinate descent on n·meanCost + λ·errors with every threshold judged by a full simulation. */
function bruteForceLambda(table: CalibrationTable, lambda: number): number[] {
  const thresholds = table.exits.map(() => NEVER);
  const objective = (t: readonly number[]): number => {
    const o = simulate(table, { thresholds: t });
    return o.meanCost * table.n + lambda * o.errors;
  };
  for (let round = 0; round < 6; round++) {
    let changed = false;
    for (let e = 0; e < table.exits.length; e++) {
      if (!Number.isFinite(table.exits[e]!.headCost)) continue;
      const with_ = (t: number): number[] => thresholds.map((u, f) => (f === e ? t : u));
      let bestT = NEVER;
      let best = objective(with_(NEVER));
      for (const t of cutsAt(table, thresholds, e)) {
        const v = objective(with_(t));
        if (v < best - 1e-9) {
          best = v;
          bestT = t;
        }
      }
      if (bestT !== thresholds[e]) changed = true;
      thresholds[e] = bestT;
    }
    if (!changed) break;
  }
  return thresholds;
}

describe('optimizeForLambda (oracle: the same descent judged by full simulations)', () => {
  it('chooses the thresholds a brute-force descent chooses, on 40 random tables with ties', () => {
    let kept = 0;
    for (let seed = 1; seed <= 40; seed++) {
      const table = randomTable(seed, 30 + seed, 2 + (seed % 5));
      for (const lambda of [0.5, 4, 30]) {
        const fast = optimizeForLambda(table, lambda).thresholds;
        assert.deepEqual(fast, bruteForceLambda(table, lambda), `seed ${seed}, λ ${lambda}`);
        kept += fast.filter((t) => t !== NEVER).length;
      }
    }
    // The comparison must cover descents that keep exits, not only "keep none".
    assert.ok(kept > 100, `only ${kept} exits kept over all cases`);
  });

  it('finds the optimum of a hand-checked table where a later exit\'s threshold sits on a sample\'s score', () => {
    // Full cost 12, λ 30. Keeping exit 1 alone at 0.75 answers every sample there, all correctly: cost 6 + 1 = 7.
    // Adding exit 0 at 0.375 answers samples 0 and 1 there (cost 3 + 3 = 6) but sample 2 then pays 3 + 3 + 6 + 1 = 13:
    // mean 25/3 ≈ 8.33, no better (a sweep that took "≥ threshold" for "> threshold" at exit 1 kept it, at 7.33).
    const table: CalibrationTable = {
      n: 3, fullCost: 12, exits: [
        { cost: 3, headCost: 3, score: Float64Array.from([1.25, 0.5, 0.25]), correct: Uint8Array.from([1, 1, 0]) },
        { cost: 6, headCost: 1, score: Float64Array.from([0.75, 1.25, 0.75]), correct: Uint8Array.from([1, 1, 1]) },
        { cost: 9, headCost: 3, score: Float64Array.from([0.25, 1, 0.75]), correct: Uint8Array.from([1, 1, 0]) },
      ],
    };
    const best = optimizeForLambda(table, 30);
    assert.deepEqual(best.thresholds, [NEVER, 0.75, NEVER]);
    assert.equal(simulate(table, best).meanCost, 7);
  });

  it('drops exits that cannot be kept from a start policy', () => {
    const table = randomTable(7, 50, 4);
    const blocked = table.exits.findIndex((c) => !Number.isFinite(c.headCost));
    assert.ok(blocked >= 0, 'seed 7 should give an exit with an infinite head cost');
    const start: Policy = { thresholds: table.exits.map(() => 0) };
    assert.equal(optimizeForLambda(table, 4, start).thresholds[blocked], NEVER);
  });
});

describe('optimizeForLambda: what a sample costs after exit 0 when exits 1 and 2 are kept (hand-checked)', () => {
  // Heads cost 1, 2 and 1 at exits 0, 1 and 2; λ 10. Each descent starts from exits 1 and 2 kept at 1.5, so that exit 0's
  // first choice depends on what those exits do with its samples (Sweep's continuations).
  const column = (cost: number, headCost: number, score: number[], correct: number[]) => ({ cost, headCost, score: Float64Array.from(score), correct: Uint8Array.from(correct) });
  const start: Policy = { thresholds: [NEVER, 1.5, 1.5] };

  it('a sample that exit 1 answers costs exit 1\'s head plus the backbone up to exit 1', () => {
    // a1 (exit 0 agrees) and a2 (exit 0 disagrees) pass exit 1; b1 and b2 fail exit 1 and pass exit 2. Exits 1 and 2 agree
    // where they answer. Backbone costs 1, 4 and 6 up to exits 0, 1 and 2, 12 in full.
    // Without exit 0, a1 costs 2 + 4 = 6 at exit 1. Keeping exit 0 for a1 alone (threshold 2.5, between a1's 3 and a2's 2)
    // costs a1 1 + 1 = 2 (saves 4) and adds exit 0's head, 1, to the other three samples (+3): net −1. That is
    // a1: 2; a2: 1 + 2 + 4 = 7; b1, b2: 1 + 2 + 1 + 6 = 10 each; total 29, against 30 without exit 0 (6 + 6 + 9 + 9).
    // Answering a2 at exit 0 too would save 7 − 2 = 5 for a disagreement, λ = 10. Exit 1 stays (its head on the three
    // samples it reaches, 6, against 13 − 4 = 9 saved on a2, who would go on past exit 2 to the backbone), and so does
    // exit 2 (2 against 12 − 6 = 6 saved on each of b1, b2; it reaches them alone, so its threshold is their score, 3).
    // A sweep that left exit 1's head out of a1's continuation (4) saw 2 saved, less than 3, and dropped exit 0 (30).
    // One that took a sample's continuation past exit 1 where exit 1 answers it (2 + 7 = 9 for a1, 2 + 13 = 15 for a2)
    // saw a2 answered at exit 0 for 2 + λ = 12 < 15, and kept it.
    const table: CalibrationTable = {
      n: 4, fullCost: 12, exits: [
        column(1, 1, [3, 2, 0, 0], [1, 0, 0, 0]),
        column(4, 2, [3, 3, 0, 0], [1, 1, 0, 0]),
        column(6, 1, [3, 0, 3, 3], [1, 1, 1, 1]),
      ],
    };
    const best = optimizeForLambda(table, 10, start);
    assert.deepEqual(best.thresholds, [2.5, 1.5, 3]);
    const outcome = simulate(table, best);
    assert.deepEqual([outcome.meanCost * table.n, outcome.errors], [29, 0]);
  });

  it('a sample that goes on past exit 1 pays exit 1\'s head, and exit 2\'s disagreement is its own', () => {
    // p fails exit 1 and is answered by exit 2; q passes exit 1; r fails exit 1 and passes exit 2; s fails both and runs
    // the backbone. Exit 0 disagrees on all four, exit 1 on r and s, exit 2 on p and s. Backbone costs 1, 2 and 3 up to
    // exits 0, 1 and 2, 8 in full.
    // Without exit 0, p costs 2 + 1 + 3 = 6 (exit 1's head, then exit 2) and disagrees. Keeping exit 0 for p alone
    // (threshold 1.5) costs p 1 + 1 = 2 (saves 4, same disagreement) and adds 1 to q, r and s (+3): net −1. That is
    // p: 2; q: 1 + 2 + 2 = 5; r: 1 + 2 + 1 + 3 = 7; s: 1 + 2 + 1 + 8 = 12; total 26 and 1 disagreement, against 27 and 1.
    // Exit 1 stays (6 in heads on q, r, s against 1 + 8 − 2 = 7 saved on q), and so does exit 2 (2 against 8 − 3 = 5 on r).
    // A sweep that left exit 1's head out of p's continuation (4) saw 2 saved and dropped exit 0; one that did not
    // carry exit 2's disagreement into p's continuation saw exit 0's answer add one, +λ, and dropped it too.
    const table: CalibrationTable = {
      n: 4, fullCost: 8, exits: [
        column(1, 1, [3, 0, 0, 0], [0, 0, 0, 0]),
        column(2, 2, [0, 3, 0, 0], [1, 1, 0, 0]),
        column(3, 1, [3, 0, 3, 0], [0, 1, 1, 0]),
      ],
    };
    const best = optimizeForLambda(table, 10, start);
    assert.deepEqual(best.thresholds, [1.5, 1.5, 1.5]);
    const outcome = simulate(table, best);
    assert.deepEqual([outcome.meanCost * table.n, outcome.errors], [26, 1]);
  });
});

describe('optimizeForBudget (oracle: feasibility and local optimality by full simulations)', () => {
  // Starts from "keep none", or (odd seeds) from a λ search's policy, as the in-sample selection does.
  it('meets the budget and no single exit\'s cut is cheaper within it, on 40 random tables', () => {
    for (let seed = 1; seed <= 40; seed++) {
      const table = randomTable(100 + seed, 30 + seed, 2 + (seed % 5));
      const start = seed % 2 === 1 ? optimizeForLambda(table, 4) : { thresholds: table.exits.map(() => NEVER) };
      const maxErrors = simulate(table, start).errors + 1 + (seed % 6);
      const result = optimizeForBudget(table, maxErrors, start).thresholds;
      const outcome = simulate(table, { thresholds: result });
      assert.ok(outcome.errors <= maxErrors, `seed ${seed}: ${outcome.errors} errors > ${maxErrors}`);
      table.exits.forEach((c, e) => {
        if (!Number.isFinite(c.headCost)) return;
        for (const t of [NEVER, ...cutsAt(table, result, e)]) {
          const o = simulate(table, { thresholds: result.map((u, f) => (f === e ? t : u)) });
          if (o.errors <= maxErrors) assert.ok(o.meanCost >= outcome.meanCost - 1e-9, `seed ${seed}, exit ${e}: threshold ${t} costs ${o.meanCost} < ${outcome.meanCost}`);
        }
      });
    }
  });
});

describe('deriveScoreOrders', () => {
  it('gives a row subset the order a fresh sort gives, ties included', () => {
    const table = randomTable(3, 200, 4);
    const rows = Int32Array.from({ length: 200 }, (_, i) => i).filter((i) => i % 3 !== 1);
    const columns = table.exits.map((c) => ({ ...c, score: Float64Array.from(rows, (i) => c.score[i]!), correct: Uint8Array.from(rows, (i) => c.correct[i]!) }));
    const derived: CalibrationTable = { n: rows.length, fullCost: table.fullCost, exits: columns };
    const sorted: CalibrationTable = { n: rows.length, fullCost: table.fullCost, exits: columns.map((c) => ({ ...c })) };
    deriveScoreOrders(table, rows, derived);
    assert.deepEqual(scoreOrders(derived), scoreOrders(sorted));
  });

  it('refuses rows that are not ascending', () => {
    const table = randomTable(3, 10, 2);
    assert.throws(() => deriveScoreOrders(table, Int32Array.from([0, 4, 2]), table), { code: 'INTERNAL', message: /row 2 follows 4/ });
  });
});

describe('rows scoring +Infinity (certain beyond float64)', () => {
  // 40% of the rows score +∞ and agree; every other row disagrees. The only good exit answers just the +∞ rows.
  const n = 400;
  const rng = seededRng(1).uniform;
  const table: CalibrationTable = {
    n, fullCost: 1,
    exits: [{ cost: 0.2, headCost: 0.01, score: Float64Array.from({ length: n }, (_, i) => (i % 10 < 4 ? Infinity : 3 * rng())), correct: Uint8Array.from({ length: n }, (_, i) => (i % 10 < 4 ? 1 : 0)) }],
  };

  it('can be answered on their own: the cut under them is finite, above every finite score', () => {
    for (const policy of [optimizeForLambda(table, 100), optimizeForBudget(table, 0, { thresholds: [NEVER] })]) {
      const t = policy.thresholds[0]!;
      assert.ok(Number.isFinite(t) && t > 3, `threshold ${t}`);
      const o = simulate(table, policy);
      assert.equal(o.exitRates[0], 0.4);
      assert.equal(o.errors, 0);
    }
  });

  it('a shifted policy keeps them answered', () => {
    const shifted = shiftPolicy(table, { thresholds: [2] }, 5);
    assert.ok(Number.isFinite(shifted.thresholds[0]!) && shifted.thresholds[0]! >= 7, `threshold ${shifted.thresholds[0]}`);
    assert.equal(simulate(table, shifted).exitRates[0], 0.4);
  });

  it('cutBetween: midway, the higher score over −∞, finite under +∞', () => {
    assert.equal(cutBetween(3, 1), 2);
    assert.equal(cutBetween(3, Number.NEGATIVE_INFINITY), 3);
    assert.equal(cutBetween(Infinity, 3), 4);
    assert.ok(cutBetween(Infinity, 1e300) > 1e300 && Number.isFinite(cutBetween(Infinity, 1e300)));
    assert.equal(cutBetween(Infinity, Number.NEGATIVE_INFINITY), 1);
    assert.equal(cutBetween(Infinity, Infinity), Infinity, 'nothing lies between equal scores');
  });
});
