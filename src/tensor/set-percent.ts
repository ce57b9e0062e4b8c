/**
 * Set fractions (a tolerance, the agreement it asks for, an axis floor) as percentages with the digits they have,
 * for every place that prints one: the report, the CLI, the server's log. Invariant: a small tolerance never prints
 * as 0% and the agreement it asks for never as 100%.
 */

/** A set fraction in percent with the digits it has: 0.0001 → 0.01, 0.998 → 99.8. */
function setPercentValue(fraction: number): number {
  return Number((100 * fraction).toPrecision(4));
}

/** A set fraction as a percentage with the digits it has: 0.01 → "1%", 0.0001 → "0.01%" (one decimal said 0.0%). */
export function setPercent(fraction: number): string {
  return `${setPercentValue(fraction)}%`;
}

/**
 * The agreement a tolerance asks for, 1 − tolerance, with the tolerance's digits: 0.2 → 80%, 0.00025 → 99.975%,
 * 1e-7 → 99.99999% (a fixed number of digits said 100% for small tolerances; (1 − 0.07) · 100 says 93.00000000000001%).
 */
export function targetAgreementPct(tolerance: number): string {
  const t = setPercentValue(tolerance);
  const decimals = Math.min(20, Math.max(0, Math.ceil(-Math.log10(t)) + 3));
  return `${Number((100 - t).toFixed(decimals))}%`;
}
