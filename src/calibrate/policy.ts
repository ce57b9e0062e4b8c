/**
 * The calibration table and exit policies, and their exact simulation.
 *
 * A table holds, for n held-out samples and every candidate exit e (in network order):
 * the confidence score of e's head, whether its answer agrees with the backbone, the
 * cumulative backbone cost up to e, and the cost of evaluating e's head (plus the extra
 * session call it brings). A policy keeps some exits, each with a threshold; a sample
 * leaves at the first kept exit whose score reaches its threshold, else it runs the
 * whole backbone. Its cost is the backbone cost up to where it leaves plus every kept
 * head it passed through, the one that answered included.
 * Invariants: thresholds of exits that are not kept are +Infinity; simulation is exact.
 */

export interface ExitColumn {
  /** Cumulative backbone cost from the input up to this exit. */
  readonly cost: number;
  /** Cost of this exit's head when kept, including any extra session call. */
  readonly headCost: number;
  /** [n] confidence scores. */
  readonly score: Float64Array;
  /** [n] 1 when the head's class equals the backbone's. */
  readonly correct: Uint8Array;
}

export interface CalibrationTable {
  readonly n: number;
  readonly exits: readonly ExitColumn[];
  /** Cost of the full backbone. */
  readonly fullCost: number;
}

export interface Policy {
  /** Per candidate exit: threshold, or +Infinity when the exit is not kept. */
  readonly thresholds: readonly number[];
}

export interface PolicyOutcome {
  /** Mean cost per sample. */
  readonly meanCost: number;
  /** Fraction of samples whose answer equals the backbone's. */
  readonly agreement: number;
  /** Number of samples answered differently from the backbone. */
  readonly errors: number;
  /** Per candidate exit: fraction of samples answered there. */
  readonly exitRates: number[];
  /** Per candidate exit: samples answered there differently from the backbone. */
  readonly exitErrors: number[];
  /** Fraction of samples that ran the full backbone. */
  readonly fullRate: number;
}

export const NEVER = Number.POSITIVE_INFINITY;

export function keptExits(policy: Policy): number[] {
  const kept: number[] = [];
  policy.thresholds.forEach((t, e) => t !== NEVER && kept.push(e));
  return kept;
}

/** Exact outcome of a policy on a table. */
export function simulate(table: CalibrationTable, policy: Policy): PolicyOutcome {
  const { n, exits } = table;
  const counts = new Array<number>(exits.length).fill(0);
  const wrong = new Array<number>(exits.length).fill(0);
  let cost = 0;
  let errors = 0;
  let full = 0;
  for (let i = 0; i < n; i++) {
    let heads = 0;
    let answered = false;
    for (let e = 0; e < exits.length; e++) {
      const t = policy.thresholds[e]!;
      if (t === NEVER) continue;
      const col = exits[e]!;
      heads += col.headCost;
      if (col.score[i]! >= t) {
        cost += col.cost + heads;
        if (!col.correct[i]) {
          errors++;
          wrong[e]!++;
        }
        counts[e]!++;
        answered = true;
        break;
      }
    }
    if (!answered) {
      cost += table.fullCost + heads;
      full++;
    }
  }
  return {
    meanCost: cost / n,
    agreement: 1 - errors / n,
    errors,
    exitRates: counts.map((c) => c / n),
    exitErrors: wrong,
    fullRate: full / n,
  };
}


/** A cascade's costs by exit, in network order: the backbone up to each exit ([exits]), each exit's head ([exits]), the whole backbone. */
export interface CascadeCosts {
  readonly prefix: readonly number[];
  readonly head: readonly number[];
  readonly full: number;
}

/**
 * Mean cost per sample of a cascade whose exits answered `answered[e]` of `total` samples (counts, or shares of a
 * total of 1), by the cost model above with every exit kept: a sample answered at exit e costs the backbone up to e
 * and every head up to e's; any other the whole backbone and every head.
 */
export function meanCascadeCost(costs: CascadeCosts, answered: readonly number[], total: number): number {
  let cost = 0;
  let heads = 0;
  let early = 0;
  costs.prefix.forEach((prefix, e) => {
    heads += costs.head[e]!;
    const a = answered[e] ?? 0;
    cost += a * (prefix + heads);
    early += a;
  });
  return (cost + Math.max(0, total - early) * (costs.full + heads)) / total;
}
