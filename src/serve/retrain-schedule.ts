/**
 * When the online learner retrains: once `retrainAfter` samples have been admitted to the buffer, then every
 * `retrainEvery` more. Each retrain in a row that adds no exit (the serving version kept, or no exit after none)
 * doubles the wait for the next, at most MAX_BACKOFF_DOUBLINGS times (8 × retrainEvery), and that wait counts from
 * the total when it finished: without it a soak run served from a bare model retrained back to back, 97% of the
 * time, saving a 0-exit version every 35 s (counted from its start, the wait had passed during a retrain whenever
 * traffic brought more samples than it while the retrain ran, so the next started at once). A retrain that adds
 * an exit counts from its start: traffic that outpaces retrains keeps the heads learning.
 * The learner reports a failed retrain as one that added no exit, so a buffer that cannot build (too few distinct
 * samples) is retried ever more rarely, not every retrainEvery.
 * Invariants: counts are the buffer's running total of admitted samples; a schedule restored with a saved buffer
 * resumes where it left off, its backoff included; a retrain started and never finished neither doubles nor resets
 * the wait; one abandoned at shutdown is as if it never started (the next start retrains at once if it was due).
 */

/** A retrain that adds no exit doubles the wait for the next, at most this many times in a row. */
export const MAX_BACKOFF_DOUBLINGS = 3;

/** What a saved buffer keeps of the schedule. */
export interface ScheduleState {
  /** The buffer's total the next wait counts from: when the latest retrain started, or finished fruitless (0: none has run). */
  readonly lastRetrainAt: number;
  /** Retrains in a row that added no exit. */
  readonly fruitlessRetrains: number;
}

export class RetrainSchedule {
  /** The buffer's total the next wait counts from (see ScheduleState.lastRetrainAt). */
  private last = 0;
  /** `last` before the running retrain started, for an abandoned one. */
  private before = 0;
  /** Retrains in a row that added no exit. */
  private fruitless = 0;

  constructor(private readonly retrainAfter: number, private readonly retrainEvery: number) {}

  /** The buffer's total the next wait counts from. */
  get lastRetrainAt(): number {
    return this.last;
  }

  /** The schedule, to save with the buffer. */
  get state(): ScheduleState {
    return { lastRetrainAt: this.last, fruitlessRetrains: this.fruitless };
  }

  /** New samples the next retrain waits for, counted from lastRetrainAt. */
  get nextWait(): number {
    return this.retrainEvery * 2 ** Math.min(this.fruitless, MAX_BACKOFF_DOUBLINGS);
  }

  /** The buffer's total at which the next retrain is due. */
  get dueAt(): number {
    return this.last === 0 ? this.retrainAfter : this.last + this.nextWait;
  }

  /** True when a retrain is due with `total` samples admitted so far. */
  isDue(total: number): boolean {
    return total >= this.dueAt;
  }

  /** A retrain starts with `total` samples admitted. */
  started(total: number): void {
    this.before = this.last;
    this.last = total;
  }

  /** The running retrain was abandoned (the server shuts down): it counts as never started. */
  abandoned(): void {
    this.last = this.before;
  }

  /**
   * A retrain's version served (or was kept from serving), `total` samples admitted by then: `addedExits` false
   * doubles the next wait and counts it from now, true resets it.
   */
  finished(addedExits: boolean, total: number): void {
    this.fruitless = addedExits ? 0 : this.fruitless + 1;
    if (!addedExits) this.last = Math.max(this.last, total);
  }

  /**
   * The serving version changed under the guard (a threshold raised, an exit disabled): the retrains that added
   * nothing to it say nothing about the next, which waits retrainEvery again, not their backoff.
   */
  resetBackoff(): void {
    this.fruitless = 0;
  }

  /** At start, from a saved buffer. */
  restore(state: ScheduleState): void {
    this.last = state.lastRetrainAt;
    this.fruitless = state.fruitlessRetrains;
  }
}
