/**
 * The state lock on a scratch directory: held here, held by a live process, left by a dead one, by an earlier process
 * with this pid or by a process whose pid another now has; held from another container or machine (kept fresh, or
 * not); refreshed while held; a lock that cannot be removed. Waits move a fake clock: no test sleeps.
 */
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
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

describe('the state lock', () => {
  it('refuses a second server in this process and a live process, takes over a dead or stale lock', async () => {
    const state = path.join(dir, 'lock');
    await fs.mkdir(state);
    const unlock = await lockStateDir(state);
    // This pid and where and when this process runs (Linux: host, boot id, pid namespace, start time).
    const start = await processStart(process.pid);
    assert.equal((await fs.readFile(path.join(state, 'lock'), 'utf8')).trim(), `${process.pid} ${host}${start === null ? '' : `/${start}`}`);
    await assert.rejects(lockStateDir(state), locked(/in use by another server in this process/));
    await unlock();
    await assert.rejects(fs.stat(path.join(state, 'lock')), { code: 'ENOENT' });

    // Held by a live process of this host and namespace (our parent), with or without (an older lock) its identity.
    const parent = await processStart(process.ppid);
    for (const content of [`${process.ppid}\n`, `${process.ppid} ${host}${parent === null ? '' : `/${parent}`}\n`]) {
      await fs.writeFile(path.join(state, 'lock'), content);
      await assert.rejects(lockStateDir(state, fakeTiming()), locked(new RegExp(`in use by process ${process.ppid}; .*delete ${path.join(state, 'lock').replace(/[.*+?^${}()|[\]\\/]/g, '\\$&')}`)));
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
      assert.match(said.join('\n'), /names process 1 of .*, which cannot be checked from here \(another container or machine\); waiting up to 20 s/);
      assert.match(await fs.readFile(lockFile(gone), 'utf8'), new RegExp(`^${process.pid} `));
      await release();
    }
    // Untouched for long by this machine's clock: taken over at once.
    const old = await stateWithLock('foreign-old', foreign[0]!);
    const then = new Date(Date.now() - 3 * LOCK_TIMING.staleMs - 1000);
    await fs.utimes(lockFile(old), then, then);
    const timing = fakeTiming();
    await (await lockStateDir(old, timing))();
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
    t.mock.timers.tick(LOCK_TIMING.refreshMs);
    // The refresh's own write is asynchronous: wait for it (bounded), not for time to pass.
    for (let i = 0; i < 1000 && (await fs.stat(file)).mtimeMs === then.getTime(); i++) await new Promise((r) => setImmediate(r));
    assert.ok((await fs.stat(file)).mtimeMs > then.getTime() + 30_000, 'touched by the refresh');
    await release();
  });

  it('a lock that cannot be removed (a read-only filesystem) is FILE_WRITE_FAILED naming it, not an internal error', async (t) => {
    const state = path.join(dir, 'lock-ro');
    await fs.mkdir(state);
    const release = await lockStateDir(state);
    const rm = fs.rm;
    t.mock.method(fs, 'rm', async (p: string, o: object) => {
      if (p === path.join(state, 'lock')) throw Object.assign(new Error(`EROFS: read-only file system, unlink '${p}'`), { code: 'EROFS' });
      return rm(p, o);
    });
    await assert.rejects(release(), (e: unknown) => e instanceof LayercacheError && e.code === 'FILE_WRITE_FAILED' && e.message.includes(`the state lock ${path.join(state, 'lock')} could not be removed (EROFS)`));
    t.mock.restoreAll();
    // Left behind by a process that is gone, or by this one: the next start takes it over.
    await (await lockStateDir(state))();
  });
});
