/**
 * Confidence scores computed from head probabilities. Single-head scores are the
 * paper's max softmax, the margin between the two top classes, and a
 * temperature-calibrated max softmax; the window score averages the probabilities of
 * the last `window` candidate heads up to the exit (an ensemble along the depth) and
 * counts only when that average agrees with the exit's own head.
 * Shapes: probs [n, classes] row-major; scores [n].
 */

export type ScoreKind = 'max' | 'margin' | 'temperature' | 'window';

export const SCORE_KINDS: readonly ScoreKind[] = ['max', 'margin', 'temperature', 'window'];

export function argmaxRows(probs: Float32Array, classes: number): Int32Array {
  const n = probs.length / classes;
  const out = new Int32Array(n);
  for (let i = 0; i < n; i++) {
    let b = 0;
    for (let k = 1; k < classes; k++) if (probs[i * classes + k]! > probs[i * classes + b]!) b = k;
    out[i] = b;
  }
  return out;
}

export function maxScore(probs: Float32Array, classes: number): Float32Array {
  const n = probs.length / classes;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    let m = 0;
    for (let k = 0; k < classes; k++) m = Math.max(m, probs[i * classes + k]!);
    out[i] = m;
  }
  return out;
}

export function marginScore(probs: Float32Array, classes: number): Float32Array {
  const n = probs.length / classes;
  const out = new Float32Array(n);
  for (let i = 0; i < n; i++) {
    let a = 0;
    let b = 0;
    for (let k = 0; k < classes; k++) {
      const p = probs[i * classes + k]!;
      if (p > a) [a, b] = [p, a];
      else if (p > b) b = p;
    }
    out[i] = a - b;
  }
  return out;
}

/** Probabilities re-tempered: softmax(log p / T). */
export function temper(probs: Float32Array, classes: number, temperature: number): Float32Array {
  const out = new Float32Array(probs.length);
  const n = probs.length / classes;
  for (let i = 0; i < n; i++) {
    let mx = -Infinity;
    for (let k = 0; k < classes; k++) mx = Math.max(mx, Math.log(Math.max(probs[i * classes + k]!, 1e-30)) / temperature);
    let sum = 0;
    for (let k = 0; k < classes; k++) {
      const v = Math.exp(Math.log(Math.max(probs[i * classes + k]!, 1e-30)) / temperature - mx);
      out[i * classes + k] = v;
      sum += v;
    }
    for (let k = 0; k < classes; k++) out[i * classes + k]! /= sum;
  }
  return out;
}

/**
 * Temperature minimising the negative log-likelihood of the reference classes
 * (the backbone's answers) under softmax(log p / T), by golden-section search on log T.
 */
export function fitTemperature(probs: Float32Array, classes: number, reference: Int32Array): number {
  const nll = (logT: number): number => {
    const q = temper(probs, classes, Math.exp(logT));
    let s = 0;
    for (let i = 0; i < reference.length; i++) s -= Math.log(Math.max(q[i * classes + reference[i]!]!, 1e-30));
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
 * Window score at exit e: mean of probs over heads [e − window + 1, e]; its max when its
 * argmax equals head e's argmax, else 0. probsByExit: per candidate exit, [n, classes].
 */
export function windowScore(probsByExit: readonly Float32Array[], e: number, window: number, classes: number): Float32Array {
  const first = Math.max(0, e - window + 1);
  const n = probsByExit[e]!.length / classes;
  const mean = new Float32Array(n * classes);
  for (let f = first; f <= e; f++) {
    const p = probsByExit[f]!;
    for (let j = 0; j < mean.length; j++) mean[j]! += p[j]!;
  }
  const scale = 1 / (e - first + 1);
  for (let j = 0; j < mean.length; j++) mean[j]! *= scale;
  const own = argmaxRows(probsByExit[e]!, classes);
  const avgArg = argmaxRows(mean, classes);
  const mx = maxScore(mean, classes);
  for (let i = 0; i < n; i++) if (own[i] !== avgArg[i]) mx[i] = 0;
  return mx;
}
