/**
 * Per-row confidence of a head's answer, computed from its log-probabilities exactly as
 * calibration scored it (calibrate/scores.ts uses the same definitions on whole tables).
 * Shapes: logProbs [rows, classes]; one score per row.
 */
import type { ScoreSpec } from '../bundle/index.ts';

export interface RowScore {
  readonly classIndex: number;
  /** Score in the units of the threshold. */
  readonly score: number;
  /** Max softmax probability (after temperature). */
  readonly confidence: number;
}

/** Scores row `r` of log-probabilities lp [rows, classes]. */
export function scoreRow(lp: Float32Array, r: number, classes: number, kind: ScoreSpec['kind'], temperature: number): RowScore {
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
  const logOdds = Math.log1p(others) - Math.log(others);
  const confidence = 1 / (1 + others);
  const score = kind === 'margin' ? lp[off + top]! - lp[off + second]! : logOdds;
  return { classIndex: top, score, confidence };
}

/** Softmax of row r of logits [rows, classes], into a new array. */
export function softmaxRow(logits: Float32Array, r: number, classes: number): Float32Array {
  const out = new Float32Array(classes);
  let mx = -Infinity;
  for (let k = 0; k < classes; k++) mx = Math.max(mx, logits[r * classes + k]!);
  let s = 0;
  for (let k = 0; k < classes; k++) {
    out[k] = Math.exp(logits[r * classes + k]! - mx);
    s += out[k]!;
  }
  for (let k = 0; k < classes; k++) out[k]! /= s;
  return out;
}
