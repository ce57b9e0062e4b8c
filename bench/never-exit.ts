/**
 * Worst case of a bundle: inputs that never exit. The cascade still runs every kept head
 * (and, at batch > 1, one session per stage), so it can only be slower than the plain
 * backbone; the target is at most 5% slower. Backbone and never-exiting cascade are timed
 * in alternating blocks on the same real inputs, at batch 1 and batch 64.
 *   node --import tsx bench/never-exit.ts [BUNDLE_DIR] [--threads 2]
 */
import path from 'node:path';
import { loadBundle } from '../src/bundle/index.ts';
import { Cascade } from '../src/cascade/index.ts';
import { openDataSource } from '../src/data/index.ts';
import { Session } from '../src/engine/index.ts';

const root = path.resolve(import.meta.dirname, '..');
const dir = process.argv[2] && !process.argv[2].startsWith('--') ? process.argv[2] : path.join(root, 'bench/results/bundles/resnet56-0.01');
const ti = process.argv.indexOf('--threads');
const engine = { intraOpThreads: ti >= 0 ? Number(process.argv[ti + 1]) : 2, graphOptimization: 'all' as const };
const assets = process.env.LAYERCACHE_ASSETS ?? path.resolve(root, '../shared/assets');
const bundle = await loadBundle(dir);
const m = bundle.manifest;
const data = await openDataSource(`cifar10:${path.join(assets, 'cifar10_test_jpeg.bin')}#5000-5999`, m.preprocess!);
const backbone = await Session.create(bundle.backbone, 'backbone', engine);
const never = await Cascade.fromBundle(bundle, engine, m.exits.map(() => Number.POSITIVE_INFINITY));
const input = backbone.inputs[0]!.name;

console.log(`bundle ${dir}: ${m.exits.length} kept exits (candidates ${m.exits.map((e) => e.candidate).join(', ')})\n`);
console.log('| batch | backbone ms | never-exiting cascade ms | overhead |\n|---:|---:|---:|---:|');
for (const batch of [1, 64]) {
  const xs = Array.from({ length: batch === 1 ? 1000 : 15 }, (_, k) => data.batch(k * batch, (k + 1) * batch));
  let tb = 0;
  let tc = 0;
  for (let rep = 0; rep < 3; rep++) {
    for (let s = 0; s < xs.length; s += 50) {
      const block = xs.slice(s, s + 50);
      await backbone.run({ [input]: block[0]! });
      let t = performance.now();
      for (const x of block) await backbone.run({ [input]: x });
      tb += performance.now() - t;
      await never.run(block[0]!);
      t = performance.now();
      for (const x of block) await never.run(x);
      tc += performance.now() - t;
    }
  }
  const runs = 3 * xs.length;
  console.log(`| ${batch} | ${(tb / runs).toFixed(3)} | ${(tc / runs).toFixed(3)} | ${(100 * (tc / tb - 1)).toFixed(1)}% |`);
}
await backbone.release();
await never.release();
