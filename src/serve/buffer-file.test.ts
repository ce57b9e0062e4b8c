/**
 * The online buffer across restarts: the file round-trips and refuses damage, and a server restarted on the
 * same state directory keeps the samples its previous run buffered and its retrain schedule.
 */
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { before, describe, it } from 'node:test';
import { loadConfig } from '../config/index.ts';
import { LayercacheError } from '../errors/index.ts';
import { saveModel } from '../onnx/index.ts';
import { randomNormal, seededRng } from '../tensor/index.ts';
import { residualNet } from '../../test/support/models.ts';
import { tempDir } from '../../test/support/temp-dir.ts';
import { BUFFER_FILE, persistBufferFile, readBufferFile, restoreBufferFile, saveBufferFile, type BufferHeader } from './buffer-file.ts';
import { SampleBuffer } from './sample-buffer.ts';
import { startServer } from './server.ts';

let dir: string;

before(async () => {
  dir = await tempDir('buffer');
});

/** The header and every saved sample. */
async function readAll(file: string): Promise<{ header: BufferHeader; rows: Float32Array } | null> {
  let rows = new Float32Array(0);
  const header = await readBufferFile(file, (h) => (rows = new Float32Array(h.samples * h.sampleDims.reduce((a, b) => a * b, 1))));
  return header && { header, rows };
}

const header = (samples: number): BufferHeader => ({
  format: 'layercache.buffer/1', model: 'ab'.repeat(32), sampleDims: [2, 3], samples, admitted: 40, lastRetrainAt: 20, fruitlessRetrains: 2, savedAt: '2026-11-27T00:00:00.000Z',
});

const unreadable = (pattern: RegExp) => (e: unknown): boolean => e instanceof LayercacheError && e.code === 'FILE_UNREADABLE' && pattern.test(e.message);

describe('buffer file', () => {
  it('round-trips the header and the samples, written in parts', async () => {
    const file = path.join(dir, 'round', BUFFER_FILE);
    const rows = Float32Array.from({ length: 3 * 6 }, (_, i) => i * 0.5 - 2);
    await saveBufferFile(file, header(3), [rows.subarray(12), rows.subarray(0, 12)]);
    const read = await readAll(file);
    assert.deepEqual(read?.header, header(3));
    assert.deepEqual(Array.from(read!.rows), [...Array.from(rows.subarray(12)), ...Array.from(rows.subarray(0, 12))]);
    // A destination of one sample gets the newest; none (null) reads only the header.
    const newest = new Float32Array(6);
    assert.deepEqual(await readBufferFile(file, () => newest), header(3));
    assert.deepEqual(Array.from(newest), Array.from(rows.subarray(6, 12)));
    assert.deepEqual(await readBufferFile(file, () => null), header(3));
    await assert.rejects(readBufferFile(file, () => new Float32Array(5)), { code: 'INTERNAL' });
    assert.equal(await readBufferFile(path.join(dir, 'absent.bin'), () => null), null);
    await assert.rejects(saveBufferFile(file, header(2), [rows]), /holds 18 values, not 2 samples × 6/);
  });

  it('refuses a truncated file, a bad header and trailing bytes, naming the file', async () => {
    const file = path.join(dir, 'damaged.bin');
    await saveBufferFile(file, header(2), [new Float32Array(12)]);
    const whole = await fs.readFile(file);
    await fs.writeFile(file, whole.subarray(0, whole.length - 4));
    await assert.rejects(readAll(file), unreadable(/damaged\.bin is \d+ bytes long, but its header announces 2 samples of 24 bytes .* truncated or corrupted/));
    await fs.writeFile(file, Buffer.concat([whole, Buffer.alloc(4)]));
    await assert.rejects(readAll(file), unreadable(/truncated or corrupted/));
    await fs.writeFile(file, Buffer.from([1, 2]));
    await assert.rejects(readAll(file), unreadable(/is 2 bytes long, too short for a header/));
    const bad = Buffer.from(whole);
    bad.write('{"format":"other"', 4, 'utf8');
    await fs.writeFile(file, bad);
    await assert.rejects(readAll(file), unreadable(/has no valid header; it is ignored/));
    const huge = Buffer.from(whole);
    huge.writeUInt32LE(0xfffffff0, 0);
    await fs.writeFile(file, huge);
    await assert.rejects(readAll(file), unreadable(/announces a header of 4294967280 bytes/));
  });
});

describe('online buffer across restarts', () => {
  it('restores a buffer only for the preprocessing that made its samples (a file without it, from before, whatever it is now)', async () => {
    const file = path.join(dir, 'prep.bin');
    const a = { scale: 255, mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225], layout: 'nchw' as const };
    const b = { ...a, mean: [0], std: [1] };
    const owner = (preprocess: typeof a | null) => ({ model: 'ab'.repeat(32), sampleDims: [2, 3], preprocess });
    const warnings: string[] = [];
    const log = { info: () => {}, warn: (_: object, m: string) => void warnings.push(m), error: (_: object, m: string) => void warnings.push(m) };
    const save = async (preprocess: typeof a | null): Promise<void> => {
      const buffer = new SampleBuffer(6, 10, 1 << 20);
      buffer.add(Float32Array.from({ length: 12 }, (_, i) => i), 2);
      await persistBufferFile(file, buffer, { ...owner(preprocess), lastRetrainAt: 0, fruitlessRetrains: 0 }, log);
    };
    for (const [savedWith, now, restored] of [[a, a, 2], [a, b, 0], [a, null, 0], [null, null, 2], [null, a, 0]] as const) {
      await save(savedWith);
      const buffer = new SampleBuffer(6, 10, 1 << 20);
      warnings.length = 0;
      await restoreBufferFile(file, buffer, owner(now), log);
      assert.equal(buffer.size, restored, `saved with ${JSON.stringify(savedWith)}, restored under ${JSON.stringify(now)}`);
      if (restored === 0) assert.match(warnings.join('\n'), /holds samples of images preprocessed otherwise \(.*\), which a retrain would mix with today's; not restored/);
    }
    // A file saved before the preprocessing was kept in it is restored as before.
    const old = new SampleBuffer(6, 10, 1 << 20);
    await saveBufferFile(file, header(2), [new Float32Array(12)]);
    await restoreBufferFile(file, old, { ...owner(b), model: header(2).model }, log);
    assert.equal(old.size, 2);
  });

  it('a restarted server keeps the buffered samples and the retrain schedule; another model\'s buffer is not restored', { timeout: 120_000 }, async () => {
    const modelFile = path.join(dir, 'tiny.onnx');
    await saveModel(residualNet().model, modelFile);
    const state = path.join(dir, 'state');
    const lines: string[] = [];
    const configFor = (stateDir: string): ReturnType<typeof loadConfig> => loadConfig({
      engine: { intraOpThreads: 1 },
      build: { folds: 2, epochs: 3, tolerance: 0.2, measureReps: 3 },
      serve: { name: 'tiny', log: 'info', stateDir, online: { retrainAfter: 150, retrainEvery: 1_000_000 } },
    }, {});
    const config = configFor(state);
    const x = randomNormal(seededRng(5), 100 * 3 * 8 * 8);
    const send = async (s: Awaited<ReturnType<typeof startServer>>, from: number, count: number): Promise<void> => {
      for (let i = from; i < from + count; i++) {
        const data = Array.from(x.subarray((i % 100) * 192, (i % 100 + 1) * 192));
        const r = await s.app.inject({ method: 'POST', url: '/v2/models/tiny/infer', payload: { inputs: [{ name: 'image', shape: [1, 3, 8, 8], datatype: 'FP32', data }] } });
        assert.equal(r.statusCode, 200, r.body);
      }
    };

    const first = await startServer(modelFile, config, { write: (l) => void lines.push(l) });
    await send(first, 0, 100);
    assert.equal(first.online.status().bufferSamples, 100);
    await first.close();
    const saved = await readAll(path.join(state, BUFFER_FILE));
    assert.equal(saved?.header.samples, 100);
    // The clients' inputs and the versions are private: the state directory the server made is 0700, the buffer 0600.
    assert.equal((await fs.stat(state)).mode & 0o777, 0o700);
    assert.equal((await fs.stat(path.join(state, BUFFER_FILE))).mode & 0o077, 0, 'buffer.bin readable by this user only');
    assert.deepEqual(Array.from(saved!.rows.subarray(0, 192)), Array.from(x.subarray(0, 192)), 'the oldest sample first, as served');

    const second = await startServer(modelFile, config, { write: (l) => void lines.push(l) });
    try {
      const st = second.online.status();
      assert.equal(st.bufferSamples, 100);
      assert.equal(st.restoredSamples, 100);
      assert.equal(st.admitted, 100);
      assert.ok(lines.some((l) => /online buffer: restored 100 samples saved at/.test(JSON.parse(l).msg)), lines.join(''));
      // Consumed: if this server crashed, the next start would not count these samples (and their schedule) again.
      await assert.rejects(fs.access(path.join(state, BUFFER_FILE)), 'the restored file is removed');
      // The first retrain is due at 150 admitted samples in all, counting those of the first run.
      await send(second, 100, 49);
      assert.equal(second.online.status().retraining, false);
      await send(second, 149, 1);
      assert.equal(second.online.status().retraining, true, 'the 150th sample over both runs starts the first retrain');
      await second.online.idle();
      assert.equal(second.online.status().version, 1);
    } finally {
      await second.close();
    }

    // Served by another model (another sha256, the same input): the saved buffer is skipped with the reason, not restored.
    const other = residualNet(13);
    const otherFile = path.join(dir, 'other.onnx');
    await saveModel(other.model, otherFile);
    const otherState = path.join(dir, 'other-state');
    await fs.mkdir(otherState);
    await fs.copyFile(path.join(state, BUFFER_FILE), path.join(otherState, BUFFER_FILE));
    lines.length = 0;
    const third = await startServer(otherFile, configFor(otherState), { write: (l) => void lines.push(l) });
    try {
      assert.equal(third.online.status().bufferSamples, 0);
      assert.ok(lines.some((l) => /holds samples of another model .*; not restored/.test(JSON.parse(l).msg)), lines.join(''));
    } finally {
      await third.close();
    }
  });
});
