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

export interface RowScore {
  readonly classIndex: number;
  /** Score in the units of the threshold. */
  readonly score: number;
  /** Max softmax probability (after temperature). */
  readonly confidence: number;
}

/**
 * Scores row r of log-probabilities lp [rows, classes]: the one definition shared by
 * calibration (whole tables) and the cascade runtime (row by row).
 */
export function scoreRow(lp: Float32Array | Float64Array, r: number, classes: number, kind: ScoreKind, temperature = 1): RowScore {
  const off = r * classes;
  let top = 0;
  let second = -1;
  for (let k = 1; k < classes; k++) {
    if (lp[off + k]! > lp[off + top]!) {
      second = top;
      top = k;
    } else if (second < 0 || lp[off + k]! > lp[off + second]!) second = k;
  }
  const inv = kind === 'temperature' ? 1 / temperature : 1;
  const t = lp[off + top]! * inv;
  let others = 0;
  for (let k = 0; k < classes; k++) if (k !== top) others += Math.exp(lp[off + k]! * inv - t);
  // p_max = 1 / (1 + others); 1 − p_max = others / (1 + others).
  const score = kind === 'margin' ? lp[off + top]! - lp[off + second]! : Math.log1p(others) - Math.log(others);
  return { classIndex: top, score, confidence: 1 / (1 + others) };
}

function scoresOf(logProbs: Float32Array | Float64Array, classes: number, kind: ScoreKind, temperature: number): Float64Array {
  const n = logProbs.length / classes;
  const out = new Float64Array(n);
  for (let i = 0; i < n; i++) out[i] = scoreRow(logProbs, i, classes, kind, temperature).score;
  return out;
}

/**
 * Scores of every row as a bundle of score kind `kind` computes them: logProbs [n, classes] →
 * [n]; the temperature applies to 'temperature' only.
 */
export function scoresFor(kind: ScoreKind, logProbs: Float32Array | Float64Array, classes: number, temperature: number): Float64Array {
  return scoresOf(logProbs, classes, kind, kind === 'temperature' ? temperature : 1);
}

/** 'max' scores (or 'temperature' ones when temperature ≠ 1): [n]. */
export function maxScore(logProbs: Float32Array | Float64Array, classes: number, temperature = 1): Float64Array {
  return scoresOf(logProbs, classes, temperature === 1 ? 'max' : 'temperature', temperature);
}

export function marginScore(logProbs: Float32Array | Float64Array, classes: number): Float64Array {
  return scoresOf(logProbs, classes, 'margin', 1);
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

/**
 * A threshold in its score's units as the condition an answer meets, for people: 'max' and 'temperature' thresholds
 * are log-odds −log(1 − p), shown as p (above 0.999 as its distance from 1: "p ≥ 1 − 1.4e-5", not "1.0000");
 * 'margin' ones are log(p₁ / p₂). null: a disabled exit.
 */
export function thresholdCondition(kind: ScoreKind, threshold: number | null): string {
  if (threshold === null) return 'disabled';
  if (kind === 'margin') return `log(p₁/p₂) ≥ ${threshold.toFixed(3)}`;
  const p = kind === 'temperature' ? 'p at T' : 'p';
  const miss = Math.exp(-threshold);
  return miss < 1e-3 ? `${p} ≥ 1 − ${miss.toExponential(1)}` : `${p} ≥ ${(1 - miss).toFixed(4)}`;
}
