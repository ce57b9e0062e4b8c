/**
 * Reference policies: the paper's rule (every exit kept, one global max-softmax
 * threshold) and the oracle bound (each sample leaves at the earliest exit whose head
 * agrees with the backbone, evaluating only that head).
 * Invariant: both use the same table and cost model as the selected policy, so the
 * three are directly comparable.
 */
import { scoreOfMaxProbability } from './scores.ts';
import { simulate, type CalibrationTable, type Policy, type PolicyOutcome } from './policy.ts';

/** Every exit kept with the same threshold. */
export function globalThresholdPolicy(table: CalibrationTable, threshold: number): Policy {
  return { thresholds: table.exits.map(() => threshold) };
}

/**
 * The paper's rule tuned to an agreement target: the lowest global max-softmax
 * probability whose agreement on the table is ≥ target. `table` must hold 'max'
 * (log-odds) scores; the returned threshold is a probability.
 */
export function paperRule(table: CalibrationTable, targetAgreement: number): { threshold: number; outcome: PolicyOutcome } {
  const at = (p: number): PolicyOutcome => simulate(table, globalThresholdPolicy(table, scoreOfMaxProbability(p)));
  let lo = 0;
  let hi = 1;
  for (let it = 0; it < 50; it++) {
    const mid = (lo + hi) / 2;
    if (at(mid).agreement >= targetAgreement) hi = mid;
    else lo = mid;
  }
  return { threshold: hi, outcome: at(hi) };
}

/** Mean cost if each sample left at its earliest agreeing exit, paying for that head only. */
export function oracleCost(table: CalibrationTable): { meanCost: number; exitRates: number[] } {
  const counts = table.exits.map(() => 0);
  let total = 0;
  for (let i = 0; i < table.n; i++) {
    const e = table.exits.findIndex((col) => col.correct[i] === 1);
    if (e < 0) total += table.fullCost;
    else {
      total += table.exits[e]!.cost + table.exits[e]!.headCost;
      counts[e]!++;
    }
  }
  return { meanCost: total / table.n, exitRates: counts.map((c) => c / table.n) };
}
