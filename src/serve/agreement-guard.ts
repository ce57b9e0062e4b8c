/**
 * The accuracy guard's statistics: per exit, a sliding window of verified early answers
 * (did the full backbone agree? at what score?), and how often each exit answers. From them,
 * the live agreement of the whole cascade:
 *   agreement = 1 − Σ_e share_e · (1 − agreement_e)
 * where share_e is the fraction of recent requests exit e answers (rows that run the full
 * backbone agree by definition). Shares are exponentially weighted over the rows answered
 * (half-life SHARE_HALF_LIFE_ROWS), so they follow the traffic as agreement does. Each exit's
 * Clopper–Pearson bounds are taken at confidence 1 − delta/E for E exits (Bonferroni), so at
 * any one look the lower bound on live agreement holds for all exits jointly with confidence
 * at least 1 − delta; the upper bound likewise.
 * Invariants: the guard acts only on significant evidence, when even the upper bound from
 * the exits with at least minSamples verified answers is below 1 − tolerance, and it acts on
 * one of those exits. Acting on the point estimate of a few dozen verified answers let noise
 * raise thresholds one way only (a ResNet-56 exit was raised after 1 disagreement in 56);
 * letting an exit with too few answers trigger an action on another exit did the same. The
 * point estimate only makes the guard `suspicious`, which asks for more verification.
 * An action keeps the evidence that still applies: the other exits keep their verified answers.
 * The raised exit's share shrinks by the fraction of its verified answers at or above its new
 * threshold (those it still gives), but the answers themselves are dropped: its threshold was
 * fitted on them, so they would flatter it (a drift re-run kept them and stayed at 98.85% for
 * 29,000 requests). Until it has `probationSamples` fresh ones it is on probation, and so are the
 * exits after it, which now get the rows it gave up; meanwhile the guard wants more evidence (see
 * `wantsEvidence`). A retrained version starts afresh.
 * Looks repeat after every verified answer, so over a long run the chance of one needless
 * raise grows beyond delta; raises only make answers safer.
 */
import { clopperPearsonLower } from '../calibrate/index.ts';

/** Rows after which an old answer weighs half in the exits' shares. */
export const SHARE_HALF_LIFE_ROWS = 2000;

/**
 * An exit on probation that answers less than this share of rows leaves it, once PROBATION_GRACE_ROWS rows have
 * passed since it began: there is little to verify.
 */
const PROBATION_MIN_SHARE = 0.002;
const PROBATION_GRACE_ROWS = 500;

/** Rows after which a probation ends whatever it found. */
const PROBATION_MAX_ROWS = 20_000;

/** Verified answers an exit needs before its point estimate may make the guard suspicious. */
const SUSPICION_MIN_SAMPLES = 10;

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

export class AgreementGuard {
  private readonly agrees: Uint8Array[];
  private readonly scores: Float64Array[];
  private readonly filled: number[];
  private readonly cursor: number[];
  private readonly agreedIn: number[];
  /** Exponentially weighted answer counts per exit, and of all rows. */
  private readonly answered: number[];
  private rows = 0;

  /**
   * Exits on probation after a raise (the raised one and those after it, which now get the rows it gave up): the
   * fresh verified answers each still needs, and the rows answered when it started.
   */
  private readonly probation = new Map<number, { needed: number; sinceRows: number }>();
  /** Rows answered in all (not weighted), for the probation's row limit. */
  private rowsSeen = 0;

  /** Confidence level of each exit's bounds: delta split over the exits. */
  private readonly exitDelta: number;

  constructor(exits: number, private readonly window: number, delta: number, private readonly probationSamples = 0) {
    this.exitDelta = delta / Math.max(1, exits);
    this.agrees = Array.from({ length: exits }, () => new Uint8Array(window));
    this.scores = Array.from({ length: exits }, () => new Float64Array(window));
    this.filled = new Array<number>(exits).fill(0);
    this.cursor = new Array<number>(exits).fill(0);
    this.agreedIn = new Array<number>(exits).fill(0);
    this.answered = new Array<number>(exits).fill(0);
  }

  /** exits: [rows] answering exit of each answered row, −1 for the full backbone. */
  recordAnswers(exits: Int32Array): void {
    const decay = 0.5 ** (exits.length / SHARE_HALF_LIFE_ROWS);
    this.rows = this.rows * decay + exits.length;
    this.rowsSeen += exits.length;
    for (let e = 0; e < this.answered.length; e++) this.answered[e]! *= decay;
    for (const e of exits) if (e >= 0 && e < this.answered.length) this.answered[e]!++;
  }

  /** One verified early answer at `exit`, given at `score` (the exit's score, in its threshold's units). */
  recordVerified(exit: number, agree: boolean, score: number): void {
    const a = this.agrees[exit];
    if (!a) return;
    const at = this.cursor[exit]!;
    if (this.filled[exit] === this.window) this.agreedIn[exit]! -= a[at]!;
    a[at] = agree ? 1 : 0;
    this.scores[exit]![at] = score;
    this.agreedIn[exit]! += a[at]!;
    this.cursor[exit] = (at + 1) % this.window;
    this.filled[exit] = Math.min(this.window, this.filled[exit]! + 1);
    const p = this.probation.get(exit);
    if (p && --p.needed <= 0) this.probation.delete(exit);
  }

  /** Exit e's verified answers, oldest first. */
  private entries(e: number): { agree: number; score: number }[] {
    const n = this.filled[e]!;
    const start = n < this.window ? 0 : this.cursor[e]!;
    return Array.from({ length: n }, (_, k) => {
      const i = (start + k) % this.window;
      return { agree: this.agrees[e]![i]!, score: this.scores[e]![i]! };
    });
  }

  /**
   * Exit e's threshold was raised to `threshold`: its share shrinks by the fraction of its verified answers it
   * still gives (score ≥ threshold; they are a uniform sample of its answers), and its verified answers are
   * dropped (the threshold was fitted on them); it is on probation until it has fresh ones. +Infinity disables it.
   */
  raiseExit(e: number, threshold: number): void {
    const all = this.entries(e);
    const kept = all.filter((x) => x.score >= threshold).length;
    this.answered[e]! *= threshold === Number.POSITIVE_INFINITY ? 0 : all.length === 0 ? 1 : kept / all.length;
    this.resetExit(e);
    if (this.probationSamples === 0) return;
    if (threshold !== Number.POSITIVE_INFINITY) this.probation.set(e, { needed: this.probationSamples, sinceRows: this.rowsSeen });
    // The rows e gave up go on to the later exits: their windows describe the traffic before.
    for (let f = e + 1; f < this.agrees.length; f++) this.probation.set(f, { needed: this.probationSamples, sinceRows: this.rowsSeen });
  }

  /**
   * Every exit goes on probation: a retrained version's heads, which no live answer has checked yet (they learned
   * from the traffic buffered, which clients choose: a flood of noise labelled by the backbone taught one set of
   * heads to answer one class for everything). Until each has `probationSamples` verified answers, more are verified.
   */
  startProbation(): void {
    if (this.probationSamples === 0) return;
    for (let e = 0; e < this.agrees.length; e++) this.probation.set(e, { needed: this.probationSamples, sinceRows: this.rowsSeen });
  }

  /** Forgets exit e's verified answers (after an action that failed, so that the next waits for fresh ones). */
  resetExit(e: number): void {
    this.agrees[e]!.fill(0);
    this.scores[e]!.fill(0);
    this.filled[e] = 0;
    this.cursor[e] = 0;
    this.agreedIn[e] = 0;
  }

  stats(): ExitStats[] {
    return this.agrees.map((_, e) => {
      const n = this.filled[e]!;
      const agreed = this.agreedIn[e]!;
      return {
        exit: e, n, agreed,
        agreement: n === 0 ? 1 : agreed / n,
        lower: n === 0 ? 0 : clopperPearsonLower(agreed, n, this.exitDelta),
        upper: n === 0 ? 1 : 1 - clopperPearsonLower(n - agreed, n, this.exitDelta),
        share: this.rows === 0 ? 0 : this.answered[e]! / this.rows,
      };
    });
  }

  /**
   * Live agreement estimate and its lower bound. An exit that answered rows but has no verified answer yet (none
   * sampled, or its evidence dropped by a guard action or a retrain) leaves the estimate unknown (null), not 1: nothing
   * says how often it agrees. The bound counts such an exit as never agreeing.
   */
  overall(): { estimate: number | null; lower: number } {
    let loss = 0;
    let lossUpper = 0;
    let unknown = false;
    for (const s of this.stats()) {
      if (s.n === 0 && s.share > 0) unknown = true;
      loss += s.share * (1 - s.agreement);
      lossUpper += s.share * (1 - s.lower);
    }
    return { estimate: unknown ? null : 1 - loss, lower: Math.max(0, 1 - lossUpper) };
  }

  /**
   * Whether more answers should be verified: the guard is suspicious, or an exit is on probation (raised, or new).
   */
  wantsEvidence(tolerance: number): boolean {
    // Probation ends with enough fresh answers, or when the exit answers (almost) nothing, or after
    // PROBATION_MAX_ROWS rows: an exit raised above every score it gets would otherwise keep it forever.
    for (const [e, p] of this.probation) {
      const share = this.rows === 0 ? 0 : this.answered[e]! / this.rows;
      const since = this.rowsSeen - p.sinceRows;
      if ((share < PROBATION_MIN_SHARE && since >= PROBATION_GRACE_ROWS) || since > PROBATION_MAX_ROWS) this.probation.delete(e);
    }
    return this.probation.size > 0 || this.suspicious(tolerance);
  }

  /**
   * Whether the point estimate (from exits with a few verified answers) puts live agreement below
   * 1 − tolerance: not evidence enough to act, but reason to verify more answers until it is.
   */
  suspicious(tolerance: number): boolean {
    let loss = 0;
    for (let e = 0; e < this.agrees.length; e++) {
      const n = this.filled[e]!;
      if (n >= SUSPICION_MIN_SAMPLES && this.rows > 0) loss += (this.answered[e]! / this.rows) * (1 - this.agreedIn[e]! / n);
    }
    return loss > tolerance;
  }

  /**
   * The exit to act on when live agreement is significantly below 1 − tolerance: when the
   * agreement the exits with at least minSamples verified answers surely lose (Σ share ×
   * (1 − upper bound)) exceeds the tolerance, the one of them that surely loses most; null
   * otherwise (exits with fewer answers neither trigger an action nor receive one).
   */
  offender(tolerance: number, minSamples: number): number | null {
    const eligible = this.stats().filter((s) => s.n >= minSamples);
    const surelyLost = (s: ExitStats): number => s.share * (1 - s.upper);
    if (eligible.reduce((a, s) => a + surelyLost(s), 0) <= tolerance) return null;
    let worst: ExitStats | null = null;
    for (const s of eligible) if (surelyLost(s) > 0 && (!worst || surelyLost(s) > surelyLost(worst))) worst = s;
    return worst ? worst.exit : null;
  }

  /**
   * The threshold exit e needs, from its verified answers: the lowest of their scores, at least `least`, at which
   * the answers it would keep surely lose no more than the tolerance leaves after the other exits' estimated
   * losses; +Infinity (disable) when none does. "Surely": the kept answers' disagreement is taken at its
   * Clopper–Pearson upper bound (confidence 1 − delta/E), since a threshold fitted on a few dozen answers flatters
   * them (a point-estimate fit on 76 answers aimed at 0.5 points of loss and gave 1.1 in a drift experiment).
   */
  thresholdFor(e: number, tolerance: number, least: number): number {
    const stats = this.stats();
    const others = stats.reduce((a, s) => (s.exit === e ? a : a + s.share * (1 - s.agreement)), 0);
    const budget = Math.max(0, tolerance - others);
    const all = this.entries(e).sort((a, b) => a.score - b.score);
    const n = all.length;
    if (n === 0) return least;
    const share = stats[e]!.share;
    // wrongFrom[i]: wrong answers among those scored at or above all[i].score (sorted ascending).
    const wrongFrom = new Array<number>(n + 1).fill(0);
    for (let i = n - 1; i >= 0; i--) wrongFrom[i] = wrongFrom[i + 1]! + 1 - all[i]!.agree;
    // share · (kept / n) · (upper bound on the kept answers' disagreement): the exit's loss if it answered only them.
    const lossAt = (t: number): number => {
      let lo = 0;
      let hi = n;
      while (lo < hi) {
        const mid = (lo + hi) >> 1;
        if (all[mid]!.score >= t) hi = mid;
        else lo = mid + 1;
      }
      const kept = n - lo;
      if (kept === 0) return 0;
      const disagreeUpper = 1 - clopperPearsonLower(kept - wrongFrom[lo]!, kept, this.exitDelta);
      return share * (kept / n) * disagreeUpper;
    };
    if (lossAt(least) <= budget) return least;
    for (const x of all) if (x.score > least && lossAt(x.score) <= budget) return x.score;
    return Number.POSITIVE_INFINITY;
  }

  /**
   * The action live agreement calls for on a version with these thresholds (null: disabled) and guard raises per
   * exit, or null: the offending exit's threshold raised to what its verified answers call for (at least `raise`
   * above), or disabled when none will do or it was raised `maxRaises` times already.
   */
  plan(thresholds: readonly (number | null)[], raises: readonly number[], tolerance: number, limits: GuardLimits): GuardAction | null {
    const e = this.offender(tolerance, limits.guardMinSamples);
    if (e === null) return null;
    const before = thresholds[e];
    if (before === null || before === undefined) return null;
    const wanted = this.thresholdFor(e, tolerance, before + limits.guardRaise);
    const disable = raises[e]! >= limits.guardMaxRaises || wanted === Number.POSITIVE_INFINITY;
    return {
      exit: e, before, disable, stats: this.stats()[e]!,
      thresholds: thresholds.map((t, i) => (i === e ? (disable ? null : wanted) : t)),
      raises: raises.map((r, i) => (i === e ? r + 1 : r)),
    };
  }
}

/** The guard's settings a plan uses (serve.online's). */
export interface GuardLimits {
  readonly guardMinSamples: number;
  readonly guardRaise: number;
  readonly guardMaxRaises: number;
}

/** What the guard does to one exit: its threshold before, the version's thresholds and raise counts after. */
export interface GuardAction {
  readonly exit: number;
  readonly before: number;
  readonly disable: boolean;
  /** The exit's verified answers that called for it. */
  readonly stats: ExitStats;
  readonly thresholds: (number | null)[];
  readonly raises: number[];
}

/**
 * Whether a retrain that kept no exit should leave the serving version (which has exits) in place: when the
 * guard's verified evidence (at least minSamples answers) bounds live agreement at 1 − tolerance or above, the
 * serving version is demonstrably safe on the live traffic, and a calibration on a small buffer that found no safe
 * exit is not a reason to give up its speed-up (a drift re-run lost a version at 99.8% so).
 */
export function keepsServing(retrainedExits: number, servingExits: number, live: { lower: number; verified: number }, tolerance: number, minSamples: number): boolean {
  return retrainedExits === 0 && servingExits > 0 && live.verified >= minSamples && live.lower >= 1 - tolerance;
}
