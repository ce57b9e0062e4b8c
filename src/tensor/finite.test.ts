import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { finiteInput, firstNonFinite } from './finite.ts';
import type { Tensor } from './tensor.ts';
import { randomNormal, seededRng } from './random.ts';

describe('firstNonFinite', () => {
  it('agrees with findIndex(!isFinite) for NaN and ±Infinity at every place, lengths off the unrolled step included', () => {
    const oracle = (d: Float32Array): number => d.findIndex((x) => !Number.isFinite(x));
    const rng = seededRng(5);
    for (const n of [0, 1, 3, 4, 5, 7, 8, 33]) {
      const clean = randomNormal(rng, n, 1e30);
      assert.equal(firstNonFinite(clean), -1, `length ${n}`);
      for (const bad of [Number.NaN, Number.POSITIVE_INFINITY, Number.NEGATIVE_INFINITY]) {
        for (let at = 0; at < n; at++) {
          const d = clean.slice();
          d[at] = bad;
          if (at + 2 < n) d[at + 2] = Number.NaN;
          assert.equal(firstNonFinite(d), oracle(d), `length ${n}, ${bad} at ${at}`);
          assert.equal(firstNonFinite(d), at);
        }
      }
    }
  });

  it('takes every finite float32 as finite: ±0, subnormals and the largest magnitudes', () => {
    const extremes = new Float32Array([0, -0, 1e-45, -1e-45, 3.4028234663852886e38, -3.4028234663852886e38, 1.1754943508222875e-38, 1]);
    assert.equal(firstNonFinite(extremes), -1);
  });

  it('finiteInput: float32 data with every value finite, and nothing else', () => {
    const t = (data: Float32Array | BigInt64Array) => ({ dtype: data instanceof Float32Array ? 'float32' : 'int64', dims: [1, data.length], data }) as Tensor;
    assert.equal(finiteInput(t(new Float32Array([1, -2, 0]))), true);
    assert.equal(finiteInput(t(new Float32Array([1, Number.POSITIVE_INFINITY]))), false);
    assert.equal(finiteInput(t(new Float32Array([Number.NaN]))), false);
    assert.equal(finiteInput(t(new BigInt64Array([1n]))), false);
  });
});
