import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { SILENT } from '../progress/index.ts';
import { randomNormal, seededRng } from '../tensor/index.ts';
import type { FeatureSet } from './collect.ts';
import { predictHeads, trainHeads } from './train-heads.ts';

const engine = { intraOpThreads: 1, graphOptimization: 'all' } as const;

function tinySet(): FeatureSet {
  const rng = seededRng(5);
  const n = 64;
  const x = randomNormal(rng, n * 8);
  // Teacher: a fixed linear map of the features, so a head can learn it.
  const w = randomNormal(rng, 8 * 3);
  const teacher = new Float32Array(n * 3);
  for (let i = 0; i < n; i++) for (let k = 0; k < 3; k++) for (let d = 0; d < 8; d++) teacher[i * 3 + k]! += 2 * x[i * 8 + d]! * w[k * 8 + d]!;
  return { count: n, samples: n, classes: 3, teacher, labels: null, features: [{ exit: 0, pool: 1, dim: 8, data: x }] };
}

describe('head training', () => {
  const set = tinySet();
  const jobs = [{ spec: { pool: 1, hidden: 6, dropout: 0.2 }, features: set.features[0]! }, { spec: { pool: 1, hidden: 0, dropout: 0 }, features: set.features[0]! }];
  const rows = Int32Array.from({ length: 64 }, (_, i) => i);
  const settings = { epochs: 30, batchSize: 16, learningRate: 0.01, weightDecay: 0, temperature: 1, seed: 3 };

  it('is deterministic for a seed (dropout included) and differs across seeds', async () => {
    const a = await trainHeads(jobs, set, rows, settings, { engine, progress: SILENT });
    const b = await trainHeads(jobs, set, rows, settings, { engine, progress: SILENT });
    const c = await trainHeads(jobs, set, rows, { ...settings, seed: 4 }, { engine, progress: SILENT });
    assert.deepEqual(a.params, b.params);
    assert.notDeepEqual(a.params[0]![0]!.data, c.params[0]![0]!.data);
    assert.ok(a.gflops > 0);
  });

  it('gives the same heads whether a run holds one optimiser step or many (the training loop carries state exactly)', async () => {
    // 4 steps per epoch: runs of 1, of 3 (a run ends mid-epoch) and the default (one run per epoch).
    const one = await trainHeads(jobs, set, rows, { ...settings, epochs: 3 }, { engine, progress: SILENT, stepsPerRun: 1 });
    const three = await trainHeads(jobs, set, rows, { ...settings, epochs: 3 }, { engine, progress: SILENT, stepsPerRun: 3 });
    const all = await trainHeads(jobs, set, rows, { ...settings, epochs: 3 }, { engine, progress: SILENT });
    assert.deepEqual(three.params, one.params);
    assert.deepEqual(all.params, one.params);
    assert.deepEqual(all.losses, one.losses);
    assert.notDeepEqual(one.params[0]![0]!.data, (await trainHeads(jobs, set, rows, { ...settings, epochs: 2 }, { engine, progress: SILENT })).params[0]![0]!.data);
  });

  it('learns the teacher: the loss falls and the heads agree with it on most rows', async () => {
    const r = await trainHeads(jobs, set, rows, { ...settings, epochs: 150, learningRate: 0.03 }, { engine, progress: SILENT });
    const lp = await predictHeads(jobs, r.params, set, rows, engine);
    const argmax = (v: Float32Array, i: number) => [0, 1, 2].reduce((best, k) => (v[i * 3 + k]! > v[i * 3 + best]! ? k : best), 0);
    for (const [j, p] of lp.entries()) {
      let agree = 0;
      for (let i = 0; i < 64; i++) if (argmax(p, i) === argmax(set.teacher, i)) agree++;
      assert.ok(agree >= 56, `head ${j} agrees on ${agree}/64`);
      assert.ok(r.losses[j]! < 0.3, `head ${j} final loss ${r.losses[j]}`);
    }
  });
});
