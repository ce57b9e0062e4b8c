import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { tensor } from '../tensor/index.ts';
import { maxAbsDiff, randomInput, runModel } from '../../test/support/chain.ts';
import { hardBatchOne, mlp, residualNet, twoOutputs, withFixedBatch, withIoTypes, withNormalisedOutput } from '../../test/support/models.ts';
import { analyzeClassifier, analyzeModel } from './analyze.ts';
import { checkClassifier, describeReading, isPlainReading, PLAIN_READING, scoresName } from './classifier-reading.ts';
import { applyLogitsPlan, holdsProbabilities } from './logits-plan.ts';
import { extendModel, GraphBuilder } from '../onnx/index.ts';

/** Row-wise softmax of [rows, k] values, in float64. */
function softmax(x: Float32Array, k: number): Float32Array {
  const out = new Float32Array(x.length);
  for (let r = 0; r < x.length / k; r++) {
    const row = Array.from(x.subarray(r * k, (r + 1) * k));
    const m = Math.max(...row);
    const e = row.map((v) => Math.exp(v - m));
    const s = e.reduce((a, b) => a + b, 0);
    e.forEach((v, c) => (out[r * k + c] = v / s));
  }
  return out;
}

describe('reading logits from a classifier', () => {
  const plain = mlp().model;
  const x = { x: randomInput([5, 6], 3) };

  it('plain logits and log-probabilities are read as they are', async () => {
    assert.deepEqual((await analyzeModel(plain)).logits, { kind: 'logits' });
    assert.deepEqual((await analyzeModel(withNormalisedOutput(plain, 'logsoftmax'))).logits, { kind: 'logits' });
    assert.deepEqual((await analyzeModel(twoOutputs().model)).logits, { kind: 'logits' }, 'the first output is the logits; the second, a softmax, is not read');
    assert.equal(applyLogitsPlan(plain, { kind: 'logits' }), plain);
  });

  for (const kind of ['softmax', 'softmax-flatten'] as const) {
    it(`a final Softmax (${kind}) is found, and the planned model's first output is the original logits`, async () => {
      const model = withNormalisedOutput(plain, kind);
      const a = await analyzeModel(model);
      assert.equal(a.logits.kind, 'softmax');
      const planned = applyLogitsPlan(model, a.logits);
      const logits = Object.values(await runModel(plain, x))[0]!;
      const probs = Object.values(await runModel(model, x))[0]!;
      const read = Object.values(await runModel(planned, x))[0]!;
      assert.ok(maxAbsDiff(read, logits) < 1e-6, `planned output differs from the logits by ${maxAbsDiff(read, logits)}`);
      assert.ok(maxAbsDiff(tensor('float32', [5, 4], softmax(read.data as Float32Array, 4)), probs) < 1e-6);
      assert.deepEqual((await analyzeModel(planned)).logits, { kind: 'logits' }, 'planning again changes nothing');
      assert.equal(model.graph!.output[0]!.name, 'probs', 'the given model is not modified');
    });
  }

  it('probabilities without a Softmax node are read through a log, whose softmax gives them back', async () => {
    const model = withNormalisedOutput(plain, 'manual');
    const a = await analyzeModel(model);
    assert.deepEqual(a.logits, { kind: 'log' });
    const probs = Object.values(await runModel(model, x))[0]!;
    const read = Object.values(await runModel(applyLogitsPlan(model, a.logits), x))[0]!;
    assert.ok(maxAbsDiff(tensor('float32', [5, 4], softmax(read.data as Float32Array, 4)), probs) < 1e-6);
  });

  it('scores that are neither logits nor probabilities (a Sigmoid, percentages) are read as logits with a caution saying so', async () => {
    const sigmoid = await analyzeModel(withNormalisedOutput(plain, 'sigmoid'));
    assert.deepEqual(sigmoid.logits, { kind: 'logits' });
    assert.match(sigmoid.cautions.join('\n'), /output 'probs' holds values in \[0, 1\] whose rows do not sum to 1 \(independent per-class scores, as from a Sigmoid\?\); layercache reads them as logits/);
    const percent = await analyzeModel(withNormalisedOutput(plain, 'percent'));
    assert.match(percent.cautions.join('\n'), /output 'probs' has non-negative rows that all sum to 100 \(probabilities scaled by it\?\)/);
    assert.match(describeReading(PLAIN_READING, plain, percent.cautions).join('\n'), /sum to 100/);
    // Logits, log-probabilities and probabilities (read before their Softmax, or through a log) get none.
    for (const kind of ['logsoftmax', 'softmax', 'manual'] as const) assert.deepEqual((await analyzeModel(withNormalisedOutput(plain, kind))).cautions, [], kind);
    assert.deepEqual((await analyzeModel(plain)).cautions, []);
  });

  it('a model quantized in QDQ form gets a caution: cuts through its integer kernels change its answers a little', async () => {
    const g = new GraphBuilder({ opset: 17 });
    const x = g.input('x', 'float32', ['batch', 6]);
    const scale = g.weight('s', tensor('float32', [], new Float32Array([0.05])));
    const zero = g.weight('zp', tensor('uint8', [], new Uint8Array([128])));
    const dq = g.op('DequantizeLinear', [g.op('QuantizeLinear', [x, scale, zero]), scale, zero]);
    g.op('Gemm', [dq, g.weight('w', tensor('float32', [4, 6], new Float32Array(24).fill(0.1))), g.weight('b', tensor('float32', [4], new Float32Array([0, 1, -1, 2])))], { transB: 1 }, 'logits');
    g.output('logits', 'float32', ['batch', 4]);
    assert.match((await analyzeModel(g.build())).cautions.join('\n'), /the model is quantized \(2 QuantizeLinear\/DequantizeLinear nodes\).*layercache eval measures agreement with the uncut model/);
  });

  it('a Softmax over the batch axis is not a per-sample softmax and is left alone', async () => {
    assert.deepEqual((await analyzeModel(withNormalisedOutput(plain, 'batch-softmax'))).logits, { kind: 'logits' });
  });

  it('holdsProbabilities: rows ≥ 0 that sum to 1, and nothing else', () => {
    assert.equal(holdsProbabilities(tensor('float32', [2, 3], new Float32Array([0.2, 0.3, 0.5, 1, 0, 0]))), true);
    assert.equal(holdsProbabilities(tensor('float32', [2, 3], new Float32Array([0.2, 0.3, 0.5, 0.9, 0, 0]))), false, 'a row summing to 0.9');
    assert.equal(holdsProbabilities(tensor('float32', [1, 3], new Float32Array([1.5, -0.5, 0]))), false, 'a negative value');
    assert.equal(holdsProbabilities(tensor('float32', [1, 1], new Float32Array([1]))), false, 'one class');
    assert.equal(holdsProbabilities(tensor('float32', [1, 2], new Float32Array([Number.NaN, 1]))), false, 'NaN');
  });

  it('a fixed batch is freed when the model runs so; the read model answers as the fixed one, row by row', async () => {
    for (const batch of [1, 8]) {
      const fixed = withFixedBatch(residualNet().model, batch);
      const { analysis, reading } = await analyzeClassifier(fixed);
      assert.deepEqual(reading, { scoresOutput: null, flattenScores: false, logits: { kind: 'logits' }, dynamicBatch: true, inputDtype: null, outputDtype: null, sampleDims: null });
      assert.equal(analysis.batchDim, 'batch');
      assert.deepEqual(analysis.outputs[0]!.shape, ['batch', 5]);
      const x = randomInput([batch, 3, 8, 8], 9);
      const want = Object.values(await runModel(fixed, { image: x }))[0]!;
      const three = randomInput([3, 3, 8, 8], 10);
      const got = Object.values(await runModel(analysis.model, { image: x }))[0]!;
      assert.ok(maxAbsDiff(got, want) < 1e-6);
      assert.deepEqual(Object.values(await runModel(analysis.model, { image: three }))[0]!.dims, [3, 5], 'it runs at other batch sizes');
    }
    const plain = await analyzeClassifier(residualNet().model);
    assert.ok(isPlainReading(plain.reading));
  });

  it('a batch hard-coded inside the graph is a clear error naming the input and the fix', async () => {
    await assert.rejects(analyzeClassifier(hardBatchOne().model, { source: 'one.onnx' }), {
      code: 'MODEL_UNSUPPORTED', message: /one\.onnx fixes its batch at 1 \(input 'x' \[1, 6\]\) and does not run at another batch size .*re-export it with a dynamic batch dimension/,
    });
  });

  it('checkClassifier refuses what is not one input → [batch, classes], naming the fix', async () => {
    const reshaped = (dims: bigint[]) => {
      const m = extendModel(plain, (g) => {
        const y = g.op('Reshape', ['logits', g.weight('to', tensor('int64', [dims.length], BigInt64Array.from(dims)))], {}, 'scores');
        g.output(y, 'float32', null);
      });
      m.graph!.output = [m.graph!.output[1]!];
      return m;
    };
    const check = async (m: Parameters<typeof analyzeModel>[0]) => checkClassifier(await analyzeModel(m), 'm.onnx');
    await assert.rejects(check(reshaped([0n, 2n, 2n])), { code: 'MODEL_UNSUPPORTED', message: /output 'scores' has shape \[batch, 2, 2\]; layercache needs the class scores, \[batch, classes\]: .*--scores-output NAME/ });
    await assert.rejects(check(reshaped([-1n])), { code: 'MODEL_UNSUPPORTED', message: /'scores' has shape \[\?\], whose first dimension does not follow the batch .*re-export it with a dynamic batch dimension/ });
    const transposed = extendModel(plain, (g) => g.output(g.op('Transpose', ['logits'], { perm: [1, 0] }, 'scores'), 'float32', null));
    transposed.graph!.output = [transposed.graph!.output[1]!];
    await assert.rejects(check(transposed), { code: 'MODEL_UNSUPPORTED', message: /output 'scores' has shape \[\d+, batch\]: the batch \('batch'\) is its dimension 2, not its first; .*without its final Transpose/ });
    const labelFirst = extendModel(plain, (b) => {
      const y = b.op('ArgMax', ['logits'], { axis: 1, keepdims: 0 }, 'label');
      b.output(y, 'int64', ['batch']);
    });
    labelFirst.graph!.output = [labelFirst.graph!.output[1]!, labelFirst.graph!.output[0]!];
    await assert.rejects(check(labelFirst), { code: 'MODEL_UNSUPPORTED', message: /output 'label' holds int64 values, not class scores; .*or name them with --scores-output NAME/ });
    const nb = new GraphBuilder({ opset: 17 });
    const v = nb.input('x', 'float32', [6]);
    const row = nb.op('Unsqueeze', [v, nb.weight('ax', tensor('int64', [1], new BigInt64Array([0n])))]);
    const h = nb.op('Gemm', [row, nb.weight('w', tensor('float32', [4, 6], new Float32Array(24))), nb.weight('b', tensor('float32', [4], new Float32Array(4)))], { transB: 1 });
    nb.op('Unsqueeze', [nb.op('Squeeze', [h, nb.weight('ax0', tensor('int64', [1], new BigInt64Array([0n])))]), nb.weight('ax1', tensor('int64', [1], new BigInt64Array([0n])))], {}, 'y');
    nb.output('y', 'float32', [1, 4]);
    await assert.rejects(check(nb.build()), { code: 'MODEL_UNSUPPORTED', message: /input 'x' \[6\] has no batch dimension first \(scores output 'y' \[1, 4\]\); .*export the model with one/ });
    const oneScore = extendModel(plain, (b) => {
      const y = b.op('ReduceSum', ['logits', b.weight('ax1', tensor('int64', [1], new BigInt64Array([1n])))], { keepdims: 1 }, 'scores');
      b.output(y, 'float32', null);
    });
    oneScore.graph!.output = [oneScore.graph!.output[1]!];
    await assert.rejects(check(oneScore), { code: 'MODEL_UNSUPPORTED', message: /one score per row; .*two class scores \(\[batch, 2\]\)/ });
    const g = new GraphBuilder({ opset: 17 });
    const x = g.input('x', 'float32', ['batch', 6]);
    const t = g.input('t', 'float32', ['batch', 1]);
    g.op('Gemm', [g.op('Concat', [x, t], { axis: 1 }), g.weight('w', tensor('float32', [3, 7], new Float32Array(21))), g.weight('b', tensor('float32', [3], new Float32Array(3)))], { transB: 1 }, 'y');
    g.output('y', 'float32', ['batch', 3]);
    await assert.rejects(check(g.build()), { code: 'MODEL_UNSUPPORTED', message: /has 2 inputs \('x' \[batch, 6\], 't' \[batch, 1\]\); .*export the model with its other inputs fixed as constants/ });
    await check(plain);
  });

  it('describeReading names the output read as class scores when there are several', () => {
    assert.deepEqual(describeReading(PLAIN_READING, plain), []);
    assert.deepEqual(describeReading(PLAIN_READING, twoOutputs().model), ["the model has 2 outputs ('logits', 'probs'); layercache reads the first as the class scores — pass --scores-output NAME if they are another"]);
  });

  it('describeReading fits its advice on a cast input to the type: pixel ranges for uint8, integers for int64, nothing for float16', () => {
    const line = (inputDtype: 'uint8' | 'int64' | 'float16') => describeReading({ ...PLAIN_READING, inputDtype }, plain).join('\n');
    assert.match(line('uint8'), /cast to uint8 \(preprocess to that type's range, e\.g\. --scale 1 --mean 0 --std 1 for uint8 pixels\)/);
    assert.match(line('int64'), /cast to int64 \(give integer values, token ids say, as float32 tensors/);
    assert.doesNotMatch(line('int64'), /pixels/);
    assert.match(line('float16'), /cast to float16$/);
  });

  /** The mlp with its logits reshaped to `dims` (0 keeps the batch) as its only output, 'scores'; `before` normalises them first. */
  const reshapedScores = (dims: bigint[], before?: 'softmax') => {
    const m = extendModel(plain, (g) => {
      const z = before === 'softmax' ? g.op('Softmax', ['logits'], { axis: 1 }, 'probs') : 'logits';
      const y = g.op('Reshape', [z, g.weight('to', tensor('int64', [dims.length], BigInt64Array.from(dims)))], {}, 'scores');
      g.output(y, 'float32', ['batch', ...dims.slice(1).map(Number)]);
    });
    m.graph!.output = [m.graph!.output[1]!];
    return m;
  };

  it('scores with unit dims ([batch, 4, 1, 1], [batch, 1, 4]) are read flattened to [batch, classes], with the model\'s own values', async () => {
    for (const dims of [[0n, 4n, 1n, 1n], [0n, 1n, 4n]]) {
      const m = reshapedScores(dims);
      const { analysis, reading } = await analyzeClassifier(m, { source: 'm.onnx' });
      assert.equal(reading.flattenScores, true);
      assert.deepEqual(analysis.outputs[0]!.shape, ['batch', 4]);
      checkClassifier(analysis, 'm.onnx', scoresName(m, reading));
      const want = (await runModel(plain, x)).logits!;
      const got = Object.values(await runModel(analysis.model, x))[0]!;
      assert.deepEqual(got.dims, [5, 4]);
      assert.ok(maxAbsDiff(got, want) < 1e-6);
      assert.match(describeReading(reading, m).join('\n'), /output 'scores' \[batch, ([0-9], )*4(, 1)*\] has unit dimensions besides the classes; layercache reads it flattened to \[batch, classes\]/);
    }
  });

  it('a softmax reshaped to [batch, 4, 1, 1], with the batch fixed at 1, is read as logits [batch, 4] at any batch', async () => {
    const m = withFixedBatch(reshapedScores([0n, 4n, 1n, 1n], 'softmax'), 1);
    const { analysis, reading } = await analyzeClassifier(m);
    assert.deepEqual({ ...reading, logits: reading.logits.kind }, { scoresOutput: null, flattenScores: true, logits: 'softmax', dynamicBatch: true, inputDtype: null, outputDtype: null, sampleDims: null });
    const got = Object.values(await runModel(analysis.model, x))[0]!;
    assert.ok(maxAbsDiff(got, (await runModel(plain, x)).logits!) < 1e-5, 'the logits before the softmax, for 5 rows');
  });

  it('holdsProbabilities reads [rows, classes] with unit dims, and refuses one column', () => {
    assert.equal(holdsProbabilities(tensor('float32', [2, 3, 1], new Float32Array([0.2, 0.3, 0.5, 1, 0, 0]))), true);
    assert.equal(holdsProbabilities(tensor('float32', [2, 3, 1], new Float32Array([0.2, 0.3, 0.6, 1, 0, 0]))), false);
    assert.equal(holdsProbabilities(tensor('float32', [2, 1], new Float32Array([1, 1]))), false);
  });

  it('--scores-output reads the named output as the scores (before its softmax), and refuses a name the model lacks', async () => {
    const two = twoOutputs().model;
    const { analysis, reading } = await analyzeClassifier(two, { scoresOutput: 'probs' });
    assert.equal(reading.scoresOutput, 'probs');
    assert.equal(reading.logits.kind, 'softmax');
    const feeds = { x: randomInput([4, 5], 7) };
    const original = await runModel(two, feeds);
    const read = await runModel(analysis.model, feeds);
    assert.ok(maxAbsDiff(Object.values(read)[0]!, original.logits!) < 1e-5, 'softmax(read scores) is the model\'s probs');
    assert.deepEqual(describeReading(reading, two), [
      "layercache reads output 'probs' as the class scores (--scores-output), not the first, 'logits'",
      "output 'probs' is a softmax (node 'Softmax_node_5'); layercache reads the logits before it",
    ]);
    // Naming the first output is the plain reading.
    assert.ok(isPlainReading((await analyzeClassifier(two, { scoresOutput: 'logits' })).reading));
    await assert.rejects(analyzeClassifier(two, { scoresOutput: 'prob' }), { code: 'USAGE', message: /--scores-output \(build\.scoresOutput\) names 'prob', but the model has no such output; its outputs are 'logits', 'probs'/ });
  });

  it('uint8 input and float16 scores: read as float32 in and out, with the model\'s own answers', async () => {
    const typed = withIoTypes(residualNet().model, 'uint8', 'float16');
    const { analysis, reading } = await analyzeClassifier(typed);
    assert.deepEqual(reading, { scoresOutput: null, flattenScores: false, logits: { kind: 'logits' }, dynamicBatch: false, inputDtype: 'uint8', outputDtype: 'float16', sampleDims: null });
    assert.equal(analysis.inputs[0]!.dtype, 'float32');
    assert.equal(analysis.outputs[0]!.dtype, 'float32');
    const pixels = Uint8Array.from({ length: 2 * 3 * 8 * 8 }, (_, i) => (i * 37) % 256);
    const floats = tensor('float32', [2, 3, 8, 8], Float32Array.from(pixels));
    assert.equal(Object.values(await runModel(typed, { image: tensor('uint8', [2, 3, 8, 8], pixels) }))[0]!.dtype, 'float16', 'the model itself runs on uint8 and answers float16');
    const got = Object.values(await runModel(analysis.model, { image: floats }))[0]!;
    assert.equal(got.dtype, 'float32');
    // The model computes in float32 and rounds its scores to float16 at the end: the read scores are those, within half precision.
    const exact = Object.values(await runModel(residualNet().model, { image: floats }))[0]!.data as Float32Array;
    (got.data as Float32Array).forEach((v, i) => assert.ok(Math.abs(v - exact[i]!) <= 1e-3 * Math.abs(exact[i]!) + 1e-3, `score ${i}: ${v} vs ${exact[i]}`));
  });

  for (const kind of ['softmax', 'manual'] as const) {
    it(`float16 probabilities (${kind}, then a Cast): read as float32 logits whose softmax gives them back`, async () => {
      const probs = withNormalisedOutput(plain, kind);
      const half = extendModel(probs, (b) => {
        b.op('Cast', ['probs'], { to: 10 }, 'probs16');
        b.output('probs16', 'float16', ['batch', 4]);
      });
      half.graph!.output = [half.graph!.output[1]!];
      const { analysis, reading } = await analyzeClassifier(half);
      assert.equal(reading.logits.kind, kind === 'softmax' ? 'softmax' : 'log');
      assert.equal(reading.outputDtype, 'float16');
      const want = Object.values(await runModel(probs, x))[0]!;
      const read = Object.values(await runModel(analysis.model, x))[0]!;
      assert.equal(read.dtype, 'float32');
      const got = tensor('float32', [5, 4], softmax(read.data as Float32Array, 4));
      assert.ok(maxAbsDiff(got, want) < 2e-3, `softmax of the read scores differs from the model's probabilities by ${maxAbsDiff(got, want)} (float16 rounding)`);
    });
  }
});
