import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { notRegularFile } from './regular-file.ts';

describe('notRegularFile', () => {
  it('names what a path is when it is no regular file; null for a file (through a link) or a missing path', async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'layercache-regular-'));
    try {
      const file = path.join(dir, 'f');
      await fs.writeFile(file, 'x');
      await fs.symlink(file, path.join(dir, 'link'));
      execFileSync('mkfifo', [path.join(dir, 'fifo')]);
      assert.equal(await notRegularFile(file), null);
      assert.equal(await notRegularFile(path.join(dir, 'link')), null);
      assert.equal(await notRegularFile(path.join(dir, 'missing')), null);
      assert.equal(await notRegularFile(dir), 'a directory');
      assert.equal(await notRegularFile(path.join(dir, 'fifo')), 'a FIFO (named pipe)');
      assert.equal(await notRegularFile(path.join(dir, 'fifo'), { fifo: true }), null);
      assert.equal(await notRegularFile('/dev/zero', { fifo: true }), 'a device');
      assert.equal(await notRegularFile('/dev/zero'), 'a device');
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });
});
