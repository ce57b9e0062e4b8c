/**
 * The batch-1 latency saving of a bundle over its backbone, from latencies timed in alternating blocks (a
 * block of samples through the backbone and the same samples through the bundle, the two in turn first), with a 95% percentile
 * bootstrap interval over the blocks. Blocks are the unit of resampling because the two sides of a block share
 * the machine's conditions of that moment; the interval therefore covers the noise within one run, not the
 * drift between runs or processes (on our shared machine, separate runs of the same bundle differed by more).
 * Invariants: the estimate is 1 − Σ bundle / Σ backbone over all timed samples (so it equals the saving of the
 * means); the resampling is seeded, so a report is reproducible from its traces.
 */
import { LayercacheError } from '../errors/index.ts';
import { seededRng } from '../tensor/index.ts';

/** Blocks below which no interval is given: a bootstrap over a handful of blocks spans little more than their range. */
export const MIN_INTERVAL_BLOCKS = 10;

export interface PairedSaving {
  /** 1 − mean bundle latency / mean backbone latency. */
  readonly saved: number;
  /** 95% bootstrap interval of `saved` over the blocks; null with fewer than MIN_INTERVAL_BLOCKS blocks. */
  readonly ci95: readonly [number, number] | null;
  /** Paired blocks resampled. */
  readonly blocks: number;
  readonly blockSize: number;
}

/** backbone, cached: per-sample latencies in timing order, sample i of each from the same input; blockSize: samples per block. */
export function pairedSaving(backbone: readonly number[], cached: readonly number[], blockSize: number, reps = 2000, seed = 1): PairedSaving {
  if (backbone.length !== cached.length || backbone.length === 0 || !(Number.isInteger(blockSize) && blockSize >= 1)) {
    throw new LayercacheError('INTERNAL', `paired latencies need equal, non-zero lengths and a positive block size (got ${backbone.length} and ${cached.length}, blocks of ${blockSize})`);
  }
  const sums: [number, number][] = [];
  for (let i = 0; i < backbone.length; i += blockSize) {
    let b = 0;
    let c = 0;
    for (let k = i; k < Math.min(backbone.length, i + blockSize); k++) {
      b += backbone[k]!;
      c += cached[k]!;
    }
    sums.push([b, c]);
  }
  const savedOf = (pick: (k: number) => number): number => {
    let b = 0;
    let c = 0;
    for (let k = 0; k < sums.length; k++) {
      const s = sums[pick(k)]!;
      b += s[0];
      c += s[1];
    }
    return 1 - c / b;
  };
  const saved = savedOf((k) => k);
  // Blocks of at most as many samples as there are.
  const size = Math.min(blockSize, backbone.length);
  if (sums.length < MIN_INTERVAL_BLOCKS) return { saved, ci95: null, blocks: sums.length, blockSize: size };
  const rng = seededRng(seed);
  const boots = Float64Array.from({ length: reps }, () => savedOf(() => Math.floor(rng.uniform() * sums.length))).sort();
  const at = (q: number): number => boots[Math.min(reps - 1, Math.max(0, Math.round(q * (reps - 1))))]!;
  return { saved, ci95: [at(0.025), at(0.975)], blocks: sums.length, blockSize: size };
}
