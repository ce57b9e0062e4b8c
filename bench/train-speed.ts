/**
 * `npm run bench:train`: how fast the builder trains heads. The default head family (an MLP
 * with 128 hidden units on 4×4-pooled features and a linear head on globally pooled ones) at
 * every candidate exit of a ResNet-56-shaped network (10 exits of 16 channels, 9 of 32, 9 of
 * 64: 56 heads), on synthetic features (speed does not depend on the values), 6,667 rows (one
 * cross-fitting fold of 5,000 samples + flips), 3 epochs, 3 runs; prints seconds per epoch,
 * milliseconds per optimiser step and GFLOP/s (6 FLOPs per head MAC per sample, as the build
 * reports it). No assets needed.
 *   npm run bench:train [-- --threads 2 --batch 256]
 */
import { trainHeads, type HeadJob } from '../src/builder/index.ts';
import { SILENT } from '../src/progress/index.ts';
import { seededRng } from '../src/tensor/index.ts';
import { numberFlag } from './flags.ts';
import { headCommit } from './git-commit.ts';

const threads = numberFlag('threads', 2);
const batchSize = numberFlag('batch', 256);
const rows = 6667;
const epochs = 3;
const classes = 10;
const rng = seededRng(3);
const random = (n: number): Float32Array => Float32Array.from({ length: n }, () => rng.uniform());
const channels = [...Array<number>(10).fill(16), ...Array<number>(9).fill(32), ...Array<number>(9).fill(64)];
const family = [{ pool: 4, hidden: 128, dropout: 0.3 }, { pool: 1, hidden: 0, dropout: 0 }];
const byDim = new Map<number, Float32Array>();
const jobs: HeadJob[] = channels.flatMap((c, exit) => family.map((spec) => {
  const dim = c * spec.pool * spec.pool;
  if (!byDim.has(dim)) byDim.set(dim, random(rows * dim));
  return { spec, features: { exit, pool: spec.pool, dim, data: byDim.get(dim)! } };
}));
const set = { count: rows, samples: rows, classes, teacher: random(rows * classes), features: jobs.map((j) => j.features), labels: null };
const all = Int32Array.from({ length: rows }, (_, i) => i);
const steps = epochs * Math.floor(rows / batchSize);
console.log(`commit ${headCommit(process.cwd())}; ${jobs.length} heads, ${rows} rows, batch ${batchSize}, ${epochs} epochs, ${threads} threads`);
for (let run = 1; run <= 3; run++) {
  const r = await trainHeads(jobs, set, all, { epochs, batchSize, learningRate: 0.002, weightDecay: 0.0005, temperature: 4, seed: run }, {
    engine: { intraOpThreads: threads, graphOptimization: 'all' }, progress: SILENT,
  });
  console.log(`run ${run}: ${(r.seconds / epochs).toFixed(2)} s per epoch, ${((1000 * r.seconds) / steps).toFixed(1)} ms per step, ${r.gflops.toFixed(1)} GFLOP/s`);
}
