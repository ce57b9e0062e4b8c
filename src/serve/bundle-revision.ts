/**
 * A guard action's revision of a bundle, in memory: new thresholds and the guard's raises per exit, over the same
 * files. Pure (no I/O), so the engine workers apply it too, to serve a revision the state directory could not save.
 * Invariant: a revision names the directory its files came from; the raises it records are read back whole or not
 * at all (guardRaisesOf).
 */
import type { LoadedBundle } from '../bundle/index.ts';

/**
 * `bundle` as `version` with new thresholds (null disables an exit) and the guard's raise count per exit, in memory:
 * the same files, so it still names the directory they came from.
 */
export function revisedBundle(bundle: LoadedBundle, version: number, thresholds: readonly (number | null)[], guardRaises: readonly number[]): LoadedBundle {
  return {
    ...bundle,
    manifest: {
      ...bundle.manifest,
      version,
      createdAt: new Date().toISOString(),
      exits: bundle.manifest.exits.map((e, i) => ({ ...e, threshold: thresholds[i]! })),
      // The guard's raises per exit so far, so a restart does not grant every exit its raises again.
      metrics: { ...bundle.manifest.metrics, guardRaises: [...guardRaises] },
    },
  };
}

/** The guard's raises per exit that `saveRevision` recorded in a version (none for a fresh or built one). */
export function guardRaisesOf(bundle: LoadedBundle | null, exits: number): number[] {
  const saved = bundle?.manifest.metrics.guardRaises;
  const ok = Array.isArray(saved) && saved.length === exits && saved.every((r) => Number.isInteger(r) && r >= 0);
  return ok ? [...(saved as number[])] : new Array<number>(exits).fill(0);
}

/**
 * Whether `bundle`'s heads were learnt from served traffic: any exit whose head is not one of the given bundle's
 * (`given`; null for a bare model, whose every head was). A guard's revision keeps the heads it revised.
 */
export function headsLearntOnline(bundle: LoadedBundle, given: LoadedBundle | null): boolean {
  const own = new Set(given?.manifest.exits.map((x) => x.head.sha256) ?? []);
  return bundle.manifest.exits.some((x) => !own.has(x.head.sha256));
}
