/**
 * Dataflow analysis and single-tensor cut points.
 *
 * A *data* node reads (transitively) a graph input; other nodes only compute
 * constants (Constant, shape arithmetic on initializers) and are copied into every
 * segment that needs them. A Shape node carries no data, only dimensions: its output is a
 * *shape value*, recomputed inside whichever segment needs it (see shape-rewrite.ts), so
 * `b = x.shape[0]` read at the input and used at the end does not pin every tensor in
 * between. The *core* is the data nodes that also feed a graph output.
 *
 * A tensor t is a cut point iff every path from the graph inputs to the outputs passes
 * through t. Within the core, every node is an ancestor of t, its producer, or a
 * descendant, so in any topological order t is a cut iff it is the only live tensor
 * right after its producer. Invariant: cuts are returned in topological order and never
 * include graph inputs or graph outputs.
 */
import type { GraphIndex } from '../onnx/index.ts';

export interface Dataflow {
  readonly index: GraphIndex;
  /** Per node of `index.nodes`: true when it reads a graph input transitively. */
  readonly isData: readonly boolean[];
  /** Per node: true when it is a data node that feeds a graph output. */
  readonly isCore: readonly boolean[];
  /** Tensors whose value depends on a graph input. */
  readonly dataTensors: ReadonlySet<string>;
  /** Cut tensors, in topological order. */
  readonly cuts: readonly string[];
  /** Cut tensor → index of its producer in `index.nodes`. */
  readonly cutPosition: ReadonlyMap<string, number>;
}

export function analyzeDataflow(index: GraphIndex): Dataflow {
  const { nodes, nodeInputs, outputs } = index;
  const dataTensors = new Set<string>(index.inputs);
  const isData = nodes.map((n, i) => {
    const data = n.opType !== 'Shape' && nodeInputs[i]!.some((name) => dataTensors.has(name));
    if (data) for (const o of n.output) if (o !== '') dataTensors.add(o);
    return data;
  });

  const needed = new Set<string>(outputs);
  const useful: boolean[] = new Array<boolean>(nodes.length).fill(false);
  for (let i = nodes.length - 1; i >= 0; i--) {
    if (nodes[i]!.output.some((o) => needed.has(o))) {
      useful[i] = true;
      for (const name of nodeInputs[i]!) needed.add(name);
    }
  }
  const isCore = isData.map((d, i) => d && useful[i]!);

  // Liveness sweep over core nodes: for each data tensor, [produced, lastUse).
  const outputSet = new Set(outputs);
  const lastUse = new Map<string, number>();
  nodes.forEach((_, i) => {
    if (!isCore[i]) return;
    for (const name of nodeInputs[i]!) if (dataTensors.has(name)) lastUse.set(name, i);
  });
  for (const o of outputs) lastUse.set(o, Number.POSITIVE_INFINITY);

  // Difference arrays of live count and live-id sum at each boundary "after node k".
  const n = nodes.length;
  const count = new Float64Array(n + 1);
  const idSum = new Float64Array(n + 1);
  const ids = new Map<number, string>();
  let nextId = 1;
  const addInterval = (name: string, from: number): void => {
    const end = lastUse.get(name);
    if (end === undefined || end <= from) return;
    const id = nextId++;
    ids.set(id, name);
    const to = Math.min(end, n);
    count[Math.max(from, 0)]! += 1;
    idSum[Math.max(from, 0)]! += id;
    count[to]! -= 1;
    idSum[to]! -= id;
  };
  // A graph input is live from "before node 0"; boundary b means "after node b".
  for (const name of index.inputs) addInterval(name, -1);
  nodes.forEach((node, i) => {
    if (!isCore[i]) return;
    for (const o of node.output) if (o !== '') addInterval(o, i);
  });

  const cuts: string[] = [];
  const cutPosition = new Map<string, number>();
  let live = 0;
  let sum = 0;
  for (let b = 0; b < n; b++) {
    live += count[b]!;
    sum += idSum[b]!;
    if (!isCore[b] || live !== 1) continue;
    const name = ids.get(sum);
    if (name === undefined || outputSet.has(name) || cutPosition.has(name)) continue;
    if (index.producer.get(name) !== b) continue;
    cuts.push(name);
    cutPosition.set(name, b);
  }
  return { index, isData, isCore, dataTensors, cuts, cutPosition };
}
