/**
 * Graph surgery: cut a model into segments at cut tensors, and build probe models that
 * expose intermediate tensors as extra outputs.
 * Invariants: the input model is never mutated; segment j reads exactly cut j (or the
 * graph inputs for j = 0) and produces cut j+1 (or the graph outputs); each segment keeps
 * only the nodes and initializers it uses; symbolic (batch) dimensions stay symbolic.
 */
import { create } from '@bufbuild/protobuf';
import { GraphProtoSchema, ModelProtoSchema, ValueInfoProtoSchema } from 'onnx-buf';
import { LayercacheError, requireArgument } from '../errors/index.ts';
import { cloneModel, makeValueInfo, outerScopeReads, requireModel, type Dim, type ModelProto, type NodeProto, type TensorProto, type ValueInfoProto } from '../onnx/index.ts';
import { rebuildShape } from './shape-rewrite.ts';
import type { Dataflow } from './dataflow.ts';

/** Element type and shape of a tensor, as it should be declared at a segment boundary. */
export interface TensorType {
  readonly elemType: number;
  readonly shape: readonly Dim[];
}

export interface Segment {
  /** 0-based position in the chain. */
  readonly index: number;
  readonly model: ModelProto;
  readonly inputs: readonly string[];
  readonly outputs: readonly string[];
}

/** Sorts cut names into topological order and checks each is a cut point of `flow`. */
export function orderCuts(flow: Dataflow, names: readonly string[]): string[] {
  if (flow.cuts.length === 0) {
    throw new LayercacheError('NO_EXITS', `the graph has no cut point: no single tensor carries all data from the inputs to the outputs (for example, every stage concatenates earlier tensors), so it cannot be split at ${names.map((n) => `'${n}'`).join(', ')}`);
  }
  const seen = new Set<string>();
  for (const name of names) {
    if (seen.has(name)) throw new LayercacheError('USAGE', `cut '${name}' is listed twice; list each cut tensor once`);
    seen.add(name);
    if (!flow.cutPosition.has(name)) throw notACut(flow, name);
  }
  return [...names].sort((a, b) => flow.cutPosition.get(a)! - flow.cutPosition.get(b)!);
}

function notACut(flow: Dataflow, name: string): LayercacheError {
  const { index } = flow;
  const hint = flow.cuts.length > 0
    ? `; run 'layercache inspect MODEL --all' to list the ${flow.cuts.length} cut points`
    : '; this graph has no cut points';
  const p = index.producer.get(name);
  const exists = p !== undefined || index.inputs.includes(name) || index.initializers.has(name);
  if (!exists) {
    const near = flow.cuts.filter((c) => c.includes(name) || name.includes(c)).slice(0, 3);
    const suggestion = near.length > 0 ? ` (did you mean ${near.map((c) => `'${c}'`).join(', ')}?)` : '';
    return new LayercacheError('CUT_NOT_FOUND', `cut tensor '${name}' is not in the graph${suggestion}${hint}`);
  }
  let why: string;
  if (index.inputs.includes(name)) why = 'it is a graph input';
  else if (index.outputs.includes(name)) why = 'it is a graph output';
  else if (index.initializers.has(name) || !flow.dataTensors.has(name)) why = 'it is a constant, not computed from the inputs';
  else if (p === undefined || !flow.isCore[p]) why = 'it does not feed the graph outputs';
  else {
    const other = bypassAt(flow, p, name);
    why = other ? `the tensor '${other}' also crosses that point, so a path bypasses it` : 'another path bypasses it';
  }
  return new LayercacheError('CUT_NOT_FRONTIER', `tensor '${name}' is not a cut point: ${why}${hint}`);
}

/** A data tensor other than `name` that is live right after node `p`, if any. */
function bypassAt(flow: Dataflow, p: number, name: string): string | undefined {
  const { index } = flow;
  const producedBefore = (t: string): boolean => {
    const q = index.producer.get(t);
    return q === undefined ? index.inputs.includes(t) : q <= p && flow.isCore[q]!;
  };
  for (let i = p + 1; i < index.nodes.length; i++) {
    if (!flow.isCore[i]) continue;
    for (const t of index.nodeInputs[i]!) if (t !== name && flow.dataTensors.has(t) && producedBefore(t)) return t;
  }
  return index.outputs.find((o) => o !== name && producedBefore(o));
}

/** The non-data (constant) nodes that nodes `picked` need, added to `picked`. */
function withConstantDeps(flow: Dataflow, picked: Set<number>): void {
  const { index } = flow;
  const stack = [...picked];
  while (stack.length > 0) {
    const i = stack.pop()!;
    for (const name of index.nodeInputs[i]!) {
      const q = index.producer.get(name);
      if (q !== undefined && !flow.isData[q] && !picked.has(q)) {
        picked.add(q);
        stack.push(q);
      }
    }
  }
}

function subModel(
  source: ModelProto, flow: Dataflow, nodeIds: Set<number>, inputs: ValueInfoProto[], outputs: ValueInfoProto[], name: string,
  typeOf: (name: string) => TensorType,
): ModelProto {
  const { index } = flow;
  const g = source.graph!;
  const ordered = [...nodeIds].sort((a, b) => a - b);
  // Shape nodes reading a tensor this segment does not have are rebuilt from its input.
  const available = new Set<string>([...inputs.map((v) => v.name), ...index.initializers]);
  for (const i of ordered) if (flow.isData[i]) for (const o of index.nodes[i]!.output) available.add(o);
  const extraInits: TensorProto[] = [];
  const batch = inputs.length > 0 && index.inputs.length > 0 ? typeOf(index.inputs[0]!).shape[0] : undefined;
  const batchName = typeof batch === 'string' ? batch : null;
  const nodes: NodeProto[] = ordered.flatMap((i) => {
    const node = index.nodes[i]!;
    const src = node.input[0];
    if (node.opType !== 'Shape' || src === undefined || available.has(src)) return [node];
    const input = inputs[0]!;
    const axis = batchName === null ? -1 : typeOf(input.name).shape.indexOf(batchName);
    const rebuilt = rebuildShape(node, typeOf(src).shape, batchName, axis >= 0 ? { name: input.name, batchAxis: axis } : null, `${name}_shape${i}`);
    extraInits.push(...rebuilt.initializers);
    return rebuilt.nodes;
  });
  const used = new Set<string>();
  const produced = new Set<string>();
  for (const i of ordered) {
    if (index.nodes[i]!.opType === 'Shape' && !available.has(index.nodes[i]!.input[0] ?? '')) continue;
    for (const t of index.nodeInputs[i]!) used.add(t);
    for (const o of index.nodes[i]!.output) produced.add(o);
  }
  const boundary = new Set([...inputs, ...outputs].map((v) => v.name));
  // IR < 4 lists initializers among the inputs; keep that for the ones this segment uses.
  const initInputs = g.input.filter((v) => index.initializers.has(v.name) && used.has(v.name));
  return create(ModelProtoSchema, {
    irVersion: source.irVersion,
    opsetImport: source.opsetImport,
    producerName: source.producerName,
    producerVersion: source.producerVersion,
    domain: source.domain,
    modelVersion: source.modelVersion,
    metadataProps: source.metadataProps,
    functions: source.functions,
    graph: create(GraphProtoSchema, {
      name,
      node: nodes,
      initializer: [...g.initializer.filter((t) => used.has(t.name)), ...extraInits],
      sparseInitializer: g.sparseInitializer.filter((t) => used.has(t.values?.name ?? '')),
      input: [...inputs, ...initInputs],
      output: outputs,
      valueInfo: g.valueInfo.filter((v) => produced.has(v.name) && !boundary.has(v.name)),
    }),
  });
}

/**
 * Cuts the model at `cuts` (validated and ordered by orderCuts) into cuts.length + 1
 * segments. typeOf gives the declared type of each cut tensor.
 */
export function extractSegments(model: ModelProto, flow: Dataflow, cuts: readonly string[], typeOf: (name: string) => TensorType): Segment[] {
  const call = 'extractSegments(model, flow, cuts, typeOf)';
  requireModel(call, model);
  requireArgument(call, 'flow', flow, (v) => typeof v === 'object' && v !== null && (v as Dataflow).cutPosition instanceof Map && typeof (v as Dataflow).index === 'object',
    "the flow of the model's analysis: (await analyzeModel(model)).flow");
  requireArgument(call, 'cuts', cuts, (v) => Array.isArray(v) && v.every((c) => typeof c === 'string'), "an array of cut tensor names, e.g. [analysis.exits[9].tensor]");
  requireArgument(call, 'typeOf', typeOf, 'function', "the analysis's typeOf: (await analyzeModel(model)).typeOf");
  const { index } = flow;
  const g = model.graph!;
  const ordered = orderCuts(flow, cuts);
  const bounds = [-1, ...ordered.map((c) => flow.cutPosition.get(c)!), index.nodes.length];
  const graphInputs = g.input.filter((v) => !index.initializers.has(v.name));
  const cutInfo = (name: string): ValueInfoProto => {
    const t = typeOf(name);
    return makeValueInfo(name, t.elemType, t.shape);
  };
  const segments: Segment[] = [];
  for (let j = 0; j + 1 < bounds.length; j++) {
    const picked = new Set<number>();
    for (let i = bounds[j]! + 1; i <= Math.min(bounds[j + 1]!, index.nodes.length - 1); i++) if (flow.isCore[i]) picked.add(i);
    withConstantDeps(flow, picked);
    const inputs = j === 0 ? graphInputs : [cutInfo(ordered[j - 1]!)];
    const outputs = j === ordered.length ? g.output : [cutInfo(ordered[j]!)];
    const seg = subModel(model, flow, picked, inputs, outputs, `${g.name || 'model'}_segment_${j}`, typeOf);
    assertSelfContained(seg, j);
    segments.push({ index: j, model: seg, inputs: inputs.map((v) => v.name), outputs: outputs.map((v) => v.name) });
  }
  return segments;
}

function assertSelfContained(seg: ModelProto, j: number): void {
  const g = seg.graph!;
  const available = new Set([...g.input.map((v) => v.name), ...g.initializer.map((t) => t.name), ...g.sparseInitializer.map((t) => t.values?.name ?? '')]);
  for (const n of g.node) for (const o of n.output) available.add(o);
  for (const n of g.node) {
    const reads = [...n.input.filter((x) => x !== ''), ...n.attribute.flatMap((a) => (a.g ? [a.g, ...a.graphs] : a.graphs)).flatMap((sg) => [...outerScopeReads(sg)])];
    for (const t of reads) {
      if (!available.has(t)) {
        throw new LayercacheError('INTERNAL', `segment ${j} reads '${t}', which no earlier part of the segment provides; please report this model`);
      }
    }
  }
}

/**
 * A copy of the model whose outputs are `taps` followed by the original outputs, so one
 * pass yields every tapped tensor. typeOf may return null to leave a tap's type to the
 * runtime.
 */
export function addOutputs(model: ModelProto, taps: readonly string[], typeOf: (name: string) => TensorType | null): ModelProto {
  const call = 'addOutputs(model, taps, typeOf)';
  requireModel(call, model);
  requireArgument(call, 'taps', taps, (v) => Array.isArray(v) && v.every((c) => typeof c === 'string'), "an array of tensor names, e.g. ['stage1_out']");
  requireArgument(call, 'typeOf', typeOf, 'function', "a function from a tensor name to its type, or to null: (await analyzeModel(model)).typeOf");
  const probe = cloneModel(model);
  const g = probe.graph!;
  const existing = new Set(g.output.map((v) => v.name));
  const extra = taps.filter((t) => !existing.has(t)).map((t) => {
    const ty = typeOf(t);
    return ty ? makeValueInfo(t, ty.elemType, ty.shape) : create(ValueInfoProtoSchema, { name: t });
  });
  g.output = [...extra, ...g.output];
  return probe;
}
