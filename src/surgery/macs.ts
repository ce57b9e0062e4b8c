/**
 * Multiply-accumulate counts per node, from concrete shapes at batch 1.
 * Conventions (the usual ones of ptflops/fvcore): a convolution or matrix product counts
 * one MAC per multiply, bias excluded; pooling counts one per window element; every
 * other arithmetic op (activations, Add, normalisation, reductions) counts one per
 * output element, or per input element for reductions; pure data movement counts 0.
 * Invariant: counts are per sample when shapes are taken at batch 1.
 */
import type { NodeProto } from '../onnx/index.ts';
import { numel } from '../tensor/index.ts';

/** Ops that only move or reinterpret data. */
const ZERO_COST = new Set([
  'Reshape', 'Flatten', 'Squeeze', 'Unsqueeze', 'Transpose', 'Slice', 'Pad', 'Concat', 'Split', 'Gather',
  'GatherElements', 'GatherND', 'Shape', 'Size', 'Constant', 'ConstantOfShape', 'Identity', 'Cast', 'CastLike',
  'Expand', 'Tile', 'Range', 'Dropout', 'DepthToSpace', 'SpaceToDepth', 'ScatterND', 'ScatterElements',
  'NonZero', 'OneHot', 'EyeLike', 'Optional', 'OptionalGetElement', 'OptionalHasElement', 'SequenceConstruct',
]);

/** Reductions, counted per input element. */
const REDUCE = new Set([
  'GlobalAveragePool', 'GlobalMaxPool', 'GlobalLpPool', 'ReduceMean', 'ReduceSum', 'ReduceMax', 'ReduceMin',
  'ReduceProd', 'ReduceL1', 'ReduceL2', 'ReduceLogSum', 'ReduceLogSumExp', 'ReduceSumSquare', 'ArgMax', 'ArgMin',
]);

/** Ops that contract over weights: the compute-heavy ones, which separate blocks. */
export const HEAVY_OPS: ReadonlySet<string> = new Set([
  'Conv', 'ConvTranspose', 'ConvInteger', 'QLinearConv', 'Gemm', 'MatMul', 'MatMulInteger', 'QLinearMatMul',
  'Einsum', 'Attention', 'MultiHeadAttention', 'LSTM', 'GRU', 'RNN', 'If', 'Loop', 'Scan', 'FusedConv', 'FusedMatMul',
  'DeformConv',
]);

function intsAttr(node: NodeProto, name: string): number[] | undefined {
  const a = node.attribute.find((x) => x.name === name);
  return a ? a.ints.map(Number) : undefined;
}

function intAttr(node: NodeProto, name: string, fallback: number): number {
  const a = node.attribute.find((x) => x.name === name);
  return a ? Number(a.i) : fallback;
}

/**
 * MACs of one node. dimsOf returns a tensor's concrete dims at batch 1, or undefined
 * when unknown (then the node counts by whatever is known, never NaN).
 */
export function nodeMacs(node: NodeProto, dimsOf: (name: string) => readonly number[] | undefined): number {
  const op = node.opType;
  const inDims = (k: number): readonly number[] | undefined => (node.input[k] ? dimsOf(node.input[k]) : undefined);
  const outDims = node.output[0] ? dimsOf(node.output[0]) : undefined;
  const outN = outDims ? numel(outDims) : 0;
  if (ZERO_COST.has(op)) return 0;
  switch (op) {
    case 'Conv':
    case 'ConvInteger':
    case 'FusedConv':
    case 'DeformConv': {
      const w = inDims(1);
      return w ? outN * numel(w.slice(1)) : outN;
    }
    case 'QLinearConv': {
      const w = inDims(3);
      return w ? outN * numel(w.slice(1)) : outN;
    }
    case 'ConvTranspose': {
      const x = inDims(0);
      const w = inDims(1);
      return x && w ? numel(x) * numel(w.slice(1)) : outN;
    }
    case 'Gemm': {
      const a = inDims(0);
      if (!a || a.length !== 2) return outN;
      const k = intAttr(node, 'transA', 0) ? a[0]! : a[1]!;
      return outN * k;
    }
    case 'MatMul':
    case 'MatMulInteger':
    case 'FusedMatMul': {
      const a = inDims(0);
      return a && a.length > 0 ? outN * a[a.length - 1]! : outN;
    }
    case 'QLinearMatMul': {
      const a = inDims(0);
      return a && a.length > 0 ? outN * a[a.length - 1]! : outN;
    }
    case 'LSTM':
    case 'GRU':
    case 'RNN': {
      // W: [directions, gates·H, I], R: [directions, gates·H, H]; X: [seq, batch, I] (or batch-first with layout = 1).
      const x = inDims(0);
      const wd = inDims(1);
      const rd = inDims(2);
      if (!x || !wd || !rd || x.length !== 3) return outN;
      const steps = intAttr(node, 'layout', 0) ? x[1]! : x[0]!;
      const batch = intAttr(node, 'layout', 0) ? x[0]! : x[1]!;
      return steps * batch * wd[0]! * wd[1]! * (wd[2]! + rd[2]!);
    }
    case 'MaxPool':
    case 'AveragePool':
    case 'LpPool': {
      const k = intsAttr(node, 'kernel_shape');
      return k ? outN * numel(k) : outN;
    }
    default: {
      if (REDUCE.has(op)) {
        const x = inDims(0);
        return x ? numel(x) : outN;
      }
      let total = 0;
      for (const o of node.output) {
        const d = o ? dimsOf(o) : undefined;
        if (d) total += numel(d);
      }
      return total;
    }
  }
}
