/**
 * Quantiles of measured values (latencies), by the nearest-rank rule: the smallest value with at least p·n values at
 * or below it, so that p99 of 100 samples is the 99th smallest, not the largest. Invariant: the result is one of the
 * values (NaN for none); the values are not reordered.
 */

/** The p-quantile (0 < p ≤ 1) of `values` by the nearest-rank rule; NaN for no values. */
export function percentile(values: readonly number[], p: number): number {
  const s = [...values].sort((a, b) => a - b);
  return s.length === 0 ? Number.NaN : s[Math.min(s.length - 1, Math.max(0, Math.ceil(p * s.length) - 1))]!;
}
