/**
 * Conversions between TensorProto / ValueInfoProto and plain values.
 * Invariant: tensors are written as little-endian raw_data, which every runtime reads.
 */
import { create } from '@bufbuild/protobuf';
import {
  TensorProtoSchema, ValueInfoProtoSchema, TypeProtoSchema, TypeProto_TensorSchema, TensorShapeProtoSchema,
  TensorShapeProto_DimensionSchema, TensorProto_DataType as T,
  type TensorProto, type ValueInfoProto,
} from 'onnx-buf';
import { allocate, numel, type DType, type Tensor } from '../tensor/index.ts';
import { dtypeOfElemType, elemTypeOfDtype } from './dtypes.ts';

/** A dimension: a fixed size, or a symbolic name such as "batch". */
export type Dim = number | string;

/** Builds a TensorProto named `name` from a tensor. */
export function tensorToProto(name: string, t: Tensor): TensorProto {
  const bytes = new Uint8Array(t.data.buffer, t.data.byteOffset, t.data.byteLength).slice();
  return create(TensorProtoSchema, {
    name,
    dims: t.dims.map((d) => BigInt(d)),
    dataType: elemTypeOfDtype(t.dtype),
    rawData: bytes,
  });
}

/** Decodes a TensorProto holding numeric data (raw_data or typed fields) into a tensor. */
export function protoToTensor(p: TensorProto): Tensor {
  const dtype = dtypeOfElemType(p.dataType);
  if (!dtype) throw new TypeError(`tensor '${p.name}' has unsupported data type ${p.dataType}`);
  const dims = p.dims.map(Number);
  const n = numel(dims);
  const data = allocate(dtype, n);
  if (p.rawData.length > 0) {
    const src = p.rawData.slice();
    const view = new (data.constructor as new (b: ArrayBuffer) => typeof data)(src.buffer);
    (data as { set(a: ArrayLike<unknown>): void }).set(view as ArrayLike<unknown>);
  } else {
    const source: ArrayLike<number | bigint> =
      dtype === 'float32' ? p.floatData : dtype === 'float64' ? p.doubleData
        : dtype === 'int64' ? p.int64Data : dtype === 'uint64' || dtype === 'uint32' ? p.uint64Data : p.int32Data;
    for (let i = 0; i < n; i++) (data as unknown as (number | bigint)[])[i] = source[i] ?? 0;
  }
  return { dtype, dims, data } as Tensor;
}

/** Shape of a TensorProto (initializer) without decoding its data. */
export function protoDims(p: TensorProto): number[] {
  return p.dims.map(Number);
}

/** Builds a tensor ValueInfoProto. A null shape declares the rank unknown. */
export function makeValueInfo(name: string, dtype: DType | number, shape: readonly Dim[] | null): ValueInfoProto {
  const elemType = typeof dtype === 'number' ? dtype : elemTypeOfDtype(dtype);
  const tensorType = create(TypeProto_TensorSchema, { elemType });
  if (shape) {
    tensorType.shape = create(TensorShapeProtoSchema, {
      dim: shape.map((d) =>
        create(TensorShapeProto_DimensionSchema, {
          value: typeof d === 'number' ? { case: 'dimValue', value: BigInt(d) } : { case: 'dimParam', value: d },
        }),
      ),
    });
  }
  return create(ValueInfoProtoSchema, {
    name,
    type: create(TypeProtoSchema, { value: { case: 'tensorType', value: tensorType } }),
  });
}

/** Element type and shape declared by a ValueInfoProto; dims without value or name are '?'. */
export function readValueInfo(v: ValueInfoProto): { elemType: number; shape: Dim[] | null } | null {
  if (v.type?.value.case !== 'tensorType') return null;
  const tt = v.type.value.value;
  const shape = tt.shape
    ? tt.shape.dim.map((d): Dim => (d.value.case === 'dimValue' ? Number(d.value.value) : d.value.case === 'dimParam' ? d.value.value : '?'))
    : null;
  return { elemType: tt.elemType ?? T.UNDEFINED, shape };
}
