/**
 * What verification sampling costs an engine worker under load, with and without batching:
 * one engine worker (the server's EnginePool, no HTTP) runs batches of 32 held-out CIFAR-10
 * records through a bundle, with a seeded 5% of rows picked for verification as the server
 * picks them. "each batch" sends every batch with more = false (the worker verifies its
 * picked early answers at once, at batch 1 or 2: what the server did before session 8);
 * "batched" sends more = true (the worker holds them back until 16 are pending and runs
 * them as one backbone batch), and "off" picks none. The three modes alternate in blocks of
 * 20 batches (each block ends with a batch sent with more = false, so what a mode holds back is
 * verified, and timed, inside its own block), so drift of the machine hits them alike; per
 * mode, ms per batch (mean) and the median over blocks of the block time relative to "off".
 * Writes bench/results/verify-batching.json.
 *   node --import tsx bench/verify-batching.ts [BUNDLE_DIR] [--blocks 20] [--threads 2]
 */
import path from 'node:path';
import { bundleArg, countFlag } from './flags.ts';
import { headCommit } from './git-commit.ts';
import { loadBundle } from '../src/bundle/index.ts';
import { openDataSource } from '../src/data/index.ts';
import { EnginePool } from '../src/serve/engine-pool.ts';
import { numel, seededRng } from '../src/tensor/index.ts';
import { writeFileAtomic } from '../src/files/index.ts';

const root = path.resolve(import.meta.dirname, '..');
const dir = bundleArg(root);
const blocks = countFlag('blocks', 20);
const threads = countFlag('threads', 2);
const assets = process.env.LAYERCACHE_ASSETS ?? path.resolve(root, '../shared/assets');
const loaded = await loadBundle(dir);
const m = loaded.manifest;
const data = await openDataSource(`cifar10:${path.join(assets, 'cifar10_test_jpeg.bin')}#5000-9999`, m.preprocess!);
const ROWS = 32;
const BLOCK = 20;
const SHARE = 0.05;
const rng = seededRng(5);
const batches = Array.from({ length: 60 }, (_, k) => ({ input: data.batch(k * ROWS, (k + 1) * ROWS).data as Float32Array, draws: Float64Array.from({ length: ROWS }, () => rng.uniform()) }));
/** Every exit's answers verified at SHARE (verify-rule.ts). */
const rule = { admitBelow: SHARE, verifyBelow: m.exits.map(() => SHARE) };
let verifiedRows = 0;
const pool = await EnginePool.start(1, { kind: 'bundle', dir, manifestSha256: loaded.manifestSha256 }, 1, {
  engine: { intraOpThreads: threads, graphOptimization: 'all' }, sampleDims: data.sampleDims,
  onVerified: (v) => { verifiedRows += v.rows; }, onWorkerError: (e) => { throw e; }, onVerifyFailed: (e) => { throw e; },
  verifyHoldMs: 60_000,
});
/** Draws no rule verifies. */
const none = new Float64Array(ROWS).fill(1);
const modes = {
  off: (b: (typeof batches)[number]) => pool.run(b.input, ROWS, none, rule, true),
  'each batch': (b: (typeof batches)[number]) => pool.run(b.input, ROWS, b.draws, rule, false),
  batched: (b: (typeof batches)[number]) => pool.run(b.input, ROWS, b.draws, rule, true),
};
const names = Object.keys(modes) as (keyof typeof modes)[];
const total: Record<string, number> = Object.fromEntries(names.map((n) => [n, 0]));
const rel: Record<string, number[]> = Object.fromEntries(names.map((n) => [n, []]));
let next = 0;
// Warm-up, then one batch with more = false, so nothing is held back when timing starts.
for (const name of names) for (let k = 0; k < BLOCK; k++) await modes[name](batches[k]!);
await pool.run(batches[0]!.input, ROWS, none, rule, false);
for (let b = 0; b < blocks; b++) {
  const ms: Record<string, number> = {};
  for (const name of b % 2 ? [...names].reverse() : names) {
    // The same batches for every mode in a block; a mode's held-back rows are verified (and timed) when it ends.
    const first = next;
    const t = performance.now();
    for (let k = 0; k < BLOCK; k++) await modes[name](batches[(first + k) % batches.length]!);
    await pool.run(batches[first % batches.length]!.input.subarray(0, numel(data.sampleDims)), 1, none.subarray(0, 1), rule, false);
    ms[name] = performance.now() - t;
  }
  next += BLOCK;
  for (const name of names) {
    total[name]! += ms[name]!;
    rel[name]!.push(ms[name]! / ms.off!);
  }
}
await pool.close();
const median = (xs: number[]): number => [...xs].sort((a, b) => a - b)[xs.length >> 1]!;
console.log(`bundle ${dir} (${m.exits.length} exits), batches of ${ROWS}, ${SHARE * 100}% of rows picked, ${blocks} blocks of ${BLOCK} batches per mode, ${threads} threads; ${verifiedRows} early answers verified\n`);
console.log('| verification | ms per batch (mean) | block time ÷ off (median) |\n|---|---:|---:|');
const rows = names.map((name) => ({ verification: name, msPerBatch: total[name]! / (blocks * BLOCK), relativeToOff: median(rel[name]!) }));
for (const r of rows) console.log(`| ${r.verification} | ${r.msPerBatch.toFixed(2)} | ${r.relativeToOff.toFixed(3)} |`);
const file = path.join(root, 'bench/results/verify-batching.json');
await writeFileAtomic(file, `${JSON.stringify({ commit: headCommit(root), date: new Date().toISOString(), bundle: path.relative(root, dir), rowsPerBatch: ROWS, share: SHARE, blocks, batchesPerBlock: BLOCK, threads, verifiedRows, rows }, null, 2)}\n`);
console.log(`\nwrote ${path.relative(root, file)}`);
