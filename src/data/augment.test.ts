import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { tensor } from '../tensor/index.ts';
import { LayercacheError } from '../errors/index.ts';
import { cropped, flipped, parseAugmentList, randomized, withAugmentedCopies } from './augment.ts';
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

  it('refuses samples whose layout looks the other way (mirroring [H, W, 3] as NCHW would swap R and B), naming --layout', () => {
    const hwc: DataSource = { ...source, sampleDims: [8, 8, 3], batch: (s, e) => tensor('float32', [e - s, 8, 8, 3], new Float32Array((e - s) * 192)) };
    for (const make of [() => flipped(hwc, 'nchw'), () => withAugmentedCopies(hwc, ['random'], 'nchw', 1)]) {
      assert.throws(make, (e: unknown) => e instanceof LayercacheError && e.code === 'DATA_SHAPE_MISMATCH' && /\[8, 8, 3\], which looks nhwc \(3 channels\); give --layout nhwc/.test(e.message));
    }
    const chw: DataSource = { ...source, sampleDims: [3, 8, 8] };
    assert.throws(() => flipped(chw, 'nhwc'), /\[3, 8, 8\], which looks nchw \(3 channels\); give --layout nchw/);
    // The right layout, and shapes that could be either (feature maps), pass.
    assert.equal(flipped(hwc, 'nhwc').count, 2);
    assert.equal(flipped({ ...source, sampleDims: [16, 8, 8] }, 'nchw').count, 2);
    // Feature maps of small spatial size are not images of another layout.
    for (const [dims, layout] of [[[64, 4, 4], 'nchw'], [[512, 2, 2], 'nchw'], [[4, 4, 64], 'nhwc'], [[3, 3, 3], 'nchw'], [[8, 8, 3], 'nhwc']] as const) {
      assert.equal(flipped({ ...source, sampleDims: dims }, layout).count, 2, `${layout} [${dims.join(', ')}]`);
    }
    assert.throws(() => flipped({ ...source, sampleDims: [8, 8, 3] }, 'nchw'), /give --layout nhwc/);
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

  it('random mirrors some images and shifts them, seeded: every value comes from the same image, row order is kept within the row or reversed', () => {
    // 40 one-row images 1×1×3 so that a shift of 0 with a mirror is visible as a reversal.
    const many: DataSource = {
      description: 'rows', count: 40, sampleDims: [1, 1, 3], labels: null,
      batch: (s, e) => tensor('float32', [e - s, 1, 1, 3], Float32Array.from({ length: (e - s) * 3 }, (_, i) => 10 * (s + Math.floor(i / 3)) + (i % 3) + 1)),
    };
    const a = randomized(many, 'nchw', 3, 0).batch(0, 40).data as Float32Array;
    assert.deepEqual(a, randomized(many, 'nchw', 3, 0).batch(0, 40).data);
    let mirrored = 0;
    for (let n = 0; n < 40; n++) {
      const row = Array.from(a.subarray(3 * n, 3 * n + 3));
      const plain = [1, 2, 3].map((k) => 10 * n + k);
      if (row.join() === [...plain].reverse().join()) mirrored++;
      else assert.deepEqual(row, plain, `image ${n} is neither itself nor its mirror: ${row.join(',')}`);
    }
    // Seeded coin flips: some but not all of the 40 are mirrored.
    assert.ok(mirrored > 5 && mirrored < 35, `mirrored ${mirrored} of 40`);
    // A different seed gives different copies.
    assert.notDeepEqual(a, randomized(many, 'nchw', 4, 0).batch(0, 40).data);
  });

  it('withAugmentedCopies returns the source, then one copy per entry, each random copy with its own seed', () => {
    const sources = withAugmentedCopies(source, ['flip', 'random', 'random'], 'nchw', 1);
    assert.equal(sources.length, 4);
    assert.equal(sources[0], source);
    assert.deepEqual(Array.from(sources[1]!.batch(0, 1).data), [3, 2, 1, 6, 5, 4]);
    assert.notDeepEqual(sources[2]!.batch(0, 2).data, sources[3]!.batch(0, 2).data);
  });
});

describe('parseAugmentList', () => {
  it('expands NAME:COUNT into COUNT copies, in order', () => {
    assert.deepEqual(parseAugmentList('flip,random:3,crop', '--augment'), ['flip', 'random', 'random', 'random', 'crop']);
  });

  it('rejects unknown names and counts that are not positive integers, naming the entry', () => {
    for (const [value, pattern] of [
      ['rotate', /'rotate' is not one of flip, crop, random/], ['random:0', /'random:0'/], ['random:2.5', /'random:2.5'/], ['flip:1:2', /'flip:1:2'/],
      ['flip,random:2,flip', /more than one flip/], ['flip:2', /more than one flip/], [' , ', /names no augmentation/], ['random:33', /asks for 33 copies; at most 32/], ['random:1e10', /'random:1e10'/], ['random:0x10', /'random:0x10'/], ['random:99999999999', /asks for 99999999999 copies/],
    ] as const) {
      assert.throws(() => parseAugmentList(value, '--augment'), (e: unknown) => e instanceof LayercacheError && e.code === 'USAGE' && pattern.test(e.message));
    }
  });
});
