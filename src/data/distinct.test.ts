import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { distinctSamples } from './distinct.ts';
import { memorySource, type DataSource } from './source.ts';

/** Rows of 2 values: A, B, A, C, B (labels 0–4). */
function repeated(): DataSource {
  const rows = [[1, 2], [3, 4], [1, 2], [5, 6], [3, 4]];
  const source = memorySource(Float32Array.from(rows.flat()), [2], 'test rows');
  return { ...source, labels: Int32Array.from([0, 1, 2, 3, 4]) };
}

describe('distinctSamples', () => {
  it('keeps the first copy of each sample, in order, with its label; any batch reads the right rows', () => {
    const { source, repeats } = distinctSamples(repeated());
    assert.equal(repeats, 2);
    assert.equal(source.count, 3);
    assert.deepEqual(Array.from(source.labels!), [0, 1, 3]);
    assert.deepEqual(Array.from(source.batch(0, 3).data), [1, 2, 3, 4, 5, 6]);
    // Kept rows 1 and 3 of the source are not adjacent there: gathered one by one.
    assert.deepEqual(Array.from(source.batch(1, 3).data), [3, 4, 5, 6]);
    assert.deepEqual(source.batch(1, 3).dims, [2, 2]);
    assert.match(source.description, /^test rows \(3 distinct of 5 samples\)$/);
    assert.throws(() => source.batch(2, 4), { code: 'DATA_SPEC_INVALID' });
  });

  it('returns the source itself when nothing repeats; values that differ in one bit are different samples', () => {
    const source = memorySource(Float32Array.from([0, 1, -0, 1, 0, Math.fround(1 + 2 ** -23)]), [2], 'close rows');
    const d = distinctSamples(source);
    assert.equal(d.repeats, 0);
    assert.equal(d.source, source);
  });

  it('refuses, with a coded error, a source made in code whose batches are not Float32Arrays; and a value that is not finite', () => {
    const good = repeated();
    for (const data of [[1, null, 3, 4], new Float64Array(4), new BigInt64Array(4)]) {
      const odd = { ...good, batch: (a: number, b: number) => ({ ...good.batch(a, b), data }) } as unknown as DataSource;
      assert.throws(() => distinctSamples(odd), { code: 'DATA_SHAPE_MISMATCH', message: /^test rows: batch\(0, 5\) returned samples of type (Array|Float64Array|BigInt64Array); give a Float32Array/ });
    }
    const nan = memorySource(Float32Array.from([1, 2, 3, Number.NaN]), [2], 'nan rows');
    assert.throws(() => distinctSamples(nan), { code: 'INPUT_INVALID', message: /^sample 1 of 'nan rows' holds NaN \(value 1\); inputs must be finite numbers/ });
  });
});
