/**
 * The report's opening sentences: what the bundle saves, whether it held the agreement it was built for, and
 * whether it is faster, said in words a deploying engineer reads in seconds. Invariants: a figure worse than the
 * backbone's is said as such ("higher", "slower"), never as a negative saving; a latency change whose 95% interval
 * includes zero is "no clear change"; the samples are called held out only when known not to overlap the build's.
 */
import type { PairedSaving } from '../evaluate/index.ts';
import { lowerOrHigher, signedPct, targetAgreementPct } from '../tensor/index.ts';

export interface VerdictFigures {
  /** 1 − bundle MACs / backbone MACs, per sample, heads included. */
  readonly macsSaved: number;
  /** Share of samples answered at an exit. */
  readonly earlyRate: number;
  readonly agreement: number;
  /** The tolerance the bundle was built for, or null when the manifest does not say. */
  readonly tolerance: number | null;
  readonly latency: PairedSaving;
  /** Bundle / backbone batch-64 throughput. */
  readonly throughputRatio: number;
  /** The evaluation data overlaps the build's: the figures read optimistic. */
  readonly overlapsBuild: boolean;
  readonly exits: number;
}

/** The verdict paragraph's sentences, plain text (the caller escapes them). */
export function verdictSentences(f: VerdictFigures): string[] {
  const out: string[] = [];
  if (f.exits === 0) {
    out.push('The bundle keeps no exit: it runs the backbone alone and saves nothing.');
  } else {
    // 1 − tolerance in floating point can sit above the exact target (1 − 0.059 = 0.9410000000000001).
    const met = f.tolerance !== null && f.agreement >= 1 - f.tolerance - 1e-12;
    const target = f.tolerance === null ? '' : ` (built for at least ${targetAgreementPct(f.tolerance)}: ${met ? 'met' : 'not met'} on these samples)`;
    const macs = f.macsSaved >= 0 ? `saves ${signedPct(f.macsSaved)} of the backbone's MACs per sample` : `spends ${signedPct(-f.macsSaved)} more MACs per sample than the backbone (its heads cost more than its exits save)`;
    out.push(`The bundle answers ${signedPct(f.earlyRate)} of these samples early and ${macs}, agreeing with the backbone on ${signedPct(f.agreement, 2)} of them${target}.`);
  }
  const ci = f.latency.ci95;
  const interval = ci ? ` (95% interval of the saving ${signedPct(ci[0])} to ${signedPct(ci[1])})` : '';
  const latency = ci !== null && ci[0] <= 0 && ci[1] >= 0
    ? `no clear change in mean batch-1 latency (${lowerOrHigher(f.latency.saved)}; the 95% interval of the saving, ${signedPct(ci[0])} to ${signedPct(ci[1])}, includes zero)`
    : `mean batch-1 latency ${lowerOrHigher(f.latency.saved)}${interval}`;
  const ratio = f.throughputRatio;
  const throughput = `batch-64 throughput ${ratio.toFixed(2)}× the backbone's${ratio < 1 ? ', lower' : ''}`;
  out.push(`Timed beside the backbone in this run: ${latency}; ${throughput}.${ci ? ' Separate runs can differ more than this run\'s interval.' : ''}`);
  if (f.overlapsBuild) {
    out.push('Warning: these samples overlap the records the bundle was built from. Its heads were trained and its thresholds chosen on them, so agreement and savings read higher here than on new inputs; evaluate on other records.');
  }
  return out;
}
