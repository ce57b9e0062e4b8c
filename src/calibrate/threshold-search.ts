/**
 * Thresholds for one trade-off: coordinate descent on cost + λ·disagreements (optimizeForLambda) or on cost
 * under a disagreement budget (optimizeForBudget), each exit's threshold solved exactly given the others by
 * walking its samples most confident first; and a policy's thresholds raised by a number of score units
 * (shiftPolicy). A sweep over E exits and n samples costs O(E·n) (see Sweep); the selection runs a few thousand
 * descents per build.
 * Invariants: every threshold these return lies midway between two samples' scores (or at the lowest one; just over
 * the finite score below a +∞ one, see cutBetween), so no sample sits on a threshold and float32 and float64
 * comparisons at run time agree; a descent's result equals that
 * of the same descent judged by full simulations (threshold-search.test.ts).
 */
import { LayercacheError } from '../errors/index.ts';
import { NEVER, simulate, type CalibrationTable, type Policy } from './policy.ts';

const orderCache = new WeakMap<CalibrationTable, Int32Array[]>();

/** Per exit, the sample indices by descending score (ties by index), computed once per table. */
export function scoreOrders(table: CalibrationTable): Int32Array[] {
  let orders = orderCache.get(table);
  if (!orders) {
    orders = table.exits.map((col) => Int32Array.from({ length: table.n }, (_, i) => i).sort((a, b) => col.score[b]! - col.score[a]! || a - b));
    orderCache.set(table, orders);
  }
  return orders;
}

/**
 * Registers the score orders of `sub`, the rows `rows` (ascending) of `table`, as `table`'s orders restricted to
 * those rows: the same order a sort of `sub` would give, ties included (by index, and the row map is increasing),
 * in O(n) per exit instead of a sort.
 */
export function deriveScoreOrders(table: CalibrationTable, rows: Int32Array, sub: CalibrationTable): void {
  const position = new Int32Array(table.n).fill(-1);
  for (let j = 0; j < rows.length; j++) {
    if (j > 0 && rows[j]! <= rows[j - 1]!) throw new LayercacheError('INTERNAL', `deriveScoreOrders needs ascending rows, but row ${rows[j]} follows ${rows[j - 1]}; pass the rows sorted`);
    position[rows[j]!] = j;
  }
  orderCache.set(sub, scoreOrders(table).map((order) => {
    const out = new Int32Array(rows.length);
    let m = 0;
    for (let k = 0; k < order.length; k++) {
      const j = position[order[k]!]!;
      if (j >= 0) out[m++] = j;
    }
    return out;
  }));
}

/**
 * One sweep's view of the other exits' thresholds, kept in O(E·n) per sweep rather than O(E²·n): the
 * continuations (what a sample that goes on past exit e then costs, and whether that answer disagrees) depend only
 * on the thresholds after e, which a sweep in network order has not moved yet when it reaches e, so all of them are
 * computed once at its start; and the samples still unanswered at e follow from those at e − 1 and exit e − 1's
 * threshold as just set. Each value is computed with the same operations in the same order as evaluating the
 * later (or earlier) exits from scratch, so the result does not depend on this bookkeeping.
 */
class Sweep {
  /** Per exit e [n]: the cost of going on past e, under the later thresholds. */
  readonly nextCost: Float64Array[];
  /** Per exit e [n]: 1 where the answer given after e disagrees with the backbone. */
  readonly nextWrong: Uint8Array[];
  /** [n] 1 for the samples no kept exit before the current one answers. */
  readonly reached: Uint8Array;
  /** Samples reached: the 1s of `reached`. */
  reachedCount = 0;
  /** Disagreements among the samples answered before the current exit. */
  earlyWrong = 0;

  constructor(private readonly table: CalibrationTable) {
    const { n, exits } = table;
    this.nextCost = exits.map(() => new Float64Array(n));
    this.nextWrong = exits.map(() => new Uint8Array(n));
    this.reached = new Uint8Array(n);
  }

  /** Starts a sweep under `thresholds`: every sample unanswered, every continuation computed. */
  begin(thresholds: readonly number[]): void {
    const { n, exits, fullCost } = this.table;
    const E = exits.length;
    this.reached.fill(1);
    this.reachedCount = n;
    this.earlyWrong = 0;
    this.nextCost[E - 1]!.fill(fullCost);
    this.nextWrong[E - 1]!.fill(0);
    for (let e = E - 2; e >= 0; e--) {
      const cost = this.nextCost[e]!;
      const wrong = this.nextWrong[e]!;
      const laterCost = this.nextCost[e + 1]!;
      const laterWrong = this.nextWrong[e + 1]!;
      const t = thresholds[e + 1]!;
      if (t === NEVER) {
        cost.set(laterCost);
        wrong.set(laterWrong);
        continue;
      }
      const c = exits[e + 1]!;
      for (let i = 0; i < n; i++) {
        if (c.score[i]! >= t) {
          cost[i] = c.headCost + c.cost;
          wrong[i] = c.correct[i] ? 0 : 1;
        } else {
          cost[i] = c.headCost + laterCost[i]!;
          wrong[i] = laterWrong[i]!;
        }
      }
    }
  }

  /** Moves past exit e, whose threshold is now `t`: the samples it answers are no longer reached. */
  pass(e: number, t: number): void {
    if (t === NEVER) return;
    const { score, correct } = this.table.exits[e]!;
    const reached = this.reached;
    for (let i = 0; i < reached.length; i++) {
      if (reached[i] && score[i]! >= t) {
        reached[i] = 0;
        this.reachedCount--;
        if (!correct[i]) this.earlyWrong++;
      }
    }
  }
}

/** Coordinate descent on cost + λ·errors from `start`; returns a local optimum. */
export function optimizeForLambda(table: CalibrationTable, lambda: number, start?: Policy): Policy {
  const { n, exits } = table;
  const E = exits.length;
  const thresholds = start ? [...start.thresholds] : new Array<number>(E).fill(NEVER);
  const sweep = new Sweep(table);
  const sorted = scoreOrders(table);
  for (let round = 0; round < 6; round++) {
    let changed = false;
    sweep.begin(thresholds);
    for (let e = 0; e < E; e++) {
      // An exit with an infinite head cost is excluded from the choice.
      if (!Number.isFinite(exits[e]!.headCost)) {
        if (thresholds[e] !== NEVER) changed = true;
        thresholds[e] = NEVER;
        continue;
      }
      const { reached } = sweep;
      // Value of continuing past e, under the current later thresholds.
      const nextCost = sweep.nextCost[e]!;
      const nextWrong = sweep.nextWrong[e]!;
      const col = exits[e]!;
      // Objective relative to "not kept": m·headCost + Σ_{exiting} (exitValue − next), over the m samples that
      // reach e, most confident first (the exit's full order, skipping the others). A cut lies between two
      // distinct scores, so the best cut so far is judged when the next reached sample scores lower.
      const byScore = sorted[e]!;
      let best = 0;
      let bestT = NEVER;
      let running = sweep.reachedCount * col.headCost;
      let previous = Number.NaN;
      for (let k = 0; k < n; k++) {
        const i = byScore[k]!;
        if (!reached[i]) continue;
        const score = col.score[i]!;
        if (score < previous && running < best - 1e-12) {
          best = running;
          // Midway to the next score: no sample sits on the threshold, so float32 and
          // float64 comparisons at run time agree on every calibration sample.
          bestT = cutBetween(previous, score);
        }
        running += col.cost + (col.correct[i] ? 0 : lambda) - (nextCost[i]! + (nextWrong[i] ? lambda : 0));
        previous = score;
      }
      // The last cut answers every sample that reaches e.
      if (sweep.reachedCount > 0 && running < best - 1e-12) bestT = cutBetween(previous, Number.NEGATIVE_INFINITY);
      if (bestT !== thresholds[e]) {
        thresholds[e] = bestT;
        changed = true;
      }
      sweep.pass(e, thresholds[e]!);
    }
    if (!changed) break;
  }
  return { thresholds };
}

/**
 * Coordinate descent on cost subject to at most `maxErrors` disagreements, from `start`
 * (which must meet that budget): each exit's threshold in turn is set to the cheapest choice
 * that keeps the budget given the other thresholds, found exactly by walking the exit's
 * samples most confident first. Unlike the λ search, it can spend an error budget that no
 * single λ reaches. The cost never rises from sweep to sweep.
 */
export function optimizeForBudget(table: CalibrationTable, maxErrors: number, start: Policy): Policy {
  const { n, exits } = table;
  const E = exits.length;
  const thresholds = [...start.thresholds];
  const sweep = new Sweep(table);
  const order = new Int32Array(n);
  const sorted = scoreOrders(table);
  for (let round = 0; round < 50; round++) {
    let changed = false;
    sweep.begin(thresholds);
    for (let e = 0; e < E; e++) {
      const col = exits[e]!;
      if (!Number.isFinite(col.headCost)) {
        sweep.pass(e, thresholds[e]!);
        continue;
      }
      // Samples answered before e, and their disagreements (fixed while e moves); cost and disagreement of going
      // on past e, under the later thresholds.
      const { reached, earlyWrong } = sweep;
      const nextCost = sweep.nextCost[e]!;
      const nextWrong = sweep.nextWrong[e]!;
      let m = 0;
      let wrongWithout = earlyWrong;
      for (let k = 0; k < n; k++) {
        const i = sorted[e]![k]!;
        if (reached[i]) {
          order[m++] = i;
          wrongWithout += nextWrong[i]!;
        }
      }
      // Exit e dropped: cost change 0, errors wrongWithout. Kept answering its j most confident: the
      // head on all m reached samples, and each answered sample's cost and error swapped. Only
      // cuts between distinct scores are thresholds; a move must beat the current choice.
      let bestDelta = wrongWithout <= maxErrors ? 0 : Number.POSITIVE_INFINITY;
      let bestT = NEVER;
      let currentDelta = thresholds[e] === NEVER ? bestDelta : Number.POSITIVE_INFINITY;
      let delta = m * col.headCost;
      let wrong = wrongWithout;
      for (let j = 0; j < m; j++) {
        const i = order[j]!;
        delta += col.cost - nextCost[i]!;
        wrong += (col.correct[i] ? 0 : 1) - nextWrong[i]!;
        const nextScore = j === m - 1 ? Number.NEGATIVE_INFINITY : col.score[order[j + 1]!]!;
        if (!(nextScore < col.score[i]!) || wrong > maxErrors) continue;
        // The current threshold admits exactly the samples scoring at least it (NEVER none, not even a +∞ score).
        if (thresholds[e] !== NEVER && thresholds[e]! <= col.score[i]! && thresholds[e]! > nextScore) currentDelta = delta;
        if (delta < bestDelta - 1e-12) {
          bestDelta = delta;
          bestT = cutBetween(col.score[i]!, nextScore);
        }
      }
      if (bestDelta < currentDelta - 1e-12) {
        thresholds[e] = bestT;
        changed = true;
      }
      sweep.pass(e, thresholds[e]!);
    }
    if (!changed) break;
  }
  return { thresholds };
}

/**
 * Score units by which the most cautious λ's thresholds are also tried raised, trading cost for fewer confident
 * disagreements on new samples. Scores are log-odds or log-ratios (scores.ts), so
 * one unit multiplies the required odds by e.
 */
export const THRESHOLD_SHIFTS: readonly number[] = [0.5, 1, 2, 4];

/**
 * `policy` with every kept threshold t raised to at least t + `shift`: midway between t + shift (or the next score
 * of `table` below it, if higher) and the lowest score at or above it, so no sample sits on a threshold, as in
 * optimizeForLambda. An exit that then answers no sample of `table` is dropped: none scores that high any more, or
 * the only ones that do leave at an earlier exit. It would cost its head and answer nothing, and dropping it changes
 * no other exit's answers (the rows it would have seen go on to the next exit either way).
 */
export function shiftPolicy(table: CalibrationTable, policy: Policy, shift: number): Policy {
  if (shift === 0) return policy;
  const sorted = scoreOrders(table);
  const thresholds = policy.thresholds.map((t, e) => {
    if (t === NEVER) return NEVER;
    const score = table.exits[e]!.score;
    const order = sorted[e]!;
    const want = t + shift;
    // Descending scores: the count of samples scoring at least `want`.
    let lo = 0;
    let hi = order.length;
    while (lo < hi) {
      const mid = (lo + hi) >> 1;
      if (score[order[mid]!]! >= want) lo = mid + 1;
      else hi = mid;
    }
    if (lo === 0) return NEVER;
    const last = score[order[lo - 1]!]!;
    const below = lo < order.length ? score[order[lo]!]! : Number.NEGATIVE_INFINITY;
    // Midway between `want` (or a score above it) and the lowest score reaching it: never under t + shift, where
    // a sparse table's midway point between the scores around `want` could fall below t itself.
    return cutBetween(last, Math.max(below, want));
  });
  const { exitRates } = simulate(table, { thresholds });
  return { thresholds: thresholds.map((t, e) => (exitRates[e] === 0 ? NEVER : t)) };
}

/**
 * A threshold t that admits the samples scoring `above` and not those scoring `below` (below < t ≤ above): midway
 * between them, or `above` itself when nothing scores lower (below −∞). A cut under a score of +Infinity (a row
 * certain beyond float64) is finite, just over `below`: +Infinity is NEVER, "exit not kept", and a cut near the
 * finite scores keeps the in-graph float32 comparison of such rows (a score of hundreds) on the same side.
 */
export function cutBetween(above: number, below: number): number {
  if (!(below < above)) return above;
  if (above === Number.POSITIVE_INFINITY) {
    const from = Number.isFinite(below) ? below : 0;
    return from + Math.max(1, Math.abs(from) * 1e-6);
  }
  return Number.isFinite(below) ? (above + below) / 2 : above;
}
