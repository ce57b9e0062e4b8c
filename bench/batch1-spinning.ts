/**
 * Batch 1 with and without onnxruntime's spinning workers, for the backbone and for the
 * bundle's nested-If graph. Blocks of 100 held-out inputs alternate between the two; each
 * block starts with 10 untimed runs, so the other session's spinning workers have gone
 * idle before timing starts. 1,000 inputs, 3 passes.
 *   node --import tsx bench/batch1-spinning.ts [BUNDLE_DIR] [--threads 2]
 */
import path from 'node:path';
import { loadBundle } from '../src/bundle/index.ts';
import { Cascade } from '../src/cascade/index.ts';
import { openDataSource } from '../src/data/index.ts';
import { Session } from '../src/engine/index.ts';
import { readBackbone } from '../src/inspect/index.ts';
import { finiteInput } from '../src/tensor/index.ts';
import { bundleArg, numberFlag } from './flags.ts';

const root = path.resolve(import.meta.dirname, '..');
const dir = bundleArg(root);
const threads = numberFlag('threads', 2);
const assets = process.env.LAYERCACHE_ASSETS ?? path.resolve(root, '../shared/assets');
const bundle = await loadBundle(dir);
const data = await openDataSource(`cifar10:${path.join(assets, 'cifar10_test_jpeg.bin')}#5000-5999`, bundle.manifest.preprocess!);
const inputs = Array.from({ length: data.count }, (_, i) => data.batch(i, i + 1));
// The cascade's scan for values that are not finite, which the backbone side does not do, is done here, untimed.
const finiteChecked = inputs.every(finiteInput);

async function block(run: (x: (typeof inputs)[number]) => Promise<unknown>, from: number): Promise<number> {
  for (let w = 0; w < 10; w++) await run(inputs[from + w]!);
  const t = performance.now();
  for (let i = from; i < from + 100; i++) await run(inputs[i]!);
  return performance.now() - t;
}

const rows: string[] = [];
for (const spinning of [true, false]) {
  const engine = { intraOpThreads: threads, graphOptimization: 'all' as const, spinning };
  const s = await Session.create(readBackbone(bundle).bytes, 'backbone', engine);
  const name = s.inputs[0]!.name;
  const cascade = await Cascade.fromBundle(bundle, engine);
  let b = 0;
  let c = 0;
  for (let pass = 0; pass < 3; pass++) {
    for (let from = 0; from < inputs.length; from += 100) {
      b += await block((x) => s.run({ [name]: x }), from);
      c += await block((x) => cascade.run(x, { finiteChecked }), from);
    }
  }
  await s.release();
  await cascade.release();
  const runs = 3 * inputs.length;
  rows.push(`| ${spinning ? 'on' : 'off'} | ${(b / runs).toFixed(3)} | ${(c / runs).toFixed(3)} | ${(100 * (1 - c / b)).toFixed(1)}% |`);
}
console.log(`bundle ${dir}, ${threads} threads, ${inputs.length} held-out inputs at batch 1, 3 passes\n`);
console.log('| spinning | backbone ms | bundle ms | latency saved |\n|---|---:|---:|---:|');
console.log(rows.join('\n'));
