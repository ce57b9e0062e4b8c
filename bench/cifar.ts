/**
 * `npm run bench:cifar`: the paper's protocol, honestly. For ResNet-20/32/56 from
 * ../shared/assets at tolerance 0.5%, 1% and 2%: heads are trained and thresholds chosen
 * on records 0–4999 of cifar10_test_jpeg.bin; everything is evaluated on records
 * 5000–9999, backbone and bundle in the same run. The paper's rule (every exit, one
 * global max-softmax threshold) is evaluated at equal held-out agreement, its threshold
 * tuned on the held-out half itself (in its favour).
 * Writes bench/results/cifar-<model>-<tol>.json and the table in BENCHMARKS.md.
 *   npm run bench:cifar [-- --models resnet56 --tolerances 0.01 --threads 2]
 * Experiments (written under --tag, not into the table): --objective macs, --augment, --family,
 * --epochs N, --train-batch N, --refine-exits N, --screen-epochs N.
 */
import { existsSync, promises as fs } from 'node:fs';
import path from 'node:path';
import { headCommit } from './git-commit.ts';
import { buildCascade } from '../src/builder/index.ts';
import { loadBundle, saveBundle } from '../src/bundle/index.ts';
import { loadConfig } from '../src/config/index.ts';
import { openDataSource, parseAugmentList } from '../src/data/index.ts';
import { evaluateBundle, type EvalReport } from '../src/evaluate/index.ts';
import { loadModelFile } from '../src/onnx/index.ts';
import type { Progress } from '../src/progress/index.ts';
import { flag, hasFlag, numberFlag, numberListFlag, optionalNumberFlag } from './flags.ts';
import { renderCifarTable } from './render-cifar.ts';

const root = path.resolve(import.meta.dirname, '..');
const assets = process.env.LAYERCACHE_ASSETS ?? path.resolve(root, '../shared/assets');
const models = flag('models', 'resnet20,resnet32,resnet56').split(',');
const tolerances = numberListFlag('tolerances', '0.005,0.01,0.02');
const threads = numberFlag('threads', 2);
const latencySamples = numberFlag('latency-samples', 2000);
// Experiments: other build settings, written under a tag instead of the table's files.
// NAME or NAME:COUNT entries, parsed as `layercache build --augment` parses them.
const augment = parseAugmentList(flag('augment', 'flip'), '--augment');
const family = hasFlag('family') ? JSON.parse(flag('family', '[]')) as { pool: number; hidden: number; dropout: number }[] : undefined;
const objective = flag('objective', 'latency') as 'latency' | 'macs';
const epochs = optionalNumberFlag('epochs');
const trainBatch = optionalNumberFlag('train-batch');
const refineExits = optionalNumberFlag('refine-exits');
const screenEpochs = optionalNumberFlag('screen-epochs');
const batch = optionalNumberFlag('batch');
const tag = flag('tag', '');

if (!existsSync(path.join(assets, 'cifar10_test_jpeg.bin'))) {
  console.log(`skipping: ${assets}/cifar10_test_jpeg.bin not found (set LAYERCACHE_ASSETS)`);
  process.exit(0);
}

const log: Progress = {
  note: (t) => console.log(`  ${t}`),
  phase: (label) => {
    const t0 = performance.now();
    return { tick: () => {}, end: () => console.log(`  ${label}: ${((performance.now() - t0) / 1000).toFixed(1)} s`) };
  },
};
const preprocess = { scale: 255, mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225], layout: 'nchw' as const };
const data = path.join(assets, 'cifar10_test_jpeg.bin');
await fs.mkdir(path.join(root, 'bench/results/bundles'), { recursive: true });

interface Row { model: string; tolerance: number; buildSeconds: number; report: EvalReport; build: unknown }
const rows: Row[] = [];
// Recorded per row: the table may gather rows from runs at different commits.
const commit = headCommit(root);
for (const name of models) {
  const file = path.join(assets, `cifar10_${name}.onnx`);
  for (const tolerance of tolerances) {
    console.log(`${name} tolerance ${tolerance}`);
    const config = loadConfig({ engine: { intraOpThreads: threads }, build: { tolerance, augment, objective, ...(family ? { family } : {}), ...(epochs ? { epochs } : {}), ...(trainBatch ? { trainBatch } : {}), ...(refineExits ? { refineExits } : {}), ...(screenEpochs ? { screenEpochs } : {}), ...(batch ? { batch } : {}) }, preprocess });
    const t0 = performance.now();
    const { model, bytes } = await loadModelFile(file);
    const result = await buildCascade({ modelFile: file, modelBytes: bytes, model, data: await openDataSource(`cifar10:${data}#0-4999`, preprocess), preprocess },
      config.build, config.engine, log);
    const dir = path.join(root, `bench/results/bundles/${name}-${tolerance}${tag ? `-${tag}` : ''}`);
    await saveBundle(dir, result.manifest, { backbone: bytes, segments: result.segments, heads: result.heads, candidateHeads: result.candidateHeads }, { overwrite: true });
    const buildSeconds = (performance.now() - t0) / 1000;
    console.log(`  build: ${buildSeconds.toFixed(1)} s, ${result.manifest.exits.length} exits`);
    const report = await evaluateBundle(await loadBundle(dir), await openDataSource(`cifar10:${data}#5000-9999`, preprocess), {
      engine: config.engine, progress: log, latencySamples, paper: 'match',
    });
    const { latencyTrace: _t, ...json } = report;
    void _t;
    const row = { model: name, tolerance, commit, buildSeconds, report, build: result.report };
    rows.push(row);
    await fs.writeFile(path.join(root, `bench/results/${tag ? `experiment-${tag}-` : 'cifar-'}${name}-${tolerance}.json`), `${JSON.stringify({ ...row, report: json }, null, 2)}\n`);
    const c = report.cached;
    const b = report.backbone;
    console.log(`  held-out: agreement ${(100 * c.agreement).toFixed(2)}%, MACs saved ${(100 * (1 - c.macsPerSample / b.macsPerSample)).toFixed(1)}%, `
      + `latency saved ${(100 * (1 - c.latencyMs.mean / b.latencyMs.mean)).toFixed(1)}%, throughput x${(c.throughputBatch64 / b.throughputBatch64).toFixed(2)}`);
  }
}

if (!tag) await renderCifarTable({ models, tolerances, threads });
