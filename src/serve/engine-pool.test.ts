/**
 * The engine pool with a real worker thread: verification of early answers runs after each
 * batch when nothing else waits, and is held back and batched while more batches wait.
 */
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { loadBundle } from '../bundle/index.ts';
import { saveModel } from '../onnx/index.ts';
import { randomNormal, seededRng } from '../tensor/index.ts';
import { cli } from '../../test/support/cli.ts';
import { saveWithForcedExit } from '../../test/support/forced-exit.ts';
import { residualNet } from '../../test/support/models.ts';
import { EnginePool } from './engine-pool.ts';

const sample = 3 * 8 * 8;
let dir: string;
let forced: string;

before(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'layercache-pool-'));
  const model = path.join(dir, 'tiny.onnx');
  await saveModel(residualNet().model, model);
  const data = path.join(dir, 'samples.f32');
  await fs.writeFile(data, randomNormal(seededRng(3), 100 * sample));
  const b = await cli('build', model, '--data', `raw:${data}:3x8x8#0-99`, '--out', path.join(dir, 'built'), '--folds', '2', '--epochs', '1', '--tolerance', '0.2', '--threads', '1');
  assert.equal(b.code, 0, b.stderr);
  // Every row exits at candidate 0 (threshold 0), so every row picked for verification is an early answer.
  forced = path.join(dir, 'forced');
  await saveWithForcedExit(await loadBundle(path.join(dir, 'built')), 0, 0, forced);
});

after(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

describe('EnginePool verification', () => {
  it('verifies at once when no batch waits, batches verification while batches wait, and verifies what is pending before closing', async () => {
    const verified: number[] = [];
    const failures: Error[] = [];
    const pool = await EnginePool.start(1, { kind: 'bundle', dir: forced }, 1, {
      engine: { intraOpThreads: 1, graphOptimization: 'all' }, sampleDims: [3, 8, 8],
      onVerified: (v) => verified.push(v.rows), onWorkerError: (e) => failures.push(e),
    });
    const x = randomNormal(seededRng(4), 8 * sample);
    const all = (n: number) => new Uint8Array(n).fill(1);
    // The worker handles messages in order and verifies before taking the next one, so once a
    // batch's result is back, every verification of earlier batches has been reported.
    try {
      await pool.run(x.slice(0, 2 * sample), 2, all(2), false);
      await pool.run(x.slice(0, sample), 1, new Uint8Array(1), true);
      assert.deepEqual(verified, [2], 'nothing waited: verified right after its batch');
      for (let k = 0; k < 3; k++) await pool.run(x.slice(0, 5 * sample), 5, all(5), true);
      await pool.run(x.slice(0, sample), 1, new Uint8Array(1), true);
      assert.deepEqual(verified, [2], '15 rows pending under load: held back');
      await pool.run(x.slice(0, 5 * sample), 5, all(5), true);
      await pool.run(x.slice(0, sample), 1, new Uint8Array(1), true);
      assert.deepEqual(verified, [2, 20], 'at 16 or more pending rows: one backbone batch');
      await pool.run(x.slice(0, 3 * sample), 3, all(3), true);
    } finally {
      await pool.close();
    }
    assert.deepEqual(verified, [2, 20, 3], 'pending rows are verified before the worker closes');
    assert.deepEqual(failures, []);
  });
});
