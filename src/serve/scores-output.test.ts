/**
 * Which output the server reads as class scores (--scores-output): a model whose scores are not its first output
 * is served, retrained, resumed and re-served from its bundle with them; a flag that contradicts a bundle's
 * reading is refused, one that agrees with it (its first output, for a plain bundle) is not.
 */
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { before, describe, it } from 'node:test';
import { loadBundle } from '../bundle/index.ts';
import { loadConfig } from '../config/index.ts';
import { LayercacheError } from '../errors/index.ts';
import { saveModel } from '../onnx/index.ts';
import { randomNormal, seededRng } from '../tensor/index.ts';
import { cli } from '../../test/support/cli.ts';
import { tempDir } from '../../test/support/temp-dir.ts';
import { residualNet, withEmbeddingFirst } from '../../test/support/models.ts';
import { startServer } from './server.ts';
import { VersionStore } from './version-store.ts';

let dir: string;
const sample = 3 * 8 * 8;

const body = (x: Float32Array): Record<string, unknown> => ({ inputs: [{ name: 'image', shape: [1, 3, 8, 8], datatype: 'FP32', data: Array.from(x) }] });

before(async () => {
  dir = await tempDir('scores');
});

const withScores = (stateDir: string, scoresOutput: string | null) => loadConfig({
  engine: { intraOpThreads: 1 },
  build: { folds: 2, epochs: 3, tolerance: 0.2, measureReps: 3, scoresOutput },
  serve: { name: 'tiny', log: 'silent', stateDir, online: { retrainAfter: 40, retrainEvery: 1_000_000 } },
}, {});

describe('--scores-output in serve', () => {
  it('a model whose class scores are not its first output (--scores-output): served, retrained, resumed and re-served from its bundle with them', { timeout: 300_000 }, async () => {
    const file = path.join(dir, 'embedding-first.onnx');
    await saveModel(withEmbeddingFirst(residualNet().model), file);
    const x = randomNormal(seededRng(61), 40 * sample);
    const send = async (srv: Awaited<ReturnType<typeof startServer>>) => {
      for (let i = 0; i < 40; i++) {
        const res = await srv.app.inject({ method: 'POST', url: '/v2/models/tiny/infer', payload: body(x.subarray(i * sample, (i + 1) * sample)) });
        assert.equal(res.statusCode, 200, res.body);
      }
    };
    const state = path.join(dir, 'scores-state');
    const first = await startServer(file, withScores(state, 'scores'));
    try {
      const res = await first.app.inject({ method: 'POST', url: '/v2/models/tiny/infer', payload: body(x.subarray(0, sample)) });
      const probs = res.json().outputs.find((o: { name: string }) => o.name === 'probabilities');
      assert.deepEqual(probs.shape, [1, 5], 'the five class scores, not the four-wide embedding');
      await send(first);
      await first.online.idle();
    } finally {
      await first.close();
    }
    const store = new VersionStore(state);
    assert.deepEqual(await store.list(), [1]);
    assert.equal((await loadBundle(store.dirOf(1))).manifest.source.reading?.scoresOutput, 'scores');
    // Restarted without the flag, the state's version reads another output than the server would: refused.
    await assert.rejects(startServer(file, withScores(state, null)), (e: unknown) => e instanceof LayercacheError && e.code === 'STATE_MISMATCH'
      && /reads the class scores from output 'scores', not from the first output \(--scores-output\)/.test(e.message));
    // Served as a bundle, it retrains from its own reading; a contrary flag is refused.
    const bundleDir = path.join(dir, 'scores-bundle');
    await fs.cp(store.dirOf(1), bundleDir, { recursive: true });
    await assert.rejects(startServer(bundleDir, withScores(path.join(dir, 'scores-state-usage'), 'embedding')), (e: unknown) => e instanceof LayercacheError && e.code === 'USAGE'
      && /--scores-output 'embedding' applies when serving a model; bundle .* reads its class scores from 'scores', as built/.test(e.message));
    const state2 = path.join(dir, 'scores-state-2');
    const again = await startServer(bundleDir, withScores(state2, null));
    try {
      await send(again);
      await again.online.idle();
    } finally {
      await again.close();
    }
    const store2 = new VersionStore(state2);
    const [latest] = (await store2.list()).slice(-1);
    assert.ok(latest !== undefined && latest > 1, 'a retrain from the bundle saved a version');
    assert.equal((await loadBundle(store2.dirOf(latest))).manifest.source.reading?.scoresOutput, 'scores');
  });

  it('a plain bundle (scores from its first output) is served with --scores-output naming that output, and refuses another', { timeout: 120_000 }, async () => {
    const model = path.join(dir, 'plain.onnx');
    await saveModel(residualNet().model, model);
    const data = path.join(dir, 'plain.f32');
    await fs.writeFile(data, randomNormal(seededRng(3), 200 * sample));
    const bundleDir = path.join(dir, 'plain-bundle');
    const b = await cli('build', model, '--data', `raw:${data}:3x8x8#0-199`, '--out', bundleDir, '--folds', '2', '--epochs', '1', '--tolerance', '0.2', '--threads', '1');
    assert.equal(b.code, 0, b.stderr);
    const s = await startServer(bundleDir, withScores(path.join(dir, 'plain-state'), 'logits'));
    await s.close();
    await assert.rejects(startServer(bundleDir, withScores(path.join(dir, 'plain-state-2'), 'probabilities')), (e: unknown) => e instanceof LayercacheError && e.code === 'USAGE'
      && /--scores-output 'probabilities' applies when serving a model; bundle .* reads its class scores from its first output 'logits', as built/.test(e.message));
  });
});
