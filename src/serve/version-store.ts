/**
 * Bundle versions persisted by the server under `STATE/versions/v000001/`, one complete
 * bundle each (saved atomically, so a version directory is whole or absent).
 * Invariants: version numbers only grow; `latestValid` returns the newest version that
 * loads and validates, skipping (and reporting) corrupted newer ones.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { loadBundle, saveBundle, type LoadedBundle } from '../bundle/index.ts';
import { asLayercacheError, type LayercacheError } from '../errors/index.ts';

const NAME = /^v(\d{6,})$/;

export class VersionStore {
  readonly versionsDir: string;

  constructor(readonly stateDir: string) {
    this.versionsDir = path.join(stateDir, 'versions');
  }

  dirOf(version: number): string {
    return path.join(this.versionsDir, `v${String(version).padStart(6, '0')}`);
  }

  /** Version numbers present on disk, newest first. */
  async list(): Promise<number[]> {
    const names = await fs.readdir(this.versionsDir).catch(() => [] as string[]);
    return names.flatMap((n) => {
      const m = NAME.exec(n);
      return m ? [Number(m[1])] : [];
    }).sort((a, b) => b - a);
  }

  /** The newest version that loads; `onSkip` hears about each corrupted newer one. */
  async latestValid(onSkip: (version: number, err: LayercacheError) => void): Promise<{ version: number; bundle: LoadedBundle } | null> {
    for (const v of await this.list()) {
      try {
        return { version: v, bundle: await loadBundle(this.dirOf(v)) };
      } catch (err) {
        onSkip(v, asLayercacheError(err));
      }
    }
    return null;
  }

  async nextVersion(current: number): Promise<number> {
    return Math.max(current, ...(await this.list())) + 1;
  }

  /**
   * Saves a copy of `bundle` as `version` with new thresholds (null disables an exit).
   * Returns its directory.
   */
  async saveRevision(bundle: LoadedBundle, version: number, thresholds: readonly (number | null)[]): Promise<string> {
    const dir = this.dirOf(version);
    const manifest = {
      ...bundle.manifest,
      version,
      createdAt: new Date().toISOString(),
      exits: bundle.manifest.exits.map((e, i) => ({ ...e, threshold: thresholds[i]! })),
    };
    await saveBundle(dir, manifest, bundle);
    return dir;
  }
}
