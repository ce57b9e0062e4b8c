/**
 * What the accuracy guard decides (agreement-guard.ts computes it): the exit to act on and the evidence that calls
 * for it, and the action on it (a threshold raised, or the exit disabled).
 * Invariant: an action changes one exit; the others' thresholds and raise counts are the version's.
 */

/** An exit's verified answers in the guard's window, and its share of recent rows. */
export interface ExitStats {
  readonly exit: number;
  /** Verified answers in the window. */
  readonly n: number;
  readonly agreed: number;
  /** agreed / n (1 when n = 0). */
  readonly agreement: number;
  readonly lower: number;
  readonly upper: number;
  /** Fraction of recent answered rows this exit answered (exponentially weighted). */
  readonly share: number;
}

/** The exit to act on, and the view of its evidence that calls for it (the answers of a recent run outlive a raise). */
export interface Offender {
  readonly exit: number;
  readonly recent: number | null;
  /** Its agreement is surely below AGREEMENT_FLOOR: disabled, not raised. */
  readonly floor: boolean;
  /** That view's verified answers, and how many agreed. */
  readonly evidence: { readonly n: number; readonly agreed: number };
}

/** The guard's settings a plan uses (serve.online's). */
export interface GuardLimits {
  readonly guardMinSamples: number;
  readonly guardFloorSamples: number;
  readonly guardRaise: number;
  readonly guardMaxRaises: number;
}

/** What the guard does to one exit: its threshold before, the version's thresholds and raise counts after. */
export interface GuardAction {
  readonly exit: number;
  readonly before: number;
  readonly disable: boolean;
  /** The exit's verified answers (its whole window). */
  readonly stats: ExitStats;
  /** The evidence that called for it: the exit's `recent` most recent verified answers, or (null) its whole window. */
  readonly recent: number | null;
  /** That evidence's verified answers, and how many agreed. */
  readonly evidence: { readonly n: number; readonly agreed: number };
  readonly thresholds: (number | null)[];
  readonly raises: number[];
}
