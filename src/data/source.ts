/**
 * A data source: a fixed list of samples, preprocessed on demand in batches.
 * Invariants: batch(start, end) returns float32 [end − start, ...sampleDims] in sample
 * order; labels, when known, are aligned with samples.
 */
import { constants } from 'node:buffer';
import { LayercacheError, isRecord, requireArgument } from '../errors/index.ts';
import { tensor, type Tensor } from '../tensor/index.ts';

/** The most bytes one typed array holds (Node's buffer.constants.MAX_LENGTH: 4 GiB on 64-bit Node 20). */
export const MAX_ARRAY_BYTES = constants.MAX_LENGTH;

/**
 * Refuses a range of `count` items (samples, records, images; `what`, e.g. "records 0-1499999") that would take
 * `bytesPer` bytes each in one array, when they do not fit in one: a typed array that large cannot be made, and the
 * failure was a RangeError ("Invalid typed array length"). `spec` names the data; `size`, a smaller size's hint.
 */
export function checkArrayBytes(spec: string, what: string, count: number, bytesPer: number, size = ''): void {
  const bytes = count * bytesPer;
  if (bytes <= MAX_ARRAY_BYTES) return;
  if (bytesPer > MAX_ARRAY_BYTES) {
    throw new LayercacheError('DATA_SPEC_INVALID', `data spec '${spec}': one sample would take ${(bytesPer / 2 ** 30).toFixed(1)} GiB in memory, over the ${(MAX_ARRAY_BYTES / 2 ** 30).toFixed(1)} GiB one array holds; give smaller samples${size}`);
  }
  const fits = Math.max(1, Math.floor(MAX_ARRAY_BYTES / bytesPer));
  throw new LayercacheError('DATA_SPEC_INVALID', `data spec '${spec}': ${what} would take ${(bytes / 2 ** 30).toFixed(1)} GiB in memory, over the ${(MAX_ARRAY_BYTES / 2 ** 30).toFixed(1)} GiB one array holds; take at most ${fits} at once (a range, #0-${fits - 1})${size}`);
}

export interface DataSource {
  /** Human-readable description, e.g. "cifar10:…/cifar10_test_jpeg.bin#0-4999". */
  readonly description: string;
  readonly count: number;
  /** Per-sample input dims (no batch), e.g. [3, 32, 32]. */
  readonly sampleDims: readonly number[];
  /** [count] class labels, or null when the data has none. */
  readonly labels: Uint8Array | Int32Array | null;
  /** Samples [start, end) as one input tensor. */
  batch(start: number, end: number): Tensor<'float32'>;
}

/** Throws ARGUMENT_INVALID unless `value` has a DataSource's fields. call, arg: the public call and its argument. */
export function requireDataSource(call: string, arg: string, value: unknown): void {
  requireArgument(call, arg, value, (v) => isRecord(v) && typeof v.batch === 'function' && Number.isInteger(v.count) && Array.isArray(v.sampleDims) && typeof v.description === 'string',
    "a DataSource, from openDataSource('cifar10:data.bin#0-999', preprocess) or memorySource(samples, [3, 32, 32], 'my samples')");
}

/** `source` whose batch(start, end) refuses a range outside [0, count] (instead of NaN rows or a RangeError). */
export function boundsChecked(source: DataSource): DataSource {
  const inner = source.batch.bind(source);
  return {
    ...source,
    batch: (s, e) => {
      if (!(Number.isInteger(s) && Number.isInteger(e) && s >= 0 && s < e && e <= source.count)) {
        throw new LayercacheError('DATA_SPEC_INVALID', `${source.description}: batch(${s}, ${e}) is outside its ${source.count} samples; ask for 0 ≤ start < end ≤ ${source.count}`);
      }
      return inner(s, e);
    },
  };
}

/**
 * A data source over samples already in memory. data: [count, ...sampleDims] float32.
 * The array is not copied; the caller must not change it while the source is in use.
 */
export function memorySource(data: Float32Array, sampleDims: readonly number[], description: string): DataSource {
  const call = 'memorySource(data, sampleDims, description)';
  requireArgument(call, 'data', data, (v) => ArrayBuffer.isView(v), 'the samples as one Float32Array [count × sample size], e.g. Float32Array.from(values)');
  requireArgument(call, 'description', description, 'string', "a name for the samples in messages, e.g. 'my samples'");
  requireArgument(call, 'sampleDims', sampleDims, 'array', 'the shape of one sample, e.g. [3, 32, 32]');
  // From code: checked here, rather than failing later in a tensor with a message about a constructor.
  if (!(data instanceof Float32Array)) {
    throw new LayercacheError('DATA_SHAPE_MISMATCH', `${description}: the samples are a ${(data as object | null)?.constructor?.name ?? typeof data}; give a Float32Array (Float32Array.from(values))`);
  }
  if (!sampleDims.every((d) => Number.isInteger(d) && d >= 1)) {
    throw new LayercacheError('DATA_SHAPE_MISMATCH', `${description}: sample shape [${sampleDims.join(', ')}] has an axis that is not a whole number of at least 1; give the shape of one sample, e.g. [3, 32, 32]`);
  }
  const per = sampleDims.reduce((a, b) => a * b, 1);
  if (per === 0 || data.length % per !== 0) {
    throw new LayercacheError('DATA_SHAPE_MISMATCH', `${description}: ${data.length} values do not divide into samples of shape [${sampleDims.join(', ')}]`);
  }
  const count = data.length / per;
  return boundsChecked({
    description, count, sampleDims: [...sampleDims], labels: null,
    batch: (s, e) => tensor('float32', [e - s, ...sampleDims], data.subarray(s * per, e * per)),
  });
}

/**
 * Refuses data whose samples are not of shape `want` (per sample, no batch). model: what expects them, e.g. "the
 * model input 'x'"; fix: how to make them fit.
 */
export function requireSampleDims(data: DataSource, want: readonly (number | string)[], model: string, fix: string): void {
  if (want.join('x') !== data.sampleDims.join('x')) {
    // The same dims in another order, from tensors: --layout lays out decoded images, not stored tensors.
    const sorted = (d: readonly (number | string)[]): string => d.map(String).sort().join('x');
    const tensors = /^(npy|raw):/.test(data.description) && sorted(want) === sorted(data.sampleDims);
    const hint = tensors ? 'tensor data (npy:, raw:) is fed as stored, whatever --layout says (which lays out decoded images): store the tensors in the model\'s order' : fix;
    throw new LayercacheError('DATA_SHAPE_MISMATCH', `data '${data.description}' gives samples of shape [${data.sampleDims.join(', ')}] but ${model} expects [${want.join(', ')}] per sample; ${hint}`);
  }
}
