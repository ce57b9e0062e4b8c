/**
 * ONNX graphs of a deep MLP classifier (the demo backbone): inference, and a training step
 * with softmax cross-entropy on labels, hand-written backward and AdamW, all run by
 * onnxruntime.
 *
 * Layer l (1..L): a_l = Relu(a_{l−1} W_lᵀ + b_l), except the last, which gives logits z.
 * Loss: L = −(1/B) Σ_rows Σ_k y_k log softmax(z)_k, with y one-hot [B, K].
 * Backward: dz_L = (softmax(z) − y)/B; gW_l = dz_lᵀ a_{l−1}; gb_l = Σ_rows dz_l;
 *   dz_{l−1} = (dz_l W_l) ⊙ [pre_{l−1} > 0].
 * Invariants: parameters are ordered w1, b1, w2, b2, …; w_l is [out, in]; gradients come
 * out in parameter order; the inference model's exits are the hidden Relu outputs.
 */
import { GraphBuilder, type ModelProto } from '../onnx/index.ts';
import { appendAdamW, outputLossAndGrads, scalar, type FloatType } from '../heads/index.ts';
import { randomNormal, tensor, type Rng } from '../tensor/index.ts';

export interface MlpSpec {
  readonly inputDim: number;
  /** Hidden layer widths, e.g. [256, 256, 256, 256, 256, 256]. */
  readonly hidden: readonly number[];
  readonly classes: number;
}

export interface MlpParam {
  readonly name: string;
  readonly dims: readonly number[];
}

export function mlpParamShapes(spec: MlpSpec): MlpParam[] {
  const sizes = [spec.inputDim, ...spec.hidden, spec.classes];
  const out: MlpParam[] = [];
  for (let l = 1; l < sizes.length; l++) {
    out.push({ name: `w${l}`, dims: [sizes[l]!, sizes[l - 1]!] }, { name: `b${l}`, dims: [sizes[l]!] });
  }
  return out;
}

/** He-normal weights, zero biases. */
export function initMlpParams(spec: MlpSpec, rng: Rng): Float32Array[] {
  return mlpParamShapes(spec).map((p) => (p.dims.length === 2 ? scaled(randomNormal(rng, p.dims[0]! * p.dims[1]!), Math.sqrt(2 / p.dims[1]!)) : new Float32Array(p.dims[0]!)));
}

function scaled(x: Float32Array, s: number): Float32Array {
  for (let i = 0; i < x.length; i++) x[i]! *= s;
  return x;
}

/** MACs per sample of the MLP's Gemms. */
export function mlpMacs(spec: MlpSpec): number {
  return mlpParamShapes(spec).filter((p) => p.dims.length === 2).reduce((a, p) => a + p.dims[0]! * p.dims[1]!, 0);
}

function appendForward(g: GraphBuilder, x: string, params: readonly string[], layers: number): { pre: string[]; act: string[]; z: string } {
  const pre: string[] = [];
  const act: string[] = [x];
  let a = x;
  for (let l = 1; l <= layers; l++) {
    const p = g.op('Gemm', [a, params[2 * l - 2]!, params[2 * l - 1]!], { transB: 1 }, l === layers ? 'logits' : `fc${l}`);
    if (l === layers) return { pre, act, z: p };
    pre.push(p);
    a = g.op('Relu', [p], {}, `relu${l}`);
    act.push(a);
  }
  throw new Error('unreachable');
}

/** Appends loss and gradients (parameter order) for logits of x [B, D] against one-hot y [B, K]. */
function appendLossAndGrads(g: GraphBuilder, spec: MlpSpec, x: string, y: string, params: readonly string[], dtype: FloatType): { loss: string; grads: string[] } {
  const layers = spec.hidden.length + 1;
  const { pre, act, z } = appendForward(g, x, params, layers);
  const axis0 = g.weight(g.fresh('ax0'), tensor('int64', [1], new BigInt64Array([0n])));
  const axis1 = g.weight(g.fresh('ax1'), tensor('int64', [1], new BigInt64Array([1n])));
  const logQ = g.op('LogSoftmax', [z], { axis: 1 });
  const perRow = g.op('ReduceSum', [g.op('Mul', [y, logQ]), axis1], { keepdims: 0 });
  const loss = g.op('Neg', [g.op('ReduceMean', [perRow], { keepdims: 0 })], {}, 'loss_value');
  const batch = g.op('Cast', [g.op('Gather', [g.op('Shape', [z]), axis0], { axis: 0 })], { to: dtype === 'float64' ? 11 : 1 });
  let dz = g.op('Div', [g.op('Sub', [g.op('Softmax', [z], { axis: 1 }), y]), batch]);
  const grads: string[] = new Array(params.length);
  const zero = scalar(g, 0, dtype, 'zero');
  for (let l = layers; l >= 1; l--) {
    grads[2 * l - 2] = g.op('Gemm', [dz, act[l - 1]!], { transA: 1 }, `gw${l}`);
    grads[2 * l - 1] = g.op('ReduceSum', [dz, axis0], { keepdims: 0 }, `gb${l}`);
    if (l > 1) {
      const da = g.op('MatMul', [dz, params[2 * l - 2]!]);
      const relu = g.op('Cast', [g.op('Greater', [pre[l - 2]!, zero])], { to: dtype === 'float64' ? 11 : 1 });
      dz = g.op('Mul', [da, relu]);
    }
  }
  return { loss, grads };
}

/** Inputs x [B, D], y [B, K], params; outputs loss [] and grad_<param>. For the gradient check. */
export function buildMlpLossGrad(spec: MlpSpec, dtype: FloatType): ModelProto {
  const g = new GraphBuilder({ opset: 17, name: 'mlp_loss_grad' });
  const x = g.input('x', dtype, ['B', spec.inputDim]);
  const y = g.input('y', dtype, ['B', spec.classes]);
  const shapes = mlpParamShapes(spec);
  const params = shapes.map((s) => g.input(s.name, dtype, s.dims));
  const { loss, grads } = appendLossAndGrads(g, spec, x, y, params, dtype);
  outputLossAndGrads(g, loss, grads, shapes, dtype);
  return g.build();
}

/**
 * One AdamW step. Inputs: x [B, D], y [B, K], step [1] (learning rate with Adam's bias
 * correction), decay [1], and per parameter p: p, p_m, p_v. Outputs: loss [], and
 * p_p_out, p_m_out, p_v_out.
 */
export function buildMlpTrainStep(spec: MlpSpec, opts: { beta1: number; beta2: number; eps: number }): ModelProto {
  const g = new GraphBuilder({ opset: 17, name: 'mlp_train_step' });
  const x = g.input('x', 'float32', ['B', spec.inputDim]);
  const y = g.input('y', 'float32', ['B', spec.classes]);
  const step = g.input('step', 'float32', [1]);
  const decay = g.input('decay', 'float32', [1]);
  const shapes = mlpParamShapes(spec);
  const params = shapes.map((s) => g.input(s.name, 'float32', s.dims));
  const { loss, grads } = appendLossAndGrads(g, spec, x, y, params, 'float32');
  g.op('Identity', [loss], {}, 'loss');
  g.output('loss', 'float32', []);
  shapes.forEach((s, k) => {
    const m = g.input(`${s.name}_m`, 'float32', s.dims);
    const v = g.input(`${s.name}_v`, 'float32', s.dims);
    const out = appendAdamW(g, params[k]!, grads[k]!, m, v, step, decay, { ...opts, decayed: s.dims.length > 1, prefix: s.name });
    g.output(out.param, 'float32', s.dims);
    g.output(out.m, 'float32', s.dims);
    g.output(out.v, 'float32', s.dims);
  });
  return g.build();
}

/** The trained classifier: input `input` [batch, D] → `logits` [batch, K]; weights as initializers. */
export function buildMlpModel(spec: MlpSpec, params: readonly Float32Array[]): ModelProto {
  const g = new GraphBuilder({ opset: 17, name: 'mlp_classifier' });
  const x = g.input('input', 'float32', ['batch', spec.inputDim]);
  const names = mlpParamShapes(spec).map((s, i) => g.weight(s.name, tensor('float32', s.dims, params[i]!)));
  appendForward(g, x, names, spec.hidden.length + 1);
  g.output('logits', 'float32', ['batch', spec.classes]);
  return g.build();
}
