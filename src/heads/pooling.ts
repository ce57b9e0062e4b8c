/**
 * Pooling of an exit tensor into a flat feature vector, emitted as ONNX nodes. The same
 * function builds the probe (features for training) and the deployed head, so their
 * features match exactly.
 * Shapes (per sample, batch first and dynamic): [C, H, W] → [C·k·k] by adaptive average
 * pooling (global average when k = 1); [T, D] → [D] (mean over T); [D] → [D]; higher
 * ranks → [C] by global average.
 */
import { LayercacheError } from '../errors/index.ts';
import type { GraphBuilder } from '../onnx/index.ts';
import { tensor } from '../tensor/index.ts';

/** Length of the pooled feature for an exit with per-sample dims `dims`. */
export function pooledDim(dims: readonly number[], k: number): number {
  if (dims.length === 1) return dims[0]!;
  if (dims.length === 2) return dims[1]!;
  if (dims.length === 3) {
    const kk = Math.min(k, dims[1]!, dims[2]!);
    return dims[0]! * kk * kk;
  }
  return dims[0]!;
}

/** Adaptive average pooling matrix [H·W, k·k] (PyTorch's bin edges). */
function adaptiveMatrix(h: number, w: number, k: number): Float32Array {
  const m = new Float32Array(h * w * k * k);
  for (let i = 0; i < k; i++) {
    const r0 = Math.floor((i * h) / k);
    const r1 = Math.ceil(((i + 1) * h) / k);
    for (let j = 0; j < k; j++) {
      const c0 = Math.floor((j * w) / k);
      const c1 = Math.ceil(((j + 1) * w) / k);
      const inv = 1 / ((r1 - r0) * (c1 - c0));
      for (let r = r0; r < r1; r++) for (let c = c0; c < c1; c++) m[(r * w + c) * k * k + i * k + j] = inv;
    }
  }
  return m;
}

/**
 * Appends pooling nodes reading `input` ([batch, ...dims]) and returns the name of a
 * [batch, pooledDim(dims, k)] feature tensor.
 */
export function poolFeatures(g: GraphBuilder, input: string, dims: readonly number[], k: number, prefix: string): string {
  if (!Number.isInteger(k) || k < 1) throw new LayercacheError('CONFIG_INVALID', `pooling grid ${k} must be an integer >= 1`);
  if (dims.length === 1) return input;
  if (dims.length === 2) {
    return g.opsetVersion >= 18
      ? g.op('ReduceMean', [input, g.weight(g.fresh(`${prefix}_axes`), tensor('int64', [1], new BigInt64Array([1n])))], { keepdims: 0 }, `${prefix}_feat`)
      : g.op('ReduceMean', [input], { axes: [1], keepdims: 0 }, `${prefix}_feat`);
  }
  const [c, h, w] = [dims[0]!, dims[1]!, dims[2]!];
  const kk = dims.length === 3 ? Math.min(k, h, w) : 1;
  if (kk === 1) return g.op('Flatten', [g.op('GlobalAveragePool', [input], {}, `${prefix}_gap`)], { axis: 1 }, `${prefix}_feat`);
  if (h % kk === 0 && w % kk === 0) {
    const kernel = [h / kk, w / kk];
    const pooled = g.op('AveragePool', [input], { kernel_shape: kernel, strides: kernel }, `${prefix}_pool`);
    return g.op('Flatten', [pooled], { axis: 1 }, `${prefix}_feat`);
  }
  const shape = g.weight(g.fresh(`${prefix}_shape`), tensor('int64', [3], new BigInt64Array([0n, BigInt(c), BigInt(h * w)])));
  const flat = g.op('Reshape', [input, shape], {}, `${prefix}_hw`);
  const p = g.weight(g.fresh(`${prefix}_adaptive`), tensor('float32', [h * w, kk * kk], adaptiveMatrix(h, w, kk)));
  return g.op('Flatten', [g.op('MatMul', [flat, p], {}, `${prefix}_cells`)], { axis: 1 }, `${prefix}_feat`);
}
