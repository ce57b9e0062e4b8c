/**
 * Temporary state directories on a scratch root: those of gone servers removed, everything else kept (a user's own
 * --state directory of that name, live servers' in this process, another process or another container, litter of
 * another kind); a server started without --state sweeps its TMPDIR, and one started with --state on a temporary
 * directory adopts it.
 */
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { loadConfig } from '../config/index.ts';
import { saveModel } from '../onnx/index.ts';
import { mlp } from '../../test/support/models.ts';
import { tempDir } from '../../test/support/temp-dir.ts';
import { adoptStateDir, makeTemporaryStateDir, removeAbandonedStateDirs, TEMPORARY_MARKER } from './abandoned-state.ts';
import { startServer } from './server.ts';
import { lockStateDir, processStart } from './state-lock.ts';

/** Pids never reach 2^22 + 1 on Linux: no process has it. */
const DEAD_PID = 4194305;
const HOUR = 60 * 60 * 1000;
/** A directory as makeTemporaryStateDir marks it, to copy its marker from. */
const MARKED = tempDir('marker-source').then((root) => makeTemporaryStateDir(root));

/** This process's identity in a lock, as its servers write it. */
async function ownIdentity(root: string): Promise<string> {
  const probe = await fs.mkdtemp(path.join(root, 'probe-'));
  const release = await lockStateDir(probe);
  const [, identity] = (await fs.readFile(path.join(probe, 'lock'), 'utf8')).trim().split(' ');
  await release();
  await fs.rm(probe, { recursive: true });
  return identity!;
}

async function age(file: string, ms: number): Promise<void> {
  const t = new Date(Date.now() - ms);
  await fs.lutimes(file, t, t);
}

/** A directory under `root` holding versions/, perhaps a lock and the marker, last changed `ageMs` ago. */
async function stateDir(root: string, name: string, { lock = null as string | null, marked = true, ageMs = 0 } = {}): Promise<string> {
  const dir = path.join(root, name);
  await fs.mkdir(path.join(dir, 'versions', 'v000001'), { recursive: true });
  if (lock !== null) await fs.writeFile(path.join(dir, 'lock'), lock);
  if (marked) await fs.writeFile(path.join(dir, TEMPORARY_MARKER), await fs.readFile(path.join(await MARKED, TEMPORARY_MARKER)));
  await age(dir, ageMs);
  return dir;
}

describe('temporary state directories', () => {
  it('removes those of servers known to be gone, marked ones unlocked for long, and empty idle ones; keeps the rest', async (t) => {
    const root = await tempDir('abandoned-state');
    const identity = await ownIdentity(root);
    const [host, boot, ns] = identity.split('/');
    const gone = `${DEAD_PID} ${identity}\n`;
    const removable = [
      await stateDir(root, 'layercache-state-gone', { lock: gone }),
      // Killed between its lock's release and the directory's removal, or before it locked it.
      await stateDir(root, 'layercache-state-unlocked', { ageMs: 2 * HOUR }),
      // Stopped before it was marked.
      await fs.mkdtemp(path.join(root, 'layercache-state-')),
    ];
    await age(removable[2]!, 2 * HOUR);
    // Held by another server of this process: its lock names this pid, which alone would read as a stale lock.
    const heldHere = await stateDir(root, 'layercache-state-held-here', { ageMs: 2 * HOUR });
    const releaseHeld = await lockStateDir(heldHere);
    t.after(() => releaseHeld());
    await age(heldHere, 2 * HOUR);
    const kept = [
      heldHere,
      // A lock naming this process's identity that this module does not hold: a server in a worker thread.
      await stateDir(root, 'layercache-state-worker', { lock: `${process.pid} ${identity}\n`, ageMs: 2 * HOUR }),
      // A live server of another process (this one's parent stands for it).
      ...(boot === undefined ? [] : [await stateDir(root, 'layercache-state-running', { lock: `${process.ppid} ${host}/${boot}/${ns}/${(await processStart(process.ppid))!.split('/')[2]}\n`, ageMs: 2 * HOUR })]),
      // Another container's server sharing /tmp: its pid means nothing here.
      await stateDir(root, 'layercache-state-elsewhere', { lock: `${DEAD_PID} another-host/b/1/2\n`, ageMs: 2 * HOUR }),
      // A marked one unlocked now: a server starting.
      await stateDir(root, 'layercache-state-starting'),
      await fs.mkdtemp(path.join(root, 'layercache-state-')),
      // A user's own --state directories of that name, unmarked: one whose server crashed, one stopped cleanly.
      await stateDir(root, 'layercache-state-mine-crashed', { lock: gone, marked: false, ageMs: 2 * HOUR }),
      await stateDir(root, 'layercache-state-mine-stopped', { marked: false, ageMs: 2 * HOUR }),
      // The caller's own, and a directory of another name.
      await stateDir(root, 'layercache-state-own', { lock: gone }),
      await stateDir(root, 'user-state', { lock: gone }),
    ];
    // Litter of another kind under the name: a file, and a link to a directory elsewhere that looks abandoned.
    const file = path.join(root, 'layercache-state-file');
    await fs.writeFile(file, 'not a directory');
    await age(file, 2 * HOUR);
    const target = await stateDir(root, 'link-target', { lock: gone, ageMs: 2 * HOUR });
    const link = path.join(root, 'layercache-state-link');
    await fs.symlink(target, link);
    await age(link, 2 * HOUR);
    // Another user's, where this process may make one (root).
    const others: string[] = [];
    if (process.getuid?.() === 0) {
      const other = await stateDir(root, 'layercache-state-other-user', { lock: gone, ageMs: 2 * HOUR });
      await fs.chown(other, 1, 1);
      others.push(other);
    }

    const said: [string, string][] = [];
    const own = path.join(root, 'layercache-state-own');
    const removed = await removeAbandonedStateDirs(root, own, (text, level) => void said.push([level, text]));
    assert.deepEqual(removed.sort(), removable.sort());
    for (const dir of removed) await assert.rejects(fs.access(dir), { code: 'ENOENT' });
    for (const dir of [...kept, ...others, file, link, target]) await fs.access(dir);
    // A user's directory is not touched at all: its stale lock is not taken over and released.
    assert.equal(await fs.readFile(path.join(root, 'layercache-state-mine-crashed', 'lock'), 'utf8'), gone);
    assert.deepEqual(said.map(([level]) => level), ['info']);
    assert.match(said[0]![1], /removed 3 temporary state directories of servers that ended without closing: .*layercache-state-gone/);
    // Nothing left to remove: nothing said.
    said.length = 0;
    assert.deepEqual(await removeAbandonedStateDirs(root, own, (text, level) => void said.push([level, text])), []);
    assert.deepEqual(said, []);
  });

  it('takes the lock and checks the marker again before removing: a server that took the directory over meanwhile keeps it; one that vanished is passed over', async (t) => {
    const root = await tempDir('abandoned-race');
    const gone = `${DEAD_PID} ${await ownIdentity(root)}\n`;
    const adopted = await stateDir(root, 'layercache-state-adopted', { lock: gone });
    const taken = await stateDir(root, 'layercache-state-taken', { lock: gone });
    const vanishing = await stateDir(root, 'layercache-state-vanishing', { lock: gone });
    const said: string[] = [];
    const removed = await removeAbandonedStateDirs(root, '', (text) => void said.push(text), {
      beforeLock: async (dir) => {
        // A server took it over with --state and stopped again: unmarked now.
        if (dir === adopted) {
          await (await lockStateDir(dir))();
          await adoptStateDir(dir);
        }
        // A server holds it now.
        if (dir === taken) {
          const release = await lockStateDir(dir);
          t.after(() => release());
        }
        // Another server's sweep removed it.
        if (dir === vanishing) await fs.rm(dir, { recursive: true });
      },
    });
    assert.deepEqual(removed, []);
    assert.deepEqual(said, []);
    await fs.access(path.join(adopted, 'versions'));
    await fs.access(path.join(taken, 'versions'));
  });

  it('moves a directory away before removing its contents: a server taking the path over during the removal keeps what it writes', async (t) => {
    const root = await tempDir('abandoned-move');
    const dir = await stateDir(root, 'layercache-state-contested', { lock: `${DEAD_PID} ${await ownIdentity(root)}\n` });
    let adopter: (() => Promise<void>) | null = null;
    const rm = fs.rm.bind(fs);
    // The removal deletes the lock first, and a server given the path as --state starts right then.
    t.mock.method(fs, 'rm', async (target: string, opts?: { recursive?: boolean }) => {
      if (opts?.recursive && adopter === null) {
        await fs.rm(path.join(target, 'lock'), { force: true });
        await fs.mkdir(dir, { recursive: true });
        adopter = await lockStateDir(dir);
        await fs.writeFile(path.join(dir, 'buffer.bin'), 'the new server\'s');
      }
      return rm(target, opts);
    });
    assert.deepEqual(await removeAbandonedStateDirs(root, '', () => {}), [dir]);
    t.mock.restoreAll();
    assert.ok(adopter !== null, 'the removal ran');
    assert.equal(await fs.readFile(path.join(dir, 'buffer.bin'), 'utf8'), 'the new server\'s');
    assert.match(await fs.readFile(path.join(dir, 'lock'), 'utf8'), new RegExp(`^${process.pid} `));
    await (adopter as () => Promise<void>)();
    assert.deepEqual((await fs.readdir(root)).filter((n) => n.startsWith('.layercache-removing-')), [], 'nothing left aside');
  });

  it('lets the lock of a directory it moved away go without touching the path: a server there right after the move keeps its lock', async (t) => {
    const root = await tempDir('abandoned-moved');
    const dir = await stateDir(root, 'layercache-state-moved', { lock: `${DEAD_PID} ${await ownIdentity(root)}\n` });
    // Another process's server, given the path as --state, starts right after the move, before the sweep lets its lock go.
    const theirs = `${process.ppid} another-server-s-lock\n`;
    let started = false;
    const touched: string[] = [];
    const rename = fs.rename.bind(fs);
    t.mock.method(fs, 'rename', async (from: string, to: string) => {
      if (started) touched.push(from);
      await rename(from, to);
      if (from === dir && !started) {
        started = true;
        await fs.mkdir(dir);
        await fs.writeFile(path.join(dir, 'lock'), theirs);
      }
    });
    assert.deepEqual(await removeAbandonedStateDirs(root, '', () => {}), [dir]);
    t.mock.restoreAll();
    assert.ok(started, 'the directory was moved');
    assert.deepEqual(touched.filter((f) => f === path.join(dir, 'lock')), [], 'the new server\'s lock was not moved');
    assert.equal(await fs.readFile(path.join(dir, 'lock'), 'utf8'), theirs);
  });

  it('does not wait on a holder it cannot check that appeared since it looked (another container took the directory)', async () => {
    const root = await tempDir('abandoned-unknown');
    const dir = await stateDir(root, 'layercache-state-taken-elsewhere', { lock: `${DEAD_PID} ${await ownIdentity(root)}\n` });
    const removed = await removeAbandonedStateDirs(root, '', () => {}, {
      // With the default wait this would hang for 20 s of real time, then take the live lock over.
      beforeLock: async (d) => void await fs.writeFile(path.join(d, 'lock'), '1 other-host/boot/1/100 0123456789ab\n'),
    });
    assert.deepEqual(removed, []);
    assert.equal(await fs.readFile(path.join(dir, 'lock'), 'utf8'), '1 other-host/boot/1/100 0123456789ab\n');
  });

  it('knows its marker by name and text: a user\'s file of that name is neither swept nor removed at adoption; a removal cut short is finished', async () => {
    const root = await tempDir('abandoned-marker');
    const gone = `${DEAD_PID} ${await ownIdentity(root)}\n`;
    const look = await stateDir(root, 'layercache-state-lookalike', { lock: gone, marked: false, ageMs: 2 * HOUR });
    await fs.writeFile(path.join(look, TEMPORARY_MARKER), 'my notes\n');
    const asDir = await stateDir(root, 'layercache-state-marker-dir', { lock: gone, marked: false, ageMs: 2 * HOUR });
    await fs.mkdir(path.join(asDir, TEMPORARY_MARKER));
    const cut = path.join(root, '.layercache-removing-0123456789ab');
    await fs.mkdir(path.join(cut, 'versions'), { recursive: true });
    assert.deepEqual(await removeAbandonedStateDirs(root, '', () => {}), []);
    await assert.rejects(fs.access(cut), { code: 'ENOENT' });
    await adoptStateDir(look);
    await adoptStateDir(asDir);
    assert.equal(await fs.readFile(path.join(look, TEMPORARY_MARKER), 'utf8'), 'my notes\n');
    assert.ok((await fs.stat(path.join(asDir, TEMPORARY_MARKER))).isDirectory());
  });

  it('a root that cannot be listed is said, not thrown: the server starts anyway', async () => {
    const said: string[] = [];
    assert.deepEqual(await removeAbandonedStateDirs('/nonexistent-root-of-layercache', '', (text) => void said.push(text)), []);
    assert.match(said.join('\n'), /\/nonexistent-root-of-layercache could not be listed .*ENOENT/);
  });

  it('a server without --state sweeps its TMPDIR; one given a temporary directory as --state adopts it (no sweep removes it then)', async () => {
    const root = await tempDir('abandoned-serve');
    const model = path.join(root, 'model.onnx');
    await saveModel(mlp().model, model);
    const identity = await ownIdentity(root);
    const abandoned = await stateDir(root, 'layercache-state-abandoned', { lock: `${DEAD_PID} ${identity}\n` });
    const kept = await makeTemporaryStateDir(root);
    await fs.writeFile(path.join(kept, 'lock'), `${DEAD_PID} ${identity}\n`);
    const config = (stateDir: string | null) => loadConfig({ engine: { intraOpThreads: 1 }, serve: { port: 0, log: 'silent', stateDir, online: { enabled: false } } }, {});
    // Given as --state: the server takes its stale lock and the directory, whose marker goes.
    const adopting = await startServer(model, config(kept));
    try {
      await assert.rejects(fs.access(path.join(kept, TEMPORARY_MARKER)), { code: 'ENOENT' });
    } finally {
      await adopting.close();
    }
    const before = process.env.TMPDIR;
    process.env.TMPDIR = root;
    try {
      const temporary = await startServer(model, config(null));
      try {
        assert.equal(path.dirname(temporary.stateDir), root);
        await fs.access(path.join(temporary.stateDir, TEMPORARY_MARKER));
      } finally {
        await temporary.close();
      }
    } finally {
      if (before === undefined) delete process.env.TMPDIR;
      else process.env.TMPDIR = before;
    }
    await assert.rejects(fs.access(abandoned), { code: 'ENOENT' });
    await fs.access(kept);
    // Adopting a directory that is not marked changes nothing.
    await adoptStateDir(kept);
  });
});
