/**
 * A data source without its repeated samples. A build cross-fits heads on folds of its samples and judges
 * thresholds on samples its heads never saw; a sample that appears twice can sit in two folds, so the head that
 * predicts it "out of fold" was trained on its copy, and the calibration trusts the heads far more than new inputs
 * deserve (live traffic that repeated its inputs built a version that agreed 71% with the backbone, calibrated at
 * 98.7%). Repeats carry nothing to learn, so a build keeps each distinct sample once.
 * Invariants: samples are compared by their exact float32 values (bit patterns, so −0 and 0 differ); the first
 * copy of each is kept, in the original order, with its label; the source itself is returned when nothing repeats.
 * This is a build's first full read of its data, in the caller's order, so it also refuses a value that is not finite
 * (naming the sample as the caller counts it): a NaN would otherwise surface as the backbone's NaN answer.
 */
import { LayercacheError } from '../errors/index.ts';
import { sha256 } from '../files/index.ts';
import { firstNonFinite, tensor } from '../tensor/index.ts';
import { boundsChecked, type DataSource } from './source.ts';

/** Samples hashed per batch read from the source. */
const HASH_BATCH = 256;

export interface DistinctSamples {
  /** The source, or a view of it holding the first copy of each distinct sample. */
  readonly source: DataSource;
  /** Samples left out as repeats of earlier ones. */
  readonly repeats: number;
}

/** `source` keeping only the first copy of each sample ([count, ...sampleDims] → [distinct, ...sampleDims]). */
export function distinctSamples(source: DataSource): DistinctSamples {
  const seen = new Set<string>();
  const keep: number[] = [];
  for (let a = 0; a < source.count; a += HASH_BATCH) {
    const b = Math.min(source.count, a + HASH_BATCH);
    const t = source.batch(a, b);
    // A source made in code may return anything: refused as memorySource refuses it, not as a TypeError further on.
    if (!(t.data instanceof Float32Array)) {
      throw new LayercacheError('DATA_SHAPE_MISMATCH', `${source.description}: batch(${a}, ${b}) returned samples of type ${(t.data as object | null)?.constructor?.name ?? typeof t.data}; give a Float32Array (Float32Array.from(values))`);
    }
    const per = t.data.length / (b - a);
    const bad = firstNonFinite(t.data);
    if (bad >= 0) {
      throw new LayercacheError('INPUT_INVALID', `sample ${a + Math.floor(bad / per)} of '${source.description}' holds ${t.data[bad]} (value ${bad % per}); inputs must be finite numbers: fix the data`);
    }
    for (let i = 0; i < b - a; i++) {
      const row = t.data.subarray(i * per, (i + 1) * per);
      const key = sha256(row);
      if (seen.has(key)) continue;
      seen.add(key);
      keep.push(a + i);
    }
  }
  const repeats = source.count - keep.length;
  if (repeats === 0) return { source, repeats };
  const index = Int32Array.from(keep);
  const labels = source.labels === null ? null : Int32Array.from(index, (i) => source.labels![i]!);
  const view: DataSource = {
    description: `${source.description} (${index.length} distinct of ${source.count} samples)`,
    count: index.length,
    sampleDims: source.sampleDims,
    labels,
    batch: (s, e) => {
      // A run of consecutive kept samples is one read of the source; otherwise the rows are gathered one by one.
      if (index[e - 1]! - index[s]! === e - 1 - s) return source.batch(index[s]!, index[e - 1]! + 1);
      const first = source.batch(index[s]!, index[s]! + 1);
      const per = first.data.length;
      const out = new Float32Array((e - s) * per);
      out.set(first.data, 0);
      for (let k = s + 1; k < e; k++) out.set(source.batch(index[k]!, index[k]! + 1).data, (k - s) * per);
      return tensor('float32', [e - s, ...source.sampleDims], out);
    },
  };
  return { source: boundsChecked(view), repeats };
}
