import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { isWithin, realPath } from './within.ts';

test('realPath resolves links as far as the path exists; isWithin compares whole path segments', async () => {
  const dir = await fs.realpath(await fs.mkdtemp(path.join(os.tmpdir(), 'layercache-within-')));
  try {
    await fs.mkdir(path.join(dir, 'real'));
    await fs.symlink(path.join(dir, 'real'), path.join(dir, 'link'));
    assert.equal(await realPath(path.join(dir, 'link', 'not', 'yet')), path.join(dir, 'real', 'not', 'yet'));
    assert.equal(isWithin(await realPath(path.join(dir, 'link', 'report.html')), await realPath(path.join(dir, 'real'))), true);
    assert.equal(isWithin(path.join(dir, 'real'), path.join(dir, 'real')), true);
    assert.equal(isWithin(path.join(dir, 'realm'), path.join(dir, 'real')), false, 'a sibling sharing a prefix is not inside');
    assert.equal(isWithin('/a/b', '/'), true);
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
});
