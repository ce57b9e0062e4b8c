/**
 * Row-level helpers of the cascade runtime. Confidence scores come from
 * calibrate's scoreRow, the same definition calibration chose the thresholds with.
 * Shapes: logits [rows, classes].
 */

/** Softmax of row r of logits [rows, classes], into a new array. */
export function softmaxRow(logits: Float32Array, r: number, classes: number): Float32Array {
  const out = new Float32Array(classes);
  let mx = -Infinity;
  for (let k = 0; k < classes; k++) mx = Math.max(mx, logits[r * classes + k]!);
  let s = 0;
  for (let k = 0; k < classes; k++) {
    out[k] = Math.exp(logits[r * classes + k]! - mx);
    s += out[k]!;
  }
  for (let k = 0; k < classes; k++) out[k]! /= s;
  return out;
}
