/**
 * How much the heads' confidence leaves on the table, on a given set of samples.
 *
 * answerableShare: the largest share of samples a head could answer, most confident first,
 * while its answers agree with the backbone on ≥ `level` of them.
 * selectionCeiling: the selection run on the very samples it is judged on (no
 * cross-validation, no margin). It sees the answers, so no honest selection made on other
 * samples can expect to beat it; it bounds what better thresholds alone could give.
 * Invariants: a cut never splits samples with equal scores (one threshold cannot), and
 * both functions are exact on the table given (no sampling).
 */
import { simulate, type CalibrationTable, type Policy, type PolicyOutcome } from './policy.ts';
import { selectPolicy } from './select.ts';

/**
 * score: [n] confidence scores; correct: [n] 1 where the head agrees with the backbone.
 * Returns a share in [0, 1].
 */
export function answerableShare(score: ArrayLike<number>, correct: ArrayLike<number>, level: number): number {
  const n = score.length;
  if (n === 0) return 0;
  const order = Int32Array.from({ length: n }, (_, i) => i).sort((a, b) => score[b]! - score[a]! || a - b);
  let errors = 0;
  let best = 0;
  for (let k = 0; k < n; k++) {
    const i = order[k]!;
    if (correct[i] !== 1) errors++;
    const atTieEnd = k === n - 1 || score[order[k + 1]!]! < score[i]!;
    // errors ≤ (1 − level)·count, with a little slack for the float product.
    if (atTieEnd && errors <= (1 - level) * (k + 1) + 1e-9) best = k + 1;
  }
  return best / n;
}

/** The cheapest policy with agreement ≥ 1 − tolerance on `table` itself, and its outcome there. */
export function selectionCeiling(table: CalibrationTable, tolerance: number): { policy: Policy; outcome: PolicyOutcome } {
  const { policy } = selectPolicy(table, { tolerance, margin: 0, crossValidate: false });
  return { policy, outcome: simulate(table, policy) };
}
