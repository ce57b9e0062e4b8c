/**
 * When the online learner retrains: once `retrainAfter` samples have been admitted to the buffer, then every
 * `retrainEvery` more. Each retrain in a row that adds no exit (the serving version kept, or no exit after none)
 * doubles the wait for the next, at most MAX_BACKOFF_DOUBLINGS times (8 × retrainEvery): without it a soak run
 * served from a bare model retrained back to back, 97% of the time, saving a 0-exit version every 35 s.
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
  /** The buffer's total when the latest retrain started (0: none has). */
  readonly lastRetrainAt: number;
  /** Retrains in a row that added no exit. */
  readonly fruitlessRetrains: number;
}

export class RetrainSchedule {
  /** The buffer's total when the latest retrain started (0: none has). */
  private last = 0;
  /** `last` before the running retrain started, for an abandoned one. */
  private before = 0;
  /** Retrains in a row that added no exit. */
  private fruitless = 0;

  constructor(private readonly retrainAfter: number, private readonly retrainEvery: number) {}

  /** The buffer's total when the latest retrain started. */
  get lastRetrainAt(): number {
    return this.last;
  }

  /** The schedule, to save with the buffer. */
  get state(): ScheduleState {
    return { lastRetrainAt: this.last, fruitlessRetrains: this.fruitless };
  }

  /** New samples the next retrain waits for after the latest one started. */
  get nextWait(): number {
    return this.retrainEvery * 2 ** Math.min(this.fruitless, MAX_BACKOFF_DOUBLINGS);
  }

  /** True when a retrain is due with `total` samples admitted so far. */
  isDue(total: number): boolean {
    return total >= (this.last === 0 ? this.retrainAfter : this.last + this.nextWait);
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

  /** A retrain's version served (or was kept from serving): `addedExits` false doubles the next wait, true resets it. */
  finished(addedExits: boolean): void {
    this.fruitless = addedExits ? 0 : this.fruitless + 1;
  }

  /** At start, from a saved buffer. */
  restore(state: ScheduleState): void {
    this.last = state.lastRetrainAt;
    this.fruitless = state.fruitlessRetrains;
  }
}
