/**
 * Temporary siblings of atomic writes (`TARGET.tmp-PID-HEX`): their names, the leftovers of interrupted writes, and
 * this process's unfinished writes, undone at an interrupt (removeUnfinishedWritesSync).
 * Invariant: a temporary path of a process that still runs (this one included) is never removed, except by that
 * process's own interrupt; removal is best effort and never fails the write that asked for it.
 */
import { randomBytes } from 'node:crypto';
import { existsSync, promises as fs, renameSync, rmSync } from 'node:fs';
import path from 'node:path';

/** This process's unfinished atomic writes: temporary paths, and outputs set aside (aside path → output). */
const unfinished = new Set<string>();
const setAside = new Map<string, string>();

/** tempSibling for an atomic write: this process's unfinished write until finishedTemp(path). */
export function unfinishedTemp(target: string): string {
  const p = tempSibling(target);
  unfinished.add(p);
  return p;
}

/** The write of temporary path `p` (unfinishedTemp's) ended: renamed into place or removed. */
export function finishedTemp(p: string): void {
  unfinished.delete(p);
}

/** Output `target` is set aside at `aside` while it is replaced, until finishedAside(aside). */
export function unfinishedAside(aside: string, target: string): void {
  setAside.set(aside, target);
}

/** The replaced output at `aside` was removed, or renamed back. */
export function finishedAside(aside: string): void {
  setAside.delete(aside);
}

/**
 * Undoes this process's unfinished writes, synchronously (a signal handler, before the process exits): removes
 * their temporary paths, and puts an output set aside back where its replacement did not land (else removes it).
 * Best effort; returns how many temporary outputs it removed (an output that had landed is not counted). Atomic
 * writes rename synchronously, in the tick that ends their bookkeeping, so this never races a rename.
 */
export function removeUnfinishedWritesSync(): number {
  let undone = 0;
  for (const p of unfinished) {
    try {
      if (!existsSync(p)) continue;
      rmSync(p, { recursive: true, force: true });
      undone++;
    } catch {
      // Left for a later write's removeStaleTemps.
    }
  }
  unfinished.clear();
  for (const [aside, target] of setAside) {
    try {
      if (existsSync(target)) rmSync(aside, { recursive: true, force: true });
      else renameSync(aside, target);
    } catch {
      // The write's own message names the aside path when it fails; an interrupt cannot say more.
    }
  }
  setAside.clear();
  return undone;
}

/** A fresh temporary path beside `target`, naming this process: `TARGET.tmp-PID-HEX`. */
export function tempSibling(target: string): string {
  return `${target}.tmp-${process.pid}-${randomBytes(4).toString('hex')}`;
}

/** For a name made by tempSibling (8 hex digits at the end, exactly): the target's name and the writing process's pid; null for other names. */
export function parseTempSibling(name: string): { target: string; pid: number } | null {
  const m = /^(.+)\.tmp-(\d+)-[0-9a-f]{8}$/.exec(name);
  return m ? { target: m[1]!, pid: Number(m[2]) } : null;
}

/** Where an output being replaced is set aside meanwhile (`TARGET.old-PID-HEX`): never removed by removeStaleTemps. */
export function asideSibling(target: string): string {
  return `${target}.old-${process.pid}-${randomBytes(4).toString('hex')}`;
}

/**
 * How old a temporary sibling must be before a write removes it, its process gone: a writer in another pid namespace
 * (a container sharing the directory) looks gone to this one, and no write takes this long.
 */
export const STALE_TEMP_MS = 60 * 60 * 1000;

/** Whether another process with this pid runs (EPERM: it exists but belongs to another user). */
export function otherProcessAlive(pid: number): boolean {
  if (pid === process.pid) return false;
  try {
    process.kill(pid, 0);
    return true;
  } catch (err) {
    return (err as NodeJS.ErrnoException).code === 'EPERM';
  }
}

/**
 * Removes the temporary siblings of `target` that interrupted writes left: named by tempSibling, their process gone,
 * and older than STALE_TEMP_MS (an interrupted build's temporary bundle, a report's half-written file).
 */
export async function removeStaleTemps(target: string): Promise<void> {
  const dir = path.dirname(path.resolve(target));
  const name = path.basename(path.resolve(target));
  const entries = await fs.readdir(dir).catch(() => [] as string[]);
  for (const e of entries) {
    const t = parseTempSibling(e);
    if (!t || t.target !== name || t.pid === process.pid || otherProcessAlive(t.pid)) continue;
    const st = await fs.lstat(path.join(dir, e)).catch(() => null);
    if (!st || Date.now() - st.mtimeMs < STALE_TEMP_MS) continue;
    // Best effort: a leftover that cannot be removed stays, and the write goes on beside it.
    await fs.rm(path.join(dir, e), { recursive: true, force: true }).catch(() => undefined);
  }
}
