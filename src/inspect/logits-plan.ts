/**
 * The logits plan of a classifier reading (classifier-reading.ts): how logits are read from the scores output.
 * A Softmax over the classes at the end (through shape-only ops and float casts) is read before it ('softmax');
 * scores that hold probabilities otherwise are read through Log(max(p, 1e-30)) ('log'); anything else as it is,
 * with a caution when it looks like neither logits nor probabilities (scoresCaution: a Sigmoid's scores, percentages).
 * Invariant: softmax of the planned output equals the original probabilities (up to the clamp).
 */
import { clone } from '@bufbuild/protobuf';
import { NodeProtoSchema } from 'onnx-buf';
import { LayercacheError } from '../errors/index.ts';
import { cloneModel, elemTypeOfDtype, extendModel, makeValueInfo, readValueInfo, type GraphBuilder, type GraphIndex, type ModelProto, type NodeProto } from '../onnx/index.ts';
import { floatValues, tensor, type Tensor } from '../tensor/index.ts';

export type LogitsPlan =
  | { readonly kind: 'logits' }
  /** Read the first output before Softmax node `node` (its name, or its output tensor when unnamed). */
  | { readonly kind: 'softmax'; readonly node: string }
  | { readonly kind: 'log' };

/** Ops that only rearrange a tensor (element order kept), through which a final Softmax is still found. */
const SHAPE_ONLY = new Set(['Identity', 'Flatten', 'Reshape', 'Squeeze', 'Unsqueeze']);

/** Lowest value the 'log' plan's clamp lets through, so that log never returns −∞. */
const LOG_FLOOR = 1e-30;

/** The model extended by `fn`, whose one new output becomes the first; the others follow, the old first dropped. */
export function withNewFirstOutput(model: ModelProto, fn: (g: GraphBuilder) => void): ModelProto {
  const out = extendModel(model, fn);
  const outputs = out.graph!.output;
  out.graph!.output = [outputs[outputs.length - 1]!, ...outputs.slice(1, -1)];
  return out;
}

/** ONNX float element types (FLOAT, FLOAT16, DOUBLE, BFLOAT16): a Cast between them keeps the order of values. */
const FLOAT_ELEM_TYPES = new Set([1, 10, 11, 16]);

function nodeKey(n: NodeProto): string {
  return n.name !== '' ? n.name : n.output[0]!;
}

function intAttr(n: NodeProto, name: string): number | undefined {
  const a = n.attribute.find((x) => x.name === name);
  return a ? Number(a.i) : undefined;
}

/**
 * The Softmax that makes output `out` a probability vector per sample: reached from the output back through
 * shape-only ops and casts between float types, normalising over every non-batch element of its input. null when
 * there is none.
 * dimsOf: concrete dims (batch first) of any tensor.
 */
function finalSoftmax(index: GraphIndex, out: string, opset: number, dimsOf: (name: string) => readonly number[] | undefined): NodeProto | null {
  let t = out;
  for (;;) {
    const p = index.producer.get(t);
    if (p === undefined) return null;
    const n = index.nodes[p]!;
    if (n.opType === 'Softmax' && (n.domain === '' || n.domain === 'ai.onnx')) {
      const dims = dimsOf(n.input[0]!);
      if (!dims || dims.length < 2) return null;
      const raw = intAttr(n, 'axis') ?? (opset >= 13 ? -1 : 1);
      const axis = raw < 0 ? raw + dims.length : raw;
      // Before opset 13 Softmax normalises over all dims from `axis` on; since then over `axis` alone.
      const perSample = opset >= 13 ? axis > 0 && dims.every((d, i) => i === 0 || i === axis || d === 1) : axis === 1;
      return perSample ? n : null;
    }
    const orderKept = SHAPE_ONLY.has(n.opType) || (n.opType === 'Cast' && FLOAT_ELEM_TYPES.has(intAttr(n, 'to') ?? 0));
    if (!orderKept || (n.domain !== '' && n.domain !== 'ai.onnx')) return null;
    t = n.input[0]!;
  }
}

/**
 * Classes per row of scores whose dims after the batch hold one dim above 1 ([batch, classes], or with unit dims
 * such as [batch, classes, 1, 1]), or null (also for fewer than two classes).
 */
export function squeezedClasses(dims: readonly number[]): number | null {
  const rest = dims.slice(1).filter((d) => d !== 1);
  return dims.length >= 2 && rest.length === 1 ? rest[0]! : null;
}

/** True when every row of `values` [rows, classes] (unit dims allowed, see squeezedClasses) is a probability vector (non-negative, summing to 1). */
export function holdsProbabilities(values: Tensor): boolean {
  const v = floatValues(values);
  const k = squeezedClasses(values.dims);
  const rows = values.dims[0] ?? 0;
  if (!v || k === null || rows < 1) return false;
  for (let r = 0; r < rows; r++) {
    let sum = 0;
    for (let c = 0; c < k; c++) {
      const x = v[r * k + c]!;
      if (!(x >= 0 && x <= 1 + 1e-3)) return false;
      sum += x;
    }
    // float16 probabilities are rounded to about 3 significant digits.
    if (Math.abs(sum - 1) > (values.dtype === 'float16' ? 1e-2 : 1e-3)) return false;
  }
  return true;
}

/**
 * A caution for scores read as logits that look like something else, on the analysis run's rows ([rows, classes],
 * two rows or more): every value in [0, 1] without rows summing to 1 (independent per-class scores, as a Sigmoid
 * gives), or non-negative rows that all sum to one constant other than 1 (probabilities scaled, as percentages).
 * Read as logits, their argmax (the answer) is right but the served probabilities are their softmax. Null when
 * nothing looks wrong.
 */
export function scoresCaution(values: Tensor | undefined, output: string): string | null {
  const v = values ? floatValues(values) : null;
  const k = values ? squeezedClasses(values.dims) : null;
  const rows = values?.dims[0] ?? 0;
  if (!v || k === null || rows < 2) return null;
  let unit = true;
  const sums: number[] = [];
  for (let r = 0; r < rows; r++) {
    let sum = 0;
    for (let c = 0; c < k; c++) {
      const x = v[r * k + c]!;
      if (!(x >= 0)) return null;
      if (x > 1) unit = false;
      sum += x;
    }
    sums.push(sum);
  }
  // Identical rows (an integer input fed zeros) say nothing of how rows sum.
  let distinct = false;
  for (let i = k; i < rows * k && !distinct; i++) distinct = v[i] !== v[i % k];
  if (!distinct) return null;
  const same = sums.every((x) => Math.abs(x - sums[0]!) <= 1e-3 * Math.max(1, sums[0]!));
  const consequence = `layercache reads them as logits: its answers follow their argmax, but the probabilities it serves are their softmax, not these scores; export the scores before the last activation (or name another output with --scores-output)`;
  if (same && Math.abs(sums[0]! - 1) > 1e-3 && sums[0]! > 0) {
    return `output '${output}' has non-negative rows that all sum to ${Number(sums[0]!.toPrecision(4))} (probabilities scaled by it?); ${consequence}`;
  }
  if (unit && !same) return `output '${output}' holds values in [0, 1] whose rows do not sum to 1 (independent per-class scores, as from a Sigmoid?); ${consequence}`;
  return null;
}

/**
 * The plan for reading logits from the first output. first: the first output's values on the analysis run
 * ([rows, classes]), for outputs that hold probabilities without a Softmax layercache can see.
 */
export function planLogits(index: GraphIndex, opset: number, dimsOf: (name: string) => readonly number[] | undefined, first: Tensor | undefined): LogitsPlan {
  const out = index.outputs[0];
  if (out === undefined) return { kind: 'logits' };
  const softmax = finalSoftmax(index, out, opset, dimsOf);
  if (softmax) return { kind: 'softmax', node: nodeKey(softmax) };
  return first && holdsProbabilities(first) ? { kind: 'log' } : { kind: 'logits' };
}

/** A readable line on what the plan does, for notes and `inspect`; null for 'logits'. */
export function describeLogitsPlan(plan: LogitsPlan, output: string): string | null {
  if (plan.kind === 'softmax') return `output '${output}' is a softmax (node '${plan.node}'); layercache reads the logits before it`;
  if (plan.kind === 'log') return `output '${output}' holds probabilities; layercache reads its logarithm as the logits`;
  return null;
}

/**
 * The model with its first output replaced per `plan` (the model itself for 'logits'). The new first output
 * keeps the old one's declared type; the replaced tensor is no longer an output, and nodes that only fed it
 * are left for segment extraction to drop.
 */
export function applyLogitsPlan(model: ModelProto, plan: LogitsPlan): ModelProto {
  if (plan.kind === 'logits') return model;
  const graph = model.graph!;
  const first = graph.output[0];
  const decl = first ? readValueInfo(first) : null;
  if (!first || !decl) throw new LayercacheError('ONNX_INVALID_MODEL', 'the model has no typed first output to read logits from');
  if (plan.kind === 'log') {
    if (decl.elemType !== elemTypeOfDtype('float32')) throw new LayercacheError('INTERNAL', `the 'log' plan reads float32 probabilities; cast '${first.name}' first`);
    return withNewFirstOutput(model, (g) => {
      const floor = g.weight('lc_logits_floor', tensor('float32', [1], new Float32Array([LOG_FLOOR])));
      const y = g.op('Log', [g.op('Max', [first.name, floor])], {}, `${first.name}_lc_logits`);
      g.output(y, 'float32', decl.shape);
    });
  }
  // 'softmax': replay the ops between the Softmax and the output (shape-only ops, float casts) on the Softmax's input.
  const copy = cloneModel(model);
  const g = copy.graph!;
  const byOutput = new Map(g.node.flatMap((n) => n.output.map((o) => [o, n] as const)));
  const chain: NodeProto[] = [];
  let t = first.name;
  for (;;) {
    const n = byOutput.get(t);
    if (!n) throw new LayercacheError('INTERNAL', `no node produces '${t}' on the way to softmax '${plan.node}'`);
    if (n.opType === 'Softmax' && nodeKey(n) === plan.node) {
      t = n.input[0]!;
      break;
    }
    chain.unshift(n);
    t = n.input[0]!;
  }
  const renamed = (name: string) => `${name}_lc_logits`;
  for (const n of chain) {
    const replay = clone(NodeProtoSchema, n);
    replay.name = n.name === '' ? '' : renamed(n.name);
    replay.input = [t, ...n.input.slice(1)];
    replay.output = [renamed(n.output[0]!)];
    g.node.push(replay);
    t = replay.output[0]!;
  }
  g.output[0] = makeValueInfo(t, decl.elemType, decl.shape);
  return copy;
}
