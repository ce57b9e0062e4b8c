import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { readNpyElements } from './npy.ts';

describe('readNpyElements', () => {
  it('converts float64 in chunks, every element once, whatever the chunk boundaries', async () => {
    const f64 = Float64Array.from({ length: 11 }, (_, i) => i * 1.1);
    const bytes = new Uint8Array(16 + f64.byteLength);
    bytes.set(new Uint8Array(f64.buffer), 16);
    const header = { shape: [11, 1], offset: 16, descr: '<f8', dtype: 'float64', itemBytes: 8 };
    const reads: number[] = [];
    const read = async (start: number, length: number): Promise<Uint8Array> => {
      reads.push(length);
      return bytes.slice(start, start + length);
    };
    for (const chunk of [8, 24, 1 << 20]) {
      reads.length = 0;
      assert.deepEqual(Array.from(await readNpyElements(header, 2, 9, read, chunk)), Array.from(f64.subarray(2), Math.fround), `chunk ${chunk}`);
      assert.equal(reads.reduce((x, y) => x + y, 0), 9 * 8, `chunk ${chunk}: each element read once`);
      assert.ok(Math.max(...reads) <= Math.max(chunk, 8), `chunk ${chunk}: reads of at most a chunk (${reads.join(', ')})`);
    }
  });
});
