/**
 * Speed of the exit and threshold selection on a real calibration table: every candidate head of the ResNet-56 1%
 * bundle is run on records 0–4999 (a build's calibration half), and selectPolicy is timed with a ResNet-56 build's
 * settings (tolerance 1%, margin 0.2 points, 5 cross-validation splits of 5 folds, MACs as the second objective)
 * on the latency table (the build's measured latency to each candidate exit and of each head) and on the MACs table.
 * Prints the median of the runs and the thresholds chosen, so that two versions can be compared for speed and for
 * choosing the same policy.
 *   node --import tsx bench/select-speed.ts [BUNDLE_DIR] [--runs 3]
 */
import path from 'node:path';
import { argmaxRows, scoresFor, selectPolicy, type CalibrationTable } from '../src/calibrate/index.ts';
import { traceCandidates } from './candidate-trace.ts';
import { bundleArg, countFlag } from './flags.ts';

const root = path.resolve(import.meta.dirname, '..');
const runs = countFlag('runs', 3);
const dir = bundleArg(root);
const assets = process.env.LAYERCACHE_ASSETS ?? path.resolve(root, '../shared/assets');
const { bundle, heads, reference: ref, count } = await traceCandidates(dir, assets, '0-4999');
const m = bundle.manifest;
const K = m.source.classes;
const total = m.source.totalMacs;
const metrics = m.metrics as { backbone?: { latencyMs?: number }; candidates?: { latencyMs?: number; refined?: boolean }[] };
// As in a build, only the refined candidates can be kept (the others' heads cost infinity).
const keepable = (e: number): boolean => metrics.candidates?.[e]?.refined !== false;
const columns = m.candidates.map((c, e) => ({
  score: scoresFor(m.score.kind, heads[e]!, K, c.temperature),
  correct: Uint8Array.from(argmaxRows(heads[e]!, K), (k, i) => (k === ref[i] ? 1 : 0)),
}));
const macsTable: CalibrationTable = { n: count, fullCost: total, exits: m.candidates.map((c, e) => ({ cost: c.cumulativeMacs, headCost: keepable(e) ? c.head.macs : Infinity, ...columns[e]! })) };
const backboneMs = metrics.backbone?.latencyMs;
if (!backboneMs || !metrics.candidates?.every((c) => c.latencyMs !== undefined)) throw new Error(`${dir} records no build latencies; give a bundle built by this version`);
// The manifest records no head latency: 2.5% of the backbone each, about what ResNet-56's heads cost (BENCHMARKS.md).
const latencyTable: CalibrationTable = {
  n: count, fullCost: backboneMs,
  exits: m.candidates.map((_, e) => ({ cost: metrics.candidates![e]!.latencyMs!, headCost: keepable(e) ? 0.025 * backboneMs : Infinity, ...columns[e]! })),
};
const median = (xs: number[]): number => [...xs].sort((x, y) => x - y)[Math.floor(xs.length / 2)]!;
const shown = (t: readonly number[]): string => t.map((v, e) => (v === Infinity ? '' : `${e}:${v.toFixed(4)}`)).filter(Boolean).join(' ');
console.log(`${m.candidates.length} candidate exits × ${count} samples (bundle ${dir}); ${runs} runs each`);
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
