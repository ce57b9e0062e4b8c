/**
 * How much the heads' confidence leaves on the table, on a given set of samples.
 *
 * answerableShare: the largest share of samples a head could answer, most confident first,
 * while its answers agree with the backbone on ≥ `level` of them.
 * agreementCurve: the whole curve behind it, the agreement of the answered samples at every
 * share answered (what a report plots per exit).
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
import { paretoFront, selectPolicy, validateTolerance } from './select.ts';
import { optimizeForBudget } from './threshold-search.ts';

function checkColumn(what: string, score: ArrayLike<number>, correct: ArrayLike<number>): void {
  if (correct.length !== score.length) throw new LayercacheError('INTERNAL', `${what}: ${score.length} scores but ${correct.length} agreement flags; pass one flag per score`);
}

/**
 * Visits the samples most confident first and calls visit(count, errors) at the end of every
 * group of equal scores: count samples answered so far, errors of them disagreeing.
 */
function walkByConfidence(score: ArrayLike<number>, correct: ArrayLike<number>, visit: (count: number, errors: number) => void): void {
  const n = score.length;
  const order = Int32Array.from({ length: n }, (_, i) => i).sort((a, b) => score[b]! - score[a]! || a - b);
  let errors = 0;
  for (let k = 0; k < n; k++) {
    const i = order[k]!;
    if (correct[i] !== 1) errors++;
    if (k === n - 1 || score[order[k + 1]!]! < score[i]!) visit(k + 1, errors);
  }
}

/**
 * score: [n] confidence scores; correct: [n] 1 where the head agrees with the backbone;
 * level: the agreement required of the answered samples, in [0, 1]. Returns a share in [0, 1].
 */
export function answerableShare(score: ArrayLike<number>, correct: ArrayLike<number>, level: number): number {
  checkColumn('answerableShare', score, correct);
  if (!(level >= 0 && level <= 1)) throw new LayercacheError('INTERNAL', `answerableShare: level ${level} is outside [0, 1]; pass the agreement required, e.g. 0.99`);
  const n = score.length;
  if (n === 0) return 0;
  let best = 0;
  // errors ≤ (1 − level)·count, with a little slack for the float product.
  walkByConfidence(score, correct, (count, errors) => {
    if (errors <= (1 - level) * count + 1e-9) best = count;
  });
  return best / n;
}

/**
 * The agreement-vs-hit-rate curve of one head: answering the most confident samples first,
 * the agreement of the answered ones at each share answered. Points sit only where a group of
 * equal scores ends (one threshold cannot split it), at most one in each interval
 * ((k − 1)/points, k/points] of hit rates (the last in it), so at most `points`, the last at hit rate 1. score: [n]; correct: [n]; returns two arrays of
 * equal length, hit rates increasing.
 */
export function agreementCurve(score: ArrayLike<number>, correct: ArrayLike<number>, points = 50): { hitRate: number[]; agreement: number[] } {
  checkColumn('agreementCurve', score, correct);
  if (!Number.isInteger(points) || points < 1) throw new LayercacheError('INTERNAL', `agreementCurve: points ${points} must be an integer >= 1`);
  const n = score.length;
  const hitRate: number[] = [];
  const agreement: number[] = [];
  let pending: { count: number; errors: number } | null = null;
  let bucket = -1;
  const flush = (): void => {
    if (pending) {
      hitRate.push(pending.count / n);
      agreement.push((pending.count - pending.errors) / pending.count);
    }
  };
  walkByConfidence(score, correct, (count, errors) => {
    const b = Math.ceil((count * points) / n);
    if (b !== bucket) flush();
    pending = { count, errors };
    bucket = b;
  });
  flush();
  return { hitRate, agreement };
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
