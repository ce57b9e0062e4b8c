/**
 * Probation: exits whose answers the accuracy guard wants checked more often than `--verify-share`, because no live
 * answer has checked them yet (a retrained version's heads, learnt from traffic clients chose) or because a raise
 * changed what they answer (the raised exit, and the exits after it, which get the rows it gave up).
 * Invariants: an exit is on probation until it has `samples` fresh verified answers, or until it answers (almost)
 * nothing once PROBATION_GRACE_ROWS rows have passed, or until PROBATION_MAX_ROWS rows have passed whatever it found
 * (an exit raised above every score it gets would otherwise keep it forever). With `samples` 0 there is no probation.
 */

/**
 * An exit on probation that answers less than this share of rows leaves it, once PROBATION_GRACE_ROWS rows have
 * passed since it began: there is little to verify.
 */
const PROBATION_MIN_SHARE = 0.002;
const PROBATION_GRACE_ROWS = 500;

/** Rows after which a probation ends whatever it found. */
const PROBATION_MAX_ROWS = 20_000;

export class Probation {
  /** Per exit on probation: the fresh verified answers it still needs, and the rows answered when it started. */
  private readonly exits = new Map<number, { needed: number; sinceRows: number }>();

  constructor(private readonly samples: number) {}

  /** These exits start (or restart) a probation at `rowsSeen` rows answered in all. */
  start(exits: Iterable<number>, rowsSeen: number): void {
    if (this.samples === 0) return;
    for (const e of exits) this.exits.set(e, { needed: this.samples, sinceRows: rowsSeen });
  }

  /** Exit e's probation is over, whatever it needed (it was disabled, say). */
  end(e: number): void {
    this.exits.delete(e);
  }

  /** A fresh verified answer of exit e. */
  verified(e: number): void {
    const p = this.exits.get(e);
    if (p && --p.needed <= 0) this.exits.delete(e);
  }

  /** Whether exit e is still on probation at `rowsSeen` rows, answering `share` of them (ends those that are over). */
  on(e: number, rowsSeen: number, share: number): boolean {
    const p = this.exits.get(e);
    if (!p) return false;
    const since = rowsSeen - p.sinceRows;
    if ((share < PROBATION_MIN_SHARE && since >= PROBATION_GRACE_ROWS) || since > PROBATION_MAX_ROWS) {
      this.exits.delete(e);
      return false;
    }
    return true;
  }
}
