/**
 * Confidence scores from head log-probabilities, in float64 so confident answers do not
 * saturate (in float32, softmax rounds to exactly 1 and ties hide the errors).
 *
 * - 'max': the paper's max softmax, as the log-odds −log(1 − p_max): monotone in p_max.
 * - 'margin': log p_top − log p_second.
 * - 'temperature': 'max' after re-tempering the log-probabilities by a fitted T.
 * Shapes: logProbs [n, classes] row-major; scores [n].
 */

export type ScoreKind = 'max' | 'margin' | 'temperature';

export const SCORE_KINDS: readonly ScoreKind[] = ['max', 'margin', 'temperature'];

/** Log-odds score → max-softmax probability. */
export function maxProbabilityOf(score: number): number {
  return 1 - Math.exp(-score);
}

/** Max-softmax probability → log-odds score. */
export function scoreOfMaxProbability(p: number): number {
  return p >= 1 ? Number.POSITIVE_INFINITY : -Math.log(1 - p);
}

export function argmaxRows(values: Float32Array | Float64Array, classes: number): Int32Array {
  const n = values.length / classes;
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    let b = 0;
    for (let k = 1; k < classes; k++) if (values[i * classes + k]! > values[i * classes + b]!) b = k;
    out[i] = b;
  }
  return out;
}

/** −log Σ_{k≠top} exp(lp_k − lse(lp)) for one row of unnormalised log-probabilities. */
function logOddsRow(lp: Float32Array | Float64Array, off: number, classes: number, scale = 1): number {
  let top = 0;
  for (let k = 1; k < classes; k++) if (lp[off + k]! > lp[off + top]!) top = k;
  const t = lp[off + top]! * scale;
  let others = 0;
  for (let k = 0; k < classes; k++) if (k !== top) others += Math.exp(lp[off + k]! * scale - t);
  // p_max = 1 / (1 + others); 1 − p_max = others / (1 + others).
  return Math.log1p(others) - Math.log(others);
}

export function maxScore(logProbs: Float32Array | Float64Array, classes: number, temperature = 1): Float64Array {
  const n = logProbs.length / classes;
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = logOddsRow(logProbs, i * classes, classes, 1 / temperature);
  return out;
}

export function marginScore(logProbs: Float32Array | Float64Array, classes: number): Float64Array {
  const n = logProbs.length / classes;
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) {
    let a = -Infinity;
    let b = -Infinity;
    for (let k = 0; k < classes; k++) {
      const v = logProbs[i * classes + k]!;
      if (v > a) [a, b] = [v, a];
      else if (v > b) b = v;
    }
    out[i] = a - b;
  }
  return out;
}

/**
 * Temperature minimising the negative log-likelihood of the reference classes (the
 * backbone's answers) under softmax(lp / T), by golden-section search on log T.
 */
export function fitTemperature(logProbs: Float32Array, classes: number, reference: Int32Array): number {
  const nll = (logT: number): number => {
    const inv = Math.exp(-logT);
    let s = 0;
    for (let i = 0; i < reference.length; i++) {
      let mx = -Infinity;
      for (let k = 0; k < classes; k++) mx = Math.max(mx, logProbs[i * classes + k]! * inv);
      let z = 0;
      for (let k = 0; k < classes; k++) z += Math.exp(logProbs[i * classes + k]! * inv - mx);
      s -= logProbs[i * classes + reference[i]!]! * inv - mx - Math.log(z);
    }
    return s;
  };
  let a = Math.log(0.05);
  let b = Math.log(20);
  const r = (Math.sqrt(5) - 1) / 2;
  let c = b - r * (b - a);
  let d = a + r * (b - a);
  let fc = nll(c);
  let fd = nll(d);
  for (let it = 0; it < 40; it++) {
    if (fc < fd) {
      b = d; d = c; fd = fc; c = b - r * (b - a); fc = nll(c);
    } else {
      a = c; c = d; fc = fd; d = a + r * (b - a); fd = nll(d);
    }
  }
  return Math.exp((a + b) / 2);
}
