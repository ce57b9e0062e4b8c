/**
 * Tiny models built with the project's GraphBuilder, for unit tests. Each returns the
 * model and the tensor names a test needs. Weights are seeded, so results are stable.
 */
import { cloneModel, extendModel, GraphBuilder, makeValueInfo, readValueInfo, type ModelProto } from '../../src/onnx/index.ts';
import { randomNormal, seededRng, tensor, type Rng } from '../../src/tensor/index.ts';

function w(g: GraphBuilder, rng: Rng, name: string, dims: number[], std = 0.3): string {
  return g.weight(name, tensor('float32', dims, randomNormal(rng, dims.reduce((a, b) => a * b, 1), std)));
}

/**
 * Mean hidden activation of a fixture over N(0, 1) inputs (10,000 seeded samples, measured once). A fixture's
 * classifier is centred on it (bias = −W·mean), so that random inputs get varied answers: uncentred, every random
 * input got the same class and a test of agreement with the backbone could not tell a head that learned from one
 * that answers a constant. `models.test.ts` checks the answers stay varied.
 */
const MLP_R2_MEAN = [0.60, 0.14, 0.11, 0.00, 0.40, 0.20, 0.39, 0.50];
const RESIDUAL_POOLED_MEAN = [0.40, 2.25, 0.61, 0.27];
const HEAVY_STEM_MEAN = [0.85, 0.86, 0.87, 0.80, 1.24, 0.97, 1.29, 0.96];

/** A Gemm's weight [out, in] drawn from `rng` with `std`, and its bias centring the outputs on inputs of mean `mean`. */
function centredGemm(g: GraphBuilder, rng: Rng, name: string, out: number, mean: readonly number[], std: number): [string, string] {
  const inp = mean.length;
  const wt = randomNormal(rng, out * inp, std);
  const bias = Float32Array.from({ length: out }, (_, k) => -mean.reduce((a, m, j) => a + wt[k * inp + j]! * m, 0));
  return [g.weight(`${name}_w`, tensor('float32', [out, inp], wt)), g.weight(`${name}_b`, tensor('float32', [out], bias))];
}

/** x[batch,6] → Gemm(8) → Relu → Gemm(8) → Relu → Gemm(4) → logits, centred (about four classes on N(0, 1) inputs). */
export function mlp(opset = 17): { model: ModelProto; hidden: string[] } {
  const rng = seededRng(1);
  const g = new GraphBuilder({ opset });
  const x = g.input('x', 'float32', ['batch', 6]);
  const h1 = g.op('Gemm', [x, w(g, rng, 'w1', [8, 6]), w(g, rng, 'b1', [8])], { transB: 1 }, 'h1');
  const r1 = g.op('Relu', [h1], {}, 'r1');
  const h2 = g.op('Gemm', [r1, w(g, rng, 'w2', [8, 8]), w(g, rng, 'b2', [8])], { transB: 1 }, 'h2');
  const r2 = g.op('Relu', [h2], {}, 'r2');
  g.op('Gemm', [r2, ...centredGemm(g, rng, 'out', 4, MLP_R2_MEAN, 0.9)], { transB: 1 }, 'logits');
  g.output('logits', 'float32', ['batch', 4]);
  return { model: g.build(), hidden: ['h1', 'r1', 'h2', 'r2'] };
}

/**
 * x[batch,6] → Gemm(8) → Relu → Gemm(8) → Relu, then class scores Gemm(4) + √(100 − Σ r2): unit 0 of each hidden
 * layer carries x₀ through, so the scores are finite for inputs in [0, 1) and NaN for x₀ ≥ 100 (a model that cannot
 * answer some inputs). The NaN term reads only r2, so r1 and h2 are still cut points.
 */
export function nanAbove100(): { model: ModelProto } {
  const rng = seededRng(3);
  const g = new GraphBuilder({ opset: 17 });
  const x = g.input('x', 'float32', ['batch', 6]);
  const carry = (out: number, inp: number, std: number): Float32Array => {
    const m = randomNormal(rng, out * inp, std);
    for (let j = 0; j < inp; j++) m[j] = j === 0 ? 1 : 0;
    return m;
  };
  const h1 = g.op('Gemm', [x, g.weight('w1', tensor('float32', [8, 6], carry(8, 6, 0.3))), g.weight('b1', tensor('float32', [8], new Float32Array(8)))], { transB: 1 }, 'h1');
  const r1 = g.op('Relu', [h1], {}, 'r1');
  const h2 = g.op('Gemm', [r1, g.weight('w2', tensor('float32', [8, 8], carry(8, 8, 0.3))), g.weight('b2', tensor('float32', [8], new Float32Array(8)))], { transB: 1 }, 'h2');
  const r2 = g.op('Relu', [h2], {}, 'r2');
  const base = g.op('Gemm', [r2, w(g, rng, 'w3', [4, 8]), w(g, rng, 'b3', [4])], { transB: 1 }, 'base');
  const total = g.op('Gemm', [r2, g.weight('ones', tensor('float32', [4, 8], new Float32Array(32).fill(1)))], { transB: 1 }, 'total');
  const room = g.op('Sub', [g.weight('limit', tensor('float32', [1], Float32Array.of(100))), total], {}, 'room');
  g.op('Add', [base, g.op('Sqrt', [room], {}, 'root')], {}, 'logits');
  g.output('logits', 'float32', ['batch', 4]);
  return { model: g.build() };
}

/**
 * A conv net with two residual blocks: stem conv+relu, then per block
 * conv→relu→conv, add the block input, relu. The block-internal tensors are bypassed
 * by the skip connection, so they are not cuts. A Shape/Gather/Concat/Reshape head
 * computes the flatten shape from constants only. The classifier is centred: five classes on N(0, 1) images.
 */
export function residualNet(opset = 17): { model: ModelProto; blockOutputs: string[]; inner: string[] } {
  const rng = seededRng(2);
  const g = new GraphBuilder({ opset });
  const x = g.input('image', 'float32', ['N', 3, 8, 8]);
  const stemConv = g.op('Conv', [x, w(g, rng, 'stem_w', [4, 3, 3, 3]), w(g, rng, 'stem_b', [4])], { pads: [1, 1, 1, 1] }, 'stem_conv');
  let cur = g.op('Relu', [stemConv], {}, 'stem');
  const blockOutputs: string[] = [];
  const inner: string[] = [];
  for (const b of [1, 2]) {
    const c1 = g.op('Conv', [cur, w(g, rng, `b${b}_w1`, [4, 4, 3, 3]), w(g, rng, `b${b}_b1`, [4])], { pads: [1, 1, 1, 1] }, `b${b}_conv1`);
    const r1 = g.op('Relu', [c1], {}, `b${b}_relu1`);
    const c2 = g.op('Conv', [r1, w(g, rng, `b${b}_w2`, [4, 4, 3, 3]), w(g, rng, `b${b}_b2`, [4])], { pads: [1, 1, 1, 1] }, `b${b}_conv2`);
    const sum = g.op('Add', [c2, cur], {}, `b${b}_add`);
    cur = g.op('Relu', [sum], {}, `b${b}_out`);
    blockOutputs.push(cur);
    inner.push(c1, r1, c2);
  }
  const pooled = g.op('GlobalAveragePool', [cur], {}, 'pooled');
  const shape = g.op('Constant', [], { value: tensor('int64', [2], new BigInt64Array([0n, -1n])) }, 'flat_shape');
  const flat = g.op('Reshape', [pooled, shape], {}, 'flat');
  g.op('Gemm', [flat, ...centredGemm(g, rng, 'fc', 5, RESIDUAL_POOLED_MEAN, 1.8)], { transB: 1 }, 'logits');
  g.output('logits', 'float32', ['N', 5]);
  return { model: g.build(), blockOutputs, inner };
}

/** x → a → (b = Relu(a), c = Sigmoid(a)) → d = Add(b, c) → y: 'b' and 'c' are not cuts, 'a' and 'd' are. */
export function branchRejoin(): { model: ModelProto } {
  const rng = seededRng(3);
  const g = new GraphBuilder();
  const x = g.input('x', 'float32', ['batch', 4]);
  const a = g.op('Gemm', [x, w(g, rng, 'wa', [4, 4]), w(g, rng, 'ba', [4])], { transB: 1 }, 'a');
  const b = g.op('Relu', [a], {}, 'b');
  const c = g.op('Sigmoid', [a], {}, 'c');
  const d = g.op('Add', [b, c], {}, 'd');
  g.op('Gemm', [d, w(g, rng, 'wy', [3, 4]), w(g, rng, 'by', [3])], { transB: 1 }, 'y');
  g.output('y', 'float32', ['batch', 3]);
  return { model: g.build() };
}

/** One trunk, two outputs: logits and probabilities (Softmax of logits), plus an aux output from the trunk. */
export function twoOutputs(): { model: ModelProto } {
  const rng = seededRng(4);
  const g = new GraphBuilder();
  const x = g.input('x', 'float32', ['batch', 5]);
  const h = g.op('Relu', [g.op('Gemm', [x, w(g, rng, 'w1', [6, 5]), w(g, rng, 'b1', [6])], { transB: 1 }, 'h_pre')], {}, 'h');
  const z = g.op('Relu', [g.op('Gemm', [h, w(g, rng, 'w2', [6, 6]), w(g, rng, 'b2', [6])], { transB: 1 }, 'z_pre')], {}, 'z');
  const logits = g.op('Gemm', [z, w(g, rng, 'w3', [3, 6]), w(g, rng, 'b3', [3])], { transB: 1 }, 'logits');
  g.op('Softmax', [logits], { axis: 1 }, 'probs');
  g.output('logits', 'float32', ['batch', 3]);
  g.output('probs', 'float32', ['batch', 3]);
  return { model: g.build() };
}

/** Every stage concatenates the stage input with its output, back to the input: no cut point exists. */
export function denseConcat(): { model: ModelProto } {
  const rng = seededRng(5);
  const g = new GraphBuilder();
  const x = g.input('x', 'float32', ['batch', 4]);
  const a = g.op('Gemm', [x, w(g, rng, 'wa', [4, 4]), w(g, rng, 'ba', [4])], { transB: 1 }, 'a');
  const ax = g.op('Concat', [x, a], { axis: 1 }, 'ax');
  const b = g.op('Gemm', [ax, w(g, rng, 'wb', [4, 8]), w(g, rng, 'bb', [4])], { transB: 1 }, 'b');
  g.op('Concat', [x, a, b], { axis: 1 }, 'y');
  g.output('y', 'float32', ['batch', 12]);
  return { model: g.build() };
}

/**
 * Reads the batch size from the input first (`b = x.shape[0]`) and uses it only at the end
 * (Reshape to [b, -1]), as many PyTorch exports do. The hidden tensors are still cuts.
 */
export function earlyBatchRead(): { model: ModelProto; hidden: string[] } {
  const rng = seededRng(6);
  const g = new GraphBuilder({ opset: 13 });
  const x = g.input('x', 'float32', ['batch', 2, 3]);
  const shape = g.op('Shape', [x], {}, 'x_shape');
  const b = g.op('Gather', [shape, g.weight('zero', tensor('int64', [1], new BigInt64Array([0n])))], { axis: 0 }, 'b');
  const flatShape = g.op('Concat', [b, g.weight('minus_one', tensor('int64', [1], new BigInt64Array([-1n])))], { axis: 0 }, 'flat_shape');
  const c1 = g.op('Relu', [g.op('Conv', [x, w(g, rng, 'k1', [4, 2, 1]), w(g, rng, 'kb1', [4])], {}, 'c1_pre')], {}, 'c1');
  const c2 = g.op('Relu', [g.op('Conv', [c1, w(g, rng, 'k2', [4, 4, 1]), w(g, rng, 'kb2', [4])], {}, 'c2_pre')], {}, 'c2');
  const flat = g.op('Reshape', [c2, flatShape], {}, 'flat');
  g.op('Gemm', [flat, w(g, rng, 'wo', [3, 12]), w(g, rng, 'bo', [3])], { transB: 1 }, 'y');
  g.output('y', 'float32', ['batch', 3]);
  return { model: g.build(), hidden: ['c1_pre', 'c1', 'c2_pre', 'c2', 'flat'] };
}

/**
 * Folds the batch into rows: x [batch, 4, 6] → [batch·4, 6] → two Gemm+Relu → back to
 * [b, 4·6] with b = Shape(x)[0]. The folded tensors cannot rebuild b, so they are not cuts.
 */
export function foldedBatch(): { model: ModelProto } {
  const rng = seededRng(7);
  const g = new GraphBuilder({ opset: 13 });
  const x = g.input('x', 'float32', ['batch', 4, 6]);
  const b = g.op('Gather', [g.op('Shape', [x]), g.weight('zero', tensor('int64', [1], new BigInt64Array([0n])))], { axis: 0 }, 'b');
  const rows = g.op('Reshape', [x, g.weight('rows_shape', tensor('int64', [2], new BigInt64Array([-1n, 6n])))], {}, 'rows');
  const h1 = g.op('Relu', [g.op('Gemm', [rows, w(g, rng, 'w1', [6, 6]), w(g, rng, 'b1', [6])], { transB: 1 })], {}, 'h1');
  const h2 = g.op('Relu', [g.op('Gemm', [h1, w(g, rng, 'w2', [6, 6]), w(g, rng, 'b2', [6])], { transB: 1 })], {}, 'h2');
  const back = g.op('Reshape', [h2, g.op('Concat', [b, g.weight('m1', tensor('int64', [1], new BigInt64Array([-1n])))], { axis: 0 })], {}, 'back');
  g.op('Gemm', [back, w(g, rng, 'wo', [3, 24]), w(g, rng, 'bo', [3])], { transB: 1 }, 'y');
  g.output('y', 'float32', ['batch', 3]);
  return { model: g.build() };
}

/**
 * A cheap start and an expensive, useless rest: x[batch,8] → Gemm(8)+Relu ('stem') → three
 * Gemm(1024)+Relu layers whose result enters the logits with zero weight, beside a Gemm(4) of
 * the stem. The logits are linear in 'stem' (a head there can match the backbone exactly) and
 * 'stem' is the only cut, so a build keeps that exit and checks the cascade on the runtime. Centred: four classes.
 */
export function heavyTail(): { model: ModelProto } {
  const rng = seededRng(8);
  const g = new GraphBuilder({ opset: 17 });
  const x = g.input('x', 'float32', ['batch', 8]);
  const stem = g.op('Relu', [g.op('Gemm', [x, w(g, rng, 'ws', [8, 8], 1), w(g, rng, 'bs', [8])], { transB: 1 })], {}, 'stem');
  let t = g.op('Relu', [g.op('Gemm', [stem, w(g, rng, 'wt0', [1024, 8]), w(g, rng, 'bt0', [1024])], { transB: 1 })]);
  for (let i = 1; i < 3; i++) t = g.op('Relu', [g.op('Gemm', [t, w(g, rng, `wt${i}`, [1024, 1024], 0.03), w(g, rng, `bt${i}`, [1024])], { transB: 1 })]);
  const tail = g.op('Gemm', [t, g.weight('wz', tensor('float32', [4, 1024], new Float32Array(4 * 1024))), g.weight('bz', tensor('float32', [4], new Float32Array(4)))], { transB: 1 });
  const direct = g.op('Gemm', [stem, ...centredGemm(g, rng, 'direct', 4, HEAVY_STEM_MEAN, 1)], { transB: 1 });
  g.op('Add', [direct, tail], {}, 'logits');
  g.output('logits', 'float32', ['batch', 4]);
  return { model: g.build() };
}

/**
 * The model with its first output ([batch, classes] logits) replaced by ops appended after it, as many exported
 * classifiers end: 'softmax' (Softmax over the classes), 'softmax-flatten' (Reshape to [batch, classes, 1],
 * Softmax over axis 1, Flatten), 'manual' (Exp / ReduceSum: probabilities with no Softmax node), 'batch-softmax'
 * (Softmax over the batch axis: not per sample) or 'logsoftmax'. The other outputs follow unchanged.
 */
export function withNormalisedOutput(model: ModelProto, kind: 'softmax' | 'softmax-flatten' | 'manual' | 'batch-softmax' | 'logsoftmax' | 'sigmoid' | 'percent'): ModelProto {
  const out = extendModel(model, (g) => {
    const z = model.graph!.output[0]!.name;
    let y: string;
    if (kind === 'softmax') y = g.op('Softmax', [z], { axis: -1 }, 'probs');
    else if (kind === 'sigmoid') y = g.op('Sigmoid', [z], {}, 'probs');
    else if (kind === 'percent') y = g.op('Mul', [g.op('Softmax', [z], { axis: -1 }), g.weight('hundred', tensor('float32', [1], new Float32Array([100])))], {}, 'probs');
    else if (kind === 'batch-softmax') y = g.op('Softmax', [z], { axis: 0 }, 'probs');
    else if (kind === 'logsoftmax') y = g.op('LogSoftmax', [z], { axis: -1 }, 'log_probs');
    else if (kind === 'manual') {
      const e = g.op('Exp', [z]);
      y = g.op('Div', [e, g.op('ReduceSum', [e, g.weight('sum_axes', tensor('int64', [1], new BigInt64Array([1n])))], { keepdims: 1 })], {}, 'probs');
    } else {
      const r = g.op('Reshape', [z, g.weight('col_shape', tensor('int64', [3], new BigInt64Array([0n, -1n, 1n])))]);
      y = g.op('Flatten', [g.op('Softmax', [r], { axis: 1 }, 'probs3')], { axis: 1 }, 'probs');
    }
    g.output(y, 'float32', ['batch', 'classes']);
  });
  const outputs = out.graph!.output;
  out.graph!.output = [outputs[outputs.length - 1]!, ...outputs.slice(1, -1)];
  return out;
}

/** The model with the batch of its inputs and outputs fixed at `batch` (as many exports declare [1, 3, 224, 224]). */
export function withFixedBatch(model: ModelProto, batch: number): ModelProto {
  const copy = cloneModel(model);
  const g = copy.graph!;
  const fix = (v: (typeof g.input)[number]) => {
    const d = readValueInfo(v)!;
    return makeValueInfo(v.name, d.elemType, [batch, ...d.shape!.slice(1)]);
  };
  g.input = g.input.map(fix);
  g.output = g.output.map(fix);
  return copy;
}

/** x [1, 6] → Reshape to [1, −1] → Gemm(4): the batch of 1 is hard-coded inside the graph, not only declared. */
export function hardBatchOne(): { model: ModelProto } {
  const rng = seededRng(9);
  const g = new GraphBuilder({ opset: 17 });
  const x = g.input('x', 'float32', [1, 6]);
  const flat = g.op('Reshape', [x, g.weight('one_row', tensor('int64', [2], new BigInt64Array([1n, -1n])))], {}, 'flat');
  g.op('Gemm', [flat, w(g, rng, 'w', [4, 6]), w(g, rng, 'b', [4])], { transB: 1 }, 'y');
  g.output('y', 'float32', [1, 4]);
  return { model: g.build() };
}

/**
 * The model taking input of type `input` (Cast to float32 first) and giving its first output as `output` (Cast
 * last), as exports for other runtimes do (uint8 pixels in, float16 scores out); the computation stays float32.
 */
export function withIoTypes(model: ModelProto, input: 'uint8' | 'float16' | 'float64', output: 'float16' | 'float64'): ModelProto {
  const elem = { uint8: 2, float16: 10, float64: 11 } as const;
  const copy = cloneModel(model);
  const g = copy.graph!;
  const x = g.input[0]!;
  const xd = readValueInfo(x)!;
  const y = g.output[0]!;
  const yd = readValueInfo(y)!;
  for (const n of g.node) n.input = n.input.map((t) => (t === x.name ? `${x.name}_as_float` : t));
  const ext = extendModel(copy, (b) => {
    b.op('Cast', [x.name], { to: 1 }, `${x.name}_as_float`);
    b.op('Cast', [y.name], { to: elem[output] }, `${y.name}_typed`);
  });
  const eg = ext.graph!;
  const [castIn, castOut] = eg.node.splice(eg.node.length - 2, 2);
  eg.node = [castIn!, ...eg.node, castOut!];
  eg.input = [makeValueInfo(x.name, elem[input], xd.shape), ...eg.input.slice(1)];
  eg.output = [makeValueInfo(`${y.name}_typed`, elem[output], yd.shape), ...eg.output.slice(1)];
  return ext;
}

/** The model with its first input's height and width left open (['N', 3, 'H', 'W']); residualNet runs at any size. */
export function withOpenSize(model: ModelProto): ModelProto {
  const copy = cloneModel(model);
  const g = copy.graph!;
  const d = readValueInfo(g.input[0]!)!;
  g.input[0] = makeValueInfo(g.input[0]!.name, d.elemType, [d.shape![0]!, d.shape![1]!, 'H', 'W']);
  return copy;
}

/**
 * The model with an embedding first (its 'flat' tensor, [N, 4]) and its class scores second, reshaped to
 * [N, classes, 1, 1] as older exports give them (output 'scores'): layercache must be told which output to read.
 */
export function withEmbeddingFirst(model: ModelProto): ModelProto {
  const logits = model.graph!.output[0]!.name;
  const out = extendModel(model, (g) => {
    g.op('Identity', ['flat'], {}, 'embedding');
    g.op('Reshape', [logits, g.weight('scores_shape', tensor('int64', [4], new BigInt64Array([0n, -1n, 1n, 1n])))], {}, 'scores');
    g.output('embedding', 'float32', ['N', 4]);
    g.output('scores', 'float32', ['N', 'classes', 1, 1]);
  });
  out.graph!.output = out.graph!.output.slice(1);
  return out;
}

/**
 * A bag of tokens: x[batch, 4] holds token ids as float32 (what layercache feeds), cast to int64 and looked up in a
 * 10-token embedding (Gather), averaged, then Gemm(3) → logits. An id outside [−10, 9] makes onnxruntime's Gather
 * fail: an input the model refuses, not a failure of the model.
 */
export function tokenBag(): { model: ModelProto } {
  const rng = seededRng(7);
  const g = new GraphBuilder({ opset: 17 });
  const x = g.input('x', 'float32', ['batch', 4]);
  const ids = g.op('Cast', [x], { to: 7 }, 'ids');
  const e = g.op('Gather', [w(g, rng, 'embedding', [10, 5], 1), ids], { axis: 0 }, 'embedded');
  const m = g.op('ReduceMean', [e], { axes: [1], keepdims: 0 }, 'bag');
  g.op('Gemm', [m, w(g, rng, 'wy', [3, 5], 1), w(g, rng, 'by', [3], 0.1)], { transB: 1 }, 'logits');
  g.output('logits', 'float32', ['batch', 3]);
  return { model: g.build() };
}
