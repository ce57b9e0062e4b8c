/**
 * A two-class classifier cut from a real model (ResNet-20's cat and dog logits), built briefly: its weak heads
 * settle differently when trained on every row than their cross-fitted models did, which once gave a bundle that
 * agreed 99.9% by its calibration and 33% on held-out records. The held-out agreement must hold the tolerance.
 */
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { loadBundle } from '../../src/bundle/index.ts';
import { openDataSource } from '../../src/data/index.ts';
import { evaluateBundle } from '../../src/evaluate/index.ts';
import { extendModel, loadModel, saveModel } from '../../src/onnx/index.ts';
import { SILENT } from '../../src/progress/index.ts';
import { tensor } from '../../src/tensor/index.ts';
import { ASSETS_DIR, CIFAR_RESNET_PREPROCESS, SKIP_NO_ASSETS } from '../support/assets.ts';
import { cli } from '../support/cli.ts';

const dirs: string[] = [];
after(async () => Promise.all(dirs.map((d) => fs.rm(d, { recursive: true, force: true }))));

describe('a two-class model built briefly', { skip: SKIP_NO_ASSETS }, () => {
  it('keeps its held-out agreement within the tolerance', { timeout: 300_000 }, async () => {
    const dir = await fs.mkdtemp(path.join(os.tmpdir(), 'layercache-two-class-'));
    dirs.push(dir);
    const base = await loadModel(path.join(ASSETS_DIR!, 'cifar10_resnet20.onnx'));
    const i64 = (v: bigint) => tensor('int64', [1], new BigInt64Array([v]));
    const model = extendModel(base, (g) => {
      const pick = (c: bigint) => g.op('Slice', ['logits', g.weight(`from_${c}`, i64(c)), g.weight(`to_${c}`, i64(c + 1n)), g.weight(`axis_${c}`, i64(1n))]);
      g.op('Concat', [pick(3n), pick(5n)], { axis: 1 }, 'cat_dog');
      g.output('cat_dog', 'float32', ['batch', 2]);
    }, { outputs: 'replace' });
    const file = path.join(dir, 'cat-dog.onnx');
    await saveModel(model, file);
    const data = `cifar10:${path.join(ASSETS_DIR!, 'cifar10_test_jpeg.bin')}`;
    const pre = ['--scale', '255', '--mean', CIFAR_RESNET_PREPROCESS.mean.join(','), '--std', CIFAR_RESNET_PREPROCESS.std.join(',')];
    const out = path.join(dir, 'bundle');
    const b = await cli('build', file, '--data', `${data}#0-999`, ...pre, '--epochs', '4', '--screen-epochs', '2', '--cv-splits', '1', '--tolerance', '0.05', '--objective', 'macs', '--out', out);
    assert.equal(b.code, 0, b.stderr);
    const bundle = await loadBundle(out);
    const heldOut = await openDataSource(`${data}#5000-5999`, bundle.manifest.preprocess!);
    const report = await evaluateBundle(bundle, heldOut, { engine: { intraOpThreads: 2, graphOptimization: 'all' }, progress: SILENT, latencySamples: 10, timingInstances: 1, paper: false });
    assert.ok(report.cached.agreement >= 0.95 - 0.015, `held-out agreement ${report.cached.agreement} (tolerance 5%, exits ${bundle.manifest.exits.map((e) => e.candidate).join(', ')})`);
  });
});
