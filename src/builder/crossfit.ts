/**
 * Cross-fitted head training. The calibration samples are split into K folds; for each
 * fold, every candidate head is trained on the other folds (with their augmented
 * variants) and predicts the held-out fold's original samples, so every sample gets
 * out-of-fold predictions from heads that never saw it nor a variant of it. The
 * deployed heads are then trained on all samples for the same number of optimiser steps
 * as a fold model, so their confidence matches what calibration measured.
 * Invariant: a sample's out-of-fold prediction never comes from a head trained on it.
 */
import type { EngineOptions } from '../engine/index.ts';
import type { HeadParam } from '../heads/index.ts';
import type { Progress } from '../progress/index.ts';
import type { FeatureSet } from './collect.ts';
import { predictHeads, stepsPerEpoch, trainHeads, type HeadJob, type TrainSettings } from './train-heads.ts';

export interface CrossFitResult {
  /** Per job: out-of-fold log-probabilities [count, classes]. */
  readonly outOfFold: Float32Array[];
  readonly gflops: number;
  readonly seconds: number;
}

function range(a: number, b: number): Int32Array {
  return Int32Array.from({ length: b - a }, (_, i) => a + i);
}

export async function crossFit(
  jobs: readonly HeadJob[], set: FeatureSet, folds: number, settings: TrainSettings,
  opts: { engine: EngineOptions; progress: Progress; label?: string },
): Promise<CrossFitResult> {
  const n = set.samples;
  const variants = set.count / n;
  const K = set.classes;
  const outOfFold = jobs.map(() => new Float32Array(n * K));
  let seconds = 0;
  let flops = 0;
  for (let f = 0; f < folds; f++) {
    const a = Math.round((f * n) / folds);
    const b = Math.round(((f + 1) * n) / folds);
    const train = Int32Array.from(Array.from({ length: variants }, (_, v) => [...range(v * n, v * n + a), ...range(v * n + b, (v + 1) * n)]).flat());
    const r = await trainHeads(jobs, set, train, { ...settings, seed: settings.seed + f }, { ...opts, label: `${opts.label ?? 'train'} fold ${f + 1}/${folds}` });
    seconds += r.seconds;
    flops += r.gflops * r.seconds;
    const pred = await predictHeads(jobs, r.params, set, range(a, b), opts.engine);
    pred.forEach((p, j) => outOfFold[j]!.set(p, a * K));
  }
  return { outOfFold, seconds, gflops: seconds > 0 ? flops / seconds : 0 };
}

/**
 * Epochs over all `samples` × `variants` rows that run as many optimiser steps as a fold model runs in `epochs` over
 * the other folds' rows (fold 1's, as crossFit splits them). A batch is capped at the rows it trains on, so when a
 * fold has fewer rows than a batch both run one step per epoch: then the deployed heads need as many epochs, not
 * (K − 1)/K of them (they ran half the steps of the fold heads on a 200-row build, and their answers no longer
 * matched the thresholds calibrated on the fold heads').
 */
export function finalEpochs(samples: number, variants: number, folds: number, epochs: number, batchSize: number): number {
  if (folds <= 1) return epochs;
  const foldRows = variants * (samples - Math.round(samples / folds));
  const foldSteps = stepsPerEpoch(foldRows, batchSize) * epochs;
  return Math.max(1, Math.round(foldSteps / stepsPerEpoch(samples * variants, batchSize)));
}

/** Trains the deployed heads on all samples, with the optimiser steps of one fold model. */
export async function trainFinal(
  jobs: readonly HeadJob[], set: FeatureSet, folds: number, settings: TrainSettings,
  opts: { engine: EngineOptions; progress: Progress; label?: string },
): Promise<{ params: HeadParam[][]; seconds: number; gflops: number }> {
  const epochs = finalEpochs(set.samples, set.count / set.samples, folds, settings.epochs, settings.batchSize);
  const r = await trainHeads(jobs, set, range(0, set.count), { ...settings, epochs, seed: settings.seed + 1000 }, { ...opts, label: `${opts.label ?? 'train'} final heads` });
  return { params: r.params, seconds: r.seconds, gflops: r.gflops };
}
