import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Session } from '../engine/index.ts';
import { serializeModel } from '../onnx/index.ts';
import { SILENT } from '../progress/index.ts';
import { seededRng, type Tensor } from '../tensor/index.ts';
import { buildMlpLossGrad, mlpParamShapes, type MlpSpec } from './mlp-graph.ts';
import { trainMlp } from './train-mlp.ts';
import { checkGradients } from '../../test/support/grad-check.ts';

const ENGINE = { intraOpThreads: 1, graphOptimization: 'all' as const };

function randomF64(rng: ReturnType<typeof seededRng>, dims: readonly number[], std = 1): Tensor<'float64'> {
  const n = dims.reduce((a, b) => a * b, 1);
  const data = new Float64Array(n);
  for (let i = 0; i < n; i++) data[i] = rng.normal() * std;
  return { dtype: 'float64', dims: [...dims], data };
}

describe('deep MLP gradients vs finite differences (float64)', () => {
  it('every layer of a 4-hidden-layer MLP', async () => {
    const spec: MlpSpec = { inputDim: 7, hidden: [6, 5, 6, 5], classes: 4 };
    const rng = seededRng(5);
    const B = 5;
    const session = await Session.create(serializeModel(buildMlpLossGrad(spec, 'float64')), 'mlp loss/grad', ENGINE);
    const y = new Float64Array(B * 4);
    for (let r = 0; r < B; r++) y[r * 4 + (r % 4)] = 1;
    const feeds: Record<string, Tensor> = { x: randomF64(rng, [B, 7]), y: { dtype: 'float64', dims: [B, 4], data: y } };
    const shapes = mlpParamShapes(spec);
    for (const s of shapes) feeds[s.name] = randomF64(rng, s.dims, 0.6);
    const { loss, checked } = await checkGradients(session, feeds, shapes, 8);
    assert.ok(checked >= 40, `only ${checked} entries checked`);
    // Cross-entropy of a softmax is positive.
    assert.ok(loss > 0);
    await session.release();
  });
});

describe('trainMlp', () => {
  /** Two Gaussian blobs per class in 8-D: learnable, not linearly trivial. */
  function blobs(n: number, seed: number): { x: Float32Array; labels: Uint8Array } {
    const rng = seededRng(seed);
    const x = new Float32Array(n * 8);
    const labels = new Uint8Array(n);
    for (let i = 0; i < n; i++) {
      const c = i % 3;
      labels[i] = c;
      for (let d = 0; d < 8; d++) x[i * 8 + d] = rng.normal() * 0.5 + (d % 3 === c ? 2 : 0);
    }
    return { x, labels };
  }

  it('learns a classifier, deterministically for a seed', async () => {
    const spec: MlpSpec = { inputDim: 8, hidden: [16, 16, 16], classes: 3 };
    const train = blobs(600, 1);
    const settings = { epochs: 6, batchSize: 32, learningRate: 0.01, weightDecay: 1e-4, seed: 3 };
    const a = await trainMlp(spec, train.x, train.labels, settings, { engine: ENGINE, progress: SILENT });
    const b = await trainMlp(spec, train.x, train.labels, settings, { engine: ENGINE, progress: SILENT });
    assert.deepEqual(a.params, b.params);
    const test = blobs(300, 2);
    const s = await Session.create(serializeModel(a.model), 'mlp', ENGINE);
    const logits = (await s.run({ input: { dtype: 'float32', dims: [300, 8], data: test.x } })).logits!.data as Float32Array;
    await s.release();
    let correct = 0;
    for (let r = 0; r < 300; r++) {
      let c = 0;
      for (let k = 1; k < 3; k++) if (logits[r * 3 + k]! > logits[r * 3 + c]!) c = k;
      if (c === test.labels[r]) correct++;
    }
    assert.ok(correct / 300 > 0.95, `held-out accuracy ${correct / 300}`);
    assert.ok(a.finalLoss < 0.3, `final loss ${a.finalLoss}`);
  });

  it('rejects labels outside the classes', async () => {
    const spec: MlpSpec = { inputDim: 2, hidden: [4], classes: 2 };
    await assert.rejects(trainMlp(spec, new Float32Array(4), [0, 5], { epochs: 1, batchSize: 2, learningRate: 0.01, weightDecay: 0, seed: 1 }, { engine: ENGINE, progress: SILENT }),
      /label 5 of sample 1 is not a class index in 0\.\.1/);
  });
});
