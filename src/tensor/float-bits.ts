/**
 * Half-width float formats as bits, decoded to numbers: IEEE 754 half precision (float16, which onnxruntime-node
 * hands over as Uint16Array bits) and bfloat16 (float32's top half). Invariant: exact; subnormals, ±Infinity and
 * NaN included.
 */
import type { Tensor } from './tensor.ts';

/** IEEE 754 half-precision bits → number. */
export function halfToFloat(h: number): number {
  const sign = h & 0x8000 ? -1 : 1;
  const exponent = (h >> 10) & 0x1f;
  const fraction = h & 0x3ff;
  if (exponent === 0) return sign * fraction * 2 ** -24;
  if (exponent === 31) return fraction ? Number.NaN : sign * Number.POSITIVE_INFINITY;
  return sign * (1 + fraction / 1024) * 2 ** (exponent - 15);
}

const scratch = new DataView(new ArrayBuffer(4));
/** bfloat16 bits (the top half of a float32) → number. */
export function bfloat16ToFloat(h: number): number {
  scratch.setUint32(0, h << 16);
  return scratch.getFloat32(0);
}

/** `v` rounded to an integer, halves to the even one (IEEE 754's default rounding). */
function roundHalfEven(v: number): number {
  const f = Math.floor(v);
  const d = v - f;
  return d < 0.5 ? f : d > 0.5 ? f + 1 : f % 2 === 0 ? f : f + 1;
}

/**
 * `x` rounded to the nearest value of a binary float format with `mantissaBits` stored fraction bits and smallest
 * normal exponent `minExponent` (ties to even), as a number; beyond the format's largest value it keeps `x`'s
 * magnitude rounded on the largest exponent's grid (callers refuse such values first).
 */
function roundToFormat(x: number, mantissaBits: number, minExponent: number): number {
  if (!Number.isFinite(x) || x === 0) return x;
  const a = Math.abs(x);
  let e = Math.floor(Math.log2(a));
  if (2 ** e > a) e--;
  else if (2 ** (e + 1) <= a) e++;
  const quantum = 2 ** (Math.max(e, minExponent) - mantissaBits);
  return Math.sign(x) * roundHalfEven(a / quantum) * quantum;
}

/** The float16 value nearest `x` (ties to even), as a number: what `x` becomes when stored as FP16. */
export function roundToHalf(x: number): number {
  return roundToFormat(x, 10, -14);
}

/** The bfloat16 value nearest `x` (ties to even), as a number: what `x` becomes when stored as BF16. */
export function roundToBfloat16(x: number): number {
  return roundToFormat(x, 7, -126);
}

/** A float tensor's values as float32 (float16 bits decoded), or null for other dtypes. */
export function floatValues(t: Tensor): Float32Array | null {
  if (t.dtype === 'float32') return t.data as Float32Array;
  if (t.dtype === 'float64') return Float32Array.from(t.data as Float64Array);
  if (t.dtype === 'float16') return Float32Array.from(t.data as Uint16Array, halfToFloat);
  return null;
}
