/**
 * Per-feature standardisation of pooled features for head training, folded into the head's first layer on
 * export, so a deployed head reads the raw exit tensor and costs nothing more. Pooled features of different
 * exits and models differ in scale by orders of magnitude (post-ReLU activations near 1, a classifier's input in
 * the hundreds, normalised tokens); one learning rate trains them all only once they are standardised.
 * Invariants: head(scaled x; params) = head(x; foldScaling(params)) up to float32 rounding; a feature constant
 * over the rows it was fitted on gets scale 0 (it carried nothing to learn from, so it is ignored).
 * Shapes: features [rows, dim] row-major; mean and scale [dim].
 */
import type { HeadParam } from './head-spec.ts';

export interface FeatureScaling {
  readonly mean: Float32Array;
  /** 1 / standard deviation; 0 for a constant feature. */
  readonly scale: Float32Array;
}

/** Mean and 1/std of every feature over all rows of `data` [rows, dim] (float64 sums). */
export function fitFeatureScaling(data: Float32Array, dim: number): FeatureScaling {
  const rows = data.length / dim;
  const sum = new Float64Array(dim);
  const sq = new Float64Array(dim);
  for (let r = 0; r < rows; r++) {
    const o = r * dim;
    for (let k = 0; k < dim; k++) sum[k]! += data[o + k]!;
  }
  const mean = new Float64Array(dim);
  for (let k = 0; k < dim; k++) mean[k] = rows === 0 ? 0 : sum[k]! / rows;
  for (let r = 0; r < rows; r++) {
    const o = r * dim;
    for (let k = 0; k < dim; k++) {
      const d = data[o + k]! - mean[k]!;
      sq[k]! += d * d;
    }
  }
  const scale = new Float32Array(dim);
  for (let k = 0; k < dim; k++) {
    const sd = rows === 0 ? 0 : Math.sqrt(sq[k]! / rows);
    // Below float32 resolution relative to the mean, the spread is rounding: the feature is constant.
    scale[k] = sd > 1e-6 * Math.abs(mean[k]!) && sd > 1e-30 ? 1 / sd : 0;
  }
  return { mean: Float32Array.from(mean), scale };
}

/** Standardises `data` [rows, dim] in place: x ← (x − mean) · scale. */
export function applyFeatureScaling(data: Float32Array, dim: number, s: FeatureScaling): void {
  const rows = data.length / dim;
  for (let r = 0; r < rows; r++) {
    const o = r * dim;
    for (let k = 0; k < dim; k++) data[o + k] = (data[o + k]! - s.mean[k]!) * s.scale[k]!;
  }
}

/**
 * Parameters that read raw features as `params` read standardised ones: the first layer's weights W [out, dim]
 * become W · diag(scale) and its bias b − W · diag(scale) · mean. Later layers are unchanged.
 */
export function foldScaling(params: readonly HeadParam[], s: FeatureScaling): HeadParam[] {
  const [w, b, ...rest] = params as [HeadParam, HeadParam, ...HeadParam[]];
  const [out, dim] = w.dims as [number, number];
  const wf = new Float32Array(w.data.length);
  const bf = new Float32Array(out);
  for (let i = 0; i < out; i++) {
    let shift = 0;
    for (let k = 0; k < dim; k++) {
      const v = w.data[i * dim + k]! * s.scale[k]!;
      wf[i * dim + k] = v;
      shift += v * s.mean[k]!;
    }
    bf[i] = b.data[i]! - shift;
  }
  return [{ ...w, data: wf }, { ...b, data: bf }, ...rest];
}
