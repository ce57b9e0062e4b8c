import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { tempDir } from '../../test/support/temp-dir.ts';
import { writeDirAtomic, writeFileAtomic } from './atomic-write.ts';
import { asideSibling, finishedAside, removeUnfinishedWritesSync, unfinishedAside } from './temp-siblings.ts';

describe('undoing unfinished writes at an interrupt', () => {
  it('removes the temporary paths of writes under way; the outputs they would replace are as they were', async () => {
    const root = await tempDir('undo');
    const out = path.join(root, 'bundle');
    await writeDirAtomic(out, async (tmp) => fs.writeFile(path.join(tmp, 'old'), 'old'));
    let release!: () => void;
    const held = new Promise<void>((r) => (release = r));
    let entered!: () => void;
    const filling = new Promise<void>((r) => (entered = r));
    const write = writeDirAtomic(out, async (tmp) => {
      await fs.writeFile(path.join(tmp, 'new'), 'new');
      entered();
      await held;
    }, { overwrite: true });
    await filling;
    assert.equal((await fs.readdir(root)).length, 2, 'the output and its temporary sibling');
    assert.equal(removeUnfinishedWritesSync(), 1);
    assert.deepEqual(await fs.readdir(root), ['bundle']);
    assert.deepEqual(await fs.readdir(out), ['old']);
    release();
    // (In the CLI the process exits here; in a test the write goes on, and fails for its removed directory.)
    await assert.rejects(write);
    assert.equal(removeUnfinishedWritesSync(), 0, 'a finished write is no longer undone');
    await writeFileAtomic(path.join(root, 'f'), 'x');
    assert.equal(removeUnfinishedWritesSync(), 0);
  });

  it('puts an output set aside back when its replacement did not land, else removes the aside copy', async () => {
    const root = await tempDir('undo-aside');
    const out = path.join(root, 'out');
    const aside = asideSibling(out);
    await fs.mkdir(aside);
    await fs.writeFile(path.join(aside, 'kept'), 'k');
    unfinishedAside(aside, out);
    assert.equal(removeUnfinishedWritesSync(), 0, 'no temporary output removed: the earlier output is put back');
    assert.deepEqual(await fs.readdir(root), ['out']);
    assert.deepEqual(await fs.readdir(out), ['kept']);
    // The replacement landed: the aside copy goes.
    const again = asideSibling(out);
    await fs.mkdir(again);
    unfinishedAside(again, out);
    removeUnfinishedWritesSync();
    assert.deepEqual(await fs.readdir(root), ['out']);
    // A finished one is left alone.
    const done = asideSibling(out);
    await fs.mkdir(done);
    unfinishedAside(done, out);
    finishedAside(done);
    assert.equal(removeUnfinishedWritesSync(), 0);
    assert.equal((await fs.readdir(root)).length, 2);
  });
});
