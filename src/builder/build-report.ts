/**
 * What a build reports: the candidates, the kept policy and its baselines (the paper's rule, the oracle, the
 * backbone) on the build rows, the Pareto front, training speed and the runtime checks. Plain data, kept in the
 * manifest's metrics and printed by `build --json`.
 */
import type { PolicyOutcome } from '../calibrate/index.ts';
import type { DeployedDrop } from './deployed-check.ts';

export interface PolicySummary {
  readonly agreement: number;
  readonly latencyMs: number;
  readonly macsPerSample: number;
  readonly exitRates: number[];
}

export interface BuildReport {
  readonly samples: number;
  /** refined: trained for the full epochs and eligible; the others were screened out (two-phase training). */
  readonly candidates: { tensor: string; fraction: number; head: string; outOfFoldAgreement: number; latencyMs: number; refined: boolean }[];
  /**
   * The kept policy on the build rows (out-of-fold head predictions): its exits (candidate indices); the
   * cross-validated agreement of its λ (thresholds chosen on one half of the rows, judged on the other); and the
   * estimated agreement on new samples (its in-sample agreement less the optimism cross-validation measured),
   * which selection holds at 1 − tolerance or above. null when not computed; with no exit kept both are 1: the
   * bundle is the backbone. thresholdShift: score units by which the most cautious λ's thresholds were raised
   * (0 for a policy of the λ search itself; calibrate/select.ts).
   */
  readonly selected: PolicySummary & { exits: number[]; crossValidatedAgreement: number | null; estimatedAgreement: number | null; thresholdShift: number };
  readonly paperRule: PolicySummary & { threshold: number };
  readonly oracle: { latencyMs: number; macsPerSample: number };
  readonly backbone: { latencyMs: number; macsPerSample: number };
  readonly pareto: { latencyMs: number; macsPerSample: number; agreement: number }[];
  readonly train: { seconds: number; gflops: number };
  readonly latencyBatch: number;
  readonly callOverheadMs: number;
  /** Runtime checks of the selection: kept exits, mean ms per batch, the median per-block ratio cascade / backbone (the verdict), and whether the latency profile held it. */
  readonly checks: { exits: number[]; backboneMs: number; cascadeMs: number; ratio: number; reused: boolean }[];
  /** Exits dropped because the deployed heads did not answer as calibrated, with the selection's agreement with them on the build rows. */
  readonly deployedChecks: DeployedDrop[];
  /** Which latencies came from the latency profile rather than timing in this build. */
  readonly latencyReused: { exits: boolean; heads: number; of: number };
}

/** A policy's outcomes with latency and with MACs as the cost, per sample; batch: the batch its latency was measured at. */
export function summarize(latency: PolicyOutcome, macs: PolicyOutcome, batch: number): PolicySummary {
  return { agreement: latency.agreement, latencyMs: latency.meanCost / batch, macsPerSample: macs.meanCost, exitRates: latency.exitRates };
}

/** Why a build kept no exit: its runtime checks refused the feasible selections, or none was feasible. */
export function whyNoExit(r: BuildReport): string {
  const checked = r.checks.filter((c) => c.exits.length > 0);
  if (checked.length > 0) {
    const tried = checked.map((c) => `[${c.exits.join(', ')}] ${c.ratio.toFixed(3)}×`).join(', ');
    return `Exits met the agreement requirement, but on the runtime check no selection was faster than the backbone at batch ${r.latencyBatch} (candidates and cascade ÷ backbone time: ${tried})`;
  }
  const dropped = r.deployedChecks.length > 0 ? ` (${r.deployedChecks.length} exit${r.deployedChecks.length === 1 ? ' was' : 's were'} dropped because the deployed heads did not answer as calibrated)` : '';
  return `No exit met the agreement requirement on the calibration samples${dropped}`;
}
