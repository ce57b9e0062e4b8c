import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { CIFAR_RECORD_BYTES, readCifar } from './cifar.ts';

/** `records` CIFAR records, record i with label i % 10 and every pixel byte i. */
function records(n: number): Uint8Array {
  const b = new Uint8Array(n * CIFAR_RECORD_BYTES);
  for (let i = 0; i < n; i++) {
    b[i * CIFAR_RECORD_BYTES] = i % 10;
    b.fill(i, i * CIFAR_RECORD_BYTES + 1, (i + 1) * CIFAR_RECORD_BYTES);
  }
  return b;
}

describe('readCifar', () => {
  it('reads a range whole when the file system returns it in short reads, and refuses a file that shrank while it was read', async (t) => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'layercache-cifar-'));
    t.after(() => fs.rm(dir, { recursive: true, force: true }));
    const file = path.join(dir, 'data.bin');
    await fs.writeFile(file, records(4));
    // Each read returns at most 1,000 bytes (as a network file system may); after `endAt` bytes the file has "shrunk".
    const open = fs.open.bind(fs);
    let endAt = Number.POSITIVE_INFINITY;
    t.mock.method(fs, 'open', async (...args: Parameters<typeof fs.open>) => {
      const handle = await open(...args);
      const read = handle.read.bind(handle) as (b: Uint8Array, o: number, l: number, p: number) => Promise<{ bytesRead: number; buffer: Uint8Array }>;
      Object.assign(handle, {
        read: (b: Uint8Array, o: number, l: number, p: number) => (p >= endAt ? Promise.resolve({ bytesRead: 0, buffer: b }) : read(b, o, Math.min(l, 1000, endAt - p), p)),
      });
      return handle;
    });
    const got = await readCifar(file, 1, 4);
    assert.deepEqual(Array.from(got.labels), [1, 2, 3]);
    assert.equal(got.pixels[3 * 3072 - 1], 3, 'the last record read whole');
    endAt = 2 * CIFAR_RECORD_BYTES + 10;
    // Before: records 2 and 3 came back as zeros with label 0.
    await assert.rejects(readCifar(file, 1, 4), { code: 'DATA_SPEC_INVALID', message: /data\.bin ended at byte 6156 while records 1-3 were read \(it shrank/ });
  });
});
