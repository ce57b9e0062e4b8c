/**
 * The accuracy guard's statistics: per exit, a sliding window of verified early answers
 * (did the full backbone agree?), and how often each exit answers. From them, the live
 * agreement of the whole cascade:
 *   agreement = 1 − Σ_e share_e · (1 − agreement_e)
 * where share_e is the fraction of requests exit e answers (rows that run the full
 * backbone agree by definition). Each exit's Clopper–Pearson bounds are taken at confidence
 * 1 − delta/E for E exits (Bonferroni), so at any one look the lower bound on live agreement
 * holds for all exits jointly with confidence at least 1 − delta; the upper bound likewise.
 * Invariants: the guard acts only on significant evidence, when even the upper bound from
 * the exits with at least minSamples verified answers is below 1 − tolerance, and it acts on
 * one of those exits. Acting on the point estimate of a few dozen verified answers let noise
 * raise thresholds one way only (a ResNet-56 exit was raised after 1 disagreement in 56);
 * letting an exit with too few answers trigger an action on another exit did the same.
 * Looks repeat after every verified answer, so over a long run the chance of one needless
 * raise grows beyond delta; raises only make answers safer, and a retrained version starts afresh.
 */
import { clopperPearsonLower } from '../calibrate/index.ts';

export interface ExitStats {
  readonly exit: number;
  /** Verified answers in the window. */
  readonly n: number;
  readonly agreed: number;
  /** agreed / n (1 when n = 0). */
  readonly agreement: number;
  readonly lower: number;
  readonly upper: number;
  /** Fraction of all answered rows this exit answered since the last reset. */
  readonly share: number;
}

export class AgreementGuard {
  private windows: Uint8Array[];
  private filled: number[];
  private cursor: number[];
  private answered: number[];
  private rows = 0;

  /** Confidence level of each exit's bounds: delta split over the exits. */
  private readonly exitDelta: number;

  constructor(exits: number, private readonly window: number, delta: number) {
    this.exitDelta = delta / Math.max(1, exits);
    this.windows = Array.from({ length: exits }, () => new Uint8Array(window));
    this.filled = new Array<number>(exits).fill(0);
    this.cursor = new Array<number>(exits).fill(0);
    this.answered = new Array<number>(exits).fill(0);
  }

  /** exits: [rows] answering exit of each answered row, −1 for the full backbone. */
  recordAnswers(exits: Int32Array): void {
    this.rows += exits.length;
    for (const e of exits) if (e >= 0 && e < this.answered.length) this.answered[e]!++;
  }

  /** One verified early answer at `exit`. */
  recordVerified(exit: number, agree: boolean): void {
    const w = this.windows[exit];
    if (!w) return;
    w[this.cursor[exit]!] = agree ? 1 : 0;
    this.cursor[exit] = (this.cursor[exit]! + 1) % this.window;
    this.filled[exit] = Math.min(this.window, this.filled[exit]! + 1);
  }

  /** Forgets exit e's verified answers (after its threshold changed). */
  resetExit(e: number): void {
    this.windows[e]!.fill(0);
    this.filled[e] = 0;
    this.cursor[e] = 0;
  }

  stats(): ExitStats[] {
    return this.windows.map((w, e) => {
      const n = this.filled[e]!;
      let agreed = 0;
      for (let i = 0; i < n; i++) agreed += w[i]!;
      return {
        exit: e, n, agreed,
        agreement: n === 0 ? 1 : agreed / n,
        lower: n === 0 ? 0 : clopperPearsonLower(agreed, n, this.exitDelta),
        upper: n === 0 ? 1 : 1 - clopperPearsonLower(n - agreed, n, this.exitDelta),
        share: this.rows === 0 ? 0 : this.answered[e]! / this.rows,
      };
    });
  }

  /** Live agreement estimate and its lower bound; exits with no verified answer count as agreeing (estimate) or not at all (bound). */
  overall(): { estimate: number; lower: number } {
    let loss = 0;
    let lossUpper = 0;
    for (const s of this.stats()) {
      loss += s.share * (1 - s.agreement);
      lossUpper += s.share * (1 - s.lower);
    }
    return { estimate: 1 - loss, lower: Math.max(0, 1 - lossUpper) };
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
}
