/**
 * The sweep of temporary state directories on a scratch root: those of gone servers removed, everything else kept.
 */
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { tempDir } from '../../test/support/temp-dir.ts';
import { removeAbandonedStateDirs, TEMPORARY_STATE_PREFIX } from './abandoned-state.ts';
import { lockStateDir, processStart } from './state-lock.ts';

/** Pids never reach 2^22 + 1 on Linux: no process has it. */
const DEAD_PID = 4194305;

describe('removeAbandonedStateDirs', () => {
  it('removes the temporary state of servers known to be gone, and of lock-less ones idle for long; keeps the rest', async (t) => {
    const root = await tempDir('abandoned-state');
    // This process's identity in a lock, as a server writes it.
    const probe = path.join(root, 'probe');
    await fs.mkdir(probe);
    const release = await lockStateDir(probe);
    const [, identity] = (await fs.readFile(path.join(probe, 'lock'), 'utf8')).trim().split(' ');
    await release();
    const state = async (name: string, lock: string | null, ageMs = 0): Promise<string> => {
      const dir = path.join(root, name);
      await fs.mkdir(path.join(dir, 'versions'), { recursive: true });
      if (lock !== null) await fs.writeFile(path.join(dir, 'lock'), lock);
      const t = new Date(Date.now() - ageMs);
      await fs.utimes(dir, t, t);
      return dir;
    };
    const hour = 60 * 60 * 1000;
    const gone = await state(`${TEMPORARY_STATE_PREFIX}gone`, `${DEAD_PID} ${identity}\n`);
    const stoppedBeforeLock = await fs.mkdtemp(path.join(root, TEMPORARY_STATE_PREFIX));
    await fs.utimes(stoppedBeforeLock, new Date(Date.now() - 2 * hour), new Date(Date.now() - 2 * hour));
    // Held by another server of this process: its lock names this pid, which alone would read as a stale lock.
    const heldHere = await state(`${TEMPORARY_STATE_PREFIX}held-here`, null, 2 * hour);
    const releaseHeld = await lockStateDir(heldHere);
    t.after(releaseHeld);
    const [host, boot, ns] = identity!.split('/');
    const kept = [
      heldHere,
      // A live server of another process (this one's parent stands for it).
      await state(`${TEMPORARY_STATE_PREFIX}running`, `${process.ppid} ${host}/${boot}/${ns}/${(await processStart(process.ppid))!.split('/')[2]}\n`, 2 * hour),
      // Another container's server sharing /tmp: its pid means nothing here.
      await state(`${TEMPORARY_STATE_PREFIX}elsewhere`, `${DEAD_PID} another-host/b/1/2\n`, 2 * hour),
      // A server starting now: not locked yet.
      await state(`${TEMPORARY_STATE_PREFIX}starting`, null),
      // The caller's own, and a directory of another name.
      await state(`${TEMPORARY_STATE_PREFIX}own`, `${DEAD_PID} ${identity}\n`),
      await state('user-state', `${DEAD_PID} ${identity}\n`),
    ];
    const file = path.join(root, `${TEMPORARY_STATE_PREFIX}file`);
    await fs.writeFile(file, 'not a directory');
    const said: [string, string][] = [];
    const removed = await removeAbandonedStateDirs(root, path.join(root, `${TEMPORARY_STATE_PREFIX}own`), (text, level) => void said.push([level, text]));
    assert.deepEqual(removed.sort(), [gone, stoppedBeforeLock].sort());
    for (const dir of removed) await assert.rejects(fs.access(dir), { code: 'ENOENT' });
    for (const dir of [...kept, file]) await fs.access(dir);
    assert.deepEqual(said.map(([level]) => level), ['info']);
    assert.match(said[0]![1], /removed 2 temporary state directories of servers that ended without closing: .*gone/);
    // Nothing left to remove: nothing said.
    said.length = 0;
    assert.deepEqual(await removeAbandonedStateDirs(root, path.join(root, `${TEMPORARY_STATE_PREFIX}own`), (text, level) => void said.push([level, text])), []);
    assert.deepEqual(said, []);
  });

  it('a root that cannot be listed is said, not thrown: the server starts anyway', async () => {
    const said: string[] = [];
    assert.deepEqual(await removeAbandonedStateDirs('/nonexistent-root-of-layercache', '', (text) => void said.push(text)), []);
    assert.match(said.join('\n'), /\/nonexistent-root-of-layercache could not be listed .*ENOENT/);
  });
});
