/**
 * The values of one v2 tensor, as float32, from JSON `data` or binary bytes: the datatypes the protocol names, their
 * ranges, the nesting JSON data may have, and the shapes a request may declare.
 * Invariants: every value returned is a finite float32 of its datatype's range, or the call throws
 * INFER_REQUEST_INVALID naming the tensor (`where`), the value's place and the bound it breaks; a client's value
 * appears in a message cut to 40 characters.
 */
import { endianness } from 'node:os';
import { LayercacheError } from '../errors/index.ts';
import { bfloat16ToFloat, firstNonFinite, halfToFloat, roundToBfloat16, roundToHalf } from '../tensor/index.ts';

/** A refusal of the request, naming what is wrong in it. */
export function invalid(message: string): LayercacheError {
  return new LayercacheError('INFER_REQUEST_INVALID', message);
}

export interface Numeric {
  readonly bytes: number;
  read(view: DataView, offset: number): number;
  /** Integer types: the values JSON data may hold. */
  readonly range?: readonly [number, number];
  /** Float types narrower than FP32: the largest magnitude JSON data may hold. */
  readonly max?: number;
  /** Float types narrower than FP32: a JSON value as the type stores it (so JSON and binary give the same input). */
  readonly round?: (x: number) => number;
}

const LITTLE_ENDIAN = endianness() === 'LE';

export const NUMERIC: Readonly<Record<string, Numeric>> = {
  // Binary BOOL bytes are read as they are; checkRange refuses any but 0 and 1.
  BOOL: { bytes: 1, read: (v, o) => v.getUint8(o), range: [0, 1] },
  UINT8: { bytes: 1, read: (v, o) => v.getUint8(o), range: [0, 255] },
  INT8: { bytes: 1, read: (v, o) => v.getInt8(o), range: [-128, 127] },
  UINT16: { bytes: 2, read: (v, o) => v.getUint16(o, true), range: [0, 65535] },
  INT16: { bytes: 2, read: (v, o) => v.getInt16(o, true), range: [-32768, 32767] },
  UINT32: { bytes: 4, read: (v, o) => v.getUint32(o, true), range: [0, 2 ** 32 - 1] },
  INT32: { bytes: 4, read: (v, o) => v.getInt32(o, true), range: [-(2 ** 31), 2 ** 31 - 1] },
  UINT64: { bytes: 8, read: (v, o) => Number(v.getBigUint64(o, true)), range: [0, Number.MAX_SAFE_INTEGER] },
  INT64: { bytes: 8, read: (v, o) => Number(v.getBigInt64(o, true)), range: [Number.MIN_SAFE_INTEGER, Number.MAX_SAFE_INTEGER] },
  FP16: { bytes: 2, read: (v, o) => halfToFloat(v.getUint16(o, true)), max: 65504, round: roundToHalf },
  BF16: { bytes: 2, read: (v, o) => bfloat16ToFloat(v.getUint16(o, true)), round: roundToBfloat16 },
  FP32: { bytes: 4, read: (v, o) => v.getFloat32(o, true) },
  FP64: { bytes: 8, read: (v, o) => v.getFloat64(o, true) },
};

/**
 * The values of a tensor's JSON `data`, row-major: a flat array, arrays nested as `shape`
 * (every level as long as its dimension), or nested that way down to some level whose arrays
 * hold the rest flat (say, one flat array per row, as Triton accepts). Booleans only for BOOL.
 * Throws naming the first problem; nesting deeper than the shape is refused before it is walked. `text`: the most
 * values the request's JSON can hold (and its size, for the message), checked before the values are allocated.
 */
export function valuesOf(data: unknown, shape: readonly number[], bool: boolean, where: string, text?: { readonly most: number; readonly textBytes: number }): Float64Array {
  if (!Array.isArray(data)) throw invalid(`${where}.data must be an array of numbers`);
  const count = shape.reduce((a, b) => a * b, 1);
  // A flat array of the wrong length is named with both numbers before anything is allocated.
  const flat = !data.some(Array.isArray);
  if (flat && data.length !== count) throw invalid(`${where} has ${data.length} values but shape [${shape.join(', ')}] needs ${count}`);
  // Nested data whose shape the request's text cannot fill is refused before its values are allocated.
  if (text && count > text.most) throw invalid(`${where}: shape [${shape.join(', ')}] needs ${count} values, more than the request's ${text.textBytes} bytes of JSON can hold`);
  // Written into a typed array of the known size: its memory is outside the JavaScript heap, and it does not grow.
  const out = new Float64Array(count);
  let n = 0;
  const scalar = (x: unknown): void => {
    if (typeof x === 'number' && Number.isFinite(x)) out[n++] = x;
    else if (typeof x === 'boolean' && bool) out[n++] = x ? 1 : 0;
    else throw invalid(`${where}.data holds ${describe(x)} at value ${n}; it must hold ${bool ? 'booleans (or 0 and 1)' : 'finite numbers'}`);
  };
  if (flat) {
    for (const x of data) scalar(x);
    return out;
  }
  // Values below each level: the product of the dimensions from it on.
  const below = shape.map((_, d) => shape.slice(d).reduce((a, b) => a * b, 1));
  const walk = (v: unknown, depth: number): void => {
    if (depth === shape.length) {
      if (Array.isArray(v)) throw invalid(`${where}.data is nested unlike its shape [${shape.join(', ')}]: deeper than its ${shape.length} dimensions; send a flat array or arrays nested as the shape`);
      return scalar(v);
    }
    const flatRest = Array.isArray(v) && v.length === below[depth] && !v.some(Array.isArray);
    if (flatRest) {
      for (const x of v) scalar(x);
      return;
    }
    if (!Array.isArray(v) || v.length !== shape[depth]) {
      throw invalid(`${where}.data is nested unlike its shape [${shape.join(', ')}]: level ${depth + 1} has ${Array.isArray(v) ? `${v.length} entries` : describe(v)} where ${shape[depth]} arrays or values belong; send a flat array or arrays nested as the shape`);
    }
    for (const x of v) walk(x, depth + 1);
  };
  // Nested as the shape, level by level: exactly `count` values, or refused above.
  walk(data, 0);
  return out;
}

/** The 64-bit integer types' own ranges (min and end = max + 1 as doubles, and as written), wider than what JSON numbers hold exactly. */
const WIDE_INTEGERS: Partial<Record<string, { readonly min: number; readonly end: number; readonly shown: readonly [string, string] }>> = {
  INT64: { min: -(2 ** 63), end: 2 ** 63, shown: ['-9223372036854775808', '9223372036854775807'] },
  UINT64: { min: 0, end: 2 ** 64, shown: ['0', '18446744073709551615'] },
};

/** Refuses the first value `datatype` cannot hold: an integer type's out-of-range or fractional values, FP16's beyond ±65504. values: [count] */
export function checkRange(values: Float32Array | Float64Array | readonly number[], kind: Numeric, datatype: string, where: string): void {
  const { range, max } = kind;
  const outside = range ? (x: number) => !Number.isInteger(x) || x < range[0] || x > range[1] : max !== undefined ? (x: number) => Math.abs(x) > max : null;
  const bad = outside ? values.findIndex(outside) : -1;
  if (bad >= 0) {
    // INT64's and UINT64's bounds here are JSON's, not the type's: past 2^53 a JSON number no longer holds an exact
    // integer. A value of the type beyond them goes as binary; one outside the type is named with the type's own range.
    const x = values[bad]!;
    const wide = WIDE_INTEGERS[datatype];
    // `end` itself is in: JSON rounds the type's largest values (2^63 − 1, 2^64 − 1) up to it.
    const inType = wide !== undefined && Number.isInteger(x) && x >= wide.min && x <= wide.end;
    const shown = wide?.shown ?? (range ? [String(range[0]), String(range[1])] : null);
    const what = inType
      ? `beyond the integers JSON numbers hold exactly (${range![0]} to ${range![1]}); send it as binary ${datatype}, or as FP32`
      : `outside ${datatype} (${shown ? `integers ${shown[0]} to ${shown[1]}` : `at most ±${max}`}); send FP32 for other numbers`;
    throw invalid(`${where} value ${bad} is ${x}, ${what}`);
  }
}

/** A JSON value, briefly, for an error message. */
export function describe(x: unknown): string {
  if (Array.isArray(x)) return 'an array';
  // JSON has no Infinity: a number past the double range (1e400) parses to it (and JSON.stringify would write null).
  if (x === Number.POSITIVE_INFINITY || x === Number.NEGATIVE_INFINITY) return `a number too large for a double (such as ${x < 0 ? '-' : ''}1e400)`;
  const text = typeof x === 'number' ? String(x) : (JSON.stringify(x) ?? String(x));
  return text.length > 40 ? `${text.slice(0, 40)}…` : text;
}

/** More dimensions than any model input has; it also bounds how deep `data` is walked. */
export const MAX_RANK = 16;

export function shapeOf(v: unknown, where: string): number[] {
  if (!Array.isArray(v) || v.length === 0 || v.length > MAX_RANK || !v.every((d) => Number.isInteger(d) && d >= 0)) {
    throw invalid(`${where}.shape must be a non-empty array of at most ${MAX_RANK} non-negative integers, got ${Array.isArray(v) ? `[${v.slice(0, MAX_RANK + 1).map(describe).join(', ')}${v.length > MAX_RANK + 1 ? ', …' : ''}]` : describe(v)}`);
  }
  return v as number[];
}

/** `count` values of `kind` from `body` at `offset`, little-endian, as float32. */
export function readBinary(body: Uint8Array, offset: number, count: number, kind: Numeric): Float32Array {
  // FP32 on a little-endian machine (x86, ARM) is the model's own format: one copy of the bytes, no per-value loop.
  if (kind === NUMERIC.FP32 && LITTLE_ENDIAN) return new Float32Array(new Uint8Array(body.buffer, body.byteOffset + offset, count * 4).slice().buffer);
  const view = new DataView(body.buffer, body.byteOffset + offset, count * kind.bytes);
  const data = new Float32Array(count);
  for (let k = 0; k < count; k++) data[k] = kind.read(view, k * kind.bytes);
  return data;
}

/**
 * Binary data can hold NaN and ±Infinity, and numbers beyond float32's range become ±Infinity:
 * a model answers them with NaN, and the online buffer must not learn from them.
 */
export function checkFinite(data: Float32Array, where: string): void {
  const bad = firstNonFinite(data);
  if (bad >= 0) throw invalid(`${where} value ${bad} is ${data[bad]} as float32; inputs must be finite numbers within float32's range`);
}

