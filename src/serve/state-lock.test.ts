/**
 * The state lock on a scratch directory: held here, held by a live process, left by a dead one, by an earlier process
 * with this pid or by a process whose pid another now has; held from another container or machine (kept fresh, or
 * not); refreshed while held; a lock that cannot be removed. Waits move a fake clock: no test sleeps.
 */
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it, type TestContext } from 'node:test';
import { LayercacheError } from '../errors/index.ts';
import { LOCK_TIMING, lockStateDir, processStart, type LockTiming } from './state-lock.ts';

let dir: string;
/** Pids never reach 2^22 + 1 on Linux: no process has it. */
const DEAD_PID = 4194305;
const host = os.hostname();

before(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'layercache-lock-'));
});

after(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

const locked = (pattern: RegExp = /./) => (e: unknown): boolean => e instanceof LayercacheError && e.code === 'STATE_LOCKED' && pattern.test(e.message);

/** A fake clock: `wait` moves it and runs `during` (a holder elsewhere refreshing its lock, or not). */
function fakeTiming(during: () => Promise<void> = async () => {}): LockTiming & { waited: () => number } {
  let clock = 0;
  return {
    refreshMs: LOCK_TIMING.refreshMs, staleMs: LOCK_TIMING.staleMs, now: () => clock,
    wait: async (ms) => {
      clock += ms;
      await during();
    },
    waited: () => clock,
  };
}

async function stateWithLock(name: string, content: string): Promise<string> {
  const state = path.join(dir, name);
  await fs.mkdir(state, { recursive: true });
  await fs.writeFile(path.join(state, 'lock'), content);
  return state;
}

/** A lock held on fake interval timers, with what it says; `onWord(f)` has f called at each word from then on. */
async function heldOnFakeTimers(t: TestContext, name: string) {
  t.mock.timers.enable({ apis: ['setInterval'] });
  const state = path.join(dir, name);
  await fs.mkdir(state);
  const said: [string, string][] = [];
  let hear: () => void = () => {};
  const release = await lockStateDir(state, LOCK_TIMING, (text, level) => {
    said.push([level, text]);
    hear();
  });
  return { file: path.join(state, 'lock'), said, release, onWord: (f: () => void): void => { hear = f; } };
}

/**
 * Lock texts naming this process: `unreleased`, one this module took and let go (as a failed release leaves it);
 * `copy`, one another copy of this module would write (same pid and identity, a nonce of its own).
 */
async function locksOfThisProcess(name: string): Promise<{ unreleased: string; copy: string }> {
  const probe = path.join(dir, name);
  await fs.mkdir(probe);
  const release = await lockStateDir(probe);
  const unreleased = await fs.readFile(path.join(probe, 'lock'), 'utf8');
  await release();
  const [pid, identity] = unreleased.trim().split(' ');
  return { unreleased, copy: `${pid} ${identity} 0123456789ab\n` };
}

/** A one-shot signal between a test and a call it holds midway: `fire()` once, `fired` resolves then. */
function signal(): { fired: Promise<void>; fire: () => void } {
  let fire!: () => void;
  const fired = new Promise<void>((r) => { fire = r; });
  return { fired, fire };
}

/** From now until the test ends, what every fs.rename moves (a lock moved aside even for a moment shows here). */
function recordRenames(t: TestContext): string[] {
  const moved: string[] = [];
  const rename = fs.rename.bind(fs);
  t.mock.method(fs, 'rename', async (from: string, to: string) => {
    moved.push(from);
    return rename(from, to);
  });
  return moved;
}

describe('the state lock', () => {
  it('refuses a second server in this process and a live process, takes over a dead or stale lock', async () => {
    const state = path.join(dir, 'lock');
    await fs.mkdir(state);
    const unlock = await lockStateDir(state);
    // This pid and where and when this process runs (Linux: host, boot id, pid namespace, start time).
    const start = await processStart(process.pid);
    // And a nonce of this lock's: copies of this module in one process (worker threads) tell their locks apart.
    assert.match((await fs.readFile(path.join(state, 'lock'), 'utf8')).trim(), new RegExp(`^${process.pid} ${host}${start === null ? '' : `/${start}`} [0-9a-f]{12}$`));
    await assert.rejects(lockStateDir(state), locked(/in use by another server in this process/));
    await unlock();
    await assert.rejects(fs.stat(path.join(state, 'lock')), { code: 'ENOENT' });

    // Held by a live process of this host and namespace (our parent), with or without (an older lock) its identity;
    // only a lock without a start time to compare leaves the doubt that the pid is another program's by now.
    const parent = await processStart(process.ppid);
    const deleteAdvice = new RegExp(`another program that now has the old server's process id: delete ${path.join(state, 'lock').replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}`);
    await fs.writeFile(path.join(state, 'lock'), `${process.ppid}\n`);
    await assert.rejects(lockStateDir(state, fakeTiming()), locked(deleteAdvice));
    if (parent !== null) {
      await fs.writeFile(path.join(state, 'lock'), `${process.ppid} ${host}/${parent}\n`);
      await assert.rejects(lockStateDir(state, fakeTiming()), (e: unknown) => locked(new RegExp(`in use by process ${process.ppid}; give each server its own --state$`))(e) && !deleteAdvice.test((e as Error).message));
    }
    // Left by a process that is gone, by an earlier process that had this very pid (a restarted container), or by one
    // whose pid a process started later now has (its recorded start time differs): taken over, without waiting.
    const reused = parent === null ? [] : [`${process.ppid} ${host}/${parent.replace(/\/\d+$/, '/1')}`];
    for (const stale of [`${DEAD_PID}`, `${process.pid}`, `${DEAD_PID} ${host}/${start ?? ''}`, ...reused]) {
      await fs.writeFile(path.join(state, 'lock'), `${stale}\n`);
      const timing = fakeTiming();
      const release = await lockStateDir(state, timing);
      assert.equal(timing.waited(), 0, stale);
      await release();
    }
  });

  it('held from another container or machine: refused once its holder refreshes it, taken over after it goes unrefreshed', async () => {
    const lockFile = (state: string) => path.join(state, 'lock');
    // Another machine, and (where /proc tells) another pid namespace of this one: its pid means nothing here.
    const start = await processStart(process.pid);
    const foreign = [`1 other-host/boot/4026531836/100`, ...(start === null ? [] : [`1 ${host}/${start.split('/')[0]}/1/100`])];
    for (const [i, content] of foreign.entries()) {
      const live = await stateWithLock(`foreign-live-${i}`, content);
      const touch = async (): Promise<void> => {
        const t = new Date(Date.now() + 1000);
        await fs.utimes(lockFile(live), t, t);
      };
      await assert.rejects(lockStateDir(live, fakeTiming(touch)), locked(/in use by process 1 of (other-host|.+), in another container or on another machine \(its lock is kept fresh\)/));
      assert.match(await fs.readFile(lockFile(live), 'utf8'), new RegExp(`^${content.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}`), 'a live holder\'s lock is left as it was');

      const gone = await stateWithLock(`foreign-gone-${i}`, content);
      const timing = fakeTiming();
      const said: string[] = [];
      const release = await lockStateDir(gone, timing, (text) => said.push(text));
      assert.ok(timing.waited() >= LOCK_TIMING.staleMs, `taken over after ${timing.waited()} ms unrefreshed`);
      assert.match(said.join('\n'), /names process 1 of .*, which cannot be checked from here \(another container or machine\); waiting for it to go 20 s unrefreshed/);
      assert.match(await fs.readFile(lockFile(gone), 'utf8'), new RegExp(`^${process.pid} `));
      await release();
    }
  });

  it('a lock this module holds, reached by another path (a symbolic link), is refused, not taken for an unreleased one', async () => {
    const real = path.join(dir, 'linked-real');
    await fs.mkdir(real);
    const link = path.join(dir, 'linked-link');
    await fs.symlink(real, link);
    const release = await lockStateDir(real);
    try {
      await assert.rejects(lockStateDir(link, fakeTiming()), locked(/in use by another server in this process \(\d+\), which reached it by another path \(a symbolic link\)/));
    } finally {
      await release();
    }
    // Released, it is free by either path.
    await (await lockStateDir(link, fakeTiming()))();
  });

  it('a stale lock replaced by a live one just before it is taken over is put back (the live one compared by its nonce too)', async (t) => {
    // This module's own lock, no longer held: stale.
    const { unreleased, copy } = await locksOfThisProcess('swap-probe');
    // Another copy of this module in this process takes the directory over first.
    const state = await stateWithLock('swapped', unreleased);
    const rename = fs.rename.bind(fs);
    let swapped = false;
    t.mock.method(fs, 'rename', async (from: string, to: string) => {
      if (!swapped && from === path.join(state, 'lock')) {
        swapped = true;
        await fs.writeFile(from, copy);
      }
      return rename(from, to);
    });
    await assert.rejects(lockStateDir(state, fakeTiming()), locked(/was just taken by process/));
    t.mock.restoreAll();
    assert.ok(swapped);
    assert.equal(await fs.readFile(path.join(state, 'lock'), 'utf8'), copy, 'the live lock is put back');
  });

  it('held by this very process elsewhere (a server in a worker thread, another copy of layercache): refused while refreshed, taken over once unrefreshed; its own unreleased lock taken at once', async () => {
    // Another copy's lock names this pid and identity, with a nonce of its own; it was taken for a stale one at once.
    const { unreleased: own, copy } = await locksOfThisProcess('own-probe');
    const live = await stateWithLock('own-live', copy);
    const touch = async (): Promise<void> => {
      const t = new Date(Date.now() + 1000);
      await fs.utimes(path.join(live, 'lock'), t, t);
    };
    await assert.rejects(lockStateDir(live, fakeTiming(touch)), locked(/in use by another server in this process \(in a worker thread, or another copy of layercache\) \(its lock is kept fresh\)/));
    assert.equal(await fs.readFile(path.join(live, 'lock'), 'utf8'), copy, 'its lock is left as it was');
    const stopped = await stateWithLock('own-stopped', copy);
    const timing = fakeTiming();
    const said: string[] = [];
    const release = await lockStateDir(stopped, timing, (text) => said.push(text));
    assert.ok(timing.waited() >= LOCK_TIMING.staleMs, `taken over after ${timing.waited()} ms unrefreshed`);
    assert.match(said.join('\n'), /names this process, from a server it runs elsewhere \(in a worker thread, or another copy of layercache\); waiting for it to go 20 s unrefreshed/);
    await release();
    // A lock this module took and could not release (its nonce is one of this module's): taken over at once.
    const unreleased = await stateWithLock('own-unreleased', own);
    const at = fakeTiming();
    await (await lockStateDir(unreleased, at))();
    assert.equal(at.waited(), 0);
  });

  it('a lock from elsewhere that changes hands while watched (another nonce) is watched afresh, not taken for a refresh of the first', async () => {
    const state = await stateWithLock('renonced', `1 other-host/boot/4026531836/100 aaaaaaaaaaaa\n`);
    const lock = path.join(state, 'lock');
    let replaced = false;
    const timing = fakeTiming(async () => {
      if (replaced) return;
      replaced = true;
      await fs.writeFile(lock, `1 other-host/boot/4026531836/100 bbbbbbbbbbbb\n`);
      const t = new Date(Date.now() + 1000);
      await fs.utimes(lock, t, t);
    });
    const release = await lockStateDir(state, timing);
    assert.ok(replaced);
    // One look at the first holder, then the new one's own full watch.
    assert.ok(timing.waited() >= LOCK_TIMING.staleMs + LOCK_TIMING.refreshMs / 2, `the new holder watched for its own ${LOCK_TIMING.staleMs} ms (${timing.waited()} ms in all)`);
    await release();
  });

  it('a lock being taken (linked, the take not yet returned) reached by another path is running, not an unreleased one', async (t) => {
    const real = path.join(dir, 'taking-real');
    await fs.mkdir(real);
    const link = path.join(dir, 'taking-link');
    await fs.symlink(real, link);
    const rm = fs.rm.bind(fs);
    let second: Promise<unknown> | null = null;
    // Another server of this process comes in by the link while the first removes its temporary lock file.
    t.mock.method(fs, 'rm', async (target: string, opts?: object) => {
      if (second === null && target.startsWith(path.join(real, 'lock.tmp-'))) {
        second = lockStateDir(link, fakeTiming()).then((r) => r, (e: unknown) => e);
        await second;
      }
      return rm(target, opts);
    });
    const release = await lockStateDir(real, fakeTiming());
    t.mock.restoreAll();
    assert.ok(locked()(await second), 'the second server is refused');
    await release();
  });

  it('a temporary lock file that cannot be removed does not fail a lock already taken', async (t) => {
    const state = path.join(dir, 'temp-stuck');
    await fs.mkdir(state);
    const rm = fs.rm.bind(fs);
    t.mock.method(fs, 'rm', async (target: string, opts?: object) => {
      if (target.startsWith(path.join(state, 'lock.tmp-'))) throw Object.assign(new Error('EIO: i/o error'), { code: 'EIO' });
      return rm(target, opts);
    });
    const release = await lockStateDir(state, fakeTiming());
    t.mock.restoreAll();
    assert.match(await fs.readFile(path.join(state, 'lock'), 'utf8'), new RegExp(`^${process.pid} `));
    await release();
  });

  it('a refresh still writing when the lock is released says nothing of the path it left, and a second release does nothing', async (t) => {
    const { file: lock, said, release } = await heldOnFakeTimers(t, 'released-mid-refresh');
    const gate = signal();
    const inWrite = signal();
    let written: Promise<void> | null = null;
    const utimes = fs.utimes.bind(fs);
    t.mock.method(fs, 'utimes', (file: string, a: Date, b: Date) => {
      written = (async () => {
        inWrite.fire();
        await gate.fired;
        return utimes(file, a, b);
      })();
      return written;
    });
    t.mock.timers.tick(LOCK_TIMING.refreshMs);
    await inWrite.fired;
    await release();
    // The write fails on the path the release left (no lock there now).
    gate.fire();
    await (written as unknown as Promise<void>).catch(() => undefined);
    await new Promise((r) => setImmediate(r));
    t.mock.timers.reset();
    assert.deepEqual(said, []);
    // Another server's lock at the path by now: a second release must not move it, not even for a moment.
    await fs.writeFile(lock, '1 other-host/boot/1/1 x\n');
    const moved = recordRenames(t);
    await release();
    assert.deepEqual(moved, []);
    assert.equal(await fs.readFile(lock, 'utf8'), '1 other-host/boot/1/1 x\n');
  });

  it('a refresh still reading when the lock is released does not take a new server\'s lock at the path for its own lock lost', async (t) => {
    const { file, said, release } = await heldOnFakeTimers(t, 'released-mid-read');
    const gate = signal();
    const inRead = signal();
    let read: Promise<unknown> | null = null;
    const readFile = fs.readFile.bind(fs);
    t.mock.method(fs, 'readFile', (target: string, opts?: object) => {
      if (target !== file || read !== null) return readFile(target, opts);
      read = (async () => {
        inRead.fire();
        await gate.fired;
        return readFile(target, opts);
      })();
      return read;
    });
    t.mock.timers.tick(LOCK_TIMING.refreshMs);
    await inRead.fired;
    await release();
    // A new server's lock at the path, read by the refresh that started before the release.
    await fs.writeFile(file, '1 other-host/boot/1/1 x\n');
    gate.fire();
    await (read as unknown as Promise<unknown>).catch(() => undefined);
    await new Promise((r) => setImmediate(r));
    t.mock.timers.reset();
    assert.deepEqual(said, []);
  });

  it('a lock of a state directory removed meanwhile says so, not to check its permissions', async () => {
    await assert.rejects(lockStateDir(path.join(dir, 'never-made'), fakeTiming()), { code: 'FILE_WRITE_FAILED', message: /the state directory .*never-made no longer exists \(removed while this server started, e\.g\. as an abandoned temporary one\); start the server again/ });
  });

  it("a live holder whose start time this user cannot read (another user's process, /proc with hidepid) keeps its lock", async (t) => {
    const parent = await processStart(process.ppid);
    if (parent === null) return t.skip('no /proc here: the pid alone decides');
    const state = await stateWithLock('hidden', `${process.ppid} ${host}/${parent}\n`);
    const readFile = fs.readFile;
    t.mock.method(fs, 'readFile', async (p: string, o: object) => {
      if (p === `/proc/${process.ppid}/stat`) throw Object.assign(new Error(`EACCES: permission denied, open '${p}'`), { code: 'EACCES' });
      return readFile(p, o);
    });
    await assert.rejects(lockStateDir(state, fakeTiming()), locked(new RegExp(`in use by process ${process.ppid}`)));
  });

  it('a holder that finds its lock taken (it seemed gone while paused) stops touching it and leaves it at release', async (t) => {
    const { file, said, release, onWord } = await heldOnFakeTimers(t, 'taken');
    const spoken = new Promise<void>((r) => onWord(r));
    const other = `1 other-host/boot/4026531836/100\n`;
    await fs.writeFile(file, other);
    const then = new Date(Date.now() - 60_000);
    await fs.utimes(file, then, then);
    const before = (await fs.stat(file)).mtimeMs;
    t.mock.timers.tick(LOCK_TIMING.refreshMs);
    await spoken;
    assert.equal(said[0]?.[0], 'error');
    assert.match(said[0]![1], /no longer names this process \(removed, or taken over by another server while this one seemed gone\); two servers may now use .*: stop one/);
    assert.equal((await fs.stat(file)).mtimeMs, before, 'the other server\'s lock is not touched');
    // Not even moved aside for a moment (a server starting then would find no lock, and lose its own at the put-back).
    const moved = recordRenames(t);
    await release();
    assert.deepEqual(moved, []);
    assert.equal(await fs.readFile(file, 'utf8'), other, 'nor removed');
  });

  it('refuses a holder that cannot be checked from here at once when asked not to wait (the sweep of temporary state)', async () => {
    const state = await stateWithLock('unknown-now', `1 other-host/boot/4026531836/100\n`);
    const timing = fakeTiming();
    await assert.rejects(lockStateDir(state, timing, () => {}, { waitForUnknown: false }), locked(/is held by process 1 of other-host, which cannot be checked from here/));
    assert.equal(timing.waited(), 0);
  });

  it('is refreshed while held, so that a server elsewhere sees it live', async (t) => {
    t.mock.timers.enable({ apis: ['setInterval'] });
    const state = path.join(dir, 'refresh');
    await fs.mkdir(state);
    const release = await lockStateDir(state);
    const file = path.join(state, 'lock');
    const then = new Date(Date.now() - 60_000);
    await fs.utimes(file, then, then);
    // The refresh's own write is asynchronous: wait for it, not for time to pass.
    const utimes = fs.utimes;
    let touched!: () => void;
    const refreshed = new Promise<void>((r) => { touched = r; });
    t.mock.method(fs, 'utimes', async (...args: Parameters<typeof fs.utimes>) => {
      await utimes(...args);
      touched();
    });
    t.mock.timers.tick(LOCK_TIMING.refreshMs);
    await refreshed;
    assert.ok((await fs.stat(file)).mtimeMs > then.getTime() + 30_000, 'touched by the refresh');
    await release();
  });

  it('a lock missing at one refresh (a starting server moved it aside to check it) is kept; missing at two, it is lost; a failing refresh is said once', async (t) => {
    const { file, said, release, onWord } = await heldOnFakeTimers(t, 'blink');
    const aside = `${file}.aside`;
    // Each refresh ends with fs.utimes (when the lock is ours) or a word (when not): wait for one or the other.
    const utimes = fs.utimes;
    let touched!: () => void;
    t.mock.method(fs, 'utimes', async (...args: Parameters<typeof fs.utimes>) => {
      try {
        await utimes(...args);
      } finally {
        touched();
      }
    });
    const refresh = async (): Promise<void> => {
      const done = new Promise<void>((r) => {
        touched = r;
        onWord(r);
      });
      t.mock.timers.tick(LOCK_TIMING.refreshMs);
      await done;
    };
    // A refresh that finds the lock missing once ends without a write or a word, right after reading it.
    const readFile = fs.readFile;
    let read: () => void = () => {};
    t.mock.method(fs, 'readFile', async (p: string, o: object) => {
      try {
        return await readFile(p, o);
      } finally {
        if (p === file) setImmediate(read);
      }
    });
    const tickQuietly = async (): Promise<void> => {
      const done = new Promise<void>((r) => { read = r; });
      t.mock.timers.tick(LOCK_TIMING.refreshMs);
      await done;
    };
    await fs.rename(file, aside);
    await tickQuietly();
    await fs.rename(aside, file);
    await refresh();
    assert.equal(said.length, 0, 'missing once, then back: still ours, refreshed');
    // A refresh that fails is said once, not at every tick.
    t.mock.method(fs, 'utimes', async () => {
      // Said to be done only after the refresh has handled the failure (its catch runs before the next macrotask).
      setImmediate(touched);
      throw Object.assign(new Error('EROFS: read-only file system'), { code: 'EROFS' });
    });
    await refresh();
    await refresh();
    assert.deepEqual(said.map(([level]) => level), ['warn']);
    assert.match(said[0]![1], /could not be refreshed \(EROFS\); if this lasts 20 s, a server on another machine or container may take .* over/);
    await fs.rm(file);
    await tickQuietly();
    await refresh();
    assert.equal(said.at(-1)?.[0], 'error');
    assert.match(said.at(-1)![1], /no longer names this process/);
    await release();
  });

  it('a lock that cannot be removed (a read-only filesystem) is FILE_WRITE_FAILED naming it, not an internal error', async (t) => {
    const state = path.join(dir, 'lock-ro');
    await fs.mkdir(state);
    const release = await lockStateDir(state);
    const rename = fs.rename;
    t.mock.method(fs, 'rename', async (from: string, to: string) => {
      if (from === path.join(state, 'lock')) throw Object.assign(new Error(`EROFS: read-only file system, rename '${from}'`), { code: 'EROFS' });
      return rename(from, to);
    });
    await assert.rejects(release(), (e: unknown) => e instanceof LayercacheError && e.code === 'FILE_WRITE_FAILED' && e.message.includes(`the state lock ${path.join(state, 'lock')} could not be removed (EROFS)`));
    t.mock.restoreAll();
    // Left behind by a process that is gone, or by this one: the next start takes it over.
    await (await lockStateDir(state))();
  });
});
