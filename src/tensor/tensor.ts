/**
 * Plain tensor values, independent of onnxruntime. Invariant: `data.length` equals
 * the product of `dims`; data is row-major (C order).
 */

/** Element types of tensors. */
export type DType = 'float32' | 'float64' | 'float16' | 'int8' | 'uint8' | 'int16' | 'uint16' | 'int32' | 'uint32' | 'int64' | 'uint64' | 'bool';

export type TypedArrayOf<T extends DType> = T extends 'float32'
  ? Float32Array
  : T extends 'float64'
    ? Float64Array
    : T extends 'int8'
      ? Int8Array
      : T extends 'uint8' | 'bool'
        ? Uint8Array
        : T extends 'int16'
          ? Int16Array
          : T extends 'uint16' | 'float16'
            ? Uint16Array
            : T extends 'int32'
              ? Int32Array
              : T extends 'uint32'
                ? Uint32Array
                : T extends 'int64'
                  ? BigInt64Array
                  : BigUint64Array;

/** A plain tensor: its element type, dims (batch first where there is one) and row-major data of exactly the product of dims values. */
export interface Tensor<T extends DType = DType> {
  readonly dtype: T;
  readonly dims: readonly number[];
  readonly data: TypedArrayOf<T>;
}

/** Number of elements of a shape. */
export function numel(dims: readonly number[]): number {
  let n = 1;
  for (const d of dims) n *= d;
  return n;
}

const BYTES: Record<DType, number> = {
  float32: 4, float64: 8, float16: 2, int8: 1, uint8: 1, int16: 2, uint16: 2,
  int32: 4, uint32: 4, int64: 8, uint64: 8, bool: 1,
};

/** Bytes per element of a dtype. */
export function bytesPerElement(dtype: DType): number {
  return BYTES[dtype];
}

/** Allocates a zero-filled typed array for `dtype` with `n` elements. */
export function allocate<T extends DType>(dtype: T, n: number): TypedArrayOf<T> {
  switch (dtype) {
    case 'float32': return new Float32Array(n) as TypedArrayOf<T>;
    case 'float64': return new Float64Array(n) as TypedArrayOf<T>;
    case 'int8': return new Int8Array(n) as TypedArrayOf<T>;
    case 'uint8': case 'bool': return new Uint8Array(n) as TypedArrayOf<T>;
    case 'int16': return new Int16Array(n) as TypedArrayOf<T>;
    case 'uint16': case 'float16': return new Uint16Array(n) as TypedArrayOf<T>;
    case 'int32': return new Int32Array(n) as TypedArrayOf<T>;
    case 'uint32': return new Uint32Array(n) as TypedArrayOf<T>;
    case 'int64': return new BigInt64Array(n) as TypedArrayOf<T>;
    default: return new BigUint64Array(n) as TypedArrayOf<T>;
  }
}

/** Builds a tensor, checking that data length matches dims. */
export function tensor<T extends DType>(dtype: T, dims: readonly number[], data: TypedArrayOf<T>): Tensor<T> {
  if (data.length !== numel(dims)) {
    throw new RangeError(`tensor data has ${data.length} elements but dims [${dims.join(', ')}] need ${numel(dims)}`);
  }
  return { dtype, dims: [...dims], data };
}

/** Rows [start, end) along the first axis, as a view (no copy). x: [batch, ...] */
export function sliceRows<T extends DType>(x: Tensor<T>, start: number, end: number): Tensor<T> {
  const row = numel(x.dims.slice(1));
  const data = x.data.subarray(start * row, end * row) as TypedArrayOf<T>;
  return { dtype: x.dtype, dims: [end - start, ...x.dims.slice(1)], data };
}

/**
 * The first row of class scores `data` [rows, width] from which no answer can be read: one holding NaN or +∞, or
 * only −∞; -1 if none. A −∞ beside finite scores is a log-probability of 0 (a Log after an underflowing Softmax),
 * which softmax and argmax read as they should.
 */
export function unusableScoresRow(data: ArrayLike<number>, width: number): number {
  for (let r = 0; r * width < data.length; r++) {
    let finite = false;
    for (let k = r * width; k < (r + 1) * width; k++) {
      const v = data[k]!;
      if (Number.isNaN(v) || v === Number.POSITIVE_INFINITY) return r;
      if (v !== Number.NEGATIVE_INFINITY) finite = true;
    }
    if (!finite) return r;
  }
  return -1;
}
