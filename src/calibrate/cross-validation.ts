/**
 * Cross-validation of a selection step: the samples are split into folds, thresholds fitted at one λ on all
 * folds but one are judged on that one, so every sample is judged once by thresholds that never saw it.
 * Invariant: split 0 of 2 folds is the even and the odd samples; later splits deal out a seeded shuffle.
 */
import { seededRng, shuffleInPlace } from '../tensor/index.ts';
import { simulate, type CalibrationTable, type Policy, type PolicyOutcome } from './policy.ts';
import { deriveScoreOrders, shiftPolicy } from './threshold-search.ts';

/** The rows `rows` (ascending) of `table`, in that order; its score orders come from `table`'s. */
function rowsOf(table: CalibrationTable, rows: Int32Array): CalibrationTable {
  const sub = {
    n: rows.length,
    fullCost: table.fullCost,
    exits: table.exits.map((c) => ({ ...c, score: Float64Array.from(rows, (i) => c.score[i]!), correct: Uint8Array.from(rows, (i) => c.correct[i]!) })),
  };
  deriveScoreOrders(table, rows, sub);
  return sub;
}

export interface CrossValidated {
  readonly outcome: PolicyOutcome;
  /** Errors on the judged folds minus errors of the same thresholds on the samples that fitted them. */
  readonly optimismErrors: number;
}

/** One fold of a split: thresholds fitted on `fit` (every other fold) are judged on `judge`. */
export interface Fold {
  readonly fit: CalibrationTable;
  readonly judge: CalibrationTable;
}

/** The policies fitted at one λ on each fold's `fit` samples, for the cross-validation of every shift. */
export interface SplitFits {
  readonly folds: readonly Fold[];
  readonly fits: readonly Policy[];
}

/**
 * Honest outcome of "optimise at λ, raise by `shift`": each fold's samples are judged by thresholds fitted on the
 * other folds, so every sample is judged once; errors and costs are summed. The optimism is the errors so judged
 * minus those of the fitted thresholds on their own samples, counted once per sample (each sample is fitted on in
 * K − 1 folds).
 */
export function crossValidated({ folds, fits }: SplitFits, shift: number): CrossValidated {
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
export function averaged(results: readonly CrossValidated[]): CrossValidated {
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
export function foldsOf(table: CalibrationTable, s: number, K: number): Fold[] {
  const n = table.n;
  const order = Int32Array.from({ length: n }, (_, i) => i);
  if (s > 0) shuffleInPlace(seededRng(1000 + s), order);
  return Array.from({ length: K }, (_, k) => ({
    fit: rowsOf(table, Int32Array.from(order.filter((_, j) => j % K !== k)).sort()),
    judge: rowsOf(table, Int32Array.from(order.filter((_, j) => j % K === k)).sort()),
  }));
}

/** An outcome with `extra` more errors (never fewer), for the deployed policy's estimate. */
export function withExtraErrors(o: PolicyOutcome, extra: number, n: number): PolicyOutcome {
  const errors = o.errors + Math.max(0, extra);
  return { ...o, errors, agreement: 1 - errors / n };
}
