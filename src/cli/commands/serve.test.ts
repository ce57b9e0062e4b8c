/** The serve command's labels file: one class name per line, in class order. */
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { test } from 'node:test';
import { readLabels } from './serve.ts';

test('reads one label per line, with or without a final newline, CRLF too', async () => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'layercache-labels-'));
  try {
    const file = path.join(dir, 'labels.txt');
    await fs.writeFile(file, 'cat\r\ndog\nbird\n');
    assert.deepEqual(await readLabels(file), ['cat', 'dog', 'bird']);
    await assert.rejects(readLabels('/dev/zero'), { code: 'FILE_UNREADABLE', message: /^labels file \/dev\/zero is a device; give a text file/ });
    await fs.writeFile(file, 'cat\ndog');
    assert.deepEqual(await readLabels(file), ['cat', 'dog']);
    await fs.writeFile(file, 'cat\ndog\n\n  \n');
    assert.deepEqual(await readLabels(file), ['cat', 'dog']);
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
});

test('refuses a blank line, which would shift every later name onto the wrong class', async () => {
  const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'layercache-labels-'));
  try {
    const file = path.join(dir, 'labels.txt');
    await fs.writeFile(file, 'a\n\nc\n');
    await assert.rejects(readLabels(file), (e: Error & { code?: string }) => e.code === 'CONFIG_INVALID' && /blank line 2/.test(e.message));
    await fs.writeFile(file, '\n');
    await assert.rejects(readLabels(file), (e: Error & { code?: string }) => e.code === 'CONFIG_INVALID' && /is empty/.test(e.message));
  } finally {
    await fs.rm(dir, { recursive: true, force: true });
  }
});
