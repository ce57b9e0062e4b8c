/**
 * The online learner's status, as `GET /v2/models/{name}/cache` shows it (docs/http-api.md, "Cache status"): the
 * serving version, its exits with their live agreement, shares and verify shares, the buffer and the retrain schedule.
 * Invariant: built from one look at the learner, so its figures describe one moment.
 */
import type { LoadedBundle } from '../bundle/index.ts';
import type { ExitStats } from './guard-action.ts';
import { verifiedShare, type VerifyRule } from './verify-rule.ts';

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
  /** Samples admitted to the buffer since the first start (restored ones included). */
  readonly admitted: number;
  /** The `admitted` count at which the next retrain starts (null: not learning). */
  readonly nextRetrainAt: number | null;
  /** Samples of the buffer restored from a saved one at start (0 when none was). */
  readonly restoredSamples: number;
  readonly retraining: boolean;
  /** Retrained versions swapped in since this start (kept and failed retrains are in the metrics). */
  readonly retrains: number;
  /** estimate: null while an exit that answers rows has no verified answer. */
  readonly agreement: { estimate: number | null; lower: number };
  /**
   * tensor: the exit's cut tensor (an exit index names another after a retrain). agreement: of the verified answers,
   * null when there is none yet (lower is then 0). verifyShare: the share of its answers verified now (null for an
   * exit the guard disabled). raises: the guard's threshold raises of this exit since it was trained.
   */
  readonly perExit: { exit: number; tensor: string; verified: number; agreement: number | null; lower: number; share: number; verifyShare: number | null; threshold: number | null; raises: number }[];
}

/** What the status is made of: the learner's state at one moment. */
export interface StatusParts {
  readonly version: number;
  readonly tolerance: number;
  readonly bundle: LoadedBundle | null;
  /** The guard's raises per exit, its statistics per exit and its live estimate. */
  readonly raises: readonly number[];
  readonly stats: readonly ExitStats[];
  readonly agreement: { estimate: number | null; lower: number };
  readonly rule: VerifyRule;
  readonly buffer: { readonly size: number; readonly capacity: number; readonly total: number };
  readonly restoredSamples: number;
  readonly nextRetrainAt: number | null;
  readonly retraining: boolean;
  readonly retrains: number;
}

export function onlineStatus(p: StatusParts): OnlineStatus {
  const exits = p.bundle?.manifest.exits ?? [];
  return {
    version: p.version,
    tolerance: p.tolerance,
    verifyShare: verifiedShare(p.rule, p.stats.map((s) => s.share)),
    exits: exits.length,
    answeringExits: exits.filter((x) => x.threshold !== null).length,
    bufferSamples: p.buffer.size,
    bufferCapacity: p.buffer.capacity,
    admitted: p.buffer.total,
    nextRetrainAt: p.nextRetrainAt,
    restoredSamples: p.restoredSamples,
    retraining: p.retraining,
    retrains: p.retrains,
    agreement: p.agreement,
    perExit: p.stats.map((s, e) => ({
      exit: e, tensor: exits[e]?.tensor ?? '', verified: s.n, agreement: s.n > 0 ? s.agreement : null, lower: s.lower, share: s.share,
      verifyShare: exits[e]?.threshold === null ? null : p.rule.verifyBelow[e]!, threshold: exits[e]?.threshold ?? null, raises: p.raises[e] ?? 0,
    })),
  };
}
