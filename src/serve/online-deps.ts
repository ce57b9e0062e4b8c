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

export interface OnlineStatus {
  readonly version: number;
  /** The guard acts when live agreement falls below 1 − tolerance; retrains select for it. */
  readonly tolerance: number;
  /**
   * The share of early answers verified now (each exit's verify share weighted by its share of rows; the largest
   * while no exit has answered): --verify-share, guardBoostShare for exits the guard wants evidence on (new or raised,
   * or agreement that looks short), more for exits answering few rows (verify-rule.ts).
   */
  readonly verifyShare: number;
  /** Exits the serving version keeps, numbered 0 to exits − 1. */
  readonly exits: number;
  /** Of them, those that answer requests: the accuracy guard disables an exit by taking its threshold away. */
  readonly answeringExits: number;
  readonly bufferSamples: number;
  readonly bufferCapacity: number;
  readonly admitted: number;
  /** Samples of the buffer restored from a saved one at start (0 when none was). */
  readonly restoredSamples: number;
  readonly retraining: boolean;
  readonly retrains: number;
  /** estimate: null while an exit that answers rows has no verified answer. */
  readonly agreement: { estimate: number | null; lower: number };
  /** raises: the guard's threshold raises of this exit since it was trained. */
  /**
   * agreement: of the verified answers, null when there is none yet (lower is then 0). verifyShare: the share of its
   * answers verified now (null for an exit the guard disabled).
   */
  readonly perExit: { exit: number; verified: number; agreement: number | null; lower: number; share: number; verifyShare: number | null; threshold: number | null; raises: number }[];
}
