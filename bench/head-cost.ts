/**
 * Batch-1 cost of head shapes, the reason the builder times heads instead of counting their
 * MACs: each variant attaches four heads (random weights: timing depends on shapes only) to
 * ResNet-56 at candidate exits 9, 14, 19 and 23, each ending in the exit decision, with no If;
 * the backbone alone and every variant run in alternating 20-input blocks on held-out inputs,
 * 3 passes over 400; the figure is the median per-block overhead, divided by the head count.
 * The 'split' variants cut the hidden Gemm into parts small enough for MLAS to run on one thread
 * (a test of whether the cost is the second thread's wake-up; it is not).
 *   node --import tsx bench/head-cost.ts [--threads 2]
 */
import path from 'node:path';
import { timeAlternating } from '../src/builder/index.ts';
import { openDataSource } from '../src/data/index.ts';
import { Session } from '../src/engine/index.ts';
import { analyzeModel } from '../src/inspect/index.ts';
import { extendModel, loadModel, serializeModel, type ModelProto } from '../src/onnx/index.ts';
import { randomNormal, seededRng, tensor, type Tensor } from '../src/tensor/index.ts';
import { numberFlag } from './flags.ts';

const root = path.resolve(import.meta.dirname, '..');
const assets = process.env.LAYERCACHE_ASSETS ?? path.resolve(root, '../shared/assets');
const engine = { intraOpThreads: numberFlag('threads', 2), graphOptimization: 'all' as const };
const model = await loadModel(path.join(assets, 'cifar10_resnet56.onnx'));
const a = await analyzeModel(model);
const at = [9, 14, 19, 23];
const rng = seededRng(1);
const weights = (n: number): Float32Array => randomNormal(rng, n, 0.02);

interface Shape { pool: number; hidden: number; rank?: number; split?: number }
const shapes: Record<string, Shape> = {
  'mlp128 @4x4 (default)': { pool: 4, hidden: 128 },
  'mlp64 @4x4': { pool: 4, hidden: 64 },
  'mlp128 @2x2': { pool: 2, hidden: 128 },
  'rank-32 + mlp128 @4x4': { pool: 4, hidden: 128, rank: 32 },
  'linear @1x1 (default)': { pool: 1, hidden: 0 },
  'mlp128 @4x4, hidden Gemm split in 4': { pool: 4, hidden: 128, split: 4 },
  'mlp128 @4x4, hidden Gemm split in 8': { pool: 4, hidden: 128, split: 8 },
};

function attach(v: Shape): ModelProto {
  return extendModel(model, (g) => {
    for (const e of at) {
      const t = a.exits[e]!.tensor;
      const [c, h] = a.tensor(t)!.dims.slice(1) as [number, number];
      const k = Math.min(v.pool, h);
      const pooled = k === 1 ? g.op('GlobalAveragePool', [t]) : g.op('AveragePool', [t], { kernel_shape: [h / k, h / k], strides: [h / k, h / k] });
      let x = g.op('Flatten', [pooled], { axis: 1 });
      let d = c * k * k;
      if (v.rank) {
        x = g.op('MatMul', [x, g.weight(g.fresh('r'), tensor('float32', [d, v.rank], weights(d * v.rank)))]);
        d = v.rank;
      }
      if (v.hidden && v.split) {
        const part = v.hidden / v.split;
        const parts = Array.from({ length: v.split }, () => g.op('Gemm', [x, g.weight(g.fresh('w1'), tensor('float32', [part, d], weights(d * part))), g.weight(g.fresh('b1'), tensor('float32', [part], weights(part)))], { transB: 1 }));
        x = g.op('Relu', [g.op('Concat', parts, { axis: 1 })]);
        d = v.hidden;
      } else if (v.hidden) {
        x = g.op('Relu', [g.op('Gemm', [x, g.weight(g.fresh('w1'), tensor('float32', [v.hidden, d], weights(d * v.hidden))), g.weight(g.fresh('b1'), tensor('float32', [v.hidden], weights(v.hidden)))], { transB: 1 })]);
        d = v.hidden;
      }
      const z = g.op('Gemm', [x, g.weight(g.fresh('w2'), tensor('float32', [10, d], weights(d * 10))), g.weight(g.fresh('b2'), tensor('float32', [10], weights(10)))], { transB: 1 });
      const score = g.op('ReduceMax', [g.op('LogSoftmax', [z], { axis: 1 })], { axes: [1], keepdims: 0 });
      g.output(g.op('GreaterOrEqual', [score, g.weight(g.fresh('thr'), tensor('float32', [1], new Float32Array([-0.01])))]), 'bool', null);
    }
  });
}

const preprocess = { scale: 255, mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225], layout: 'nchw' as const };
const data = await openDataSource(`cifar10:${path.join(assets, 'cifar10_test_jpeg.bin')}#5000-5399`, preprocess);
const sessions: Record<string, Session> = { backbone: await Session.create(serializeModel(model), 'backbone', engine) };
for (const [name, v] of Object.entries(shapes)) sessions[name] = await Session.create(serializeModel(attach(v)), name, engine);
const feed = (s: Session, x: Tensor): Record<string, Tensor> => ({ [s.inputs[0]!.name]: x });
const timed = await timeAlternating(
  Object.fromEntries(Object.entries(sessions).map(([name, s]) => [name, (x: Tensor) => s.run(feed(s, x))])),
  Array.from({ length: 400 }, (_, i) => data.batch(i, i + 1)), { passes: 3, warmup: 20 },
);
console.log(`| head (${engine.intraOpThreads} threads) | batch-1 cost per head, % of the backbone |\n|---|---:|`);
for (const name of Object.keys(shapes)) console.log(`| ${name} | ${((100 * (timed[name]!.ratio - 1)) / at.length).toFixed(2)}% |`);
await Promise.all(Object.values(sessions).map((s) => s.release()));
