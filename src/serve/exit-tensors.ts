/**
 * The cut tensor of each exit index, per bundle version, for metric labels: after a retrain an exit index names
 * another tensor, so counts by index alone would mix tensors across versions.
 * Invariants: only the latest KNOWN_VERSIONS versions are kept (answers in flight finish on the version they started
 * on, which is at most a few swaps old); an unknown version or the backbone (exit < 0) gives ''.
 */

/** Versions whose exit tensors stay known. */
const KNOWN_VERSIONS = 4;

export class ExitTensors {
  private readonly byVersion = new Map<number, readonly string[]>();

  /** `version` serves exits cut at `tensors` (in exit order). */
  remember(version: number, tensors: readonly string[]): void {
    this.byVersion.delete(version);
    this.byVersion.set(version, tensors);
    for (const v of this.byVersion.keys()) if (this.byVersion.size > KNOWN_VERSIONS) this.byVersion.delete(v);
  }

  /** The cut tensor of exit `e` in `version`. */
  of(version: number, e: number): string {
    return e < 0 ? '' : this.byVersion.get(version)?.[e] ?? '';
  }
}
