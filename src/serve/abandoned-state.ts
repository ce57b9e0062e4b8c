/**
 * The temporary state directories of servers started without --state (TMPDIR/layercache-state-*): made with a
 * marker file, and removed at a later start when the server that made one ended without closing (killed by
 * SIGKILL, crashed, or stopped at once by a second signal during start-up).
 * Invariants:
 * - only this user's directories of that name are removed, and of those only
 *   - marked ones (the marker a regular file with the text written here): a user's own --state directory of that
 *     name has no marker, and a server started with --state on a temporary directory removes it (adopts it); and
 *     only when their lock names a process known from here to be gone (same host, boot and pid namespace), or names
 *     none and the directory has not changed for `idleMs`;
 *   - empty ones unchanged for `idleMs` (a server stopped before it marked its own), by rmdir, which fails if
 *     anything was put in them meanwhile;
 * - a marked one is removed holding its lock, its marker checked again under it, and renamed aside
 *   (TMPDIR/.layercache-removing-*) before its contents go: a server that takes the path over with --state
 *   meanwhile keeps the directory, or starts afresh in a new one, never in a half-removed one; the lock is then let
 *   go without touching the path (a server whose start found the directory just before it was moved fails to lock
 *   it, and says so); a directory of that aside name is the sweep's own and is removed at any later sweep (its
 *   removal was cut short);
 * - one whose holder cannot be checked from here (another container sharing /tmp, another copy of layercache in this
 *   process) is left alone; one that vanishes meanwhile (another server's sweep, its server closing) is passed over.
 */
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { LayercacheError } from '../errors/index.ts';
import { lockStateDir, stateLockHolder } from './state-lock.ts';

const PREFIX = 'layercache-state-';

/** Where a marked directory is renamed to while its contents are removed (never matched by PREFIX). */
const REMOVING_PREFIX = '.layercache-removing-';

/** The marker of a temporary state directory, and its text. */
export const TEMPORARY_MARKER = '.layercache-temporary';
const MARKER_TEXT = 'a layercache server\'s temporary state directory: removed once that server is gone\n';

/** How long an unlocked temporary state directory must go unchanged to count as abandoned. */
const IDLE_MS = 60 * 60 * 1000;

export interface SweepOptions {
  /** How long an unlocked marked (or empty) directory must go unchanged. */
  readonly idleMs?: number;
  /** Runs before the sweep takes an abandoned directory's lock (tests stand for a server taking it over there). */
  readonly beforeLock?: (dir: string) => Promise<void>;
}

/** What removeLocked did: nothing (another server has the directory), or moved it away (and removed its contents, or not). */
type Removal = 'kept' | 'removed' | { readonly left: string; readonly err: unknown };

/** Makes a temporary state directory in `root` (default TMPDIR), marked as one. */
export async function makeTemporaryStateDir(root: string = os.tmpdir()): Promise<string> {
  const dir = await fs.mkdtemp(path.join(root, PREFIX)).catch((err: NodeJS.ErrnoException) => {
    throw new LayercacheError('FILE_WRITE_FAILED', `cannot make a temporary state directory in ${root} (${err.code ?? err.message}); give the server one of its own with --state DIR (serve.stateDir), or set TMPDIR to a writable directory`, { cause: err });
  });
  try {
    await fs.writeFile(path.join(dir, TEMPORARY_MARKER), MARKER_TEXT);
  } catch (err) {
    await fs.rm(dir, { recursive: true, force: true });
    throw new LayercacheError('FILE_WRITE_FAILED', `cannot write in the temporary state directory ${dir} (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); give the server one of its own with --state DIR (serve.stateDir)`, { cause: err });
  }
  return dir;
}

/** Whether `dir` carries the marker: a regular file holding exactly the marker's text. */
async function marked(dir: string): Promise<boolean> {
  const file = path.join(dir, TEMPORARY_MARKER);
  const st = await fs.lstat(file).catch(() => null);
  if (st === null || !st.isFile() || st.size !== Buffer.byteLength(MARKER_TEXT)) return false;
  return (await fs.readFile(file, 'utf8').catch(() => '')) === MARKER_TEXT;
}

/** A state directory given as --state, locked by this server: no longer temporary, whatever made it. */
export async function adoptStateDir(stateDir: string): Promise<void> {
  if (!(await marked(stateDir))) return;
  const marker = path.join(stateDir, TEMPORARY_MARKER);
  await fs.rm(marker, { force: true }).catch((err: NodeJS.ErrnoException) => {
    throw new LayercacheError('FILE_WRITE_FAILED', `cannot remove ${marker} (${err.code ?? err.message}), which marks ${stateDir} as a temporary state directory that a server without --state would remove; check the directory's permissions`, { cause: err });
  });
}

/** Whether `err` says a path vanished (ENOENT, or a lock that could not be made in a directory that is gone). */
function vanished(err: unknown): boolean {
  const e = err instanceof LayercacheError ? err.cause : err;
  return (e as NodeJS.ErrnoException | undefined)?.code === 'ENOENT';
}

/**
 * Removes the abandoned temporary state directories in `root` other than `own`; resolves to those removed, which
 * `say` hears at 'info'. One that cannot be read or removed is left, and `say` hears why at 'warn' (the start goes
 * on: it is litter, not this server's state).
 */
export async function removeAbandonedStateDirs(root: string, own: string, say: (text: string, level: 'info' | 'warn') => void, opts: SweepOptions = {}): Promise<string[]> {
  const idleMs = opts.idleMs ?? IDLE_MS;
  const warn = (text: string): void => say(text, 'warn');
  const names = await fs.readdir(root).catch((err: NodeJS.ErrnoException) => {
    warn(`state: ${root} could not be listed to remove temporary state directories of servers that are gone (${err.code ?? err.message})`);
    return [] as string[];
  });
  const removed: string[] = [];
  const uid = process.getuid?.();
  for (const name of names) {
    const removing = name.startsWith(REMOVING_PREFIX);
    if (!removing && !name.startsWith(PREFIX)) continue;
    const dir = path.join(root, name);
    if (path.resolve(dir) === path.resolve(own)) continue;
    try {
      const st = await fs.lstat(dir);
      if (!st.isDirectory() || (uid !== undefined && st.uid !== uid)) continue;
      // A removal that stopped midway (its process killed): nothing else names such a directory.
      if (removing) {
        await fs.rm(dir, { recursive: true, force: true });
        continue;
      }
      const idle = Date.now() - st.mtimeMs > idleMs;
      const entries = await fs.readdir(dir);
      if (entries.length === 0) {
        if (idle && await fs.rmdir(dir).then(() => true, () => false)) removed.push(dir);
        continue;
      }
      if (!entries.includes(TEMPORARY_MARKER) || !(await marked(dir))) continue;
      const holder = await stateLockHolder(dir);
      if (!(holder === 'gone' || (holder === 'none' && idle))) continue;
      await opts.beforeLock?.(dir);
      const r = await removeLocked(dir, root, warn);
      if (r === 'kept') continue;
      removed.push(dir);
      if (r !== 'removed') warn(`state: the temporary state directory ${dir} of a server that is gone was moved to ${r.left} to be removed, but its contents could not be (${(r.err as NodeJS.ErrnoException).code ?? (r.err as Error).message}); the next start tries again, or remove it by hand`);
    } catch (err) {
      if (vanished(err)) continue;
      warn(`state: the temporary state directory ${dir}, of a server that seems gone, could not be removed (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); remove it by hand`);
    }
  }
  if (removed.length > 0) say(`state: removed ${removed.length === 1 ? 'a temporary state directory' : `${removed.length} temporary state directories`} of servers that ended without closing: ${removed.join(', ')}`, 'info');
  return removed;
}

/** Removes marked `dir` holding its lock; 'kept' when another server has it, or has adopted it. */
async function removeLocked(dir: string, root: string, warn: (text: string) => void): Promise<Removal> {
  let release: (opts?: { moved?: boolean }) => Promise<void>;
  try {
    // A holder that cannot be checked from here (another container, another copy of layercache) is not waited on.
    release = await lockStateDir(dir, undefined, warn, { waitForUnknown: false });
  } catch (err) {
    if (err instanceof LayercacheError && err.code === 'STATE_LOCKED') return 'kept';
    throw err;
  }
  // Renamed aside under the lock, the lock with it: a server taking the path over later makes a new directory there.
  const aside = path.join(root, `${REMOVING_PREFIX}${randomBytes(6).toString('hex')}`);
  let moved = false;
  try {
    if (!(await marked(dir))) return 'kept';
    await fs.rename(dir, aside);
    moved = true;
  } finally {
    await release({ moved });
  }
  return fs.rm(aside, { recursive: true, force: true }).then(() => 'removed' as const, (err: unknown) => ({ left: aside, err }));
}
