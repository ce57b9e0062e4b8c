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
 * the exits with at least minSamples verified answers is below 1 − tolerance, and it acts on one of
 * those exits; or when an exit with guardFloorSamples is surely below AGREEMENT_FLOOR, and it disables that
 * exit. An exit's evidence is its window and its recent runs (the last 16, 32, 64 and 128 answers, each
 * at a bound of its own, with a second delta split over them: together at most 2·delta per look),
 * which show a shift in the traffic that the window's older answers hide.
 * Acting on the point estimate of a few dozen verified answers let noise raise thresholds one way
 * only (a ResNet-56 exit was raised after 1 disagreement in 56); letting an exit with too few
 * answers trigger an action on another exit did the same. The point estimate (of the window, or
 * of the last 16 answers) only makes the guard `suspicious`, which asks for more verification.
 * An action keeps the evidence that still applies: the other exits keep their verified answers.
 * The raised exit's share shrinks by the fraction of its verified answers at or above its new
 * threshold (those it still gives), but the answers themselves are dropped (all but those of a
 * recent run that called for the action, which it still gives: see raiseExit): its threshold was
 * fitted on them, so they would flatter it (a drift re-run kept them and stayed at 98.85% for
 * 29,000 requests). Until it has `probationSamples` fresh ones it is on probation, and so are the
 * exits after it, which now get the rows it gave up; meanwhile the guard wants more evidence (see
 * `evidenceWanted`). A retrained version starts afresh.
 * Looks repeat after every verified answer, so over a long run the chance of one needless
 * action grows beyond the 2·delta of one look; actions only make answers safer.
 */
import { AgreementBounds } from './agreement-bounds.ts';
import type { ExitStats, GuardAction, GuardLimits, Offender } from './guard-action.ts';
import { Probation } from './guard-probation.ts';

/** Rows after which an old answer weighs half in the exits' shares. */
export const SHARE_HALF_LIFE_ROWS = 2000;

/** Verified answers an exit needs before its point estimate may make the guard suspicious. */
const SUSPICION_MIN_SAMPLES = 10;

/**
 * The most recent verified answers of an exit whose point estimate may make the guard suspicious too, once at least
 * SUSPICION_RECENT_WRONG of them disagree (one stray wrong answer of 16 at an exit answering a fifth of the rows
 * would otherwise make it suspicious, and verify at the boosted share, for a sixth of the time in steady traffic).
 */
const SUSPICION_RECENT = 16;
const SUSPICION_RECENT_WRONG = 3;

/**
 * Runs of an exit's most recent verified answers that are tested besides its whole window: after a shift in the
 * traffic, its window of hundreds still holds the answers from before (a label-shift audit: 38 and 91 old agreeing
 * answers kept two exits' estimates above 99% while every new early answer was wrong, for 10,000 requests). Each run
 * is tested at its own Clopper–Pearson bound. All of them may show an exit below AGREEMENT_FLOOR (13 wrong of the last
 * 16 do with one exit, 15 with four exits and a guardDelta of 0.01; 8 of 8 did not, once delta was split over 3 or
 * more exits); only those of at least BUDGET_MIN_RUN answers count towards the tolerance (runs of 8 let 3 stray wrong
 * answers act on an exit at 97% agreement answering a fifth of the rows: 53 disables in 100,000 simulated looks).
 */
const RECENT_RUNS = [16, 32, 64, 128] as const;
const BUDGET_MIN_RUN = 32;

/**
 * An exit whose agreement is surely below this (its upper bound, from its window or a recent run) is disabled
 * whatever its share: it answers wrongly more often than not, which no share of the tolerance excuses (the audit's
 * exit was wrong on all of 504 answers and stayed, because at 0.9% of rows it fit in a 1% tolerance).
 */
const AGREEMENT_FLOOR = 0.5;

/** One view of an exit's evidence: its whole window (`recent` null) or its `recent` most recent verified answers. */
interface Evidence {
  readonly recent: number | null;
  readonly n: number;
  readonly agreed: number;
  /** Clopper–Pearson bounds on the exit's agreement at this view's confidence. */
  readonly lower: number;
  readonly upper: number;
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

  /** Exits whose answers are verified more often (guard-probation.ts). */
  private readonly probation: Probation;
  /** Rows answered in all (not weighted), for the probation's row limit. */
  private rowsSeen = 0;

  /** Confidence level of each exit's bounds: delta split over the exits. */
  private readonly exitDelta: number;
  /** Confidence level of each recent run's bounds: a second delta, split over the exits and the runs. */
  private readonly runDelta: number;

  private readonly bounds = new AgreementBounds();

  constructor(exits: number, private readonly window: number, delta: number, probationSamples = 0) {
    this.probation = new Probation(probationSamples);
    this.exitDelta = delta / Math.max(1, exits);
    this.runDelta = this.exitDelta / RECENT_RUNS.length;
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
    if (!this.agrees[exit]) return;
    this.push(exit, agree, score);
    this.probation.verified(exit);
  }

  /** Adds a verified answer to exit e's window (evicting the oldest when full). */
  private push(e: number, agree: boolean, score: number): void {
    const a = this.agrees[e]!;
    const at = this.cursor[e]!;
    if (this.filled[e] === this.window) this.agreedIn[e]! -= a[at]!;
    a[at] = agree ? 1 : 0;
    this.scores[e]![at] = score;
    this.agreedIn[e]! += a[at]!;
    this.cursor[e] = (at + 1) % this.window;
    this.filled[e] = Math.min(this.window, this.filled[e]! + 1);
  }

  /** Exit e's verified answers, oldest first: all in its window, or its `last` most recent. */
  private entries(e: number, last: number | null = null): { agree: number; score: number }[] {
    const n = this.filled[e]!;
    const start = n < this.window ? 0 : this.cursor[e]!;
    const skip = last === null ? 0 : Math.max(0, n - last);
    return Array.from({ length: n - skip }, (_, k) => {
      const i = (start + skip + k) % this.window;
      return { agree: this.agrees[e]![i]!, score: this.scores[e]![i]! };
    });
  }

  /** How many of exit e's `k` most recent verified answers agreed (k at most its answers). */
  private agreedInLast(e: number, k: number): number {
    let agreed = 0;
    for (let j = 1; j <= k; j++) agreed += this.agrees[e]![(this.cursor[e]! - j + this.window) % this.window]!;
    return agreed;
  }

  /** Exit e's evidence: its whole window (at the exit's confidence), and each recent run it has answers for (the runs'). */
  private evidence(e: number): Evidence[] {
    const n = this.filled[e]!;
    const view = (recent: number | null, m: number, agreed: number, delta: number): Evidence => ({ recent, n: m, agreed, ...this.bounds.of(agreed, m, delta) });
    return [view(null, n, this.agreedIn[e]!, this.exitDelta), ...RECENT_RUNS.filter((k) => k < n).map((k) => view(k, k, this.agreedInLast(e, k), this.runDelta))];
  }

  /**
   * Exit e's threshold was raised to `threshold`: its share shrinks by the fraction of its verified answers it
   * still gives (score ≥ threshold; they are a uniform sample of its answers), and its verified answers are
   * dropped (the threshold was fitted on them), but for those of the `recent` run that called for the action that it
   * still gives; it is on probation until it has fresh ones. +Infinity disables it.
   */
  raiseExit(e: number, threshold: number, recent: number | null = null): void {
    const all = this.entries(e);
    const kept = all.filter((x) => x.score >= threshold).length;
    this.answered[e]! *= threshold === Number.POSITIVE_INFINITY ? 0 : all.length === 0 ? 1 : kept / all.length;
    // A recent run's answers the exit still gives stay: the window's older answers can make a raise that keeps every
    // new wrong answer look enough, and the run then shows it at once, not after guardMinSamples fresh answers.
    const stay = recent === null || threshold === Number.POSITIVE_INFINITY ? [] : this.entries(e, recent).filter((x) => x.score >= threshold);
    this.resetExit(e);
    for (const x of stay) this.push(e, x.agree === 1, x.score);
    if (threshold === Number.POSITIVE_INFINITY) this.probation.end(e);
    else this.probation.start([e], this.rowsSeen);
    // The rows e gave up go on to the later exits: their windows describe the traffic before.
    this.probation.start(this.exitsFrom(e + 1), this.rowsSeen);
  }

  /**
   * Every exit goes on probation: a retrained version's heads, which no live answer has checked yet (they learned
   * from the traffic buffered, which clients choose: a flood of noise labelled by the backbone taught one set of
   * heads to answer one class for everything). Until each has `probationSamples` verified answers, more are verified.
   */
  startProbation(): void {
    this.probation.start(this.exitsFrom(0), this.rowsSeen);
  }

  /** Exit indices from `first` to the last. */
  private exitsFrom(first: number): number[] {
    return Array.from({ length: Math.max(0, this.agrees.length - first) }, (_, k) => first + k);
  }

  /** Forgets exit e's verified answers (after an action that failed, so that the next waits for fresh ones). */
  resetExit(e: number): void {
    this.agrees[e]!.fill(0);
    this.scores[e]!.fill(0);
    this.filled[e] = 0;
    this.cursor[e] = 0;
    this.agreedIn[e] = 0;
  }

  /** Fraction of recent answered rows exit e answered (exponentially weighted). */
  private shareOf(e: number): number {
    return this.rows === 0 ? 0 : this.answered[e]! / this.rows;
  }

  stats(): ExitStats[] {
    return this.agrees.map((_, e) => {
      const n = this.filled[e]!;
      const agreed = this.agreedIn[e]!;
      return {
        exit: e, n, agreed,
        agreement: n === 0 ? 1 : agreed / n,
        ...this.bounds.of(agreed, n, this.exitDelta),
        share: this.shareOf(e),
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
      // A recent run's upper bound caps the window's lower one: after a shift, the window's older answers hold its
      // bound up, but its live agreement is surely no more than the run's. (A short run's own lower bound is weak
      // evidence in steady traffic: 16 of 16 agreeing bound agreement only at 0.76, with one exit.)
      lossUpper += s.share * (1 - Math.min(...this.evidence(s.exit).map((v) => (v.recent === null ? v.lower : v.upper))));
    }
    return { estimate: unknown ? null : 1 - loss, lower: Math.max(0, 1 - lossUpper) };
  }

  /**
   * Per exit, whether its answers should be verified more often: the exit is on probation (raised, after a raised
   * one, or new), or the guard is suspicious and blames it.
   */
  evidenceWanted(tolerance: number): boolean[] {
    const suspects = this.suspects(tolerance);
    return this.exitsFrom(0).map((e) => this.probation.on(e, this.rowsSeen, this.shareOf(e)) || suspects[e]!);
  }

  /** Per exit, the fraction of recent answered rows it answered (exponentially weighted). */
  shares(): number[] {
    return this.exitsFrom(0).map((e) => this.shareOf(e));
  }

  /**
   * Whether the point estimate (from exits with a few verified answers) puts live agreement below
   * 1 − tolerance: not evidence enough to act, but reason to verify more answers until it is.
   */
  suspicious(tolerance: number): boolean {
    return this.suspects(tolerance).some(Boolean);
  }

  /**
   * Per exit, whether the guard is suspicious and blames it: its own point estimate of disagreement is over the
   * tolerance (one is, whenever the shares' weighted sum is). Only those exits are verified more: boosting every exit
   * made large exits in tolerance pay for a rare one's stray wrong answers (a 4-exit simulation in review: 2.6% →
   * 4.6% of rows verified, once rare exits were verified enough to be suspected twice as often).
   */
  private suspects(tolerance: number): boolean[] {
    let loss = 0;
    const disagreement = this.exitsFrom(0).map((e) => {
      const n = this.filled[e]!;
      if (n < SUSPICION_MIN_SAMPLES) return 0;
      // The window's estimate, or its last SUSPICION_RECENT answers' when SUSPICION_RECENT_WRONG of them disagree, whichever is worse.
      const last = Math.min(n, SUSPICION_RECENT);
      const wrong = last - this.agreedInLast(e, last);
      const d = Math.max(1 - this.agreedIn[e]! / n, wrong >= SUSPICION_RECENT_WRONG ? wrong / last : 0);
      loss += this.shareOf(e) * d;
      return d;
    });
    return disagreement.map((d) => loss > tolerance && d > tolerance);
  }

  /**
   * The exit to act on, with the view of its evidence that calls for it, or null. First, an exit whose agreement is
   * surely below AGREEMENT_FLOOR by any view (the lowest such bound), to be disabled, once it has guardFloorSamples
   * verified answers (or guardMinSamples if fewer): a retrained version learnt before a shift in the traffic answered
   * wrongly 98 times in 3,097 requests while its exits waited for guardMinSamples (40). Otherwise, among exits with at
   * least guardMinSamples verified answers (no other triggers an action or receives one), each surely
   * loses share × (1 − upper bound) of agreement, by the worst of its window and its recent runs of at least
   * BUDGET_MIN_RUN answers (each at a bound of its own), and the guard acts when those losses add up to more than the
   * tolerance, on the exit that surely loses most.
   */
  offender(tolerance: number, limits: Pick<GuardLimits, 'guardMinSamples' | 'guardFloorSamples'>): Offender | null {
    const { guardMinSamples: minSamples, guardFloorSamples: floorSamples } = limits;
    const as = (exit: number, v: Evidence, floor: boolean): Offender => ({ exit, recent: v.recent, floor, evidence: { n: v.n, agreed: v.agreed } });
    let floor: { exit: number; v: Evidence } | null = null;
    let total = 0;
    let worst: { exit: number; v: Evidence; lost: number } | null = null;
    for (let e = 0; e < this.agrees.length; e++) {
      const n = this.filled[e]!;
      if (n < Math.min(minSamples, floorSamples)) continue;
      const share = this.shareOf(e);
      let own: { exit: number; v: Evidence; lost: number } | null = null;
      for (const v of this.evidence(e)) {
        if (v.upper < AGREEMENT_FLOOR && (!floor || v.upper < floor.v.upper)) floor = { exit: e, v };
        if (n < minSamples) continue;
        const lost = share * (1 - v.upper);
        if ((v.recent === null || v.recent >= BUDGET_MIN_RUN) && lost > 0 && (!own || lost > own.lost)) own = { exit: e, v, lost };
      }
      if (!own) continue;
      total += own.lost;
      if (!worst || own.lost > worst.lost) worst = own;
    }
    if (floor) return as(floor.exit, floor.v, true);
    return total > tolerance && worst ? as(worst.exit, worst.v, false) : null;
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
      const disagreeUpper = 1 - this.bounds.lower(kept - wrongFrom[lo]!, kept, this.exitDelta);
      return share * (kept / n) * disagreeUpper;
    };
    if (lossAt(least) <= budget) return least;
    for (const x of all) if (x.score > least && lossAt(x.score) <= budget) return x.score;
    return Number.POSITIVE_INFINITY;
  }

  /**
   * The action live agreement calls for on a version with these thresholds (null: disabled) and guard raises per
   * exit, or null. An exit surely below AGREEMENT_FLOOR is disabled. Otherwise the offending exit's threshold is
   * raised to what the verified answers in its window call for (at least guardRaise above), whichever view called
   * for the action, or it is disabled when none will do or it was raised guardMaxRaises times already.
   */
  plan(thresholds: readonly (number | null)[], raises: readonly number[], tolerance: number, limits: GuardLimits): GuardAction | null {
    const off = this.offender(tolerance, limits);
    if (off === null) return null;
    const e = off.exit;
    const before = thresholds[e];
    if (before === null || before === undefined) return null;
    // Fitted on the whole window, whichever view called for it: fits on a run's few dozen answers kept only the top
    // one or two at a large share, and least raises walked an in-tolerance exit into a disable (`npm run bench:guard`).
    const wanted = off.floor ? Number.POSITIVE_INFINITY : this.thresholdFor(e, tolerance, before + limits.guardRaise);
    const disable = raises[e]! >= limits.guardMaxRaises || wanted === Number.POSITIVE_INFINITY;
    return {
      exit: e, before, disable, stats: this.stats()[e]!, recent: off.recent, evidence: off.evidence,
      thresholds: thresholds.map((t, i) => (i === e ? (disable ? null : wanted) : t)),
      raises: raises.map((r, i) => (i === e ? r + 1 : r)),
    };
  }
}
