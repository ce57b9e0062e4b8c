/**
 * Removes the temporary state directories (TMPDIR/layercache-state-*) that servers left when they ended without
 * closing: killed by SIGKILL, crashed, or stopped at once by a second signal during start-up.
 * Invariants: only this user's directories of that name are touched, and a directory is removed only when
 * - its lock names a process known from here to be gone (same host, boot and pid namespace), or
 * - it holds no lock and has not changed for `idleMs` (a server stopped before it locked it: a starting server
 *   locks its directory moments after making it, and a running one keeps its lock).
 * A directory whose holder cannot be checked from here (another container sharing /tmp) is left alone.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { stateLockHolder } from './state-lock.ts';

export const TEMPORARY_STATE_PREFIX = 'layercache-state-';

/** How long a lock-less temporary state directory must go unchanged to count as abandoned. */
const IDLE_MS = 60 * 60 * 1000;

/**
 * Removes the abandoned temporary state directories in `root` other than `own`; resolves to those removed, which
 * `say` hears at 'info'. A directory that cannot be read or removed is left, and `say` hears why at 'warn' (the start
 * goes on: it is litter, not state).
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
    if (!name.startsWith(TEMPORARY_STATE_PREFIX)) continue;
    const dir = path.join(root, name);
    if (path.resolve(dir) === path.resolve(own)) continue;
    try {
      const st = await fs.lstat(dir);
      if (!st.isDirectory() || (uid !== undefined && st.uid !== uid)) continue;
      const holder = await stateLockHolder(dir);
      const abandoned = holder === 'gone' || (holder === 'none' && Date.now() - st.mtimeMs > idleMs);
      if (!abandoned) continue;
      await fs.rm(dir, { recursive: true, force: true });
      removed.push(dir);
    } catch (err) {
      warn(`state: the temporary state directory ${dir}, of a server that seems gone, could not be removed (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); remove it by hand`);
    }
  }
  if (removed.length > 0) say(`state: removed ${removed.length === 1 ? 'a temporary state directory' : `${removed.length} temporary state directories`} of servers that ended without closing: ${removed.join(', ')}`, 'info');
  return removed;
}
