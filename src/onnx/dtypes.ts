/**
 * Mapping between ONNX TensorProto element types and layercache dtypes.
 * Invariant: the mapping is a bijection on the types layercache can run.
 */
import { TensorProto_DataType as T } from 'onnx-buf';
import type { DType } from '../tensor/index.ts';

const TO_DTYPE = new Map<number, DType>([
  [T.FLOAT, 'float32'], [T.DOUBLE, 'float64'], [T.FLOAT16, 'float16'],
  [T.INT8, 'int8'], [T.UINT8, 'uint8'], [T.INT16, 'int16'], [T.UINT16, 'uint16'],
  [T.INT32, 'int32'], [T.UINT32, 'uint32'], [T.INT64, 'int64'], [T.UINT64, 'uint64'], [T.BOOL, 'bool'],
]);
const TO_ELEM = new Map<DType, number>([...TO_DTYPE].map(([k, v]) => [v, k]));

/** ONNX elem_type → dtype, or undefined for types layercache does not run (strings, bfloat16, fp8…). */
export function dtypeOfElemType(elemType: number): DType | undefined {
  return TO_DTYPE.get(elemType);
}

/** dtype → ONNX elem_type. */
export function elemTypeOfDtype(dtype: DType): number {
  return TO_ELEM.get(dtype)!;
}

/** Readable name of an ONNX elem_type, for messages. */
export function elemTypeName(elemType: number): string {
  return T[elemType] ?? `elem_type ${elemType}`;
}
