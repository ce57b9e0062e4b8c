/**
 * The accuracy guard's statistics: per exit, a sliding window of verified early answers
 * (did the full backbone agree?), and how often each exit answers. From them, the live
 * agreement of the whole cascade:
 *   agreement = 1 − Σ_e share_e · (1 − agreement_e)
 * where share_e is the fraction of requests exit e answers (rows that run the full
 * backbone agree by definition). The lower bound uses each exit's Clopper–Pearson lower
 * bound at confidence 1 − delta (a conservative union, not a joint bound), the upper bound
 * each exit's upper bound.
 * Invariant: the guard acts only on significant evidence, when even the upper bound is below
 * 1 − tolerance. Acting on the point estimate of a few dozen verified answers let noise raise
 * thresholds one way only (a ResNet-56 exit was raised after 1 disagreement in 56).
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

  constructor(exits: number, private readonly window: number, private readonly delta: number) {
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
        lower: n === 0 ? 0 : clopperPearsonLower(agreed, n, this.delta),
        upper: n === 0 ? 1 : 1 - clopperPearsonLower(n - agreed, n, this.delta),
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
   * The exit to act on when live agreement is significantly below 1 − tolerance (its upper
   * bound is): among exits with at least minSamples verified answers, the one that surely
   * loses most agreement (share × (1 − upper bound)); null if none.
   */
  offender(tolerance: number, minSamples: number): number | null {
    const stats = this.stats();
    const surelyLost = (s: ExitStats): number => s.share * (1 - s.upper);
    if (1 - stats.reduce((a, s) => a + surelyLost(s), 0) >= 1 - tolerance) return null;
    let worst: ExitStats | null = null;
    for (const s of stats) {
      if (s.n < minSamples || surelyLost(s) === 0) continue;
      if (!worst || surelyLost(s) > surelyLost(worst)) worst = s;
    }
    return worst ? worst.exit : null;
  }
}
