/**
 * Exit and threshold selection: lowest expected cost subject to agreement with the
 * backbone ≥ 1 − tolerance on held-out samples.
 *
 * For a multiplier λ, coordinate descent minimises Σ cost + λ · Σ disagreements: each
 * exit's threshold (or dropping the exit) is optimised exactly given the others, by
 * sorting the samples that reach it by score. λ is then searched so that the policy is
 * feasible — empirically (disagreement ≤ tolerance − margin) or statistically (the
 * one-sided Clopper–Pearson upper bound on disagreement at confidence 1 − δ is ≤
 * tolerance). With cross-validation (the default) both the λ and the policy deployed at
 * it must pass: the λ by its cross-validated outcome, the deployed policy by its in-sample
 * outcome plus the optimism that cross-validation measured at that λ (errors on the other
 * half minus errors on the half that chose the thresholds). Without the second check a λ
 * whose half-sample policies happen to be cautious could pass while the policy fitted on
 * all samples is not (seen on ResNet-56: 99.62% estimated, 98.96% held out).
 * The λ family ends, as λ → ∞, at thresholds just above the most confident disagreement
 * of the samples that fit them, an extreme value that new samples often exceed: with sharp
 * heads on 2,000 samples no λ passed and no exit was kept (the demo at learning rate 0.004,
 * one seed in two), although the same thresholds raised pass and save most of the cost.
 * So the most cautious λ's policy is also tried with every threshold raised by a few score
 * units (THRESHOLD_SHIFTS). Only that one: raising every λ's thresholds gave bolder
 * selections whose cross-validated estimate was optimistic (more candidates, more luck
 * chosen; on synthetic tables 1 in 40 held out above the tolerance, none before).
 * Invariant: the returned policy is the cheapest feasible one found, and
 * the all-backbone policy (feasible by construction) is the fallback.
 */
import { LayercacheError } from '../errors/index.ts';
import { seededRng, shuffleInPlace } from '../tensor/index.ts';
import { clopperPearsonUpper } from './bounds.ts';
import { NEVER, simulate, type CalibrationTable, type Policy, type PolicyOutcome } from './policy.ts';

export interface SelectOptions {
  /** Allowed disagreement with the backbone, in (0, 1). */
  readonly tolerance: number;
  /** Extra safety subtracted from the tolerance on the calibration samples (empirical mode). */
  readonly margin?: number;
  /** When set: statistical mode, disagreement ≤ tolerance with confidence 1 − delta. */
  readonly delta?: number;
  /** Judge each λ by 2-fold cross-validation of its thresholds (default true). */
  readonly crossValidate?: boolean;
  /**
   * Number of splits the cross-validation averages (default 1: the samples dealt out in order).
   * Further splits deal out a seeded shuffle; averaging them steadies the judged outcome.
   */
  readonly cvSplits?: number;
  /** Folds of each split (default 2: thresholds fitted on one half, judged on the other). */
  readonly cvFolds?: number;
  /**
   * A second objective: among the feasible policies whose judged cost is within `within`
   * (in the table's cost units) of the cheapest, the one cheapest on `table` (same samples
   * and exits, other costs) is chosen. For measured latency, whose differences within the
   * timing noise mean nothing, with MACs as the second objective.
   */
  readonly secondary?: { readonly table: CalibrationTable; readonly within: number };
}

export interface Selection {
  readonly policy: Policy;
  /** Outcome on all the samples (in-sample for the thresholds). */
  readonly outcome: PolicyOutcome;
  /** Cross-validated outcome of the chosen λ, when cross-validation was used. */
  readonly crossValidated?: PolicyOutcome;
  /**
   * The deployed policy's expected outcome on new samples, when cross-validation was used:
   * its in-sample outcome with the optimism measured by cross-validation at its λ added.
   */
  readonly estimated?: PolicyOutcome;
  readonly lambda: number;
  /** Score units by which the λ-optimal thresholds were raised: 0, or one of THRESHOLD_SHIFTS. */
  readonly shift: number;
}

export interface ParetoPoint {
  readonly meanCost: number;
  readonly agreement: number;
  readonly policy: Policy;
}

export function validateTolerance(tolerance: number): void {
  if (!(tolerance > 0 && tolerance < 1)) {
    throw new LayercacheError('CONFIG_INVALID', `tolerance ${tolerance} is outside (0, 1); pass e.g. --tolerance 0.01 for 1% disagreement`);
  }
}

/** True when the outcome meets the agreement requirement. */
export function isFeasible(outcome: PolicyOutcome, n: number, opts: SelectOptions): boolean {
  // Without early exits the answers are the backbone's: no disagreement, whatever n is.
  if (outcome.fullRate === 1) return true;
  if (opts.delta !== undefined) return clopperPearsonUpper(outcome.errors, n, opts.delta) <= opts.tolerance;
  return outcome.errors / n <= opts.tolerance - (opts.margin ?? 0) + 1e-12;
}

const orderCache = new WeakMap<CalibrationTable, Int32Array[]>();

/** Per exit, the sample indices by descending score (ties by index), computed once per table. */
function scoreOrders(table: CalibrationTable): Int32Array[] {
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

/** Coordinate descent on cost + λ·errors from `start`; returns a local optimum. */
export function optimizeForLambda(table: CalibrationTable, lambda: number, start?: Policy): Policy {
  const { n, exits } = table;
  const E = exits.length;
  const thresholds = start ? [...start.thresholds] : new Array<number>(E).fill(NEVER);
  const reached = new Uint8Array(n);
  const next = new Float64Array(n);
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
      next.fill(table.fullCost);
      for (let f = E - 1; f > e; f--) {
        const t = thresholds[f]!;
        if (t === NEVER) continue;
        const col = exits[f]!;
        for (let i = 0; i < n; i++) {
          next[i] = col.headCost + (col.score[i]! >= t ? col.cost + (col.correct[i] ? 0 : lambda) : next[i]!);
        }
      }
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
      nextCost.fill(table.fullCost);
      nextWrong.fill(0);
      for (let f = E - 1; f > e; f--) {
        const t = thresholds[f]!;
        if (t === NEVER) continue;
        const c = exits[f]!;
        for (let i = 0; i < n; i++) {
          if (c.score[i]! >= t) {
            nextCost[i] = c.headCost + c.cost;
            nextWrong[i] = c.correct[i] ? 0 : 1;
          } else nextCost[i] = c.headCost + nextCost[i]!;
        }
      }
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

function rowsOf(table: CalibrationTable, rows: Int32Array): CalibrationTable {
  return {
    n: rows.length,
    fullCost: table.fullCost,
    exits: table.exits.map((c) => ({ ...c, score: Float64Array.from(rows, (i) => c.score[i]!), correct: Uint8Array.from(rows, (i) => c.correct[i]!) })),
  };
}

/**
 * Score units by which the most cautious λ's thresholds are also tried raised, trading cost for fewer confident
 * disagreements on new samples. Scores are log-odds or log-ratios (scores.ts), so
 * one unit multiplies the required odds by e.
 */
export const THRESHOLD_SHIFTS: readonly number[] = [0.5, 1, 2, 4];

/**
 * `policy` with every kept threshold raised by `shift`, snapped midway between the two scores of `table` around it
 * (so no sample sits on a threshold, as in optimizeForLambda); an exit that no sample of `table` reaches any more is
 * dropped, since it would cost its head and answer nothing.
 */
export function shiftPolicy(table: CalibrationTable, policy: Policy, shift: number): Policy {
  if (shift === 0) return policy;
  const sorted = scoreOrders(table);
  return {
    thresholds: policy.thresholds.map((t, e) => {
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
      return Number.isFinite(below) ? (last + below) / 2 : last;
    }),
  };
}

interface CrossValidated {
  readonly outcome: PolicyOutcome;
  /** Errors on the judging halves minus errors on the fitting halves. */
  readonly optimismErrors: number;
}

/** One fold of a split: thresholds fitted on `fit` (every other fold) are judged on `judge`. */
interface Fold {
  readonly fit: CalibrationTable;
  readonly judge: CalibrationTable;
}

/** The policies fitted at one λ on each fold's `fit` samples, for the cross-validation of every shift. */
interface SplitFits {
  readonly folds: readonly Fold[];
  readonly fits: readonly Policy[];
}

/**
 * Honest outcome of "optimise at λ, raise by `shift`": each fold's samples are judged by thresholds fitted on the
 * other folds, so every sample is judged once; errors and costs are summed. The optimism is the errors so judged
 * minus those of the fitted thresholds on their own samples, counted once per sample (each sample is fitted on in
 * K − 1 folds).
 */
function crossValidated({ folds, fits }: SplitFits, shift: number): CrossValidated {
  const n = folds.reduce((a, f) => a + f.judge.n, 0);
  const E = folds[0]!.judge.exits.length;
  let cost = 0;
  let errors = 0;
  let fitErrors = 0;
  let full = 0;
  const exitRates = new Array<number>(E).fill(0);
  const exitErrors = new Array<number>(E).fill(0);
  folds.forEach((f, k) => {
    const policy = shiftPolicy(f.fit, fits[k]!, shift);
    const o = simulate(f.judge, policy);
    cost += o.meanCost * f.judge.n;
    errors += o.errors;
    full += o.fullRate * f.judge.n;
    o.exitRates.forEach((r, e) => { exitRates[e]! += r * f.judge.n; });
    o.exitErrors.forEach((x, e) => { exitErrors[e]! += x; });
    fitErrors += simulate(f.fit, policy).errors;
  });
  return {
    outcome: { meanCost: cost / n, agreement: 1 - errors / n, errors, exitRates: exitRates.map((r) => r / n), exitErrors, fullRate: full / n },
    optimismErrors: errors - fitErrors / (folds.length - 1),
  };
}

/** The mean of several splits' cross-validated outcomes (errors averaged too, so they may be fractional). */
function averaged(results: readonly CrossValidated[]): CrossValidated {
  const k = results.length;
  const mean = (f: (o: PolicyOutcome) => number): number => results.reduce((acc, r) => acc + f(r.outcome), 0) / k;
  const errors = mean((o) => o.errors);
  return {
    outcome: {
      meanCost: mean((o) => o.meanCost),
      agreement: mean((o) => o.agreement),
      errors,
      exitRates: results[0]!.outcome.exitRates.map((_, e) => mean((o) => o.exitRates[e]!)),
      exitErrors: results[0]!.outcome.exitErrors.map((_, e) => mean((o) => o.exitErrors[e]!)),
      fullRate: mean((o) => o.fullRate),
    },
    optimismErrors: results.reduce((acc, r) => acc + r.optimismErrors, 0) / k,
  };
}

/**
 * Split `s` of the samples into `K` folds: sample order (split 0) or a seeded shuffle (later splits), dealt out in
 * turn, so split 0 of 2 folds is the even and the odd samples.
 */
function foldsOf(table: CalibrationTable, s: number, K: number): Fold[] {
  const n = table.n;
  const order = Int32Array.from({ length: n }, (_, i) => i);
  if (s > 0) shuffleInPlace(seededRng(1000 + s), order);
  return Array.from({ length: K }, (_, k) => ({
    fit: rowsOf(table, Int32Array.from(order.filter((_, j) => j % K !== k)).sort()),
    judge: rowsOf(table, Int32Array.from(order.filter((_, j) => j % K === k)).sort()),
  }));
}

/** An outcome with `extra` more errors (never fewer), for the deployed policy's estimate. */
function withExtraErrors(o: PolicyOutcome, extra: number, n: number): PolicyOutcome {
  const errors = o.errors + Math.max(0, extra);
  return { ...o, errors, agreement: 1 - errors / n };
}

/**
 * Cheapest feasible policy (with `secondary`, the cheapest on the second objective among
 * those within `secondary.within` of it). λ is searched on a log grid, then refined around the best.
 * With crossValidate (the default), λ is judged by 2-fold cross-validation of the
 * thresholds — thresholds fitted on half the samples, agreement counted on the other
 * half, averaged over `cvSplits` splits — which removes most of the optimism of judging thresholds on the samples that
 * chose them; the returned policy is then fitted on all samples at that λ.
 */
export function selectPolicy(table: CalibrationTable, opts: SelectOptions): Selection {
  validateTolerance(opts.tolerance);
  const none: Policy = { thresholds: table.exits.map(() => NEVER) };
  let best: Selection = { policy: none, outcome: simulate(table, none), lambda: NEVER, shift: 0 };
  let bestJudged = Number.POSITIVE_INFINITY;
  const feasible: { selection: Selection; judged: number }[] = [];
  const cv = opts.crossValidate !== false && table.n >= 20;
  const K = opts.cvFolds ?? 2;
  const splits = cv ? Array.from({ length: Math.max(1, opts.cvSplits ?? 1) }, (_, s) => foldsOf(table, s, K)) : [];
  const consider = (logLambda: number, shifts: readonly number[] = [0]): void => {
    const lambda = table.fullCost * Math.exp(logLambda);
    // Cold starts: warm starts carry over thresholds that no longer pay off.
    const fitted = optimizeForLambda(table, lambda);
    const splitFits: SplitFits[] = splits.map((folds) => ({ folds, fits: folds.map((f) => optimizeForLambda(f.fit, lambda)) }));
    for (const shift of shifts) {
      const policy = shiftPolicy(table, fitted, shift);
      const outcome = simulate(table, policy);
      const cv = splitFits.length > 0 ? averaged(splitFits.map((f) => crossValidated(f, shift))) : null;
      const judged = cv ? cv.outcome : outcome;
      const estimated = cv ? withExtraErrors(outcome, cv.optimismErrors, table.n) : outcome;
      if (!isFeasible(judged, table.n, opts) || !isFeasible(estimated, table.n, opts)) continue;
      const selection: Selection = { policy, outcome, lambda, shift, ...(cv ? { crossValidated: judged, estimated } : {}) };
      feasible.push({ selection, judged: judged.meanCost });
      if (judged.meanCost < bestJudged) {
        best = selection;
        bestJudged = judged.meanCost;
      }
    }
  };
  const lo = Math.log(1e-3);
  const hi = Math.log(1e5);
  const steps = 48;
  for (let k = 0; k <= steps; k++) consider(lo + ((hi - lo) * k) / steps);
  // Beyond the grid's most cautious policy, the same thresholds raised.
  consider(hi, THRESHOLD_SHIFTS);
  if (best.lambda !== NEVER) {
    const center = Math.log(best.lambda / table.fullCost);
    const width = (hi - lo) / steps;
    for (let k = -8; k <= 8; k++) consider(center + (width * k) / 8);
  }
  const second = opts.secondary;
  if (!second || best.lambda === NEVER) return best;
  // Ties on the first objective (within its noise) go to the cheapest on the second.
  let chosen = best;
  let chosenCost = simulate(second.table, best.policy).meanCost;
  for (const f of feasible) {
    if (f.judged > bestJudged + second.within) continue;
    const cost = simulate(second.table, f.selection.policy).meanCost;
    if (cost < chosenCost - 1e-12) {
      chosen = f.selection;
      chosenCost = cost;
    }
  }
  return chosen;
}

/** Cost/agreement trade-off over a range of λ, keeping non-dominated points. */
export function paretoFront(table: CalibrationTable, points = 40): ParetoPoint[] {
  const all: ParetoPoint[] = [];
  const scale = table.fullCost;
  for (let k = 0; k < points; k++) {
    const lambda = scale * Math.exp(Math.log(1e-3) + ((Math.log(1e5) - Math.log(1e-3)) * k) / (points - 1));
    const policy = optimizeForLambda(table, lambda);
    const o = simulate(table, policy);
    all.push({ meanCost: o.meanCost, agreement: o.agreement, policy });
  }
  all.sort((a, b) => a.meanCost - b.meanCost || b.agreement - a.agreement);
  const front: ParetoPoint[] = [];
  for (const p of all) if (front.length === 0 || p.agreement > front[front.length - 1]!.agreement) front.push(p);
  return front;
}
