/**
 * Integration tests on every real model in ../shared/assets: byte-for-byte round trip,
 * the exits of the CIFAR ResNets, and the chaining oracle — segments cut at every
 * candidate exit reproduce the uncut model on 64 real images.
 */
import assert from 'node:assert/strict';
import { readdirSync } from 'node:fs';
import { readFile } from 'node:fs/promises';
import path from 'node:path';
import { describe, it } from 'node:test';
import { preprocessPlanar, readCifar } from '../../src/data/index.ts';
import { analyzeModel } from '../../src/inspect/index.ts';
import { loadModel, parseModel, serializeModel } from '../../src/onnx/index.ts';
import { extractSegments } from '../../src/surgery/index.ts';
import { ASSETS_DIR, CIFAR_RESNET_PREPROCESS, SKIP_NO_ASSETS } from '../support/assets.ts';
import { maxAbsDiff, runChain, runModel } from '../support/chain.ts';

const models = ASSETS_DIR ? readdirSync(ASSETS_DIR).filter((f) => f.endsWith('.onnx')).sort() : [];

function argmax(row: Float32Array): number {
  let best = 0;
  for (let i = 1; i < row.length; i++) if (row[i]! > row[best]!) best = i;
  return best;
}

describe('real models in ../shared/assets', { skip: SKIP_NO_ASSETS }, () => {
  it('there is at least one model to test', () => assert.ok(models.length > 0));

  for (const name of models) {
    describe(name, () => {
      const file = path.join(ASSETS_DIR ?? '', name);

      it('round-trips byte for byte', async () => {
        const bytes = new Uint8Array(await readFile(file));
        assert.deepEqual(serializeModel(parseModel(bytes, file)), bytes);
      });

      it('chaining the segments cut at every candidate exit reproduces the model on 64 real images', async () => {
        const model = await loadModel(file);
        const a = await analyzeModel(model, { source: file });
        assert.ok(a.candidates.length > 0, 'expected cut points');
        const segments = extractSegments(model, a.flow, a.candidates.map((c) => c.tensor), a.typeOf);
        const images = await readCifar(path.join(ASSETS_DIR!, 'cifar10_test_jpeg.bin'), 0, 64);
        const input = preprocessPlanar(images.pixels, 64, 3, 32, 32, CIFAR_RESNET_PREPROCESS);
        const feeds = { [a.inputs[0]!.name]: input };
        const expected = await runModel(model, feeds);
        const got = await runChain(segments, feeds);
        const out = a.outputs[0]!.name;
        const diff = maxAbsDiff(got[out]!, expected[out]!);
        assert.ok(diff <= 1e-4, `max |diff| ${diff} over ${segments.length} segments`);
        const classes = expected[out]!.dims[1]!;
        for (let i = 0; i < 64; i++) {
          const e = (expected[out]!.data as Float32Array).subarray(i * classes, (i + 1) * classes);
          const g = (got[out]!.data as Float32Array).subarray(i * classes, (i + 1) * classes);
          assert.equal(argmax(g), argmax(e));
        }
      });
    });
  }

  for (const [name, exits, macs] of [['cifar10_resnet56.onnx', 28, 125.5e6], ['cifar10_resnet20.onnx', 10, 40.6e6]] as const) {
    it(`${name}: ${exits} block exits with 4-D shapes, MACs within 2% of ${macs / 1e6} M`, { skip: !models.includes(name) && `${name} absent` }, async () => {
      const a = await analyzeModel(await loadModel(path.join(ASSETS_DIR!, name)));
      assert.equal(a.exits.length, exits);
      assert.equal(a.exits[0]!.tensor, '/Relu_output_0');
      for (const e of a.exits.slice(1)) assert.match(e.tensor, /^\/layer\d\/layer\d\.\d\/Relu_1_output_0$/);
      for (const e of a.exits) assert.equal(e.shape.length, 4);
      for (let i = 1; i < a.exits.length; i++) assert.ok(a.exits[i]!.cumulativeMacs > a.exits[i - 1]!.cumulativeMacs);
      assert.ok(a.exits.at(-1)!.fraction > 0.999 && a.exits.at(-1)!.fraction <= 1);
      assert.ok(Math.abs(a.totalMacs - macs) / macs < 0.02, `totalMacs ${a.totalMacs}`);
    });
  }

  it('preprocessing is exact: ResNet-20 classifies the 20 lossless test images as published (20/20)', async () => {
    const images = await readCifar(path.join(ASSETS_DIR!, 'cifar10_test_lossless20.bin'), 0, 20);
    const input = preprocessPlanar(images.pixels, 20, 3, 32, 32, CIFAR_RESNET_PREPROCESS);
    const out = await runModel(await loadModel(path.join(ASSETS_DIR!, 'cifar10_resnet20.onnx')), { input });
    const logits = out.logits!.data as Float32Array;
    let correct = 0;
    for (let i = 0; i < 20; i++) if (argmax(logits.subarray(i * 10, i * 10 + 10)) === images.labels[i]) correct++;
    assert.equal(correct, 20);
  });
});
