import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { answerableShare, selectionCeiling } from './headroom.ts';
import type { CalibrationTable } from './policy.ts';
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

describe('selectionCeiling', () => {
  // Three exits at costs 1, 2, 3 of a backbone costing 4, heads at 0.1; 20 samples.
  const n = 20;
  const mk = (cost: number, seed: number): CalibrationTable['exits'][number] => ({
    cost, headCost: 0.1,
    score: Float64Array.from({ length: n }, (_, i) => ((i * 7 + seed * 13) % 20) / 20),
    correct: Uint8Array.from({ length: n }, (_, i) => ((i * 3 + seed) % 5 === 0 ? 0 : 1)),
  });
  const table: CalibrationTable = { n, fullCost: 4, exits: [mk(1, 1), mk(2, 2), mk(3, 3)] };

  it('is the in-sample selection: feasible on the table, and at most the cost of the cross-validated one', () => {
    for (const tolerance of [0.05, 0.1, 0.2]) {
      const c = selectionCeiling(table, tolerance);
      assert.ok(c.outcome.errors <= tolerance * n + 1e-9, `tolerance ${tolerance}: ${c.outcome.errors} errors`);
      const honest = selectPolicy(table, { tolerance, margin: 0 });
      assert.ok(c.outcome.meanCost <= honest.outcome.meanCost + 1e-12, `tolerance ${tolerance}: ${c.outcome.meanCost} > ${honest.outcome.meanCost}`);
    }
  });
});
