/**
 * The agreement gauges of /metrics, set from the accuracy guard of the serving version.
 * Invariants: an exit with no verified answer has no agreement series (rather than a made-up 1), and neither has
 * the overall estimate while an answering exit has none; only the serving version's exits have series (a retrained
 * version may have fewer, or other tensors at the same index).
 */
import type { LoadedBundle } from '../bundle/index.ts';
import type { AgreementGuard } from './agreement-guard.ts';
import type { ServerMetrics } from './metrics.ts';

/** Sets model `model`'s agreement and threshold gauges; tensorOf(e): exit e's cut tensor in the serving version. */
export function setAgreementGauges(m: ServerMetrics, model: string, guard: AgreementGuard, bundle: LoadedBundle | null, tensorOf: (e: number) => string): void {
  const o = guard.overall();
  // Unknown (an answering exit without verified answers): no series, rather than a made-up figure.
  if (o.estimate === null) m.agreement.remove({ model });
  else m.agreement.set({ model }, o.estimate);
  m.agreementLower.set({ model }, o.lower);
  m.exitAgreement.reset();
  for (const s of guard.stats()) {
    if (s.n > 0) m.exitAgreement.set({ model, exit: String(s.exit), tensor: tensorOf(s.exit) }, s.agreement);
  }
  m.exitThreshold.reset();
  const manifest = bundle?.manifest;
  manifest?.exits.forEach((x, e) => m.exitThreshold.set({ model, exit: String(e), tensor: x.tensor, score: manifest.score.kind }, x.threshold ?? Number.POSITIVE_INFINITY));
}
