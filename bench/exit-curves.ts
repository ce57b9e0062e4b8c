/**
 * Per-exit agreement-vs-hit-rate on held-out data: every candidate head of a bundle is
 * run on records 5000–9999, and for each exit we report its head's agreement with the
 * backbone and the largest fraction of samples it could answer (the most confident first)
 * while keeping agreement on those answers ≥ 99.5 / 99 / 98 / 95%. This is the headroom
 * the heads' confidence leaves, exit by exit.
 * Then the in-sample best with these heads (calibrate.inSampleSelection): exits and thresholds
 * chosen on the held-out samples themselves (no cross-validation, no margin, so optimistic;
 * found by search, not proven optimal), once with MACs as the cost and once with the build's
 * batch-1 latency to each exit (at the batch size the bundle was built for) and every head
 * and branch free. A bundle chosen honestly on other samples cannot expect to beat them.
 *   node --import tsx bench/exit-curves.ts [BUNDLE_DIR]
 */
import path from 'node:path';
import { answerableShare, argmaxRows, inSampleSelection, keptExits, scoresFor, type CalibrationTable } from '../src/calibrate/index.ts';
import { traceCandidates } from './candidate-trace.ts';
import { bundleArg } from './flags.ts';

const root = path.resolve(import.meta.dirname, '..');
const dir = bundleArg(root);
const assets = process.env.LAYERCACHE_ASSETS ?? path.resolve(root, '../shared/assets');
const { bundle, heads, reference: ref, count } = await traceCandidates(dir, assets, '5000-9999');
const m = bundle.manifest;
const K = m.source.classes;
const levels = [0.995, 0.99, 0.98, 0.95];
console.log(`bundle ${dir}, ${count} held-out samples\n`);
console.log(`| exit | tensor | MACs to here | head agreement | ${levels.map((l) => `hit rate at ${(100 * l).toFixed(1)}%`).join(' | ')} |`);
console.log(`|---:|---|---:|---:|${levels.map(() => '---:').join('|')}|`);
const scores = heads.map((h, e) => scoresFor(m.score.kind, h, K, m.candidates[e]!.temperature));
const correct = heads.map((h) => Uint8Array.from(argmaxRows(h, K), (c, i) => (c === ref[i] ? 1 : 0)));
m.candidates.forEach((c, e) => {
  const agree = correct[e]!.reduce((s, x) => s + x, 0);
  const best = levels.map((l) => answerableShare(scores[e]!, correct[e]!, l));
  const frac = c.cumulativeMacs / m.source.totalMacs;
  console.log(`| ${e} | ${c.tensor} | ${(100 * frac).toFixed(1)}% | ${(100 * agree / count).toFixed(1)}% | ${best.map((b) => `${(100 * b).toFixed(1)}%`).join(' | ')} |`);
});

// The in-sample best: selection on the held-out samples themselves.
const total = m.source.totalMacs;
const metrics = m.metrics as { backbone?: { latencyMs?: number }; candidates?: { latencyMs?: number }[] };
const backboneMs = metrics.backbone?.latencyMs;
const macsTable: CalibrationTable = {
  n: count, fullCost: 1,
  exits: m.candidates.map((c, e) => ({ cost: c.cumulativeMacs / total, headCost: c.head.macs / total, score: scores[e]!, correct: correct[e]! })),
};
const latencyTable: CalibrationTable | null = backboneMs && metrics.candidates?.every((c) => c.latencyMs !== undefined)
  ? { ...macsTable, exits: macsTable.exits.map((col, e) => ({ ...col, cost: metrics.candidates![e]!.latencyMs! / backboneMs, headCost: 0 })) }
  : null;
console.log(`\nIn-sample best with these heads (exits and thresholds chosen on these held-out samples; latency at batch ${(m.build as { batch?: number }).batch ?? 1}):\n`);
console.log('| tolerance | MACs saved (MACs objective) | exits | latency saved, heads and branches free (latency objective) | exits |');
console.log('|---:|---:|---:|---:|---:|');
for (const tolerance of [0.005, 0.01, 0.02]) {
  const bm = inSampleSelection(macsTable, tolerance);
  const cells = [`${(100 * (1 - bm.outcome.meanCost)).toFixed(1)}%`, `${keptExits(bm.policy).length}`];
  if (latencyTable) {
    const bl = inSampleSelection(latencyTable, tolerance);
    cells.push(`${(100 * (1 - bl.outcome.meanCost)).toFixed(1)}%`, `${keptExits(bl.policy).length}`);
  } else cells.push('(no build timings in the manifest)', '');
  console.log(`| ${(100 * tolerance).toFixed(1)}% | ${cells.join(' | ')} |`);
}
