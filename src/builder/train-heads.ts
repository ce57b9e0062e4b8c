/**
 * Trains heads by self-distillation in onnxruntime: one training-step model updates all
 * heads at once (forward, backward and AdamW are ONNX graphs), and one inference model
 * predicts with all heads at once.
 * Invariants: training is deterministic for a given seed (shuffles come from the seeded
 * RNG, dropout masks from per-head graph seeds); only `rows` are ever used for training.
 */
import { Session, type EngineOptions } from '../engine/index.ts';
import {
  addParamInitializers, appendHeadLogits, buildTrainStepModel, headMacs, initParams, trainStepNames,
  type HeadParam, type HeadSpec,
} from '../heads/index.ts';
import { GraphBuilder, serializeModel } from '../onnx/index.ts';
import { withPhase, type Progress } from '../progress/index.ts';
import { seededRng, type Tensor } from '../tensor/index.ts';
import type { ExitFeatures, FeatureSet } from './collect.ts';

export interface HeadJob {
  readonly spec: HeadSpec;
  readonly features: ExitFeatures;
}

export interface TrainSettings {
  readonly epochs: number;
  readonly batchSize: number;
  readonly learningRate: number;
  readonly weightDecay: number;
  readonly temperature: number;
  readonly seed: number;
}

export interface TrainResult {
  /** Per job, trained parameters in paramShapes() order. */
  readonly params: HeadParam[][];
  readonly seconds: number;
  /** Training throughput (forward + backward ≈ 6 FLOPs per MAC per sample). */
  readonly gflops: number;
  /** Final-epoch mean loss per job. */
  readonly losses: number[];
}

function gatherRows(src: Float32Array, dim: number, rows: Int32Array, from: number, count: number, dst: Float32Array): void {
  for (let r = 0; r < count; r++) {
    const i = rows[from + r]!;
    dst.set(src.subarray(i * dim, (i + 1) * dim), r * dim);
  }
}

function shuffled(rows: Int32Array, rng: ReturnType<typeof seededRng>): Int32Array {
  const out = rows.slice();
  for (let i = out.length - 1; i > 0; i--) {
    const j = Math.floor(rng.uniform() * (i + 1));
    [out[i], out[j]] = [out[j]!, out[i]!];
  }
  return out;
}

export async function trainHeads(
  jobs: readonly HeadJob[], set: FeatureSet, rows: Int32Array, settings: TrainSettings,
  opts: { engine: EngineOptions; progress: Progress; label?: string },
): Promise<TrainResult> {
  const K = set.classes;
  const rng = seededRng(settings.seed);
  const params = jobs.map((j) => initParams(j.spec, j.features.dim, K, rng));
  const moments: { m: Float32Array; v: Float32Array }[][] = params.map((ps) => ps.map((p) => ({ m: new Float32Array(p.data.length), v: new Float32Array(p.data.length) })));
  const model = buildTrainStepModel(jobs.map((j) => ({ spec: j.spec, inputDim: j.features.dim })), K, {
    temperature: settings.temperature, beta1: 0.9, beta2: 0.999, eps: 1e-8, seed: settings.seed,
  });
  const session = await Session.create(serializeModel(model), 'head training step', opts.engine);
  const B = Math.min(settings.batchSize, rows.length);
  const steps = Math.floor(rows.length / B);
  const total = steps * settings.epochs;
  const xs = jobs.map((j) => new Float32Array(B * j.features.dim));
  const teacher = new Float32Array(B * K);
  const macsPerSample = jobs.reduce((a, j) => a + headMacs(j.spec, j.features.dim, K), 0);
  const losses = jobs.map(() => 0);
  const started = performance.now();
  let t = 0;
  try {
    await withPhase(opts.progress, opts.label ?? 'train', total, async (phase) => {
      for (let epoch = 0; epoch < settings.epochs; epoch++) {
        const order = shuffled(rows, rng);
        losses.fill(0);
        for (let s = 0; s < steps; s++) {
          t++;
          const lr = settings.learningRate * 0.5 * (1 + Math.cos((Math.PI * (t - 1)) / total));
          const step = (lr * Math.sqrt(1 - 0.999 ** t)) / (1 - 0.9 ** t);
          const feeds: Record<string, Tensor> = {
            teacher: { dtype: 'float32', dims: [B, K], data: teacher },
            step: { dtype: 'float32', dims: [1], data: new Float32Array([step]) },
            decay: { dtype: 'float32', dims: [1], data: new Float32Array([lr * settings.weightDecay]) },
          };
          gatherRows(set.teacher, K, order, s * B, B, teacher);
          jobs.forEach((j, i) => {
            gatherRows(j.features.data, j.features.dim, order, s * B, B, xs[i]!);
            feeds[`x${i}`] = { dtype: 'float32', dims: [B, j.features.dim], data: xs[i]! };
            params[i]!.forEach((p, k) => {
              const n = trainStepNames(i, p.name);
              feeds[n.param] = { dtype: 'float32', dims: p.dims, data: p.data };
              feeds[n.m] = { dtype: 'float32', dims: p.dims, data: moments[i]![k]!.m };
              feeds[n.v] = { dtype: 'float32', dims: p.dims, data: moments[i]![k]!.v };
            });
          });
          const out = await session.run(feeds);
          jobs.forEach((_, i) => {
            losses[i]! += Number(out[`loss${i}`]!.data[0]) / steps;
            params[i] = params[i]!.map((p, k) => {
              const n = trainStepNames(i, p.name);
              moments[i]![k] = { m: out[n.mOut]!.data as Float32Array, v: out[n.vOut]!.data as Float32Array };
              return { name: p.name, dims: p.dims, data: out[n.paramOut]!.data as Float32Array };
            });
          });
          phase.tick(1, `epoch ${epoch + 1}/${settings.epochs}`);
        }
      }
    });
  } finally {
    await session.release();
  }
  const seconds = (performance.now() - started) / 1000;
  return { params, seconds, gflops: (6 * macsPerSample * B * total) / seconds / 1e9, losses };
}

/** Log-probabilities (log-softmax) of every head on `rows`: per job, [rows.length, classes]. */
export async function predictHeads(
  jobs: readonly HeadJob[], params: readonly HeadParam[][], set: FeatureSet, rows: Int32Array, engine: EngineOptions,
): Promise<Float32Array[]> {
  const K = set.classes;
  const g = new GraphBuilder({ opset: 17, name: 'heads_predict' });
  jobs.forEach((j, i) => {
    const x = g.input(`x${i}`, 'float32', ['B', j.features.dim]);
    const names = addParamInitializers(g, params[i]!, `h${i}`);
    g.op('LogSoftmax', [appendHeadLogits(g, j.spec, x, names, `h${i}`)], { axis: 1 }, `p${i}`);
    g.output(`p${i}`, 'float32', ['B', K]);
  });
  const session = await Session.create(serializeModel(g.build()), 'head prediction', engine);
  const out = jobs.map(() => new Float32Array(rows.length * K));
  const chunk = 1024;
  try {
    for (let s = 0; s < rows.length; s += chunk) {
      const n = Math.min(chunk, rows.length - s);
      const feeds: Record<string, Tensor> = {};
      jobs.forEach((j, i) => {
        const x = new Float32Array(n * j.features.dim);
        gatherRows(j.features.data, j.features.dim, rows, s, n, x);
        feeds[`x${i}`] = { dtype: 'float32', dims: [n, j.features.dim], data: x };
      });
      const res = await session.run(feeds);
      jobs.forEach((_, i) => out[i]!.set(res[`p${i}`]!.data as Float32Array, s * K));
    }
  } finally {
    await session.release();
  }
  return out;
}
