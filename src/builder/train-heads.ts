/**
 * Trains heads by self-distillation in onnxruntime: one training model runs up to
 * STEPS_PER_RUN optimiser steps of all heads per run (forward, backward and AdamW are ONNX
 * graphs inside an ONNX Loop), and one inference model predicts with all heads at once.
 * Invariants: training is deterministic for a given seed (shuffles come from the seeded
 * RNG, dropout masks from per-head graph seeds); only `rows` are ever used for training.
 */
import { Session, type EngineOptions } from '../engine/index.ts';
import {
  addParamInitializers, appendHeadLogits, buildTrainLoopModel, headMacs, initParams, trainStepNames,
  type HeadParam, type HeadSpec,
} from '../heads/index.ts';
import { GraphBuilder, serializeModel } from '../onnx/index.ts';
import { withPhase, type Progress } from '../progress/index.ts';
import { seededRng, shuffleInPlace, type Tensor } from '../tensor/index.ts';
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

/** Optimiser steps per onnxruntime run: few enough for a lively progress bar, enough to amortise the run. */
const STEPS_PER_RUN = 16;

/** Optimiser steps per epoch over `rows` rows: whole batches of min(batchSize, rows); a last partial batch is dropped. */
export function stepsPerEpoch(rows: number, batchSize: number): number {
  return Math.floor(rows / Math.min(batchSize, rows));
}

export async function trainHeads(
  jobs: readonly HeadJob[], set: FeatureSet, rows: Int32Array, settings: TrainSettings,
  opts: { engine: EngineOptions; progress: Progress; label?: string; stepsPerRun?: number },
): Promise<TrainResult> {
  const K = set.classes;
  const rng = seededRng(settings.seed);
  const params = jobs.map((j) => initParams(j.spec, j.features.dim, K, rng));
  const moments: { m: Float32Array; v: Float32Array }[][] = params.map((ps) => ps.map((p) => ({ m: new Float32Array(p.data.length), v: new Float32Array(p.data.length) })));
  const model = buildTrainLoopModel(jobs.map((j) => ({ spec: j.spec, inputDim: j.features.dim })), K, {
    temperature: settings.temperature, beta1: 0.9, beta2: 0.999, eps: 1e-8, seed: settings.seed,
  });
  const session = await Session.create(serializeModel(model), 'head training', opts.engine);
  const B = Math.min(settings.batchSize, rows.length);
  const steps = stepsPerEpoch(rows.length, settings.batchSize);
  const total = steps * settings.epochs;
  const perRun = Math.max(1, opts.stepsPerRun ?? STEPS_PER_RUN);
  // Every row of every head's features goes in once per run, without a copy; the loop gathers each step's rows.
  const fixed: Record<string, Tensor> = { teacher: { dtype: 'float32', dims: [set.count, K], data: set.teacher } };
  jobs.forEach((j, i) => {
    fixed[`x${i}`] = { dtype: 'float32', dims: [set.count, j.features.dim], data: j.features.data };
  });
  const macsPerSample = jobs.reduce((a, j) => a + headMacs(j.spec, j.features.dim, K), 0);
  const losses = jobs.map(() => 0);
  const started = performance.now();
  let t = 0;
  try {
    await withPhase(opts.progress, opts.label ?? 'train', total, async (phase) => {
      for (let epoch = 0; epoch < settings.epochs; epoch++) {
        const order = shuffleInPlace(rng, rows.slice());
        losses.fill(0);
        for (let first = 0; first < steps; first += perRun) {
          const S = Math.min(perRun, steps - first);
          const stepSizes = new Float32Array(S);
          const decays = new Float32Array(S);
          for (let s = 0; s < S; s++) {
            t++;
            const lr = settings.learningRate * 0.5 * (1 + Math.cos((Math.PI * (t - 1)) / total));
            stepSizes[s] = (lr * Math.sqrt(1 - 0.999 ** t)) / (1 - 0.9 ** t);
            decays[s] = lr * settings.weightDecay;
          }
          const feeds: Record<string, Tensor> = {
            ...fixed,
            order: { dtype: 'int64', dims: [S, B], data: BigInt64Array.from(order.subarray(first * B, (first + S) * B), (r) => BigInt(r)) },
            steps: { dtype: 'float32', dims: [S], data: stepSizes },
            decays: { dtype: 'float32', dims: [S], data: decays },
          };
          params.forEach((ps, i) => ps.forEach((p, k) => {
            const n = trainStepNames(i, p.name);
            feeds[n.param] = { dtype: 'float32', dims: p.dims, data: p.data };
            feeds[n.m] = { dtype: 'float32', dims: p.dims, data: moments[i]![k]!.m };
            feeds[n.v] = { dtype: 'float32', dims: p.dims, data: moments[i]![k]!.v };
          }));
          const out = await session.run(feeds);
          jobs.forEach((_, i) => {
            for (const l of out[`loss${i}`]!.data as Float32Array) losses[i]! += l / steps;
          });
          params.forEach((ps, i) => ps.forEach((p, k) => {
            const n = trainStepNames(i, p.name);
            ps[k] = { name: p.name, dims: p.dims, data: out[n.paramOut]!.data as Float32Array };
            moments[i]![k] = { m: out[n.mOut]!.data as Float32Array, v: out[n.vOut]!.data as Float32Array };
          }));
          phase.tick(S, `epoch ${epoch + 1}/${settings.epochs}`);
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
