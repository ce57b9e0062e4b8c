/**
 * The state directory's lock, STATE/lock: one server at a time per state directory, also across containers and
 * machines sharing it (a volume mounted by two replicas).
 * The file holds "PID IDENTITY NONCE": IDENTITY is `host/boot/pidns/start` on Linux (host name, boot id, pid
 * namespace, the process's start time in ticks since boot), `host` elsewhere; NONCE is random per lock taken, so that
 * two copies of this module in one process (a server in a worker thread, two layercache packages) tell their locks
 * apart. While it holds the lock, the server touches the file every `refreshMs`.
 * Invariants:
 * - where the holder's pid can be checked (the same host, boot and pid namespace), it decides at once: a lock whose
 *   process is gone, or whose pid now belongs to a process started later, is taken over; so is one this module
 *   took in this process and no longer holds (its release failed), while one it holds (reached by another path: a
 *   symbolic link, a bind mount) runs;
 * - a lock of this very process that another copy of this module took is treated as one that cannot be checked:
 *   below;
 * - where it cannot (another container, machine or boot), the lock is taken over only after it went unrefreshed for
 *   `staleMs`, watched with this process's own clock (no clock shared with the holder is assumed); a refresh seen
 *   meanwhile means a live holder: STATE_LOCKED;
 * - a holder touches and releases the lock only while it still names it (one paused past `staleMs` may find it taken:
 *   then it leaves the lock alone, and its release does not touch it);
 * - the file is created complete or not at all (written aside, then hard-linked into place, which fails if it exists).
 */
import { randomBytes } from 'node:crypto';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { LayercacheError } from '../errors/index.ts';
import { otherProcessAlive, tempSibling } from '../files/index.ts';

/** How often a holder touches its lock, and how long a lock of an unverifiable holder must go untouched to be stale. */
export interface LockTiming {
  readonly refreshMs: number;
  readonly staleMs: number;
  /** Waits `ms` (a test passes one that moves a fake clock instead). */
  readonly wait: (ms: number) => Promise<void>;
  /** Milliseconds on a monotonic clock. */
  readonly now: () => number;
}

export const LOCK_TIMING: LockTiming = {
  refreshMs: 5_000,
  staleMs: 20_000,
  wait: (ms) => new Promise((resolve) => setTimeout(resolve, ms)),
  now: () => performance.now(),
};

/** State directories locked by servers of this module in this process (this pid's other locks: see the header). */
const LOCKED_HERE = new Set<string>();

/** The nonces of the locks this module took in this process, held or not; and of those it holds now. */
const NONCES_HERE = new Set<string>();
const HELD_HERE = new Set<string>();

/** When process `pid` started, in clock ticks since boot (/proc/PID/stat, readable by every user); null where it cannot be read. */
async function startTicks(pid: number): Promise<string | null> {
  try {
    const stat = await fs.readFile(`/proc/${pid}/stat`, 'utf8');
    // "pid (comm) state ppid …": comm may hold spaces and parentheses; starttime is field 22, the 20th after comm.
    const start = stat.slice(stat.lastIndexOf(')') + 2).split(' ')[19];
    return start && /^\d+$/.test(start) ? start : null;
  } catch {
    return null; // not Linux, no such process, or hidden (/proc mounted with hidepid)
  }
}

/**
 * Where and when process `pid` runs: the boot's id, its pid namespace and its start time, from Linux's /proc
 * (`boot/pidns/start`); null where /proc does not tell (another system; another user's process, whose namespace
 * link only its owner may read).
 */
export async function processStart(pid: number): Promise<string | null> {
  try {
    const start = await startTicks(pid);
    const boot = (await fs.readFile('/proc/sys/kernel/random/boot_id', 'utf8')).trim();
    const ns = /\[(\d+)\]/.exec(await fs.readlink(`/proc/${pid}/ns/pid`))?.[1];
    return start !== null && ns ? `${boot}/${ns}/${start}` : null;
  } catch {
    return null; // not Linux, or not readable: identities then hold the host name alone
  }
}

/** This process's identity in a lock: `host/boot/pidns/start`, or `host` where /proc does not tell. Read once. */
let identity: Promise<string> | null = null;
function ownIdentity(): Promise<string> {
  identity ??= (async () => {
    const host = os.hostname().replace(/[\s/]/g, '_') || 'unknown';
    const start = await processStart(process.pid);
    return start === null ? host : `${host}/${start}`;
  })();
  return identity;
}

interface LockHolder {
  readonly pid: number;
  /** Its identity (ownIdentity); null in a lock that does not record one (written before it was kept). */
  readonly identity: string | null;
  /** The lock's nonce; null in a lock that does not record one. */
  readonly nonce: string | null;
}

/** A lock file's text; null when it is absent; rejects when it cannot be read. */
async function lockText(file: string): Promise<string | null> {
  try {
    return await fs.readFile(file, 'utf8');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw err;
  }
}

/** The process a lock file names ("PID IDENTITY NONCE"), or null when it names none (absent, unreadable, empty or garbage: stale). */
async function lockHolder(file: string): Promise<LockHolder | null> {
  const [pidText, identity, nonce] = ((await lockText(file).catch(() => null)) ?? '').trim().split(/\s+/);
  const pid = Number(pidText);
  return Number.isInteger(pid) && pid > 0 ? { pid, identity: identity ?? null, nonce: nonce ?? null } : null;
}

/**
 * Whether the holder is known to run, known to be gone, or cannot be told from here (another host, boot or pid
 * namespace; `mine`: this process's identity).
 */
async function holderState(holder: LockHolder, mine: string): Promise<'running' | 'gone' | 'unknown'> {
  // This very process (its whole identity): a lock this module holds (reached by another path: a symbolic link)
  // runs; one it took and no longer holds (its release failed) is stale; another copy's (a server in a worker
  // thread, another layercache package) only its refreshes tell.
  if (holder.pid === process.pid && holder.identity === mine) {
    if (holder.nonce !== null && HELD_HERE.has(holder.nonce)) return 'running';
    return holder.nonce !== null && NONCES_HERE.has(holder.nonce) ? 'gone' : 'unknown';
  }
  const alive = (): 'running' | 'gone' => (otherProcessAlive(holder.pid) ? 'running' : 'gone');
  if (holder.identity === null) return alive(); // a lock from before identities: its pid decides, as it did
  const [host, ...start] = holder.identity.split('/');
  const [myHost, ...myStart] = mine.split('/');
  if (host !== myHost) return 'unknown';
  // The same host without /proc (not Linux) on either side: the pid decides, as it must.
  if (start.length === 0 || myStart.length === 0) return alive();
  // Another boot or pid namespace (another container): its pid means nothing here.
  if (start[0] !== myStart[0] || start[1] !== myStart[1]) return 'unknown';
  if (alive() === 'gone') return 'gone';
  // The same pid in this namespace, started at another time: another process has it now. A start time that cannot
  // be read (a process hidden from this user) leaves the pid to decide: running.
  const now = await startTicks(holder.pid);
  return now === null || now === start[2] ? 'running' : 'gone';
}

/**
 * Whose lock `stateDir` holds, as seen from here: none (no lock, or one naming no process), a process known to run
 * or known to be gone, or one that cannot be checked from here (another host, boot or pid namespace, or another copy
 * of this module in this process).
 */
export async function stateLockHolder(stateDir: string): Promise<'none' | 'running' | 'gone' | 'unknown'> {
  // Held, or being taken, by a server of this module by this very path.
  if (LOCKED_HERE.has(path.resolve(stateDir))) return 'running';
  const holder = await lockHolder(path.join(stateDir, 'lock'));
  return holder === null ? 'none' : holderState(holder, await ownIdentity());
}

/**
 * Takes `stateDir` for this process; returns the release function. A lock whose holder cannot be checked from here
 * makes this wait until it goes unrefreshed for `timing.staleMs` (or refuses as soon as it is refreshed). `say`
 * hears such a wait, and a lock this process finds taken from it (it seemed gone to another server, paused for
 * longer than `staleMs`): then it stops touching the lock, and its release leaves the other's lock in place.
 * Released with `{ moved: true }`, the lock is let go without touching the path: the directory was moved away with
 * it (what is at the path now is someone else's). With `waitForUnknown` false, a holder that cannot be checked from
 * here is refused at once (STATE_LOCKED) instead of waited on.
 */
export async function lockStateDir(stateDir: string, timing: LockTiming = LOCK_TIMING, say: (text: string, level: 'warn' | 'error') => void = () => {}, { waitForUnknown = true } = {}): Promise<(opts?: { moved?: boolean }) => Promise<void>> {
  const file = path.join(stateDir, 'lock');
  const key = path.resolve(stateDir);
  // Claimed before the first await, so two servers starting at once in this process cannot both pass.
  if (LOCKED_HERE.has(key)) throw new LayercacheError('STATE_LOCKED', `state directory ${stateDir} is in use by another server in this process (${process.pid}); give each server its own --state`);
  LOCKED_HERE.add(key);
  let refresher: NodeJS.Timeout;
  let mine: string;
  const nonce = randomBytes(6).toString('hex');
  NONCES_HERE.add(nonce);
  // Held from the moment its file may name it (the link in takeLockFile), so that it never reads as an unreleased one.
  HELD_HERE.add(nonce);
  /** Whom `at` names: this lock, another, or none (absent); rejects when it cannot be read. */
  const whose = async (at: string): Promise<'ours' | 'other' | 'missing'> => {
    const text = await lockText(at);
    return text === null ? 'missing' : text.trim() === `${process.pid} ${mine} ${nonce}` ? 'ours' : 'other';
  };
  let lost = false;
  let released = false;
  let missed = 0;
  let failing = false;
  try {
    mine = await ownIdentity();
    await takeLockFile(file, stateDir, mine, nonce, timing, say, waitForUnknown);
    refresher = setInterval(() => {
      void (async () => {
        if (lost || released) return;
        const now = await whose(file);
        // Released while this tick read the file: the path may be another server's now.
        if (released) return;
        // Missing once may be a starting server checking it (moved aside for a moment); missing twice, it is gone.
        if (now === 'missing' && ++missed < 2) return;
        if (now !== 'ours') {
          lost = true;
          HELD_HERE.delete(nonce);
          clearInterval(refresher);
          say(`state: ${file} no longer names this process (removed, or taken over by another server while this one seemed gone); two servers may now use ${stateDir}: stop one`, 'error');
          return;
        }
        missed = 0;
        const t = new Date();
        await fs.utimes(file, t, t);
        failing = false;
      })().catch((err: unknown) => {
        // A refresh still writing when the lock was released fails on the path it left: nothing to say.
        if (released || lost) return;
        // Said once per run of failures: until a refresh works again, a server elsewhere may take the lock over.
        if (failing) return;
        failing = true;
        say(`state: ${file} could not be refreshed (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); if this lasts ${Math.round(timing.staleMs / 1000)} s, a server on another machine or container may take ${stateDir} over`, 'warn');
      });
    }, timing.refreshMs);
    refresher.unref();
  } catch (err) {
    LOCKED_HERE.delete(key);
    HELD_HERE.delete(nonce);
    throw err;
  }
  return async (opts?: { moved?: boolean }) => {
    // Once: a second call would move aside whatever is at the path by then.
    if (released) return;
    released = true;
    clearInterval(refresher);
    LOCKED_HERE.delete(key);
    HELD_HERE.delete(nonce);
    // Moved away with its directory, or taken over by another server: nothing at the path is this lock.
    if (opts?.moved === true || lost) return;
    // Moved aside before it is checked, so that a lock another server installs meanwhile is not the one removed;
    // another server's lock (taken while this one seemed gone) is put back.
    const aside = tempSibling(file);
    try {
      await fs.rename(file, aside);
    } catch (err) {
      if ((err as NodeJS.ErrnoException).code === 'ENOENT') return;
      throw new LayercacheError('FILE_WRITE_FAILED', `the state lock ${file} could not be removed (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); a later start takes it over once this process is gone (or at once in this process)`, { cause: err });
    }
    try {
      if (await whose(aside) === 'other') await fs.link(aside, file).catch(() => undefined);
    } finally {
      await fs.rm(aside, { force: true });
    }
  };
}

/** When `file` was last touched (ms since the epoch), or null once it is gone. */
async function touchedAt(file: string): Promise<number | null> {
  return (await fs.stat(file).catch(() => null))?.mtimeMs ?? null;
}

/**
 * Resolves when the lock of a holder that cannot be checked from here went unrefreshed for `staleMs` (true), or
 * changed hands or vanished meanwhile (false: try again); throws STATE_LOCKED when it is refreshed.
 */
async function awaitStale(file: string, stateDir: string, holder: LockHolder, timing: LockTiming): Promise<boolean> {
  const seen = await touchedAt(file);
  if (seen === null) return false;
  const since = timing.now();
  while (timing.now() - since < timing.staleMs) {
    await timing.wait(Math.min(timing.refreshMs / 2, timing.staleMs - (timing.now() - since)));
    const now = await lockHolder(file);
    if (now === null || now.pid !== holder.pid || now.identity !== holder.identity || now.nonce !== holder.nonce) return false;
    if (await touchedAt(file) !== seen) {
      const where = holder.pid === process.pid ? 'by another server in this process (in a worker thread, or another copy of layercache)' : `by process ${holder.pid} of ${holder.identity?.split('/')[0] ?? 'another host'}, in another container or on another machine`;
      throw new LayercacheError('STATE_LOCKED', `state directory ${stateDir} is in use ${where} (its lock is kept fresh); give each server its own --state`);
    }
  }
  return true;
}

/** Creates `file` for this process, taking over a stale lock: moved aside and checked, put back if it was a fresh one. */
async function takeLockFile(file: string, stateDir: string, mine: string, nonce: string, timing: LockTiming, say: (text: string, level: 'warn' | 'error') => void, waitForUnknown: boolean): Promise<void> {
  for (let attempt = 0; attempt < 3; attempt++) {
    const temp = tempSibling(file);
    try {
      await fs.writeFile(temp, `${process.pid} ${mine} ${nonce}\n`);
      await fs.link(temp, file);
      return;
    } catch (err) {
      const code = (err as NodeJS.ErrnoException).code;
      if (code === 'ENOENT') {
        throw new LayercacheError('FILE_WRITE_FAILED', `cannot create ${file}: the state directory ${stateDir} no longer exists (removed while this server started, e.g. as an abandoned temporary one); start the server again`, { cause: err });
      }
      if (code !== 'EEXIST') {
        throw new LayercacheError('FILE_WRITE_FAILED', `cannot create ${file} (${(err as Error).message}); check the state directory's permissions`, { cause: err });
      }
    } finally {
      // Only the temporary file: the lock stands once linked (a leftover is removed at a later start, removeLeftovers).
      await fs.rm(temp, { force: true }).catch(() => undefined);
    }
    const holder = await lockHolder(file);
    if (holder !== null) {
      const state = await holderState(holder, mine);
      if (state === 'running') {
        // Without a start time to compare (not Linux, or an older lock), the pid may be another program's by now.
        const unsure = holder.identity === null || holder.identity.split('/').length < 4;
        const by = holder.pid === process.pid ? `another server in this process (${process.pid}), which reached it by another path (a symbolic link)` : `process ${holder.pid}`;
        throw new LayercacheError('STATE_LOCKED', `state directory ${stateDir} is in use by ${by}; give each server its own --state${unsure ? ` (if no layercache server uses it, process ${holder.pid} is another program that now has the old server's process id: delete ${file})` : ''}`);
      }
      if (state === 'unknown') {
        if (!waitForUnknown) throw new LayercacheError('STATE_LOCKED', `state directory ${stateDir} is held by process ${holder.pid} of ${holder.identity?.split('/')[0] ?? 'another host'}, which cannot be checked from here; give each server its own --state`);
        const whose = holder.pid === process.pid
          ? 'this process, from a server it runs elsewhere (in a worker thread, or another copy of layercache)'
          : `process ${holder.pid} of ${holder.identity?.split('/')[0] ?? 'another host'}, which cannot be checked from here (another container or machine)`;
        say(`state: ${file} names ${whose}; waiting for it to go ${Math.round(timing.staleMs / 1000)} s unrefreshed, or to be refreshed`, 'warn');
        if (!(await awaitStale(file, stateDir, holder, timing))) continue;
      }
    }
    const aside = tempSibling(file);
    try {
      await fs.rename(file, aside);
    } catch {
      continue; // someone else moved it first: try again
    }
    const moved = await lockHolder(aside);
    if (moved !== null && (moved.pid !== holder?.pid || moved.identity !== holder.identity || moved.nonce !== holder.nonce) && await holderState(moved, mine) !== 'gone') {
      await fs.link(aside, file).catch(() => undefined);
      await fs.rm(aside, { force: true });
      throw new LayercacheError('STATE_LOCKED', `state directory ${stateDir} was just taken by process ${moved.pid}; give each server its own --state`);
    }
    await fs.rm(aside, { force: true });
  }
  throw new LayercacheError('STATE_LOCKED', `state directory ${stateDir} is being taken by another process; give each server its own --state`);
}
