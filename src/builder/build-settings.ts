/**
 * A build's settings: its configuration with what depends on the data resolved (the calibration margin, the
 * cross-validation folds for the number of samples). Invariant: derived from the validated configuration only, so
 * the manifest records what the build ran with.
 */
import type { ScoreSpec } from '../bundle/index.ts';
import type { BuildConfig } from '../config/index.ts';
import type { Augmentation } from '../data/index.ts';
import type { HeadSpec } from '../heads/index.ts';
import { cvFoldsFor } from './cv-folds.ts';
import type { TrainSettings } from './train-heads.ts';

export interface BuildSettings {
  readonly tolerance: number;
  /** Statistical mode: Clopper–Pearson confidence 1 − delta; null for the empirical mode. */
  readonly delta: number | null;
  /** Empirical mode: calibration must reach agreement ≥ 1 − tolerance + margin. */
  readonly margin: number;
  /** Batch size whose latency is minimised. */
  readonly batch: number;
  readonly objective: 'latency' | 'macs';
  readonly score: ScoreSpec['kind'];
  readonly folds: number;
  readonly cvSplits: number;
  readonly cvFolds: number;
  readonly family: readonly HeadSpec[];
  readonly train: TrainSettings;
  readonly refineExits: number;
  readonly screenEpochs: number;
  readonly collectBatch: number;
  readonly measureReps: number;
  readonly augment: readonly Augmentation[];
}

/** The build's settings from its configuration, with what depends on the data's size (`samples`) resolved. */
export function settingsOf(c: BuildConfig, samples: number): BuildSettings {
  return {
    tolerance: c.tolerance,
    delta: c.delta,
    margin: c.delta !== null ? 0 : (c.margin ?? c.tolerance / 5),
    batch: c.batch,
    objective: c.objective,
    score: c.score,
    folds: c.folds,
    cvSplits: c.cvSplits,
    cvFolds: cvFoldsFor(samples, c.cvFolds),
    family: c.family,
    train: { epochs: c.epochs, batchSize: c.trainBatch, learningRate: c.learningRate, weightDecay: c.weightDecay, temperature: c.temperature, seed: c.seed },
    refineExits: c.refineExits,
    screenEpochs: c.screenEpochs,
    collectBatch: c.collectBatch,
    measureReps: c.measureReps,
    augment: c.augment,
  };
}
