/**
 * A read-only index over a GraphProto: nodes in a stable topological order, who
 * produces and who consumes each tensor, and which names are constants.
 * Invariants: `nodes[i]` only consumes tensors produced by `nodes[j]` with j < i, by
 * graph inputs or by initializers; a node's inputs include the outer-scope names its
 * subgraphs (If/Loop/Scan bodies) read, so dataflow through control flow is not lost.
 */
import type { GraphProto, NodeProto, ValueInfoProto } from 'onnx-buf';
import { LayercacheError } from '../errors/index.ts';

export interface GraphIndex {
  readonly graph: GraphProto;
  /** Nodes in a stable topological order. */
  readonly nodes: readonly NodeProto[];
  /** Per node (same order), every tensor it reads, including subgraph outer-scope reads. */
  readonly nodeInputs: readonly (readonly string[])[];
  /** Tensor name → index into `nodes` of its producer. */
  readonly producer: ReadonlyMap<string, number>;
  /** Tensor name → indices into `nodes` of its consumers. */
  readonly consumers: ReadonlyMap<string, readonly number[]>;
  /** Initializer names. */
  readonly initializers: ReadonlySet<string>;
  /** Graph inputs that are real inputs (not initializers), in declared order. */
  readonly inputs: readonly string[];
  /** Graph output names, in declared order. */
  readonly outputs: readonly string[];
  /** value_info, inputs and outputs by name. */
  readonly valueInfo: ReadonlyMap<string, ValueInfoProto>;
}

/** Names a subgraph reads from its enclosing scope. */
export function outerScopeReads(graph: GraphProto): Set<string> {
  const defined = new Set<string>([
    ...graph.input.map((v) => v.name),
    ...graph.initializer.map((t) => t.name),
    ...graph.sparseInitializer.map((t) => t.values?.name ?? ''),
  ]);
  for (const n of graph.node) for (const o of n.output) defined.add(o);
  const reads = new Set<string>();
  for (const n of graph.node) {
    for (const name of directInputs(n)) if (!defined.has(name)) reads.add(name);
  }
  for (const o of graph.output) if (!defined.has(o.name)) reads.add(o.name);
  return reads;
}

function directInputs(node: NodeProto): string[] {
  const names = node.input.filter((n) => n !== '');
  for (const attr of node.attribute) {
    const subs = attr.g ? [attr.g, ...attr.graphs] : attr.graphs;
    for (const g of subs) for (const r of outerScopeReads(g)) names.push(r);
  }
  return [...new Set(names)];
}

/** Indexes a graph, sorting its nodes topologically (stable: file order wins ties). */
export function indexGraph(graph: GraphProto): GraphIndex {
  const initializers = new Set([...graph.initializer.map((t) => t.name), ...graph.sparseInitializer.map((t) => t.values?.name ?? '')]);
  const inputs = graph.input.map((v) => v.name).filter((n) => !initializers.has(n));
  const reads = graph.node.map(directInputs);

  const producedBy = new Map<string, number>();
  graph.node.forEach((n, i) => {
    for (const o of n.output) if (o !== '') producedBy.set(o, i);
  });

  // Kahn's algorithm over the file order, always taking the lowest ready index.
  const indegree = graph.node.map(() => 0);
  const dependents = graph.node.map(() => [] as number[]);
  reads.forEach((names, i) => {
    const deps = new Set<number>();
    for (const name of names) {
      const p = producedBy.get(name);
      if (p !== undefined && p !== i) deps.add(p);
    }
    indegree[i] = deps.size;
    for (const d of deps) dependents[d]!.push(i);
  });
  const ready: number[] = [];
  indegree.forEach((d, i) => d === 0 && ready.push(i));
  const order: number[] = [];
  while (ready.length > 0) {
    ready.sort((a, b) => a - b);
    const i = ready.shift()!;
    order.push(i);
    for (const j of dependents[i]!) if (--indegree[j]! === 0) ready.push(j);
  }
  if (order.length !== graph.node.length) {
    throw new LayercacheError('ONNX_INVALID_MODEL', `the graph has a cycle among ${graph.node.length - order.length} nodes; ONNX graphs must be acyclic — re-export the model`);
  }

  const nodes = order.map((i) => graph.node[i]!);
  const nodeInputs = order.map((i) => reads[i]!);
  const producer = new Map<string, number>();
  nodes.forEach((n, i) => {
    for (const o of n.output) if (o !== '') producer.set(o, i);
  });
  const consumers = new Map<string, number[]>();
  nodeInputs.forEach((names, i) => {
    for (const name of names) {
      const list = consumers.get(name);
      if (list) list.push(i);
      else consumers.set(name, [i]);
    }
  });
  const valueInfo = new Map<string, ValueInfoProto>();
  for (const v of [...graph.valueInfo, ...graph.input, ...graph.output]) valueInfo.set(v.name, v);

  return {
    graph, nodes, nodeInputs, producer, consumers, initializers, inputs,
    outputs: graph.output.map((v) => v.name), valueInfo,
  };
}
