import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { globalThresholdPolicy, oracleCost, paperRule } from './baselines.ts';
import { NEVER, simulate, type CalibrationTable } from './policy.ts';
import { scoreOfMaxProbability } from './scores.ts';
import { isFeasible, paretoFront, selectPolicy } from './select.ts';
import { averaged, withExtraErrors } from './cross-validation.ts';
import { optimizeForLambda, shiftPolicy } from './threshold-search.ts';

// Four samples, two exits. Reaching exit 0 costs 1, exit 1 costs 2, the backbone 4; each kept head costs 0.1.
const table: CalibrationTable = {
  n: 4,
  fullCost: 4,
  exits: [
    { cost: 1, headCost: 0.1, score: Float64Array.from([0.9, 0.8, 0.3, 0.2]), correct: Uint8Array.from([1, 0, 1, 1]) },
    { cost: 2, headCost: 0.1, score: Float64Array.from([0.9, 0.9, 0.5, 0.1]), correct: Uint8Array.from([1, 1, 1, 0]) },
  ],
};

describe('policy simulation (hand-computed)', () => {
  it('charges the backbone up to the exit plus every kept head passed', () => {
    const o = simulate(table, { thresholds: [0.85, 0.3] });
    // sample 0 exits at 0: 1 + 0.1; samples 1, 2 at 1: 2 + 0.2; sample 3 runs everything: 4 + 0.2.
    assert.ok(Math.abs(o.meanCost - (1.1 + 2.2 + 2.2 + 4.2) / 4) < 1e-12);
    assert.equal(o.errors, 0);
    assert.deepEqual(o.exitRates, [0.25, 0.5]);
    assert.equal(o.fullRate, 0.25);
  });
});

describe('selectPolicy (hand-computed optima)', () => {
  it('with no disagreement allowed, keeps both exits, thresholds midway below 0.9 and 0.5', () => {
    const s = selectPolicy(table, { tolerance: 0.2 });
    // Exit 0 lets only sample 0 (0.9) through, not sample 1 (0.8); exit 1 lets 0.9 and 0.5 through, not 0.1.
    assert.deepEqual(s.policy.thresholds.map((t) => Number(t.toFixed(6))), [0.85, 0.3]);
    assert.ok(Math.abs(s.outcome.meanCost - 2.425) < 1e-12);
    assert.equal(s.outcome.errors, 0);
  });

  it('with one disagreement allowed, answers everything at exit 0 and drops exit 1', () => {
    const s = selectPolicy(table, { tolerance: 0.3 });
    assert.equal(s.policy.thresholds[1], NEVER);
    assert.ok(s.policy.thresholds[0]! <= 0.2);
    assert.ok(Math.abs(s.outcome.meanCost - 1.1) < 1e-12);
    assert.equal(s.outcome.errors, 1);
  });

  it('a margin tightens the empirical requirement', () => {
    assert.equal(selectPolicy(table, { tolerance: 0.3, margin: 0.1 }).outcome.errors, 0);
  });

  it('statistical mode: 4 samples cannot support a 20% bound at 90% confidence, so nothing exits', () => {
    // Clopper–Pearson upper bound with 0 errors in 4 at δ = 0.1 is 1 − 0.1^(1/4) ≈ 0.44 > 0.2.
    const s = selectPolicy(table, { tolerance: 0.2, delta: 0.1 });
    assert.deepEqual(s.policy.thresholds, [NEVER, NEVER]);
    assert.equal(s.outcome.meanCost, 4);
    assert.ok(isFeasible(s.outcome, 4, { tolerance: 0.2, delta: 0.1 }));
  });

  it('a second objective breaks ties within the first one\'s noise, and only those', () => {
    // The same samples with other costs: reaching exit 0 costs 3, exit 1 costs 1.
    const other: CalibrationTable = { ...table, exits: table.exits.map((e, i) => ({ ...e, cost: i === 0 ? 3 : 1 })) };
    const plain = selectPolicy(table, { tolerance: 0.3 });
    // Best on the first objective: everything at exit 0 (cost 1.1); on the other costs that is 3.1 per sample.
    assert.ok(Math.abs(simulate(other, plain.policy).meanCost - 3.1) < 1e-12);
    assert.deepEqual(selectPolicy(table, { tolerance: 0.3, secondary: { table: other, within: 0 } }).policy, plain.policy);
    const tied = selectPolicy(table, { tolerance: 0.3, secondary: { table: other, within: 2 } });
    assert.ok(simulate(other, tied.policy).meanCost < 3.1 - 1e-9, 'a cheaper policy on the second objective is within 2 of the best');
    assert.ok(tied.outcome.meanCost <= plain.outcome.meanCost + 2 + 1e-12);
    assert.ok(tied.outcome.errors <= 1);
  });

  it('rejects a tolerance outside (0, 1)', () => {
    for (const t of [0, 1, -0.5, 2]) assert.throws(() => selectPolicy(table, { tolerance: t }), { code: 'CONFIG_INVALID' });
  });
});

describe('raised thresholds (hand-computed)', () => {
  // One exit at cost 0.2 of a backbone costing 1, free head; 40 samples, even ones the first cross-validation half.
  // Two disagreements score 9.5 (sample 0, even half) and 9.7 (sample 1, odd half); every other sample agrees,
  // sample 2 (even) scoring 9.6 and the other 37 scoring 10 to 13.6.
  const score = Float64Array.from({ length: 40 }, (_, i) => (i === 0 ? 9.5 : i === 1 ? 9.7 : i === 2 ? 9.6 : 10 + (i - 3) * 0.1));
  const correct = Uint8Array.from({ length: 40 }, (_, i) => (i < 2 ? 0 : 1));
  const sharp: CalibrationTable = { n: 40, fullCost: 1, exits: [{ cost: 0.2, headCost: 0, score, correct }] };

  it('places a raised threshold between t + shift and the next score up, and drops an exit it lifts above every score', () => {
    // 9.75 + 0.5 = 10.25: midway to the sample scoring 10.3 (the one at 10.2 stays below).
    assert.ok(Math.abs(shiftPolicy(sharp, { thresholds: [9.75] }, 0.5).thresholds[0]! - 10.275) < 1e-9);
    assert.ok(Math.abs(shiftPolicy(sharp, { thresholds: [9.75] }, 0.6).thresholds[0]! - 10.375) < 1e-9);
    // Sparse scores: midway between the scores around 6.5 (4 and 6.6) would be 5.3, under the threshold it raises.
    const sparse: CalibrationTable = { n: 2, fullCost: 1, exits: [{ cost: 0.5, headCost: 0, score: Float64Array.from([6.6, 4]), correct: Uint8Array.from([1, 1]) }] };
    assert.ok(Math.abs(shiftPolicy(sparse, { thresholds: [6] }, 0.5).thresholds[0]! - 6.55) < 1e-9);
    assert.deepEqual(shiftPolicy(sharp, { thresholds: [13] }, 1).thresholds, [NEVER]);
    assert.deepEqual(shiftPolicy(sharp, { thresholds: [NEVER] }, 1).thresholds, [NEVER]);
  });

  it('drops a raised exit whose only samples that high leave at an earlier exit', () => {
    // Raised by 4, exit 0 keeps samples 0–2 (threshold 9); exit 1 would sit at 7.25, where only samples 0–2 reach,
    // and they have left already: its head would run for nothing.
    const twice: CalibrationTable = {
      n: 6,
      fullCost: 100,
      exits: [
        { cost: 10, headCost: 1, score: Float64Array.from([9, 9, 9, 1, 1, 1]), correct: Uint8Array.from([1, 1, 1, 1, 1, 1]) },
        { cost: 50, headCost: 1, score: Float64Array.from([9, 9, 9, 2, 2, 2]), correct: Uint8Array.from([1, 1, 1, 1, 1, 1]) },
      ],
    };
    const raised = shiftPolicy(twice, { thresholds: [5, 1.5] }, 4);
    assert.deepEqual(raised.thresholds, [9, NEVER]);
    // The drop changes no answer, only the cost of the head that gave none.
    const kept = { thresholds: [9, 7.25] };
    assert.deepEqual(simulate(twice, raised).exitRates, simulate(twice, kept).exitRates);
    assert.ok(simulate(twice, raised).meanCost < simulate(twice, kept).meanCost);
  });

  it('keeps the exit when only raised thresholds pass cross-validation', () => {
    // No disagreement allowed. However large λ, the even half's thresholds sit at 9.55 (between its 9.5 and 9.6) and
    // let the odd half's 9.7 through: one disagreement judged, so the λ family alone keeps no exit. Raised by 0.5,
    // each half's thresholds clear the other half's disagreement, and the 37 samples from 10 up still exit.
    const s = selectPolicy(sharp, { tolerance: 0.01 });
    assert.ok(s.shift > 0, `shift ${s.shift}`);
    assert.equal(s.outcome.errors, 0);
    assert.equal(s.crossValidated!.errors, 0);
    assert.ok(s.policy.thresholds[0]! > 9.7 && s.policy.thresholds[0]! < 10.5, `threshold ${s.policy.thresholds[0]}`);
    assert.ok(s.outcome.exitRates[0]! >= 30 / 40, `exit rate ${s.outcome.exitRates[0]}`);
  });
});

describe('baselines (hand-computed)', () => {
  it('oracle: each sample at its earliest agreeing exit, paying only that head', () => {
    assert.ok(Math.abs(oracleCost(table).meanCost - (1.1 + 2.1 + 1.1 + 1.1) / 4) < 1e-12);
  });

  it('paper rule: one global threshold for every exit, tuned to the agreement target', () => {
    const probs: CalibrationTable = {
      ...table,
      exits: table.exits.map((e) => ({ ...e, score: Float64Array.from(e.score, (p) => scoreOfMaxProbability(p)) })),
    };
    const r = paperRule(probs, 1);
    // Any p in (0.8, 0.9] keeps sample 1 (wrong at exit 0, p = 0.8) from exiting early.
    assert.ok(r.threshold > 0.8 && r.threshold <= 0.9);
    assert.equal(r.outcome.agreement, 1);
    const o = simulate(probs, globalThresholdPolicy(probs, scoreOfMaxProbability(0.5)));
    assert.equal(o.errors, 1);
  });

  it('the Pareto front is sorted by cost with strictly increasing agreement', () => {
    const front = paretoFront(table);
    for (let i = 1; i < front.length; i++) {
      assert.ok(front[i]!.meanCost >= front[i - 1]!.meanCost);
      assert.ok(front[i]!.agreement > front[i - 1]!.agreement);
    }
    assert.equal(front.at(-1)!.agreement, 1);
  });
});

describe('cross-validated λ', () => {
  it('does not fit noise: with uninformative scores, in-sample selection exits but cross-validation keeps the backbone', () => {
    const rng = (() => {
      let a = 7;
      return () => ((a = (a * 1103515245 + 12345) % 2147483648) / 2147483648);
    })();
    const n = 400;
    const noisy: CalibrationTable = {
      n,
      fullCost: 10,
      exits: [3, 6].map((cost) => ({
        cost, headCost: 0.1,
        score: Float64Array.from({ length: n }, () => rng()),
        correct: Uint8Array.from({ length: n }, () => (rng() < 0.93 ? 1 : 0)),
      })),
    };
    const inSample = selectPolicy(noisy, { tolerance: 0.02, crossValidate: false });
    assert.ok(inSample.outcome.fullRate < 1, 'in-sample thresholds find lucky high-score runs');
    const honest = selectPolicy(noisy, { tolerance: 0.02 });
    assert.ok(honest.outcome.fullRate > inSample.outcome.fullRate);
    assert.ok(honest.crossValidated === undefined || honest.crossValidated.errors / n <= 0.02);
  });
});

/** Four exits whose scores predict agreement through a shared per-sample difficulty (seeded). */
function synthetic(seed: number, n: number): CalibrationTable {
  let a = seed >>> 0;
  const rng = (): number => (a = (Math.imul(a, 1664525) + 1013904223) >>> 0) / 4294967296;
  const exits = Array.from({ length: 4 }, (_, e) => ({ cost: 2 * (e + 1), headCost: 0.1, score: new Float64Array(n), correct: new Uint8Array(n) }));
  for (let i = 0; i < n; i++) {
    const ease = rng() * 2 - 1;
    for (const [e, col] of exits.entries()) {
      const s = 2 * ease + 0.8 * e + (rng() - 0.5) * 2;
      col.score[i] = s;
      col.correct[i] = rng() < 1 / (1 + Math.exp(-(1.5 * s + 1))) ? 1 : 0;
    }
  }
  return { n, fullCost: 10, exits };
}

describe('the deployed policy is judged too, not only its λ', () => {
  it('on 12 calibration sets of 3,000, every selection at 2% holds on 100,000 new samples', () => {
    // Judging only the λ by cross-validation let one of these (seed 6) reach 2.21% disagreement.
    const selections = Array.from({ length: 12 }, (_, k) => selectPolicy(synthetic(k + 1, 3000), { tolerance: 0.02, margin: 0.004 }));
    const disagreement = selections.map((s, k) => 1 - simulate(synthetic(1001 + k, 100_000), s.policy).agreement);
    assert.ok(disagreement.every((d) => d <= 0.02), `disagreement on new samples, seeds 1–12: ${disagreement.map((d) => `${(100 * d).toFixed(2)}%`).join(' ')}`);
    assert.ok(selections.every((s) => s.outcome.fullRate < 1), 'the test needs selections that exit');
    assert.ok(selections.every((s) => s.estimated && s.estimated.errors >= s.outcome.errors), 'the estimate adds the measured optimism');
  });

  it('with 5 folds (thresholds fitted on 4/5 of the samples) every selection still holds', () => {
    // Without the optimism's division by K − 1 (each sample is fitted on in K − 1 folds) seed 9 held out at 2.46%.
    const selections = Array.from({ length: 12 }, (_, k) => selectPolicy(synthetic(k + 1, 3000), { tolerance: 0.02, margin: 0.004, cvFolds: 5 }));
    const disagreement = selections.map((s, k) => 1 - simulate(synthetic(1001 + k, 100_000), s.policy).agreement);
    assert.ok(disagreement.every((d) => d <= 0.02), `disagreement on new samples, seeds 1–12: ${disagreement.map((d) => `${(100 * d).toFixed(2)}%`).join(' ')}`);
    assert.ok(selections.every((s) => s.outcome.fullRate < 1), 'the test needs selections that exit');
  });
});

describe('averaging several 2-fold splits', () => {
  /** The same samples in another (seeded) order: only which samples share a half changes. */
  function permuted(t: CalibrationTable, seed: number): CalibrationTable {
    let a = seed >>> 0;
    const order = Int32Array.from({ length: t.n }, (_, i) => i);
    for (let i = t.n - 1; i > 0; i--) {
      const j = (a = (Math.imul(a, 1664525) + 1013904223) >>> 0) % (i + 1);
      [order[i], order[j]] = [order[j]!, order[i]!];
    }
    return { ...t, exits: t.exits.map((c) => ({ ...c, score: Float64Array.from(order, (i) => c.score[i]!), correct: Uint8Array.from(order, (i) => c.correct[i]!) })) };
  }

  it('makes the selection depend less on the order of the samples', () => {
    const base = synthetic(3, 2000);
    const spread = (cvSplits: number): number => {
      const costs = [1, 2, 3, 4, 5, 6].map((p) => simulate(base, selectPolicy(permuted(base, p), { tolerance: 0.02, margin: 0.004, cvSplits }).policy).meanCost);
      return Math.max(...costs) - Math.min(...costs);
    };
    const one = spread(1);
    const six = spread(6);
    assert.ok(one > 0, 'the test needs a selection that depends on the split');
    assert.ok(six < one, `spread of the selected cost over 6 orders: ${six.toFixed(4)} with 6 splits, ${one.toFixed(4)} with 1`);
  });
});

describe('feasibility and baselines at their edges (hand-computed)', () => {
  const outcome = (errors: number): ReturnType<typeof simulate> => ({ meanCost: 1, agreement: 1 - errors / 100, errors, exitRates: [0.5], exitErrors: [errors], fullRate: 0.5 });

  it('meets a tolerance exactly, whatever the float rounding of tolerance − margin (0.03 − 0.01 = 0.019999999999999997)', () => {
    assert.equal(isFeasible(outcome(2), 100, { tolerance: 0.03, margin: 0.01 }), true);
    assert.equal(isFeasible(outcome(3), 100, { tolerance: 0.03, margin: 0.01 }), false);
  });

  it('tunes the paper rule to the probability the target needs, not a coarse grid of it', () => {
    // Max probabilities .9999, .9995 (disagrees), .99, .5: full agreement needs p > .9995, exactly one row exits.
    const p = [0.9999, 0.9995, 0.99, 0.5];
    const t: CalibrationTable = { n: 4, fullCost: 1, exits: [{ cost: 0.5, headCost: 0, score: Float64Array.from(p, scoreOfMaxProbability), correct: Uint8Array.from([1, 0, 1, 1]) }] };
    const r = paperRule(t, 1);
    assert.equal(r.outcome.errors, 0);
    assert.deepEqual(r.outcome.exitRates, [0.25]);
    // A probability; within 1e-12 of the cut after 50 halvings (8 gave steps of 1/256: threshold 1, nothing exits).
    assert.ok(r.threshold > 0.9995 && r.threshold <= 0.9995 + 1e-12, String(r.threshold));
  });

  it('adds only positive optimism to an estimate, and averages optimism over splits', () => {
    assert.equal(withExtraErrors(outcome(5), -3, 100).errors, 5, 'a split that did better on its judged half does not lower the estimate');
    assert.equal(withExtraErrors(outcome(5), 2, 100).errors, 7);
    const avg = averaged([{ outcome: outcome(4), optimismErrors: 2 }, { outcome: outcome(6), optimismErrors: 4 }]);
    assert.equal(avg.optimismErrors, 3);
    assert.equal(avg.outcome.errors, 5);
  });
});

describe('selectPolicy\'s cross-validated outcome (recomputed independently)', () => {
  it('is the deployed rule fitted on one half and judged on the other, both ways, not the in-sample outcome', () => {
    const table = synthetic(1, 3000);
    const sel = selectPolicy(table, { tolerance: 0.02, margin: 0.004 });
    assert.ok(sel.crossValidated && Number.isFinite(sel.lambda), 'a selection with exits, cross-validated');
    // The halves: even and odd samples (two folds, one split, in order).
    const half = (k: number, judged: boolean): CalibrationTable => {
      const idx = Array.from({ length: table.n }, (_, i) => i).filter((i) => (i % 2 === k) === judged);
      return { n: idx.length, fullCost: table.fullCost, exits: table.exits.map((c) => ({ ...c, score: Float64Array.from(idx, (i) => c.score[i]!), correct: Uint8Array.from(idx, (i) => c.correct[i]!) })) };
    };
    let errors = 0;
    let cost = 0;
    for (const k of [0, 1]) {
      const fit = half(k, false);
      const judge = half(k, true);
      const o = simulate(judge, shiftPolicy(fit, optimizeForLambda(fit, sel.lambda), sel.shift));
      errors += o.errors;
      cost += o.meanCost * judge.n;
    }
    assert.equal(sel.crossValidated.errors, errors);
    assert.ok(Math.abs(sel.crossValidated.meanCost - cost / table.n) < 1e-9, `${sel.crossValidated.meanCost} vs ${cost / table.n}`);
    assert.notEqual(errors, sel.outcome.errors, 'judged out of sample, the errors differ from the in-sample ones here');
  });
});
