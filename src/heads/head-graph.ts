/**
 * ONNX graphs of heads: inference (features → logits → probabilities) and the
 * self-distillation loss with its hand-written gradients.
 *
 * Loss per batch of B rows, teacher logits T and head logits Z, temperature τ:
 *   L = τ² · (1/B) Σ_rows KL(softmax(T/τ) ‖ softmax(Z/τ)),   ∂L/∂Z = τ · (softmax(Z/τ) − softmax(T/τ)) / B.
 * Invariants: parameter order follows paramShapes(); gradients come out in the same
 * order; graphs use only ops whose semantics are the same at opsets 11–21 for 2-D data,
 * except the training graphs, which are built at opset 17.
 */
import type { GraphBuilder } from '../onnx/index.ts';
import { tensor, type DType } from '../tensor/index.ts';
import type { HeadParam, HeadSpec } from './head-spec.ts';

export type FloatType = Extract<DType, 'float32' | 'float64'>;

/** A scalar constant of the given float type, as a [1] initializer. */
export function scalar(g: GraphBuilder, value: number, dtype: FloatType, prefix = 'c'): string {
  const data = dtype === 'float64' ? new Float64Array([value]) : new Float32Array([value]);
  return g.weight(g.fresh(prefix), tensor(dtype, [1], data as Float32Array));
}

function int64s(g: GraphBuilder, values: number[], prefix: string): string {
  return g.weight(g.fresh(prefix), tensor('int64', [values.length], new BigInt64Array(values.map(BigInt))));
}

/**
 * Appends head inference reading features `x` [batch, D]; params are graph names in
 * paramShapes() order. Returns logits [batch, classes].
 */
export function appendHeadLogits(g: GraphBuilder, spec: HeadSpec, x: string, params: readonly string[], prefix: string): string {
  if (spec.hidden > 0) {
    const h = g.op('Relu', [g.op('Gemm', [x, params[0]!, params[1]!], { transB: 1 }, `${prefix}_h`)], {}, `${prefix}_a`);
    return g.op('Gemm', [h, params[2]!, params[3]!], { transB: 1 }, `${prefix}_logits`);
  }
  return g.op('Gemm', [x, params[0]!, params[1]!], { transB: 1 }, `${prefix}_logits`);
}

/** Adds head parameters as initializers named `${prefix}_${param}`; returns their names. */
export function addParamInitializers(g: GraphBuilder, params: readonly HeadParam[], prefix: string): string[] {
  return params.map((p) => g.weight(`${prefix}_${p.name}`, tensor('float32', p.dims, p.data)));
}

export interface LossAndGrads {
  /** Scalar loss, shape []. */
  readonly loss: string;
  /** Gradients in parameter order. */
  readonly grads: string[];
}

/**
 * Appends the distillation loss and its gradients. x: [B, D] features, teacher: [B, K]
 * logits, params in paramShapes() order. Dropout (spec.dropout > 0) is applied in
 * training mode with the given seed.
 */
export function appendLossAndGrads(
  g: GraphBuilder, spec: HeadSpec, x: string, teacher: string, params: readonly string[],
  options: { temperature: number; dtype: FloatType; dropoutSeed?: number; prefix: string },
): LossAndGrads {
  const { temperature: tau, dtype, prefix } = options;
  const c = (v: number): string => scalar(g, v, dtype, `${prefix}_c`);
  const axis0 = int64s(g, [0], `${prefix}_ax0`);
  const axis1 = int64s(g, [1], `${prefix}_ax1`);

  // Forward.
  let hidden: { pre: string; act: string; dropped: string; mask: string | null } | null = null;
  let z: string;
  if (spec.hidden > 0) {
    const pre = g.op('Gemm', [x, params[0]!, params[1]!], { transB: 1 }, `${prefix}_pre`);
    const act = g.op('Relu', [pre], {}, `${prefix}_act`);
    let dropped = act;
    let mask: string | null = null;
    if (spec.dropout > 0) {
      const ratio = scalar(g, spec.dropout, dtype, `${prefix}_ratio`);
      const ratioScalar = g.op('Squeeze', [ratio, axis0]);
      const training = g.weight(g.fresh(`${prefix}_training`), tensor('bool', [], new Uint8Array([1])));
      [dropped, mask] = g.node('Dropout', [act, ratioScalar, training], options.dropoutSeed === undefined ? {} : { seed: options.dropoutSeed }, { outputs: 2 }) as [string, string];
    }
    hidden = { pre, act, dropped, mask };
    z = g.op('Gemm', [dropped, params[2]!, params[3]!], { transB: 1 }, `${prefix}_z`);
  } else {
    z = g.op('Gemm', [x, params[0]!, params[1]!], { transB: 1 }, `${prefix}_z`);
  }

  // Loss: τ² · mean_rows Σ_k p_k (log p_k − log q_k).
  const invTau = c(1 / tau);
  const tScaled = g.op('Mul', [teacher, invTau]);
  const zScaled = g.op('Mul', [z, invTau]);
  const p = g.op('Softmax', [tScaled], { axis: 1 });
  const logP = g.op('LogSoftmax', [tScaled], { axis: 1 });
  const logQ = g.op('LogSoftmax', [zScaled], { axis: 1 });
  const perRow = g.op('ReduceSum', [g.op('Mul', [p, g.op('Sub', [logP, logQ])]), axis1], { keepdims: 0 });
  const loss = g.op('Mul', [g.op('ReduceMean', [perRow], { keepdims: 0 }), c(tau * tau)], {}, `${prefix}_loss_1`);
  const lossScalar = g.op('Squeeze', [loss], {}, `${prefix}_loss`);

  // Backward: dZ = τ (q − p) / B.
  const batch = g.op('Cast', [g.op('Gather', [g.op('Shape', [z]), axis0], { axis: 0 })], { to: dtype === 'float64' ? 11 : 1 });
  const q = g.op('Softmax', [zScaled], { axis: 1 });
  const dz = g.op('Div', [g.op('Mul', [g.op('Sub', [q, p]), c(tau)]), batch], {}, `${prefix}_dz`);
  const sumRows = (t: string): string => g.op('ReduceSum', [t, axis0], { keepdims: 0 });

  if (!hidden) {
    return { loss: lossScalar, grads: [g.op('Gemm', [dz, x], { transA: 1 }, `${prefix}_gw`), sumRows(dz)] };
  }
  const gW2 = g.op('Gemm', [dz, hidden.dropped], { transA: 1 }, `${prefix}_gw2`);
  const gB2 = sumRows(dz);
  let dAct = g.op('MatMul', [dz, params[2]!]);
  if (hidden.mask) {
    const keep = g.op('Cast', [hidden.mask], { to: dtype === 'float64' ? 11 : 1 });
    dAct = g.op('Mul', [g.op('Mul', [dAct, keep]), c(1 / (1 - spec.dropout))]);
  }
  const relu = g.op('Cast', [g.op('Greater', [hidden.pre, c(0)])], { to: dtype === 'float64' ? 11 : 1 });
  const dPre = g.op('Mul', [dAct, relu]);
  const gW1 = g.op('Gemm', [dPre, x], { transA: 1 }, `${prefix}_gw1`);
  const gB1 = sumRows(dPre);
  return { loss: lossScalar, grads: [gW1, gB1, gW2, gB2] };
}

/**
 * Appends one AdamW update: m' = β1 m + (1−β1) g; v' = β2 v + (1−β2) g²;
 * p' = p − step · m' / (√v' + ε) − decay · p (decay only when `decayed`). `step` and
 * `decay` are [1] graph inputs (step already includes Adam's bias correction).
 */
export function appendAdamW(
  g: GraphBuilder, param: string, grad: string, m: string, v: string, step: string, decay: string,
  options: { beta1: number; beta2: number; eps: number; decayed: boolean; prefix: string },
): { param: string; m: string; v: string } {
  const c = (x: number): string => scalar(g, x, 'float32', `${options.prefix}_c`);
  const m2 = g.op('Add', [g.op('Mul', [m, c(options.beta1)]), g.op('Mul', [grad, c(1 - options.beta1)])], {}, `${options.prefix}_m_out`);
  const v2 = g.op('Add', [g.op('Mul', [v, c(options.beta2)]), g.op('Mul', [g.op('Mul', [grad, grad]), c(1 - options.beta2)])], {}, `${options.prefix}_v_out`);
  const update = g.op('Mul', [g.op('Div', [m2, g.op('Add', [g.op('Sqrt', [v2]), c(options.eps)])]), step]);
  let p2 = g.op('Sub', [param, update]);
  if (options.decayed) p2 = g.op('Sub', [p2, g.op('Mul', [param, decay])]);
  p2 = g.op('Identity', [p2], {}, `${options.prefix}_p_out`);
  return { param: p2, m: m2, v: v2 };
}
