/**
 * Standalone training models for heads, run by onnxruntime (opset 17):
 * - a loss-and-gradient model (for the gradient check and diagnostics);
 * - a training-step model that updates many heads at once, each reading its own
 *   features and all distilling the same teacher logits, so one collection pass feeds
 *   every exit.
 * Invariants: input and output names are derived from the head index and parameter
 * name (see trainStepNames), so callers never guess them.
 */
import { GraphBuilder, type ModelProto } from '../onnx/index.ts';
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

/** Graph names of head i's tensors in the training-step model. */
export function trainStepNames(i: number, param: string): { param: string; m: string; v: string; paramOut: string; mOut: string; vOut: string } {
  const p = `h${i}_${param}`;
  return { param: p, m: `${p}_m`, v: `${p}_v`, paramOut: `${p}_p_out`, mOut: `${p}_m_out`, vOut: `${p}_v_out` };
}

/**
 * One AdamW step for every head. Inputs: x<i> [B, D_i], teacher [B, K], step [1], decay [1],
 * and per head i and parameter: trainStepNames(i, name).{param, m, v}. Outputs: loss<i> []
 * and trainStepNames(i, name).{paramOut, mOut, vOut}.
 */
export function buildTrainStepModel(heads: readonly TrainHead[], classes: number, opts: TrainOptions): ModelProto {
  const g = new GraphBuilder({ opset: 17, name: 'heads_train_step' });
  const teacher = g.input('teacher', 'float32', ['B', classes]);
  const step = g.input('step', 'float32', [1]);
  const decay = g.input('decay', 'float32', [1]);
  heads.forEach((h, i) => {
    const x = g.input(`x${i}`, 'float32', ['B', h.inputDim]);
    const shapes = paramShapes(h.spec, h.inputDim, classes);
    const names = shapes.map((s) => trainStepNames(i, s.name));
    const params = shapes.map((s, k) => g.input(names[k]!.param, 'float32', s.dims));
    const { loss, grads } = appendLossAndGrads(g, h.spec, x, teacher, params, { temperature: opts.temperature, dtype: 'float32', dropoutSeed: opts.seed + i, prefix: `h${i}` });
    g.op('Identity', [loss], {}, `loss${i}`);
    g.output(`loss${i}`, 'float32', []);
    shapes.forEach((s, k) => {
      const n = names[k]!;
      const m = g.input(n.m, 'float32', s.dims);
      const v = g.input(n.v, 'float32', s.dims);
      const out = appendAdamW(g, params[k]!, grads[k]!, m, v, step, decay, {
        beta1: opts.beta1, beta2: opts.beta2, eps: opts.eps, decayed: s.dims.length > 1, prefix: n.param,
      });
      g.output(out.param, 'float32', s.dims);
      g.output(out.m, 'float32', s.dims);
      g.output(out.v, 'float32', s.dims);
    });
  });
  return g.build();
}
