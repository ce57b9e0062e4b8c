/**
 * Whether a finished retrain replaces the serving version, or the serving version stays ('kept'). A retrain is
 * calibrated on the buffer and is safe by its own measure; what it may lack is the serving version's speed-up, which
 * live traffic shows. The serving version stays when it has exits, at least minSamples verified answers, and
 *   no exit    the retrain kept none, and those answers bound live agreement at 1 − tolerance or above (a drift
 *              re-run lost a version at 99.8% to a calibration on a small buffer that found no safe exit);
 *   saves less the retrain expects to save fewer MACs per sample than the serving version saves on live traffic, whose
 *              agreement is at 1 − tolerance or above by its point estimate (the guard acts on a significant shortfall;
 *              an audit served a bundle built on 5,000 samples with flip augmentation, and the first retrain, on 2,000
 *              samples without it, replaced 13.6% of MACs saved with 8.6%).
 * Invariant: a retrain is never kept out when the serving version has no exit, or too few verified answers to show
 * what it does.
 */
import type { ExitEntry } from '../bundle/index.ts';
import { meanCascadeCost } from '../calibrate/index.ts';
import { savedOrMore } from '../tensor/index.ts';

/** What the serving version shows on live traffic. */
export interface LiveServing {
  /** Exits that answer (a disabled one does not). */
  readonly answeringExits: number;
  /** Live agreement: its point estimate (null while an answering exit has no verified answer) and lower bound. */
  readonly estimate: number | null;
  readonly lower: number;
  /** Verified early answers the estimate stands on. */
  readonly verified: number;
  /** MACs per sample saved, heads included, at the exits' live shares (liveMacsSaved). */
  readonly macsSaved: number;
}

export type RetrainVerdict = { readonly keep: false } | { readonly keep: true; readonly why: 'no exit' | 'saves less' };

/** retrained: the exits the retrain kept and the MACs per sample it expects to save (its calibration's). */
export function retrainVerdict(retrained: { exits: number; macsSaved: number }, live: LiveServing, tolerance: number, minSamples: number): RetrainVerdict {
  if (live.answeringExits === 0 || live.verified < minSamples) return { keep: false };
  if (retrained.exits === 0) return live.lower >= 1 - tolerance ? { keep: true, why: 'no exit' } : { keep: false };
  const safe = live.estimate !== null && live.estimate >= 1 - tolerance;
  return safe && live.macsSaved >= retrained.macsSaved ? { keep: true, why: 'saves less' } : { keep: false };
}

/**
 * MACs per sample saved by a version's exits at these shares of the rows (shares: [exits]), heads included, by
 * calibrate's cascade cost model (a disabled exit's head still runs: the cascade gives it an infinite threshold, and
 * it answers nothing).
 */
export function liveMacsSaved(exits: readonly Pick<ExitEntry, 'cumulativeMacs' | 'head'>[], totalMacs: number, shares: readonly number[]): number {
  const costs = { prefix: exits.map((x) => x.cumulativeMacs), head: exits.map((x) => x.head.macs), full: totalMacs };
  return 1 - meanCascadeCost(costs, shares, 1) / totalMacs;
}

/** Why version `serving` stays, for the log: what follows "retrain: version N". */
export function keptBecause(why: 'no exit' | 'saves less', done: { macsSaved: number; noExitReason?: string | null }, live: LiveServing, serving: number, tolerance: number): string {
  const pct = (x: number): string => `${(x * 100).toFixed(2)}%`;
  return why === 'no exit'
    ? `kept no exit (${done.noExitReason ?? 'no reason given'}); version ${serving} stays, since its ${live.verified} verified answers bound live agreement at ${pct(live.lower)} ≥ ${pct(1 - tolerance)}`
    : `would serve with MACs ${savedOrMore(done.macsSaved)} on calibration; version ${serving} stays, with MACs ${savedOrMore(live.macsSaved)} on live traffic at ${pct(live.estimate ?? 0)} agreement (${live.verified} verified answers)`;
}
