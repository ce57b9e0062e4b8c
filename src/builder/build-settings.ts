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

/**
 * The build configuration a bundle's recorded settings (its manifest's `build`) stand for, for what shapes its heads
 * and their selection: augmentation, head family, training, objective, score, folds and the statistical mode. Not
 * the tolerance (the caller holds it), nor what was resolved for the data's size (margin, cvFolds), nor the
 * machine's knobs (collectBatch, measureReps). A setting the bundle does not record (an older bundle) is absent.
 * The result is a partial configuration, to be validated with the rest (config's deriveConfig).
 */
export function recordedBuildConfig(recorded: Readonly<Record<string, unknown>>): Partial<Record<keyof BuildConfig, unknown>> {
  const train = (recorded.train ?? {}) as Readonly<Record<string, unknown>>;
  const out: Partial<Record<keyof BuildConfig, unknown>> = {
    augment: recorded.augment, family: recorded.family, objective: recorded.objective, score: recorded.score,
    folds: recorded.folds, cvSplits: recorded.cvSplits, batch: recorded.batch, delta: recorded.delta,
    refineExits: recorded.refineExits, screenEpochs: recorded.screenEpochs,
    epochs: train.epochs, trainBatch: train.batchSize, learningRate: train.learningRate, weightDecay: train.weightDecay,
    temperature: train.temperature, seed: train.seed,
  };
  return Object.fromEntries(Object.entries(out).filter(([, v]) => v !== undefined));
}
