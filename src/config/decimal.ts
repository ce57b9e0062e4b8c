/**
 * Numbers as people write them on a command line or in an environment variable: decimal, with an optional sign,
 * fraction and exponent (12, -0.5, .5, 1., 1e6). Number() also reads '' and ' ' as 0 and '0x10' as 16, which would
 * turn a typo into a setting silently. One grammar for flags and variables alike.
 */

const DECIMAL = /^\s*[+-]?(\d+\.?\d*|\.\d+)(e[+-]?\d+)?\s*$/i;

/** value as a number when it is written in decimal (possibly ±Infinity when it overflows), else NaN. */
export function parseDecimal(value: string): number {
  return DECIMAL.test(value) ? Number(value) : Number.NaN;
}
