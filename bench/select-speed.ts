/**
 * Speed of the exit and threshold selection on a real calibration table: every candidate head of the ResNet-56 1%
 * bundle is run on records 0–4999 (a build's calibration half), and selectPolicy is timed with a ResNet-56 build's
 * settings (tolerance 1%, margin 0.2 points, 5 cross-validation splits of 5 folds, MACs as the second objective)
 * on the latency table (the build's measured latency to each candidate exit and of each head) and on the MACs table.
 * Prints the median of the runs and the thresholds chosen, so that two versions can be compared for speed and for
 * choosing the same policy.
 *   node --import tsx bench/select-speed.ts [--runs 3] [BUNDLE_DIR]
 */
import path from 'node:path';
import { loadBundle } from '../src/bundle/index.ts';
import { argmaxRows, scoresFor, selectPolicy, type CalibrationTable } from '../src/calibrate/index.ts';
import { Cascade } from '../src/cascade/index.ts';
import { openDataSource } from '../src/data/index.ts';
import { analyzeModel, readBackbone } from '../src/inspect/index.ts';
import { extractSegments } from '../src/surgery/index.ts';

const root = path.resolve(import.meta.dirname, '..');
const args = process.argv.slice(2);
const runsAt = args.indexOf('--runs');
const runs = runsAt >= 0 ? Number(args.splice(runsAt, 2)[1]) : 3;
const dir = args[0] ?? path.join(root, 'bench/results/bundles/resnet56-0.01');
const assets = process.env.LAYERCACHE_ASSETS ?? path.resolve(root, '../shared/assets');
const engine = { intraOpThreads: 2, graphOptimization: 'all' as const };
const bundle = await loadBundle(dir);
const m = bundle.manifest;
const K = m.source.classes;
const data = await openDataSource(`cifar10:${path.join(assets, 'cifar10_test_jpeg.bin')}#0-4999`, m.preprocess!);
const backbone = readBackbone(bundle).model;
const a = await analyzeModel(backbone, { engine });
const segments = extractSegments(backbone, a.flow, m.candidates.map((c) => c.tensor), a.typeOf).map((s) => s.model);
const cascade = await Cascade.create({ segments, heads: bundle.candidateHeads, exits: m.candidates.map((c) => ({ tensor: c.tensor, threshold: Infinity, temperature: 1 })), classes: K, score: 'max' }, engine);
const heads = m.candidates.map(() => new Float32Array(data.count * K));
const logits = new Float32Array(data.count * K);
for (let s = 0; s < data.count; s += 250) {
  const t = await cascade.trace(data.batch(s, Math.min(data.count, s + 250)));
  t.heads.forEach((h, e) => heads[e]!.set(h, s * K));
  logits.set(t.logits, s * K);
}
await cascade.release();
const ref = argmaxRows(logits, K);
const total = m.source.totalMacs;
const metrics = m.metrics as { backbone?: { latencyMs?: number }; candidates?: { latencyMs?: number; refined?: boolean }[] };
// As in a build, only the refined candidates can be kept (the others' heads cost infinity).
const keepable = (e: number): boolean => metrics.candidates?.[e]?.refined !== false;
const columns = m.candidates.map((c, e) => ({
  score: scoresFor(m.score.kind, heads[e]!, K, c.temperature),
  correct: Uint8Array.from(argmaxRows(heads[e]!, K), (k, i) => (k === ref[i] ? 1 : 0)),
}));
const macsTable: CalibrationTable = { n: data.count, fullCost: total, exits: m.candidates.map((c, e) => ({ cost: c.cumulativeMacs, headCost: keepable(e) ? c.head.macs : Infinity, ...columns[e]! })) };
const backboneMs = metrics.backbone?.latencyMs;
if (!backboneMs || !metrics.candidates?.every((c) => c.latencyMs !== undefined)) throw new Error(`${dir} records no build latencies; give a bundle built by this version`);
// The manifest records no head latency: 2.5% of the backbone each, about what ResNet-56's heads cost (BENCHMARKS.md).
const latencyTable: CalibrationTable = {
  n: data.count, fullCost: backboneMs,
  exits: m.candidates.map((_, e) => ({ cost: metrics.candidates![e]!.latencyMs!, headCost: keepable(e) ? 0.025 * backboneMs : Infinity, ...columns[e]! })),
};
const median = (xs: number[]): number => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]!;
const shown = (t: readonly number[]): string => t.map((v, e) => (v === Infinity ? '' : `${e}:${v.toFixed(4)}`)).filter(Boolean).join(' ');
console.log(`${m.candidates.length} candidate exits × ${data.count} samples (bundle ${dir}); ${runs} runs each`);
for (const [name, table, secondary] of [['latency', latencyTable, macsTable], ['macs', macsTable, null]] as const) {
  const seconds: number[] = [];
  let chosen = '';
  for (let r = 0; r < runs; r++) {
    const t0 = performance.now();
    const s = selectPolicy(table, { tolerance: 0.01, margin: 0.002, cvSplits: 5, cvFolds: 5, ...(secondary ? { secondary: { table: secondary, within: 0.02 * table.fullCost } } : {}) });
    seconds.push((performance.now() - t0) / 1000);
    chosen = shown(s.policy.thresholds);
  }
  console.log(`${name} objective: median ${median(seconds).toFixed(2)} s (runs ${seconds.map((x) => x.toFixed(2)).join(', ')}); thresholds ${chosen}`);
}
