/**
 * Pieces shared by the single-graph cascades (batch 1 with nested If; batch N with Compress):
 * building node lists with unique names, and the in-graph exit decision.
 * Invariant: the in-graph decision equals scoreRow(...) ≥ threshold up to float32 rounding of
 * the threshold and of the score; a threshold of +Infinity never fires.
 */
import { create } from '@bufbuild/protobuf';
import { GraphProtoSchema, ModelProtoSchema, type NodeProto, type TensorProto } from 'onnx-buf';
import type { ScoreSpec } from '../bundle/index.ts';
import { LayercacheError } from '../errors/index.ts';
import { GraphBuilder, makeValueInfo, type ModelProto } from '../onnx/index.ts';
import { tensor } from '../tensor/index.ts';
import type { CascadeExit } from './cascade.ts';

/**
 * Every name the models use, tensors and nodes (`taken`), and `claim`, which returns a fresh name from a base and
 * marks it taken. Node names count: onnxruntime refuses a graph with two nodes of one name, and the builder's own
 * names (`Softmax_node_0`) are common in exported models.
 */
export function nameScope(models: readonly ModelProto[]): { taken: Set<string>; claim: (base: string) => string } {
  const taken = new Set<string>();
  for (const m of models) {
    for (const n of m.graph!.node) {
      if (n.name !== '') taken.add(n.name);
      for (const o of n.output) taken.add(o);
    }
    for (const t of m.graph!.initializer) taken.add(t.name);
    for (const v of m.graph!.input) taken.add(v.name);
  }
  const claim = (base: string): string => {
    let name = base;
    for (let k = 1; taken.has(name); k++) name = `${base}_${k}`;
    taken.add(name);
    return name;
  };
  return { taken, claim };
}

/**
 * Nodes built by a GraphBuilder, as plain parts. `taken` holds every name in use; the
 * names in `produce` were claimed for this part's outputs. New names are added to `taken`.
 */
export function partsOf(fn: (g: GraphBuilder) => void, opset: number, taken: Set<string>, produce: readonly string[]): { nodes: NodeProto[]; initializers: TensorProto[] } {
  const g = new GraphBuilder({ opset });
  g.reserve([...taken].filter((n) => !produce.includes(n)));
  fn(g);
  const p = g.parts();
  for (const n of p.nodes) {
    taken.add(n.name);
    for (const o of n.output) taken.add(o);
  }
  for (const t of p.initializers) taken.add(t.name);
  return { nodes: p.nodes, initializers: p.initializers };
}

/** The threshold as a float32 comparison value: log p for max/temperature, the margin itself for margin. */
export function comparisonValue(kind: ScoreSpec['kind'], threshold: number): number {
  if (kind === 'margin') return threshold;
  // score = −log(1 − p)  ⇔  log p = log(1 − e^(−score)). Every score is > 0, so a threshold ≤ 0
  // always fires (log of a non-positive number would be NaN, which never fires).
  return threshold <= 0 ? Number.NEGATIVE_INFINITY : Math.log(-Math.expm1(-threshold));
}

/**
 * Appends the decision of exit j: reads the head's log-probabilities `lp` [n, classes] and
 * writes `out` [n] bool, true where the row's score reaches the threshold. A NaN score never
 * exits. Two operators per exit at opset ≥ 12 (the batch-1 graph pays for each of them on every request); from a
 * threshold of LOG_ODDS_FROM up, six for a max score and nine for a temperature one.
 */
export function appendExitDecision(
  g: GraphBuilder, lp: string, exit: CascadeExit, j: number, kind: ScoreSpec['kind'], classes: number, opset: number, claim: (base: string) => string, out: string,
): void {
  const never = exit.threshold === Number.POSITIVE_INFINITY;
  const logOdds = comparesLogOdds(kind, exit.threshold);
  // OneHot needs opset 9: the cascade runs older graphs stage by stage when a threshold needs log-odds.
  if (logOdds && opset < 9) throw new LayercacheError('INTERNAL', `an opset-${opset} graph cannot compare threshold ${exit.threshold} in-graph; check decidesInGraph first`);
  let score: string;
  if (kind === 'margin') {
    const i64 = (name: string, v: bigint) => g.weight(claim(`${name}_${j}`), tensor('int64', [1], new BigInt64Array([v])));
    // Before opset 10 TopK takes k, and Slice its bounds, as attributes.
    const [values] = (opset >= 10
      ? g.node('TopK', [lp, i64('lc_k2', 2n)], { axis: 1 }, { outputs: 2 })
      : g.node('TopK', [lp], { axis: 1, k: 2 }, { outputs: 2 })) as [string, string];
    const column = (c: bigint): string => (opset >= 10
      ? g.op('Slice', [values, i64(`lc_s${c}a`, c), i64(`lc_s${c}b`, c + 1n), i64(`lc_s${c}x`, 1n)])
      : g.op('Slice', [values], { starts: [Number(c)], ends: [Number(c) + 1], axes: [1] }));
    score = g.op('Reshape', [g.op('Sub', [column(0n), column(1n)]), i64('lc_flat', -1n)]);
  } else if (logOdds) {
    score = appendLogOdds(g, lp, kind === 'temperature' ? exit.temperature : 1, classes, j, opset, claim);
  } else {
    const tempered = kind === 'temperature' && exit.temperature !== 1
      ? g.op('LogSoftmax', [g.op('Mul', [lp, g.weight(claim(`lc_invT_${j}`), tensor('float32', [1], new Float32Array([1 / exit.temperature])))])], { axis: 1 })
      : lp;
    // keepdims 0: the score comes out as [n], ready to compare.
    score = reduceAxis1(g, 'ReduceMax', tempered, 0, j, opset, claim);
  }
  // A threshold of +Infinity never fires: nothing, +∞ and NaN included, is greater than +∞.
  // GreaterOrEqual needs opset 12 (and Equal on floats opset 11): below, score ≥ v is score > the float32 just below v.
  const value = never ? Number.POSITIVE_INFINITY : logOdds ? exit.threshold : comparisonValue(kind, exit.threshold);
  const inclusive = !never && opset >= 12;
  const limit = g.weight(claim(`lc_thr_${j}`), tensor('float32', [1], new Float32Array([inclusive || never ? value : float32Below(value)])));
  g.op(inclusive ? 'GreaterOrEqual' : 'Greater', [score, limit], {}, out);
}

/**
 * Whether the single graphs decide every exit exactly as scoreRow: not below opset 9 when a max or temperature
 * threshold needs the in-graph log-odds (no OneHot there; float32 log p_max is 0 above a score of about 16.6, so
 * every near-certain row would exit whatever the threshold). The cascade then runs stage by stage.
 */
export function decidesInGraph(kind: ScoreSpec['kind'], thresholds: readonly number[], opset: number): boolean {
  return opset >= 9 || !thresholds.some((t) => comparesLogOdds(kind, t));
}

/** Whether an exit's decision compares log-odds computed in the graph (max and temperature scores, from LOG_ODDS_FROM up). */
function comparesLogOdds(kind: ScoreSpec['kind'], threshold: number): boolean {
  return kind !== 'margin' && threshold !== Number.POSITIVE_INFINITY && threshold >= LOG_ODDS_FROM;
}

/**
 * From this threshold up (log-odds; p_max ≥ 1 − e^(−9) ≈ 0.99988), max and temperature scores are compared as
 * log-odds computed in the graph, not as log p_max: float32 log p_max near 0 loses the score (above about 16.6 it
 * is exactly 0, so every near-certain row fired whatever the threshold). Below it, log p_max holds the score to
 * well under 0.001 at two operators instead of six.
 */
export const LOG_ODDS_FROM = 9;

/** ReduceMax / ReduceLogSumExp over axis 1 (axes an attribute before opset 18, an input from it). */
function reduceAxis1(g: GraphBuilder, op: 'ReduceMax' | 'ReduceLogSumExp', x: string, keepdims: 0 | 1, j: number, opset: number, claim: (base: string) => string): string {
  return opset >= 18
    ? g.op(op, [x, g.weight(claim(`lc_axes_${j}`), tensor('int64', [1], new BigInt64Array([1n])))], { keepdims })
    : g.op(op, [x], { axes: [1], keepdims });
}

/**
 * The score −log(1 − p_max) of log-probabilities `lp` [n, classes] as [n], precise in float32 however certain the
 * row: a log-sum-exp over the classes but the top one (masked by ArgMax, so a tie masks one of the two). With T = 1
 * it is −log Σ_{k≠top} p_k directly (lp is normalised; its float32 rounding moves the score by about 1e-6). With a
 * temperature, as scoreRow: d = (lp − max lp)/T, o = Σ_{k≠top} e^d, score = log(1 + o) − log o = softplus(−log o).
 */
function appendLogOdds(g: GraphBuilder, lp: string, temperature: number, classes: number, j: number, opset: number, claim: (base: string) => string): string {
  const d = temperature === 1
    ? lp
    : g.op('Mul', [g.op('Sub', [lp, reduceAxis1(g, 'ReduceMax', lp, 1, j, opset, claim)]), g.weight(claim(`lc_invT_${j}`), tensor('float32', [1], new Float32Array([1 / temperature])))]);
  const top = g.op('ArgMax', [lp], { axis: 1, keepdims: 0 });
  // [n, classes]: −1e30 at the top class, 0 elsewhere; added, it drops the top class from the log-sum-exp.
  const depth = g.weight(claim(`lc_classes_${j}`), tensor('int64', [1], new BigInt64Array([BigInt(classes)])));
  const mask = g.op('OneHot', [top, depth, g.weight(claim(`lc_mask_${j}`), tensor('float32', [2], new Float32Array([0, -1e30])))], { axis: -1 });
  const logOthers = reduceAxis1(g, 'ReduceLogSumExp', g.op('Add', [d, mask]), 0, j, opset, claim);
  return temperature === 1 ? g.op('Neg', [logOthers]) : g.op('Softplus', [g.op('Neg', [logOthers])]);
}

/** The largest float32 below float32(v): for float32 scores s, s > float32Below(v) ⇔ s ≥ float32(v) (NaN neither). */
export function float32Below(v: number): number {
  const f = new Float32Array([v]);
  const x = f[0]!;
  if (Number.isNaN(x) || x === Number.NEGATIVE_INFINITY) return x;
  const bits = new Int32Array(f.buffer);
  if (x === 0) bits[0] = -2147483647; // −(smallest subnormal): 0x80000001
  else if (x > 0) bits[0] = bits[0]! - 1;
  else bits[0] = bits[0]! + 1;
  return f[0]!;
}

/**
 * The single-graph cascade as a model: nodes and initializers of `parts`, the real inputs of
 * the first segment, and the two outputs (probabilities [batch, classes], exit [batch]).
 */
export function cascadeModel(
  fused: readonly ModelProto[], last: ModelProto, name: string, parts: { nodes: NodeProto[]; initializers: TensorProto[] },
  outputs: { probs: string; exit: string; batch: number | string; classes: number },
): ModelProto {
  const source = fused[0] ?? last;
  const first = source.graph!;
  return create(ModelProtoSchema, {
    irVersion: source.irVersion,
    opsetImport: source.opsetImport,
    producerName: 'layercache',
    functions: source.functions,
    graph: create(GraphProtoSchema, {
      name,
      node: parts.nodes,
      initializer: parts.initializers,
      input: first.input.filter((v) => !first.initializer.some((t) => t.name === v.name)),
      output: [makeValueInfo(outputs.probs, 'float32', [outputs.batch, outputs.classes]), makeValueInfo(outputs.exit, 'int64', [outputs.batch])],
    }),
  });
}
