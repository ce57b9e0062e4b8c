import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SampleBuffer } from './sample-buffer.ts';

const joined = (parts: Float32Array[]): number[] => parts.flatMap((p) => Array.from(p));

describe('SampleBuffer', () => {
  it('keeps the newest samples up to its cap, oldest first, honouring the byte cap', () => {
    const b = new SampleBuffer(2, 3, 1 << 20);
    b.add(Float32Array.from([1, 1, 2, 2, 3, 3, 4, 4]), 4, Uint8Array.from([1, 0, 1, 1]));
    assert.equal(b.total, 3);
    b.add(Float32Array.from([5, 5]), 1);
    assert.deepEqual(Array.from(b.snapshot()), [3, 3, 4, 4, 5, 5]);
    assert.equal(new SampleBuffer(1024, 1_000_000, 1 << 20).capacity, 256);
  });

  it('gives its samples as views, oldest first, before and after it wraps', () => {
    const b = new SampleBuffer(1, 3, 1 << 20);
    assert.deepEqual(b.chunks(), []);
    b.add(Float32Array.from([1, 2]), 2);
    assert.deepEqual(joined(b.chunks()), [1, 2]);
    b.add(Float32Array.from([3]), 1);
    assert.deepEqual(joined(b.chunks()), [1, 2, 3], 'full, not yet wrapped: one view');
    b.add(Float32Array.from([4]), 1);
    assert.equal(b.chunks().length, 2);
    assert.deepEqual(joined(b.chunks()), [2, 3, 4]);
  });

  it('restores saved samples into its own storage, the newest that fit, and goes on from them', () => {
    const b = new SampleBuffer(2, 3, 1 << 20);
    assert.throws(() => b.restoreInto(4, 10), /4 rows do not fit its 3/);
    b.restoreInto(3, 10).set([2, 2, 3, 3, 4, 4]);
    assert.equal(b.size, 3);
    assert.equal(b.total, 10);
    assert.deepEqual(Array.from(b.snapshot()), [2, 2, 3, 3, 4, 4]);
    b.add(Float32Array.from([5, 5]), 1);
    assert.deepEqual(Array.from(b.snapshot()), [3, 3, 4, 4, 5, 5]);
    assert.equal(b.total, 11);

    const roomy = new SampleBuffer(2, 5, 1 << 20);
    roomy.restoreInto(2, 2).set([1, 1, 2, 2]);
    roomy.add(Float32Array.from([3, 3]), 1);
    assert.deepEqual(Array.from(roomy.snapshot()), [1, 1, 2, 2, 3, 3]);
    assert.throws(() => roomy.restoreInto(1, 1), /not empty/);
    roomy.reset();
    assert.deepEqual([roomy.size, roomy.total, roomy.snapshot().length], [0, 0, 0]);
    roomy.restoreInto(1, 1).set([7, 7]);
    assert.deepEqual(Array.from(roomy.snapshot()), [7, 7]);
  });
});
