/**
 * The version store's bookkeeping on a scratch directory: leftovers of unfinished saves, pruning, and which version
 * a directory is (the state lock has its own test, state-lock.test.ts).
 */
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { LayercacheError } from '../errors/index.ts';
import { VersionStore } from './version-store.ts';

let dir: string;
/** Pids never reach 2^22 + 1 on Linux: no process has it. */
const DEAD_PID = 4194305;

before(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'layercache-store-'));
});

after(async () => {
  await fs.rm(dir, { recursive: true, force: true });
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
    // A lock being taken over by a server on another machine, whose pid means nothing here: left to it; one an hour
    // old is a leftover.
    const lockAside = path.join(state, `lock.tmp-${DEAD_PID}-0badf00d`);
    await fs.writeFile(lockAside, '1 other-host\n');
    const lockOld = path.join(state, `lock.tmp-${DEAD_PID}-0ddba11f`);
    await fs.writeFile(lockOld, '1 other-host\n');
    const hourAgo = new Date(Date.now() - 61 * 60 * 1000);
    await fs.utimes(lockOld, hourAgo, hourAgo);
    // One an hour old of a pid that runs here (a container's pid 1 on a shared volume, say): a leftover too.
    const lockOldLive = path.join(state, `lock.tmp-${process.ppid}-0ddba11e`);
    await fs.writeFile(lockOldLive, '1 other-host\n');
    await fs.utimes(lockOldLive, hourAgo, hourAgo);
    const removed: string[] = [];
    await store.removeLeftovers((d) => removed.push(d));
    assert.deepEqual(removed.sort(), [dead, deadFile, lockOld, lockOldLive].sort());
    await fs.stat(live);
    await fs.stat(liveFile);
    await fs.stat(lockAside);
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
