/**
 * Thresholds for one trade-off: coordinate descent on cost + λ·disagreements (optimizeForLambda) or on cost
 * under a disagreement budget (optimizeForBudget), each exit's threshold solved exactly given the others by
 * walking its samples most confident first; and a policy's thresholds raised by a number of score units
 * (shiftPolicy). Invariant: every threshold these return lies midway between two samples' scores (or at the
 * lowest one), so no sample sits on a threshold and float32 and float64 comparisons at run time agree.
 */
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
 * Sets reached[i] = 1 for the samples [n] that no kept exit before e answers, 0 for the others;
 * returns how many of the answered ones disagree with the backbone.
 */
function markReached(table: CalibrationTable, thresholds: readonly number[], e: number, reached: Uint8Array): number {
  reached.fill(1);
  let wrong = 0;
  for (let f = 0; f < e; f++) {
    const t = thresholds[f]!;
    if (t === NEVER) continue;
    const { score, correct } = table.exits[f]!;
    for (let i = 0; i < table.n; i++) {
      if (reached[i] && score[i]! >= t) {
        reached[i] = 0;
        if (!correct[i]) wrong++;
      }
    }
  }
  return wrong;
}

/**
 * What becomes of a sample [n] that goes on past exit e under the later kept thresholds: `cost` gets what it then
 * costs (the heads it passes, plus the exit that answers it or the full backbone), `wrong` 1 where that answer
 * disagrees with the backbone.
 */
function continuation(table: CalibrationTable, thresholds: readonly number[], e: number, cost: Float64Array, wrong: Uint8Array): void {
  cost.fill(table.fullCost);
  wrong.fill(0);
  for (let f = table.exits.length - 1; f > e; f--) {
    const t = thresholds[f]!;
    if (t === NEVER) continue;
    const c = table.exits[f]!;
    for (let i = 0; i < table.n; i++) {
      if (c.score[i]! >= t) {
        cost[i] = c.headCost + c.cost;
        wrong[i] = c.correct[i] ? 0 : 1;
      } else cost[i] = c.headCost + cost[i]!;
    }
  }
}

/** Coordinate descent on cost + λ·errors from `start`; returns a local optimum. */
export function optimizeForLambda(table: CalibrationTable, lambda: number, start?: Policy): Policy {
  const { n, exits } = table;
  const E = exits.length;
  const thresholds = start ? [...start.thresholds] : new Array<number>(E).fill(NEVER);
  const reached = new Uint8Array(n);
  const next = new Float64Array(n);
  const nextWrong = new Uint8Array(n);
  const order = new Int32Array(n);
  const sorted = scoreOrders(table);
  for (let sweep = 0; sweep < 6; sweep++) {
    let changed = false;
    for (let e = 0; e < E; e++) {
      // An exit with an infinite head cost is excluded from the choice.
      if (!Number.isFinite(exits[e]!.headCost)) {
        if (thresholds[e] !== NEVER) changed = true;
        thresholds[e] = NEVER;
        continue;
      }
      markReached(table, thresholds, e, reached);
      // Value of continuing past e, under the current later thresholds.
      continuation(table, thresholds, e, next, nextWrong);
      for (let i = 0; i < n; i++) if (nextWrong[i]) next[i]! += lambda;
      const col = exits[e]!;
      // The samples that reach e, most confident first (the exit's full order, filtered).
      const byScore = sorted[e]!;
      let m = 0;
      for (let k = 0; k < n; k++) if (reached[byScore[k]!]) order[m++] = byScore[k]!;
      const idx = order;
      // Objective relative to "not kept": m·headCost + Σ_{exiting} (exitValue − next).
      let best = 0;
      let bestT = NEVER;
      let running = m * col.headCost;
      for (let j = 0; j < m; j++) {
        const i = idx[j]!;
        running += col.cost + (col.correct[i] ? 0 : lambda) - next[i]!;
        const nextScore = j === m - 1 ? Number.NEGATIVE_INFINITY : col.score[idx[j + 1]!]!;
        if (nextScore < col.score[i]! && running < best - 1e-12) {
          best = running;
          // Midway to the next score: no sample sits on the threshold, so float32 and
          // float64 comparisons at run time agree on every calibration sample.
          bestT = Number.isFinite(nextScore) ? (col.score[i]! + nextScore) / 2 : col.score[i]!;
        }
      }
      if (bestT !== thresholds[e]) {
        thresholds[e] = bestT;
        changed = true;
      }
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
  const reached = new Uint8Array(n);
  const nextCost = new Float64Array(n);
  const nextWrong = new Uint8Array(n);
  const order = new Int32Array(n);
  const sorted = scoreOrders(table);
  for (let sweep = 0; sweep < 50; sweep++) {
    let changed = false;
    for (let e = 0; e < E; e++) {
      const col = exits[e]!;
      if (!Number.isFinite(col.headCost)) continue;
      // Samples answered before e, and their disagreements (fixed while e moves).
      const earlyWrong = markReached(table, thresholds, e, reached);
      // Cost and disagreement of going on past e, under the later thresholds.
      continuation(table, thresholds, e, nextCost, nextWrong);
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
        // The current threshold admits exactly the samples scoring at least it.
        if (thresholds[e]! <= col.score[i]! && thresholds[e]! > nextScore) currentDelta = delta;
        if (delta < bestDelta - 1e-12) {
          bestDelta = delta;
          bestT = Number.isFinite(nextScore) ? (col.score[i]! + nextScore) / 2 : col.score[i]!;
        }
      }
      if (bestDelta < currentDelta - 1e-12) {
        thresholds[e] = bestT;
        changed = true;
      }
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
    return Number.isFinite(below) ? (last + Math.max(below, want)) / 2 : last;
  });
  const { exitRates } = simulate(table, { thresholds });
  return { thresholds: thresholds.map((t, e) => (exitRates[e] === 0 ? NEVER : t)) };
}
