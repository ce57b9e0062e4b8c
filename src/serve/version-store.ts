/**
 * Bundle versions persisted by the server under `STATE/versions/v000001/`, one complete
 * bundle each (saved atomically, so a version directory is whole or absent).
 * Invariants: version numbers only grow; `latestValid` returns the newest version that
 * loads and validates, skipping (and reporting) corrupted newer ones.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { loadBundle, saveBundle, type LoadedBundle } from '../bundle/index.ts';
import { asLayercacheError, LayercacheError } from '../errors/index.ts';
import { otherProcessAlive, parseTempSibling } from '../files/index.ts';
import { lockStateDir, type LockTiming } from './state-lock.ts';
import { revisedBundle } from './bundle-revision.ts';

const NAME = /^v(\d{6,})$/;

/** Age after which a lock's temporary sibling is a leftover whatever its pid says. */
const LOCK_LEFTOVER_MS = 60 * 60 * 1000;

export class VersionStore {
  readonly versionsDir: string;

  constructor(readonly stateDir: string) {
    this.versionsDir = path.join(stateDir, 'versions');
  }

  dirOf(version: number): string {
    return path.join(this.versionsDir, `v${String(version).padStart(6, '0')}`);
  }

  private async names(): Promise<string[]> {
    try {
      return await fs.readdir(this.versionsDir);
    } catch (err) {
      // No versions yet; any other failure (permissions, I/O) must not pass for an empty state.
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return [];
      throw new LayercacheError('FILE_UNREADABLE', `cannot read the state directory's versions in ${this.versionsDir}: ${(err as Error).message}; fix its permissions or pass another --state`, { cause: err });
    }
  }

  /** Takes the state directory for this process (state-lock.ts); returns the release function. */
  lock(say?: (text: string, level: 'warn' | 'error') => void, timing?: LockTiming): Promise<() => Promise<void>> {
    return lockStateDir(this.stateDir, timing, say);
  }

  /** Version numbers present on disk, newest first. */
  async list(): Promise<number[]> {
    return (await this.names()).flatMap((n) => {
      const m = NAME.exec(n);
      return m ? [Number(m[1])] : [];
    }).sort((a, b) => b - a);
  }

  /**
   * Removes what saves that never finished left behind, when their process is gone: temporary version
   * directories (`versions/vNNNNNN.tmp-PID-…`) and temporary files in the state directory itself (a buffer
   * or latency profile being written); `onRemove` hears each one.
   */
  async removeLeftovers(onRemove: (dir: string) => void): Promise<void> {
    const top = await fs.readdir(this.stateDir).catch(() => [] as string[]);
    const found = [
      ...(await this.names()).filter((n) => NAME.test(parseTempSibling(n)?.target ?? '')).map((n) => path.join(this.versionsDir, n)),
      ...top.filter((n) => parseTempSibling(n) !== null).map((n) => path.join(this.stateDir, n)),
    ];
    for (const file of found) {
      const { target, pid } = parseTempSibling(path.basename(file))!;
      if (target === 'lock') {
        // The lock's go by age alone: another machine's server may be taking the lock over (its pid means nothing
        // here), a taker holds them for milliseconds, and one a taker could not remove after linking it shares the
        // live lock's file (refreshed with it) until that lock is released.
        if (Date.now() - ((await fs.stat(file).catch(() => null))?.mtimeMs ?? 0) < LOCK_LEFTOVER_MS) continue;
      } else if (otherProcessAlive(pid)) {
        // This process holds the lock and has not started saving yet, so its own pid's leftovers are stale too.
        continue;
      }
      await fs.rm(file, { recursive: true, force: true });
      onRemove(file);
    }
  }

  /** The newest version below `below` that loads; `onSkip` hears about each corrupted newer one. */
  async latestValid(onSkip: (version: number, err: LayercacheError) => void, below = Number.POSITIVE_INFINITY): Promise<{ version: number; bundle: LoadedBundle } | null> {
    for (const v of (await this.list()).filter((x) => x < below)) {
      try {
        return { version: v, bundle: await loadBundle(this.dirOf(v)) };
      } catch (err) {
        onSkip(v, asLayercacheError(err));
      }
    }
    return null;
  }

  /** Deletes all but the newest `keep` versions, never those in `spare`; returns the versions deleted. */
  async prune(keep: number, spare: readonly number[]): Promise<number[]> {
    const old = (await this.list()).slice(keep).filter((v) => !spare.includes(v));
    for (const v of old) await this.remove(v);
    return old;
  }

  /** Deletes one version (a no-op if it is absent). */
  async remove(version: number): Promise<void> {
    await fs.rm(this.dirOf(version), { recursive: true, force: true });
  }

  async nextVersion(current: number): Promise<number> {
    return Math.max(current, ...(await this.list())) + 1;
  }

  /**
   * Saves a copy of `bundle` as `version` with new thresholds (null disables an exit) and the
   * guard's raise count per exit (revisedBundle). Returns its directory.
   */
  async saveRevision(bundle: LoadedBundle, version: number, thresholds: readonly (number | null)[], guardRaises: readonly number[]): Promise<string> {
    const dir = this.dirOf(version);
    const revised = revisedBundle(bundle, version, thresholds, guardRaises);
    // Only the manifest differs: the files are linked from the version revised, where they are on disk.
    await saveBundle(dir, revised.manifest, revised, { linkFrom: { dir: bundle.dir, manifest: bundle.manifest } });
    return dir;
  }

  /** The version whose directory `dir` is, or null when it is not one of this store's (a bundle the server started from). */
  versionOf(dir: string): number | null {
    if (path.resolve(path.dirname(dir)) !== path.resolve(this.versionsDir)) return null;
    const m = NAME.exec(path.basename(dir));
    return m ? Number(m[1]) : null;
  }
}
