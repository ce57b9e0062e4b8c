/**
 * Worst case of a bundle: inputs that never exit. The cascade still runs every kept head
 * and its exit decision (an If level at batch 1, Compress at batch N), so it can only be slower than the plain
 * backbone; the target is at most 5% slower. Backbone and never-exiting cascade are timed
 * in short alternating blocks on the same real inputs, at batch 1 and batch 64 (the
 * builder's own runtime check); the median per-block ratio is the robust figure.
 * Then, to split that batch-1 overhead, the backbone with the kept heads attached as extra
 * outputs (heads run, no If) against the backbone alone.
 *   node --import tsx bench/never-exit.ts [BUNDLE_DIR] [--threads 2]
 */
import path from 'node:path';
import { measureCascade, timeAlternating } from '../src/builder/index.ts';
import { loadBundle } from '../src/bundle/index.ts';
import { openDataSource } from '../src/data/index.ts';
import { Session } from '../src/engine/index.ts';
import { HEAD_INPUT } from '../src/heads/index.ts';
import { readBackbone } from '../src/inspect/index.ts';
import { appendGraph, serializeModel } from '../src/onnx/index.ts';
import type { Tensor } from '../src/tensor/index.ts';
import { bundleArg, numberFlag } from './flags.ts';

const root = path.resolve(import.meta.dirname, '..');
const dir = bundleArg(root);
const engine = { intraOpThreads: numberFlag('threads', 2), graphOptimization: 'all' as const };
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
  const r = await measureCascade(readBackbone(bundle).model, parts, inputs, { engine, reps: 3 });
  console.log(`| ${batch} | ${r.backboneMs.toFixed(3)} | ${r.cascadeMs.toFixed(3)} | ${(100 * (r.cascadeMs / r.backboneMs - 1)).toFixed(1)}% | ${(100 * (r.ratio - 1)).toFixed(1)}% |`);
}

// Where the batch-1 overhead comes from: the backbone with every kept head attached as an extra
// output (heads run, no If) against the backbone alone, in the same alternating 20-input blocks.
let withHeads = readBackbone(bundle).model;
m.exits.forEach((e, j) => { withHeads = appendGraph(withHeads, bundle.heads[j]!, { [HEAD_INPUT]: e.tensor }, `lc_head${j}/`); });
const plain = await Session.create(readBackbone(bundle).bytes, 'backbone', engine);
const flat = await Session.create(serializeModel(withHeads), 'backbone + heads', engine);
const feed = (sess: Session, x: Tensor): Record<string, Tensor> => ({ [sess.inputs[0]!.name]: x });
const split = await timeAlternating({
  backbone: (x) => plain.run(feed(plain, x)),
  heads: (x) => flat.run(feed(flat, x)),
}, Array.from({ length: 1000 }, (_, k) => data.batch(k, k + 1)), { passes: 3, warmup: 20 });
console.log(`\nbatch 1, the kept heads attached to the backbone without any If (median per-block overhead): ${(100 * (split.heads!.ratio - 1)).toFixed(1)}%`);
await plain.release();
await flat.release();
