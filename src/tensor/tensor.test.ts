import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { unusableScoresRow } from './tensor.ts';

describe('unusableScoresRow', () => {
  it('finds the first row holding NaN or +∞, or only −∞; a −∞ beside finite scores is a log-probability of 0', () => {
    const inf = Number.POSITIVE_INFINITY;
    assert.equal(unusableScoresRow(Float32Array.of(1, 2, 3, 4), 2), -1);
    assert.equal(unusableScoresRow(Float32Array.of(0, -inf, -1, 2), 2), -1);
    assert.equal(unusableScoresRow(Float32Array.of(1, 2, -inf, -inf, Number.NaN, 0), 2), 1);
    assert.equal(unusableScoresRow(Float32Array.of(1, 2, 3, 4, 5, Number.NaN), 2), 2);
    assert.equal(unusableScoresRow(Float32Array.of(inf, 0), 2), 0);
    assert.equal(unusableScoresRow(new Float32Array(0), 3), -1);
  });
});
