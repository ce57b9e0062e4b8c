import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { tensor } from '../tensor/index.ts';
import { cropped, flipped } from './augment.ts';
import type { DataSource } from './source.ts';

// Two 1×2×3 images (NCHW) with distinct values.
const images = Float32Array.from({ length: 12 }, (_, i) => i + 1);
const source: DataSource = {
  description: 'test', count: 2, sampleDims: [1, 2, 3], labels: null,
  batch: (s, e) => tensor('float32', [e - s, 1, 2, 3], images.slice(s * 6, e * 6)),
};

describe('augmentation', () => {
  it('flip mirrors the last spatial axis', () => {
    assert.deepEqual(Array.from(flipped(source, 'nchw').batch(0, 1).data), [3, 2, 1, 6, 5, 4]);
  });

  it('crop shifts each image by a seeded offset and fills the border with 0; the same seed gives the same copies', () => {
    const a = cropped(source, 'nchw', 1, 1).batch(0, 2).data as Float32Array;
    const b = cropped(source, 'nchw', 1, 1).batch(0, 2).data as Float32Array;
    assert.deepEqual(a, b);
    // Every output value is either 0 (uncovered) or a value of the same image.
    for (let n = 0; n < 2; n++) {
      for (const v of a.subarray(n * 6, n * 6 + 6)) assert.ok(v === 0 || (v >= 1 + 6 * n && v <= 6 + 6 * n));
    }
  });
});
