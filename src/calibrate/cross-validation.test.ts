import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { foldsOf } from './cross-validation.ts';
import type { CalibrationTable } from './policy.ts';

describe('foldsOf', () => {
  // Scores are the sample indices, so each fold's table shows which samples it holds.
  const n = 11;
  const table: CalibrationTable = { n, fullCost: 1, exits: [{ cost: 0.5, headCost: 0, score: Float64Array.from({ length: n }, (_, i) => i), correct: new Uint8Array(n).fill(1) }] };
  const ids = (t: CalibrationTable): number[] => Array.from(t.exits[0]!.score);

  it('judges every sample exactly once, each by thresholds fitted on all the other samples', () => {
    for (const [s, K] of [[0, 2], [0, 3], [2, 3], [1, 5]] as const) {
      const folds = foldsOf(table, s, K);
      assert.equal(folds.length, K);
      const judged = folds.flatMap((f) => ids(f.judge)).sort((a, b) => a - b);
      assert.deepEqual(judged, Array.from({ length: n }, (_, i) => i), `split ${s} of ${K} folds`);
      for (const f of folds) {
        const judge = new Set(ids(f.judge));
        assert.deepEqual(ids(f.fit), Array.from({ length: n }, (_, i) => i).filter((i) => !judge.has(i)), 'fit = the complement, in sample order');
      }
    }
  });

  it('split 0 of 2 folds is the even and the odd samples', () => {
    const [a, b] = foldsOf(table, 0, 2);
    assert.deepEqual(ids(a!.judge), [0, 2, 4, 6, 8, 10]);
    assert.deepEqual(ids(b!.judge), [1, 3, 5, 7, 9]);
  });
});
