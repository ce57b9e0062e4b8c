/**
 * The head family: pooled features → optional hidden layer + ReLU → logits.
 * Invariants: a head is fully described by its spec, its exit's per-sample shape and its
 * parameters; parameter order is fixed ([W, b] for linear heads, [W1, b1, W2, b2] for
 * MLP heads; weights are [out, in] as Gemm with transB = 1 expects).
 */
import { randomNormal, type Rng } from '../tensor/index.ts';

export interface HeadSpec {
  /** Adaptive average pooling grid: 1 = global average, k = k×k cells. */
  readonly pool: number;
  /** Hidden units; 0 = linear head. */
  readonly hidden: number;
  /** Dropout on the hidden layer while training (0 = none). */
  readonly dropout: number;
}

export interface HeadParam {
  readonly name: string;
  readonly dims: readonly number[];
  readonly data: Float32Array;
}

/** Parameter shapes of a head reading `inputDim` features and producing `classes` logits. */
export function paramShapes(spec: HeadSpec, inputDim: number, classes: number): { name: string; dims: number[] }[] {
  return spec.hidden > 0
    ? [
      { name: 'w1', dims: [spec.hidden, inputDim] }, { name: 'b1', dims: [spec.hidden] },
      { name: 'w2', dims: [classes, spec.hidden] }, { name: 'b2', dims: [classes] },
    ]
    : [{ name: 'w', dims: [classes, inputDim] }, { name: 'b', dims: [classes] }];
}

/** He-initialised weights and zero biases. */
export function initParams(spec: HeadSpec, inputDim: number, classes: number, rng: Rng): HeadParam[] {
  return paramShapes(spec, inputDim, classes).map(({ name, dims }) => {
    const n = dims.reduce((a, b) => a * b, 1);
    const data = dims.length === 1 ? new Float32Array(n) : randomNormal(rng, n, Math.sqrt(2 / dims[1]!));
    return { name, dims, data };
  });
}

/** Forward multiply-accumulates per sample of the head after pooling. */
export function headMacs(spec: HeadSpec, inputDim: number, classes: number): number {
  return spec.hidden > 0 ? inputDim * spec.hidden + spec.hidden + spec.hidden * classes : inputDim * classes;
}

/** Short human label, e.g. "mlp128@4x4" or "linear@gap". */
export function headLabel(spec: HeadSpec): string {
  const pool = spec.pool === 1 ? 'gap' : `${spec.pool}x${spec.pool}`;
  return `${spec.hidden > 0 ? `mlp${spec.hidden}` : 'linear'}@${pool}`;
}
