/**
 * The temporary state directories of servers started without --state (TMPDIR/layercache-state-*): made with a
 * marker file, and removed at a later start when the server that made one ended without closing (killed by
 * SIGKILL, crashed, or stopped at once by a second signal during start-up).
 * Invariants:
 * - only directories of this user, of that name, that carry the marker are removed: a user's own --state directory
 *   of that name has none, and a server started with --state on a temporary directory removes its marker (adopts it);
 * - one is removed only when its lock names a process known from here to be gone (same host, boot and pid
 *   namespace), or names none and the directory has not changed for `idleMs`; and only after the sweep has taken
 *   its lock, so that a server taking it over meanwhile keeps it;
 * - an empty one (a server stopped before it marked it) goes after `idleMs` unchanged, by rmdir, which fails if
 *   anything was put in it meanwhile;
 * - a directory whose holder cannot be checked from here (another container sharing /tmp) is left alone.
 */
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { LayercacheError } from '../errors/index.ts';
import { lockStateDir, stateLockHolder } from './state-lock.ts';

const PREFIX = 'layercache-state-';

/** The marker of a temporary state directory. */
export const TEMPORARY_MARKER = 'temporary';

/** How long an unlocked temporary state directory must go unchanged to count as abandoned. */
const IDLE_MS = 60 * 60 * 1000;

/** Makes a temporary state directory in `root` (default TMPDIR), marked as one. */
export async function makeTemporaryStateDir(root: string = os.tmpdir()): Promise<string> {
  const dir = await fs.mkdtemp(path.join(root, PREFIX)).catch((err: NodeJS.ErrnoException) => {
    throw new LayercacheError('FILE_WRITE_FAILED', `cannot make a temporary state directory in ${root} (${err.code ?? err.message}); give the server one of its own with --state DIR (serve.stateDir), or set TMPDIR to a writable directory`, { cause: err });
  });
  try {
    await fs.writeFile(path.join(dir, TEMPORARY_MARKER), 'a layercache server\'s temporary state: removed once that server is gone\n');
  } catch (err) {
    await fs.rm(dir, { recursive: true, force: true });
    throw new LayercacheError('FILE_WRITE_FAILED', `cannot write in the temporary state directory ${dir} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); give the server one of its own with --state DIR (serve.stateDir)`, { cause: err });
  }
  return dir;
}

/** A state directory given as --state, locked by this server: no longer temporary, whatever made it. */
export async function adoptStateDir(stateDir: string): Promise<void> {
  await fs.rm(path.join(stateDir, TEMPORARY_MARKER), { force: true });
}

/**
 * Removes the abandoned temporary state directories in `root` other than `own`; resolves to those removed, which
 * `say` hears at 'info'. One that cannot be read or removed is left, and `say` hears why at 'warn' (the start goes
 * on: it is litter, not this server's state).
 */
export async function removeAbandonedStateDirs(root: string, own: string, say: (text: string, level: 'info' | 'warn') => void, idleMs: number = IDLE_MS): Promise<string[]> {
  const warn = (text: string): void => say(text, 'warn');
  const names = await fs.readdir(root).catch((err: NodeJS.ErrnoException) => {
    warn(`state: ${root} could not be listed to remove temporary state directories of servers that are gone (${err.code ?? err.message})`);
    return [] as string[];
  });
  const removed: string[] = [];
  const uid = process.getuid?.();
  for (const name of names) {
    if (!name.startsWith(PREFIX)) continue;
    const dir = path.join(root, name);
    if (path.resolve(dir) === path.resolve(own)) continue;
    try {
      const st = await fs.lstat(dir);
      if (!st.isDirectory() || (uid !== undefined && st.uid !== uid)) continue;
      const idle = Date.now() - st.mtimeMs > idleMs;
      const entries = await fs.readdir(dir);
      if (entries.length === 0) {
        if (idle && await fs.rmdir(dir).then(() => true, () => false)) removed.push(dir);
        continue;
      }
      if (!entries.includes(TEMPORARY_MARKER)) continue;
      const holder = await stateLockHolder(dir);
      if (!(holder === 'gone' || (holder === 'none' && idle))) continue;
      if (await removeLocked(dir, warn)) removed.push(dir);
    } catch (err) {
      warn(`state: the temporary state directory ${dir}, of a server that seems gone, could not be removed (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); remove it by hand`);
    }
  }
  if (removed.length > 0) say(`state: removed ${removed.length === 1 ? 'a temporary state directory' : `${removed.length} temporary state directories`} of servers that ended without closing: ${removed.join(', ')}`, 'info');
  return removed;
}

/** Removes `dir` holding its lock, if it is still marked temporary then; false when another server has it. */
async function removeLocked(dir: string, warn: (text: string) => void): Promise<boolean> {
  let release: () => Promise<void>;
  try {
    release = await lockStateDir(dir, undefined, warn);
  } catch (err) {
    if (err instanceof LayercacheError && err.code === 'STATE_LOCKED') return false;
    throw err;
  }
  try {
    // A server that took it over with --state (and then let it go) has adopted it.
    const marked = await fs.access(path.join(dir, TEMPORARY_MARKER)).then(() => true, () => false);
    if (marked) await fs.rm(dir, { recursive: true, force: true });
    return marked;
  } finally {
    await release();
  }
}
