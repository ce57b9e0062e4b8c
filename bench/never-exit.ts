/**
 * Worst case of a bundle: inputs that never exit. The cascade still runs every kept head
 * (and, at batch > 1, one session per stage), so it can only be slower than the plain
 * backbone; the target is at most 5% slower. Backbone and never-exiting cascade are timed
 * in short alternating blocks on the same real inputs, at batch 1 and batch 64 (the
 * builder's own runtime check); the median per-block ratio is the robust figure.
 *   node --import tsx bench/never-exit.ts [BUNDLE_DIR] [--threads 2]
 */
import path from 'node:path';
import { measureCascade } from '../src/builder/index.ts';
import { loadBundle } from '../src/bundle/index.ts';
import { openDataSource } from '../src/data/index.ts';
import { parseModel } from '../src/onnx/index.ts';

const root = path.resolve(import.meta.dirname, '..');
const dir = process.argv[2] && !process.argv[2].startsWith('--') ? process.argv[2] : path.join(root, 'bench/results/bundles/resnet56-0.01');
const ti = process.argv.indexOf('--threads');
const engine = { intraOpThreads: ti >= 0 ? Number(process.argv[ti + 1]) : 2, graphOptimization: 'all' as const };
const assets = process.env.LAYERCACHE_ASSETS ?? path.resolve(root, '../shared/assets');
const bundle = await loadBundle(dir);
const m = bundle.manifest;
const data = await openDataSource(`cifar10:${path.join(assets, 'cifar10_test_jpeg.bin')}#5000-5999`, m.preprocess!);
const parts = {
  segments: bundle.segments, heads: bundle.heads, classes: m.source.classes, score: m.score.kind,
  exits: m.exits.map((e) => ({ tensor: e.tensor, threshold: Number.POSITIVE_INFINITY, temperature: e.temperature })),
};

console.log(`bundle ${dir}: ${m.exits.length} kept exits (candidates ${m.exits.map((e) => e.candidate).join(', ')})\n`);
console.log('| batch | backbone ms (mean) | never-exiting cascade ms (mean) | overhead of the means | median per-block overhead |\n|---:|---:|---:|---:|---:|');
for (const batch of [1, 64]) {
  const inputs = Array.from({ length: batch === 1 ? 1000 : 15 }, (_, k) => data.batch(k * batch, (k + 1) * batch));
  const r = await measureCascade(parseModel(bundle.backbone), parts, inputs, { engine, reps: 3 });
  console.log(`| ${batch} | ${r.backboneMs.toFixed(3)} | ${r.cascadeMs.toFixed(3)} | ${(100 * (r.cascadeMs / r.backboneMs - 1)).toFixed(1)}% | ${(100 * (r.ratio - 1)).toFixed(1)}% |`);
}
