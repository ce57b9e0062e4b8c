/**
 * What the online learner (online.ts) is given, from the server's composition root, and what it shows: its
 * dependencies, the logger it writes to, and its status (the /cache route and RunningServer.online).
 */
import type { BuildConfig, OnlineConfig, PreprocessConfig } from '../config/index.ts';
import type { EngineOptions } from '../engine/index.ts';
import type { EnginePool } from './engine-pool.ts';
import type { ServerMetrics } from './metrics.ts';
import type { VersionStore } from './version-store.ts';

export interface Logger {
  info(obj: object, msg: string): void;
  warn(obj: object, msg: string): void;
  error(obj: object, msg: string): void;
}

export interface OnlineDeps {
  readonly config: OnlineConfig;
  readonly build: BuildConfig;
  readonly preprocess: PreprocessConfig | null;
  /** Layout of the samples (the preprocessing's, else --layout), for retrains' augmented copies. */
  readonly layout: 'nchw' | 'nhwc';
  /** Engine options of the retraining process. */
  readonly engine: EngineOptions;
  /** The backbone model file retraining starts from. */
  readonly modelFile: string;
  /** Latency profile file of the retrains (read and updated by each). */
  readonly latencyProfile: string;
  readonly sampleDims: readonly number[];
  /** sha256 of the backbone served (a saved buffer of another model is not restored; a retrain refuses modelFile if it changed). */
  readonly modelSha256: string;
  /** Where the buffer is saved at close and restored from at start; null: not kept across restarts. */
  readonly bufferFile: string | null;
  readonly pool: EnginePool;
  readonly store: VersionStore;
  readonly metrics: ServerMetrics;
  readonly model: string;
  readonly log: Logger;
}
