/**
 * The version store's bookkeeping on a scratch directory: the state lock (held here, held by a
 * live process, left by a dead one or by an earlier process with this pid), leftovers of
 * unfinished saves, and pruning.
 */
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { LayercacheError } from '../errors/index.ts';
import { processStart, VersionStore } from './version-store.ts';

let dir: string;
/** Pids never reach 2^22 + 1 on Linux: no process has it. */
const DEAD_PID = 4194305;

before(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'layercache-store-'));
});

after(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

const locked = (e: unknown): boolean => e instanceof LayercacheError && e.code === 'STATE_LOCKED';

describe('VersionStore.lock', () => {
  it('refuses a second server in this process and a live process, takes over a dead or stale lock', async () => {
    const state = path.join(dir, 'lock');
    await fs.mkdir(state);
    const store = new VersionStore(state);
    const unlock = await store.lock();
    // This pid and when this process started (Linux: the boot's id and the start time since boot).
    const [pid, start] = (await fs.readFile(path.join(state, 'lock'), 'utf8')).trim().split(' ');
    assert.equal(pid, String(process.pid));
    assert.equal(start, await processStart(process.pid));
    await assert.rejects(new VersionStore(state).lock(), locked);
    await unlock();
    await assert.rejects(fs.stat(path.join(state, 'lock')), { code: 'ENOENT' });

    // Held by a live process (our parent): refused, naming it.
    await fs.writeFile(path.join(state, 'lock'), `${process.ppid}\n`);
    // The message says what to do if that process is not a server (a pid reused by another program).
    await assert.rejects(store.lock(), (e: unknown) => locked(e) && (e as Error).message.includes(`process ${process.ppid}`) && (e as Error).message.includes(`if no layercache server uses it, process ${process.ppid} is another program that now has the old server's process id: delete ${path.join(state, 'lock')}`));
    // The same with the start time it records, whether or not it is known here.
    const parentStart = await processStart(process.ppid);
    await fs.writeFile(path.join(state, 'lock'), `${process.ppid} ${parentStart ?? 'unknown'}\n`);
    await assert.rejects(store.lock(), (e: unknown) => locked(e) && (e as Error).message.includes(`process ${process.ppid}`));
    // Left by a process that is gone, by an earlier process that had this very pid (a restarted container), or by one
    // whose pid a process started later now has (its recorded start time differs): taken over.
    const reused = parentStart === null ? [] : [`${process.ppid} ${parentStart.replace(/:\d+$/, ':1')}`];
    for (const stale of [`${DEAD_PID}`, `${process.pid}`, ...reused]) {
      await fs.writeFile(path.join(state, 'lock'), `${stale}\n`);
      const release = await store.lock();
      await release();
    }
  });
});

describe('VersionStore.lock release', () => {
  it('a lock that cannot be removed (a read-only filesystem) is FILE_WRITE_FAILED naming it, not an internal error', async (t) => {
    const state = path.join(dir, 'lock-ro');
    await fs.mkdir(state);
    const release = await new VersionStore(state).lock();
    const rm = fs.rm;
    t.mock.method(fs, 'rm', async (p: string, o: object) => {
      if (p === path.join(state, 'lock')) throw Object.assign(new Error(`EROFS: read-only file system, unlink '${p}'`), { code: 'EROFS' });
      return rm(p, o);
    });
    await assert.rejects(release(), (e: unknown) => e instanceof LayercacheError && e.code === 'FILE_WRITE_FAILED' && e.message.includes(`the state lock ${path.join(state, 'lock')} could not be removed (EROFS)`));
    t.mock.restoreAll();
    // Left behind by a process that is gone, or by this one: the next start takes it over.
    const again = await new VersionStore(state).lock();
    await again();
  });
});

describe('VersionStore.versionOf', () => {
  it("names the version of one of its directories, and none for any other (a bundle the server started from)", () => {
    const store = new VersionStore(path.join(dir, 'of'));
    assert.equal(store.versionOf(store.dirOf(3)), 3);
    assert.equal(store.versionOf(`${store.dirOf(3)}/`), 3);
    assert.equal(store.versionOf(path.join(dir, 'elsewhere', 'v000003')), null);
    assert.equal(store.versionOf(path.join(store.versionsDir, 'v000003.tmp-1-00ff00ff')), null);
  });
});

describe('VersionStore leftovers and pruning', () => {
  it('removes unfinished saves of gone processes, keeps a live one\'s, and prunes all but the newest, sparing some', async () => {
    const state = path.join(dir, 'prune');
    const store = new VersionStore(state);
    for (const v of [1, 2, 3, 4]) await fs.mkdir(store.dirOf(v), { recursive: true });
    const dead = `${store.dirOf(5)}.tmp-${DEAD_PID}-00ff00ff`;
    const live = `${store.dirOf(5)}.tmp-${process.ppid}-00ff00ff`;
    await fs.mkdir(dead);
    await fs.mkdir(live);
    // A buffer (or profile) file a killed shutdown was writing, in the state directory itself.
    const deadFile = path.join(state, `buffer.bin.tmp-${DEAD_PID}-0badf00d`);
    const liveFile = path.join(state, `latency-profile.json.tmp-${process.ppid}-0badf00d`);
    await fs.writeFile(deadFile, 'x');
    await fs.writeFile(liveFile, 'x');
    const removed: string[] = [];
    await store.removeLeftovers((d) => removed.push(d));
    assert.deepEqual(removed.sort(), [dead, deadFile].sort());
    await fs.stat(live);
    await fs.stat(liveFile);
    assert.deepEqual(await store.prune(2, [1]), [2]);
    assert.deepEqual(await store.list(), [4, 3, 1]);
  });

  it('reports an unreadable versions directory instead of an empty state', async () => {
    const state = path.join(dir, 'unreadable');
    await fs.mkdir(state, { recursive: true });
    await fs.writeFile(path.join(state, 'versions'), 'not a directory');
    await assert.rejects(new VersionStore(state).list(), (e: unknown) => e instanceof LayercacheError && e.code === 'FILE_UNREADABLE');
  });
});
