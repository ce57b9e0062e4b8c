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
import { otherProcessAlive, parseTempSibling, tempSibling } from '../files/index.ts';

const NAME = /^v(\d{6,})$/;

/** State directories locked by servers of this process (a lock file naming this pid may be stale: containers reuse pids). */
const LOCKED_HERE = new Set<string>();

/**
 * When process `pid` started: the boot's id and the start time in clock ticks since boot, from Linux's /proc; null
 * where /proc does not tell (another system, or the process is gone), and the pid alone then names the holder.
 */
export async function processStart(pid: number): Promise<string | null> {
  try {
    const stat = await fs.readFile(`/proc/${pid}/stat`, 'utf8');
    // "pid (comm) state ppid …": comm may hold spaces and parentheses; starttime is field 22, the 20th after comm.
    const start = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
    const boot = (await fs.readFile('/proc/sys/kernel/random/boot_id', 'utf8')).trim();
    return start && /^\d+$/.test(start) ? `${boot}:${start}` : null;
  } catch {
    return null; // not Linux, or no such process: the caller falls back to the pid alone
  }
}

/** Whether `pid` still runs the process that wrote a lock recording `start` (null: not recorded, the pid decides). */
async function holds(pid: number, start: string | null): Promise<boolean> {
  if (!otherProcessAlive(pid)) return false;
  if (start === null) return true;
  const now = await processStart(pid);
  // Another start time: the pid now belongs to another process (a pid reused after a restart or a reboot).
  return now === null || now === start;
}

interface LockHolder {
  readonly pid: number;
  /** processStart of the pid when it took the lock; null in a lock that does not record it. */
  readonly start: string | null;
}

/** The process a lock file names ("PID START"), or null when it names none (empty or garbage: stale). */
async function lockHolder(file: string): Promise<LockHolder | null> {
  const [pidText, start] = (await fs.readFile(file, 'utf8').catch(() => '')).trim().split(/\s+/);
  const pid = Number(pidText);
  return Number.isInteger(pid) && pid > 0 ? { pid, start: start ?? null } : null;
}

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

  /**
   * Takes the state directory for this process (STATE/lock holds its pid and, on Linux, when it started); a lock
   * left by a process that is gone, or whose pid now belongs to a process started later, is taken over. Returns
   * the release function.
   */
  async lock(): Promise<() => Promise<void>> {
    const file = path.join(this.stateDir, 'lock');
    const key = path.resolve(this.stateDir);
    // Claimed before the first await, so two servers starting at once in this process cannot both pass.
    if (LOCKED_HERE.has(key)) throw new LayercacheError('STATE_LOCKED', `state directory ${this.stateDir} is in use by another server in this process (${process.pid}); give each server its own --state`);
    LOCKED_HERE.add(key);
    try {
      await this.takeLockFile(file);
    } catch (err) {
      LOCKED_HERE.delete(key);
      throw err;
    }
    return async () => {
      LOCKED_HERE.delete(key);
      try {
        await fs.rm(file, { force: true });
      } catch (err) {
        throw new LayercacheError('FILE_WRITE_FAILED', `the state lock ${file} could not be removed (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); the next start takes it over, since its process is gone`, { cause: err });
      }
    };
  }

  /**
   * Creates `file` holding this pid, complete or not at all (written aside, then hard-linked into
   * place, which fails if it exists). A lock whose holder is gone is moved aside and checked:
   * if what was moved is a live process's fresh lock, it is put back and this fails.
   */
  private async takeLockFile(file: string): Promise<void> {
    for (let attempt = 0; attempt < 3; attempt++) {
      const mine = tempSibling(file);
      try {
        const start = await processStart(process.pid);
        await fs.writeFile(mine, `${process.pid}${start === null ? '' : ` ${start}`}\n`);
        await fs.link(mine, file);
        return;
      } catch (err) {
        if ((err as NodeJS.ErrnoException).code !== 'EEXIST') {
          throw new LayercacheError('FILE_WRITE_FAILED', `cannot create ${file} (${(err as Error).message}); check the state directory's permissions`, { cause: err });
        }
      } finally {
        await fs.rm(mine, { force: true });
      }
      const holder = await lockHolder(file);
      if (holder !== null && await holds(holder.pid, holder.start)) {
        throw new LayercacheError('STATE_LOCKED', `state directory ${this.stateDir} is in use by process ${holder.pid}; give each server its own --state (if no layercache server uses it, process ${holder.pid} is another program that now has the old server's process id: delete ${file})`);
      }
      const aside = tempSibling(file);
      try {
        await fs.rename(file, aside);
      } catch {
        continue; // someone else moved it first: try again
      }
      const moved = await lockHolder(aside);
      if (moved !== null && (moved.pid !== holder?.pid || moved.start !== holder.start) && await holds(moved.pid, moved.start)) {
        await fs.link(aside, file).catch(() => undefined);
        await fs.rm(aside, { force: true });
        throw new LayercacheError('STATE_LOCKED', `state directory ${this.stateDir} was just taken by process ${moved.pid}; give each server its own --state`);
      }
      await fs.rm(aside, { force: true });
    }
    throw new LayercacheError('STATE_LOCKED', `state directory ${this.stateDir} is being taken by another process; give each server its own --state`);
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
      // This process holds the lock and has not started saving yet, so its own pid's leftovers are stale too.
      if (otherProcessAlive(parseTempSibling(path.basename(file))!.pid)) continue;
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
    await saveBundle(dir, revised.manifest, revised);
    return dir;
  }

  /** The version whose directory `dir` is, or null when it is not one of this store's (a bundle the server started from). */
  versionOf(dir: string): number | null {
    if (path.resolve(path.dirname(dir)) !== path.resolve(this.versionsDir)) return null;
    const m = NAME.exec(path.basename(dir));
    return m ? Number(m[1]) : null;
  }
}

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
