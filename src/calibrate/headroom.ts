/**
 * How much the heads' confidence leaves on the table, on a given set of samples.
 *
 * answerableShare: the largest share of samples a head could answer, most confident first,
 * while its answers agree with the backbone on ≥ `level` of them.
 * inSampleSelection: exits and thresholds chosen on the very samples they are judged on (no
 * cross-validation, no margin): the λ search, then a budget-constrained descent that spends
 * the error budget no single λ reaches, started from the λ choice, from no exits and from every
 * policy of the cost/agreement front, keeping the cheapest. It
 * sees the answers, so it is an optimistic reference for what thresholds alone could give
 * with these heads. It is the best found, not a proven optimum (the search is a heuristic;
 * the tests compare it with exhaustive search on small tables).
 * Invariants: a cut never splits samples with equal scores (one threshold cannot); the
 * returned policy has at most ⌊tolerance · n⌋ disagreements on the table.
 */
import { LayercacheError } from '../errors/index.ts';
import { NEVER, simulate, type CalibrationTable, type Policy, type PolicyOutcome } from './policy.ts';
import { optimizeForBudget, paretoFront, selectPolicy, validateTolerance } from './select.ts';

/**
 * score: [n] confidence scores; correct: [n] 1 where the head agrees with the backbone;
 * level: the agreement required of the answered samples, in [0, 1]. Returns a share in [0, 1].
 */
export function answerableShare(score: ArrayLike<number>, correct: ArrayLike<number>, level: number): number {
  const n = score.length;
  if (correct.length !== n) throw new LayercacheError('INTERNAL', `answerableShare: ${n} scores but ${correct.length} agreement flags; pass one flag per score`);
  if (!(level >= 0 && level <= 1)) throw new LayercacheError('INTERNAL', `answerableShare: level ${level} is outside [0, 1]; pass the agreement required, e.g. 0.99`);
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

/** The best policy found with at most ⌊tolerance · n⌋ disagreements on `table` itself, and its outcome there. */
export function inSampleSelection(table: CalibrationTable, tolerance: number): { policy: Policy; outcome: PolicyOutcome } {
  validateTolerance(tolerance);
  const maxErrors = Math.floor(tolerance * table.n + 1e-9);
  const fromLambda = selectPolicy(table, { tolerance, margin: 0, crossValidate: false }).policy;
  // Starts: the λ search's choice, no exits, and every policy of the cost/agreement front.
  const starts: Policy[] = [fromLambda, { thresholds: table.exits.map(() => NEVER) }, ...paretoFront(table, 24).map((p) => p.policy)];
  let best = { policy: fromLambda, outcome: simulate(table, fromLambda) };
  for (const start of starts) {
    const policy = optimizeForBudget(table, maxErrors, start);
    const outcome = simulate(table, policy);
    if (outcome.errors <= maxErrors && outcome.meanCost < best.outcome.meanCost - 1e-12) best = { policy, outcome };
  }
  return best;
}
