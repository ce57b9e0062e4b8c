/**
 * The bundle version a server answers with, and how it changes (the online learner's retrains and guard actions).
 * Invariants: numbering, saves and swaps run one at a time (`serial`); a new number is above the serving one, every
 * one on disk and every one handed out, so the serving number only grows; a saved version the engine workers cannot
 * take is deleted (a restart must not resume a version that never served); pruning never deletes the serving
 * version, the one whose files it loads from, or the one a running retrain is writing.
 */
import { loadBundle, type LoadedBundle } from '../bundle/index.ts';
import type { EngineSource } from './messages.ts';
import type { OnlineDeps } from './online-deps.ts';
import { ExitTensors } from './exit-tensors.ts';

/** A version the state directory could not save, served from memory: its manifest, and how the engine workers load it. */
export interface InMemoryVersion {
  readonly bundle: LoadedBundle;
  readonly source: EngineSource;
}

export class ServingVersion {
  private current: { version: number; bundle: LoadedBundle | null };
  /** Version numbering, saves and swaps, one at a time. */
  private swaps: Promise<unknown> = Promise.resolve();
  /** Highest version number handed out, or on disk when the server started. */
  private reserved = 0;
  /** Seeds `reserved` with the versions on disk at start (one the start skipped, corrupted, may be above the serving one). */
  private readonly seeded: Promise<void>;
  /** The version number a running retrain writes, until it has been swapped in or given up. */
  building: number | null = null;
  private readonly tensors = new ExitTensors();

  constructor(private readonly deps: Pick<OnlineDeps, 'store' | 'pool' | 'metrics' | 'model' | 'log' | 'config'>, start: { version: number; bundle: LoadedBundle | null }) {
    this.current = { ...start };
    this.rememberTensors(start.version, start.bundle);
    // Unlistable now too: allocate() lists again, and allocateUnsaved() stays above the serving version at least.
    this.seeded = Promise.resolve().then(() => deps.store.nextVersion(start.version)).then((free) => {
      this.reserved = Math.max(this.reserved, free - 1);
    }, () => undefined);
  }

  get version(): number {
    return this.current.version;
  }

  /** The serving bundle; null while the bare backbone serves. */
  get bundle(): LoadedBundle | null {
    return this.current.bundle;
  }

  /**
   * The cut tensor of exit `e` in `version`, for metric labels: an exit index names another tensor after a retrain.
   * '' for the backbone (e < 0) or a version no longer known (answers in flight across several swaps).
   */
  exitTensor(version: number, e: number): string {
    return this.tensors.of(version, e);
  }

  private rememberTensors(version: number, bundle: LoadedBundle | null): void {
    this.tensors.remember(version, bundle?.manifest.exits.map((x) => x.tensor) ?? []);
  }

  /** Runs task after every earlier numbering, save and swap has finished. */
  serial<T>(task: () => Promise<T>): Promise<T> {
    const next = this.swaps.then(task);
    this.swaps = next.catch(() => undefined);
    return next;
  }

  /** A new version number: above the serving one, every one on disk and every one handed out. */
  async allocate(): Promise<number> {
    const free = await this.deps.store.nextVersion(this.current.version);
    this.reserved = Math.max(this.reserved + 1, free);
    return this.reserved;
  }

  /**
   * A number for a version served from memory only, when the state directory cannot list its versions: above the
   * serving one, every one handed out and every one on disk at start. Never to be saved (a version written since by
   * another process may carry it).
   */
  async allocateUnsaved(): Promise<number> {
    await this.seeded;
    this.reserved = Math.max(this.reserved + 1, this.current.version + 1);
    return this.reserved;
  }

  /**
   * Serves the saved `version`, or one held in memory (a guard action the state directory could not save). If the
   * engine workers cannot take a saved one, it is deleted and this rejects. On return the new version serves.
   */
  async swapTo(version: number, inMemory?: InMemoryVersion): Promise<void> {
    const dir = this.deps.store.dirOf(version);
    let bundle: LoadedBundle;
    try {
      bundle = inMemory?.bundle ?? await loadBundle(dir);
      // Before the swap: each engine worker answers with the new version as soon as it has loaded it.
      this.rememberTensors(version, bundle);
      await this.deps.pool.swap(inMemory?.source ?? { kind: 'bundle', dir, manifestSha256: bundle.manifestSha256 }, version);
    } catch (err) {
      // Not served, so not resumed either once removed; if it cannot be removed the swap's failure still comes first.
      if (!inMemory) await this.deps.store.remove(version).catch((e: unknown) => this.deps.log.warn({ err: e, version }, `state: version ${version}, which the engine workers could not take, could not be removed: ${(e as Error).message}`));
      throw err;
    }
    this.current = { version, bundle };
    this.deps.metrics.bundleVersion.set({ model: this.deps.model }, version);
  }

  /** After a swap and its bookkeeping: deletes old versions; a failure is a warning (the swap has happened). */
  async prune(): Promise<void> {
    try {
      const { version, bundle } = this.current;
      // Nor the one whose files it loads from (itself, or the version an unsaved guard action revised).
      const loadedFrom = bundle ? this.deps.store.versionOf(bundle.dir) : null;
      const pruned = await this.deps.store.prune(this.deps.config.keepVersions, [version, ...[loadedFrom, this.building].filter((v): v is number => v !== null)]);
      if (pruned.length > 0) this.deps.log.info({ pruned }, `state: deleted versions ${pruned.join(', ')} (keeping the newest ${this.deps.config.keepVersions})`);
    } catch (err) {
      this.deps.log.warn({ err }, `state: old versions could not be deleted: ${(err as Error).message}`);
    }
  }
}
