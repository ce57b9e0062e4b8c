/**
 * How a saving (1 − bundle / backbone, of MACs or of latency) is said, for the CLI and the report alike. Invariant:
 * a cost the bundle raises is said as such ("higher", "more"), never as a negative saving; a negative number that
 * must be shown carries a true minus sign.
 */

/** A fraction as a percentage with a true minus sign: −6.1%, not -6.1%. */
export function signedPct(x: number, digits = 1): string {
  return `${(100 * x).toFixed(digits)}%`.replace(/^-/, '−');
}

/** A saving of a time or a cost in words: 0.061 → "6.1% lower", −0.04 → "4.0% higher". */
export function lowerOrHigher(saved: number): string {
  return saved >= 0 ? `${signedPct(saved)} lower` : `${signedPct(-saved)} higher`;
}

/** A MACs saving for a table cell: "14.4% saved", or "0.2% more" (heads that cost more than their exits save). */
export function savedOrMore(saved: number): string {
  return saved >= 0 ? `${signedPct(saved)} saved` : `${signedPct(-saved)} more`;
}
