/**
 * Standalone training models for heads, run by onnxruntime (opset 17):
 * - a loss-and-gradient model (for the gradient check and diagnostics);
 * - a training model that runs many AdamW steps (an ONNX Loop) for many heads at once, each
 *   reading its own features and all distilling the same teacher logits, so one collection
 *   pass feeds every exit.
 * Invariants: input and output names are derived from the head index and parameter
 * name (see trainStepNames), so callers never guess them.
 */
import { GraphBuilder, type ModelProto } from '../onnx/index.ts';
import { tensor } from '../tensor/index.ts';
import { appendAdamW, appendLossAndGrads, type FloatType } from './head-graph.ts';
import { paramShapes, type HeadSpec } from './head-spec.ts';

export interface TrainHead {
  readonly spec: HeadSpec;
  readonly inputDim: number;
}

export interface TrainOptions {
  readonly temperature: number;
  readonly beta1: number;
  readonly beta2: number;
  readonly eps: number;
  /** Base seed; head i's dropout uses seed + i. */
  readonly seed: number;
}

/** Inputs: x [B, D], teacher [B, K], params; outputs: loss [] and grad_<param> in parameter order. */
export function buildLossGradModel(spec: HeadSpec, inputDim: number, classes: number, temperature: number, dtype: FloatType): ModelProto {
  const g = new GraphBuilder({ opset: 17, name: 'head_loss_grad' });
  const x = g.input('x', dtype, ['B', inputDim]);
  const t = g.input('teacher', dtype, ['B', classes]);
  const shapes = paramShapes(spec, inputDim, classes);
  const params = shapes.map((s) => g.input(s.name, dtype, s.dims));
  const { loss, grads } = appendLossAndGrads(g, spec, x, t, params, { temperature, dtype, prefix: 'h', dropoutSeed: 1 });
  outputLossAndGrads(g, loss, grads, shapes, dtype);
  return g.build();
}

/** Exposes `loss` [] and `grad_<param>` (in `shapes` order) as graph outputs: the contract of loss-and-gradient models. */
export function outputLossAndGrads(g: GraphBuilder, loss: string, grads: readonly string[], shapes: readonly { name: string; dims: readonly number[] }[], dtype: FloatType): void {
  g.op('Identity', [loss], {}, 'loss');
  g.output('loss', dtype, []);
  shapes.forEach((s, i) => {
    g.op('Identity', [grads[i]!], {}, `grad_${s.name}`);
    g.output(`grad_${s.name}`, dtype, s.dims);
  });
}

/** Graph names of head i's tensors in the training model (inputs, and the loop's outputs). */
export function trainStepNames(i: number, param: string): { param: string; m: string; v: string; paramOut: string; mOut: string; vOut: string } {
  const p = `h${i}_${param}`;
  return { param: p, m: `${p}_m`, v: `${p}_v`, paramOut: `${p}_p_out`, mOut: `${p}_m_out`, vOut: `${p}_v_out` };
}

/**
 * S AdamW steps for every head in one run: an ONNX Loop whose body is one step, so the
 * parameters and moments stay inside onnxruntime between steps and the features are
 * gathered in-graph instead of copied in per step.
 * Inputs: x<i> [N, D_i] (all rows of head i's features), teacher [N, K], order [S, B] int64
 * (the rows of each step), steps [S] and decays [S] (AdamW step size with bias correction,
 * and learning rate × weight decay, per step), and per head i and parameter:
 * trainStepNames(i, name).{param, m, v}. Outputs: trainStepNames(i, name).{paramOut, mOut,
 * vOut} after the S steps, and loss<i> [S], the loss of each step.
 * Invariant: one run of S steps equals S runs of one step (the dropout kernels advance once
 * per step either way).
 */
export function buildTrainLoopModel(heads: readonly TrainHead[], classes: number, opts: TrainOptions): ModelProto {
  const shapes = heads.map((h) => paramShapes(h.spec, h.inputDim, classes));
  const names = shapes.map((ss, i) => ss.map((s) => trainStepNames(i, s.name)));
  const outer = ['teacher', 'order', 'steps', 'decays', ...heads.map((_, i) => `x${i}`),
    ...names.flat().flatMap((n) => [n.param, n.m, n.v, n.paramOut, n.mOut, n.vOut]), ...heads.map((_, i) => `loss${i}`)];

  // The body: one step. Its own names carry a `b_` prefix, never an outer one.
  const b = new GraphBuilder({ opset: 17, name: 'heads_train_step' });
  b.reserve(outer);
  const iter = b.input('b_iter', 'int64', []);
  const condIn = b.input('b_cond', 'bool', []);
  const carriedIn = names.map((ns, i) => ns.map((n, k) => ({
    param: b.input(`b_${n.param}`, 'float32', shapes[i]![k]!.dims),
    m: b.input(`b_${n.m}`, 'float32', shapes[i]![k]!.dims),
    v: b.input(`b_${n.v}`, 'float32', shapes[i]![k]!.dims),
  })));
  const at = b.op('Unsqueeze', [iter, b.weight('b_axis0', tensor('int64', [1], new BigInt64Array([0n])))]);
  const step = b.op('Gather', ['steps', at], { axis: 0 });
  const decay = b.op('Gather', ['decays', at], { axis: 0 });
  const rows = b.op('Gather', ['order', iter], { axis: 0 });
  const teacher = b.op('Gather', ['teacher', rows], { axis: 0 });
  const carriedOut: { name: string; dims: readonly number[] }[] = [];
  const losses: string[] = [];
  heads.forEach((h, i) => {
    const x = b.op('Gather', [`x${i}`, rows], { axis: 0 });
    const params = carriedIn[i]!.map((c) => c.param);
    const { loss, grads } = appendLossAndGrads(b, h.spec, x, teacher, params, { temperature: opts.temperature, dtype: 'float32', dropoutSeed: opts.seed + i, prefix: `b_h${i}` });
    losses.push(b.op('Identity', [loss], {}, `b_loss${i}`));
    shapes[i]!.forEach((s, k) => {
      const n = names[i]![k]!;
      const c = carriedIn[i]![k]!;
      const out = appendAdamW(b, c.param, grads[k]!, c.m, c.v, step, decay, {
        beta1: opts.beta1, beta2: opts.beta2, eps: opts.eps, decayed: s.dims.length > 1, prefix: `b_${n.param}`,
      });
      carriedOut.push({ name: out.param, dims: s.dims }, { name: out.m, dims: s.dims }, { name: out.v, dims: s.dims });
    });
  });
  b.output(b.op('Identity', [condIn], {}, 'b_cond_out'), 'bool', []);
  for (const c of carriedOut) b.output(c.name, 'float32', c.dims);
  for (const l of losses) b.output(l, 'float32', []);

  const g = new GraphBuilder({ opset: 17, name: 'heads_train_loop' });
  g.reserve(b.parts().nodes.flatMap((n) => n.output));
  g.input('teacher', 'float32', ['N', classes]);
  const order = g.input('order', 'int64', ['S', 'B']);
  g.input('steps', 'float32', ['S']);
  g.input('decays', 'float32', ['S']);
  heads.forEach((h, i) => g.input(`x${i}`, 'float32', ['N', h.inputDim]));
  const carried: string[] = [];
  const results: string[] = [];
  names.forEach((ns, i) => ns.forEach((n, k) => {
    const dims = shapes[i]![k]!.dims;
    carried.push(g.input(n.param, 'float32', dims), g.input(n.m, 'float32', dims), g.input(n.v, 'float32', dims));
    results.push(n.paramOut, n.mOut, n.vOut);
    g.output(n.paramOut, 'float32', dims);
    g.output(n.mOut, 'float32', dims);
    g.output(n.vOut, 'float32', dims);
  }));
  // The trip count is the number of steps, the first dim of `order`, as a scalar.
  const trips = g.op('Gather', [g.op('Shape', [order]), g.weight('lc_zero', tensor('int64', [], new BigInt64Array([0n])))], { axis: 0 });
  const always = g.weight('lc_true', tensor('bool', [], new Uint8Array([1])));
  const lossNames = heads.map((_, i) => `loss${i}`);
  g.node('Loop', [trips, always, ...carried], { body: b.buildGraph() }, { outputs: [...results, ...lossNames] });
  for (const l of lossNames) g.output(l, 'float32', ['S']);
  return g.build();
}
