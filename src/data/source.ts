/**
 * A data source: a fixed list of samples, preprocessed on demand in batches.
 * Invariants: batch(start, end) returns float32 [end − start, ...sampleDims] in sample
 * order; labels, when known, are aligned with samples.
 */
import type { Tensor } from '../tensor/index.ts';

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
