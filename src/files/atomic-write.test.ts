import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { writeDirAtomic, writeFileAtomic } from './atomic-write.ts';
import { tempDir } from '../../test/support/temp-dir.ts';

describe('atomic writes', () => {
  it('a failing fill leaves neither the directory nor temporary files behind', async () => {
    const root = await tempDir('atomic');
    const dir = path.join(root, 'out');
    await assert.rejects(writeDirAtomic(dir, async (tmp) => {
      await writeFileAtomic(path.join(tmp, 'a.txt'), 'a');
      throw new Error('boom');
    }), /boom/);
    assert.deepEqual(await fs.readdir(root), []);
  });

  it('replaces an existing directory only with overwrite', async () => {
    const root = await tempDir('atomic');
    const dir = path.join(root, 'out');
    await writeDirAtomic(dir, (tmp) => writeFileAtomic(path.join(tmp, 'v1'), '1'));
    await assert.rejects(writeDirAtomic(dir, (tmp) => writeFileAtomic(path.join(tmp, 'v2'), '2')), { code: 'OUTPUT_EXISTS', message: /already exists and is not empty; choose another one, or replace it \(--force; from code, overwrite: true\)/ });
    await writeDirAtomic(dir, (tmp) => writeFileAtomic(path.join(tmp, 'v2'), '2'), { overwrite: true });
    assert.deepEqual(await fs.readdir(dir), ['v2']);
    assert.deepEqual(await fs.readdir(root), ['out']);
  });

  it('accepts a directory given with a trailing slash', async () => {
    const root = await tempDir('atomic');
    await writeDirAtomic(`${path.join(root, 'bundle')}/`, (tmp) => writeFileAtomic(path.join(tmp, 'a'), 'a'));
    assert.deepEqual(await fs.readdir(root), ['bundle']);
    assert.deepEqual(await fs.readdir(path.join(root, 'bundle')), ['a']);
  });
});
