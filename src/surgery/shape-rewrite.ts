/**
 * Recomputes shape values inside a segment. A Shape node whose input lives in an earlier
 * segment is replaced by nodes that rebuild the same int64 vector from what the segment
 * has: fixed dimensions become constants, and the batch dimension is read from the
 * segment's own input (its batch axis). Invariant: the replacement produces the same
 * value as the original Shape node for every batch size; a shape with any other
 * symbolic dimension cannot be rebuilt and is refused with a clear error.
 */
import { create } from '@bufbuild/protobuf';
import { AttributeProto_AttributeType as A, AttributeProtoSchema, NodeProtoSchema, type NodeProto, type TensorProto } from 'onnx-buf';
import { LayercacheError } from '../errors/index.ts';
import { tensorToProto, type Dim } from '../onnx/index.ts';
import { tensor } from '../tensor/index.ts';
import type { Dataflow } from './dataflow.ts';

function int64(name: string, values: number[]): TensorProto {
  return tensorToProto(name, tensor('int64', [values.length], new BigInt64Array(values.map(BigInt))));
}

function attrInt(node: NodeProto, name: string): number | undefined {
  const a = node.attribute.find((x) => x.name === name);
  return a ? Number(a.i) : undefined;
}

/**
 * Nodes and initializers computing `node`'s output without reading its input.
 * shape: the symbolic shape of the Shape node's input; source: a tensor available in the
 * segment with the batch dimension `batch` at axis `batchAxis`.
 */
export function rebuildShape(node: NodeProto, shape: readonly Dim[], batch: string | null, source: { name: string; batchAxis: number } | null, tag: string): { nodes: NodeProto[]; initializers: TensorProto[] } {
  const rank = shape.length;
  const norm = (v: number | undefined, dflt: number): number => {
    const x = v ?? dflt;
    return Math.min(rank, Math.max(0, x < 0 ? x + rank : x));
  };
  const dims = shape.slice(norm(attrInt(node, 'start'), 0), norm(attrInt(node, 'end'), rank));
  const out = node.output[0]!;
  const bad = dims.find((d) => typeof d === 'string' && (d !== batch || source === null));
  if (bad !== undefined) {
    throw new LayercacheError('CUT_NOT_FRONTIER', `a segment needs the runtime shape of '${node.input[0]}' (dimension '${bad}'), which only an earlier segment knows; cut elsewhere, or export the model with fixed sizes for that dimension`);
  }
  if (dims.every((d) => typeof d === 'number')) {
    const value = int64(`${tag}_value`, dims as number[]);
    const constant = create(NodeProtoSchema, {
      name: `${tag}_const`, opType: 'Constant', input: [], output: [out],
      attribute: [create(AttributeProtoSchema, { name: 'value', type: A.TENSOR, t: value })],
    });
    return { nodes: [constant], initializers: [] };
  }
  const nodes: NodeProto[] = [];
  const initializers: TensorProto[] = [];
  const srcShape = `${tag}_src_shape`;
  nodes.push(create(NodeProtoSchema, { name: `${tag}_shape`, opType: 'Shape', input: [source!.name], output: [srcShape] }));
  const batchIdx = `${tag}_batch_axis`;
  initializers.push(int64(batchIdx, [source!.batchAxis]));
  const batchDim = `${tag}_batch`;
  nodes.push(create(NodeProtoSchema, {
    name: `${tag}_gather`, opType: 'Gather', input: [srcShape, batchIdx], output: [batchDim],
    attribute: [create(AttributeProtoSchema, { name: 'axis', type: A.INT, i: 0n })],
  }));
  const pieces = dims.map((d, i) => {
    if (typeof d === 'string') return batchDim;
    const name = `${tag}_dim${i}`;
    initializers.push(int64(name, [d]));
    return name;
  });
  nodes.push(create(NodeProtoSchema, {
    name: `${tag}_concat`, opType: 'Concat', input: pieces, output: [out],
    attribute: [create(AttributeProtoSchema, { name: 'axis', type: A.INT, i: 0n })],
  }));
  return { nodes, initializers };
}

/**
 * The cut points whose later segments can rebuild every shape value they need: for each
 * Shape node read after a cut but reading a tensor computed before it, that tensor's
 * shape must be fixed except for the batch dimension, and the cut tensor must carry the
 * batch dimension (to read it from). Other cuts are dropped.
 * shapeOf: symbolic shape of a tensor; batch: the batch dimension's name.
 */
export function rebuildableCuts(flow: Dataflow, shapeOf: (name: string) => readonly Dim[] | undefined, batch: string | null): Dataflow {
  const { index } = flow;
  const n = index.nodes.length;
  // For each non-data node: the last core node that (transitively) reads its outputs.
  const lastCoreUse = new Int32Array(n).fill(-1);
  for (let i = n - 1; i >= 0; i--) {
    if (flow.isData[i]) continue;
    for (const o of index.nodes[i]!.output) {
      for (const j of index.consumers.get(o) ?? []) {
        lastCoreUse[i] = Math.max(lastCoreUse[i]!, flow.isCore[j] ? j : lastCoreUse[j]!);
      }
    }
  }
  const shapeReads = index.nodes.flatMap((node, i) => {
    const src = node.input[0];
    if (node.opType !== 'Shape' || src === undefined || !flow.dataTensors.has(src)) return [];
    return [{ src, from: index.producer.get(src) ?? -1, until: lastCoreUse[i]! }];
  });
  const ok = (cut: string): boolean => {
    const p = flow.cutPosition.get(cut)!;
    const cutShape = shapeOf(cut);
    for (const r of shapeReads) {
      if (!(r.from <= p && r.until > p)) continue;
      const shape = shapeOf(r.src);
      if (!shape) return false;
      for (const d of shape) {
        if (typeof d === 'number') continue;
        if (d !== batch || batch === null || !cutShape?.includes(batch)) return false;
      }
    }
    return true;
  };
  const cuts = flow.cuts.filter(ok);
  return { ...flow, cuts, cutPosition: new Map(cuts.map((c) => [c, flow.cutPosition.get(c)!])) };
}
