/**
 * One-sided Clopper–Pearson bounds on a binomial proportion, from the regularized
 * incomplete beta function (Lentz continued fraction, as in Numerical Recipes §6.4).
 * Invariant: upper(k, n, δ) is the p with P[Binomial(n, p) ≤ k] = δ (1 when k = n).
 */

function logGamma(x: number): number {
  // Lanczos approximation, g = 7, n = 9.
  const c = [0.99999999999980993, 676.5203681218851, -1259.1392167224028, 771.32342877765313, -176.61502916214059,
    12.507343278686905, -0.13857109526572012, 9.9843695780195716e-6, 1.5056327351493116e-7];
  if (x < 0.5) return Math.log(Math.PI / Math.sin(Math.PI * x)) - logGamma(1 - x);
  x -= 1;
  let a = c[0]!;
  const t = x + 7.5;
  for (let i = 1; i < 9; i++) a += c[i]! / (x + i);
  return 0.5 * Math.log(2 * Math.PI) + (x + 0.5) * Math.log(t) - t + Math.log(a);
}

function betaContinuedFraction(a: number, b: number, x: number): number {
  const tiny = 1e-300;
  let c = 1;
  let d = 1 - ((a + b) * x) / (a + 1);
  if (Math.abs(d) < tiny) d = tiny;
  d = 1 / d;
  let h = d;
  for (let m = 1; m <= 300; m++) {
    const m2 = 2 * m;
    let aa = (m * (b - m) * x) / ((a + m2 - 1) * (a + m2));
    d = 1 + aa * d;
    if (Math.abs(d) < tiny) d = tiny;
    c = 1 + aa / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    h *= d * c;
    aa = (-(a + m) * (a + b + m) * x) / ((a + m2) * (a + m2 + 1));
    d = 1 + aa * d;
    if (Math.abs(d) < tiny) d = tiny;
    c = 1 + aa / c;
    if (Math.abs(c) < tiny) c = tiny;
    d = 1 / d;
    const del = d * c;
    h *= del;
    if (Math.abs(del - 1) < 1e-14) break;
  }
  return h;
}

/** Regularized incomplete beta I_x(a, b). */
export function incompleteBeta(x: number, a: number, b: number): number {
  return betaTails(x, a, b).lower;
}

/**
 * I_x(a, b) and 1 − I_x(a, b), each from the continued fraction that converges at x, the other as its complement,
 * so that the tail a bound solves for stays precise however small (1 − I near δ = 1e-12 would cancel).
 */
function betaTails(x: number, a: number, b: number): { lower: number; upper: number } {
  if (x <= 0) return { lower: 0, upper: 1 };
  if (x >= 1) return { lower: 1, upper: 0 };
  const lnFront = logGamma(a + b) - logGamma(a) - logGamma(b) + a * Math.log(x) + b * Math.log1p(-x);
  if (x < (a + 1) / (a + b + 2)) {
    const lower = (Math.exp(lnFront) * betaContinuedFraction(a, b, x)) / a;
    return { lower, upper: 1 - lower };
  }
  const upper = (Math.exp(lnFront) * betaContinuedFraction(b, a, 1 - x)) / b;
  return { lower: 1 - upper, upper };
}

/** Upper (1 − δ) Clopper–Pearson bound on p after k events in n trials. */
export function clopperPearsonUpper(k: number, n: number, delta: number): number {
  if (k >= n) return 1;
  // P[Bin(n,p) ≤ k] = 1 − I_p(k+1, n−k); solve 1 − I_p(k+1, n−k) = δ by bisection.
  let lo = k / n;
  let hi = 1;
  for (let it = 0; it < 100; it++) {
    const mid = (lo + hi) / 2;
    if (betaTails(mid, k + 1, n - k).upper > delta) lo = mid;
    else hi = mid;
  }
  return hi;
}

/** Lower (1 − δ) Clopper–Pearson bound on p after k events in n trials. */
export function clopperPearsonLower(k: number, n: number, delta: number): number {
  return k <= 0 ? 0 : 1 - clopperPearsonUpper(n - k, n, delta);
}
