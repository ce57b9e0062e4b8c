import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { GraphBuilder, readValueInfo } from '../onnx/index.ts';
import { tensor } from '../tensor/index.ts';
import { extractSegments } from '../surgery/index.ts';
import { maxAbsDiff, randomInput, runChain, runModel } from '../../test/support/chain.ts';
import { branchRejoin, denseConcat, earlyBatchRead, foldedBatch, mlp, residualNet, twoOutputs } from '../../test/support/models.ts';
import { analyzeModel } from './analyze.ts';

describe('analyzeModel', () => {
  it('finds shapes with the batch dimension symbolic, and one exit per residual block', async () => {
    const a = await analyzeModel(residualNet().model);
    assert.equal(a.batchDim, 'N');
    assert.deepEqual(a.exits.map((e) => e.tensor), ['stem', 'b1_out', 'b2_out']);
    assert.deepEqual(a.exits.map((e) => e.shape), [['N', 4, 8, 8], ['N', 4, 8, 8], ['N', 4, 8, 8]]);
    assert.equal(a.candidates.length, 8);
  });

  it('--input-shape: an unknown input or a change to a fixed dimension is a usage error naming it; the batch may be set', async () => {
    const { model } = residualNet();
    await assert.rejects(analyzeModel(model, { inputShapes: { input: [1, 3, 8, 8] } }), { code: 'USAGE', message: /names 'input', but model has no such input; its inputs are 'image'/ });
    await assert.rejects(analyzeModel(model, { inputShapes: { image: [1, 3, 16, 16] } }), { code: 'USAGE', message: /sets dimension 2 to 16, but 'image' fixes it at 8/ });
    assert.equal((await analyzeModel(model, { inputShapes: { image: [4, 3, 8, 8] } })).exits.length, 3);
  });

  it('counts MACs by hand for the residual net', async () => {
    const a = await analyzeModel(residualNet().model);
    const conv = (cin: number) => 4 * 8 * 8 * cin * 9; // output elements × Cin × k×k
    const act = 4 * 8 * 8;
    const expected =
      conv(3) + act + // stem conv + relu
      2 * (conv(4) + act + conv(4) + act + act) + // two blocks: conv, relu, conv, add, relu
      act + // global average pool reads every input element
      5 * 4; // fc
    assert.equal(a.totalMacs, expected);
    assert.equal(a.exits[0]!.cumulativeMacs, conv(3) + act);
    const fractions = a.candidates.map((c) => c.fraction);
    for (let i = 1; i < fractions.length; i++) assert.ok(fractions[i]! >= fractions[i - 1]!);
  });

  it('a model without a batch dimension ([6] → [4]) counts MACs per sample, not per element of its first axis', async () => {
    const g = new GraphBuilder({ opset: 17 });
    const x = g.input('x', 'float32', [6]);
    const row = g.op('Unsqueeze', [x, g.weight('ax', tensor('int64', [1], new BigInt64Array([0n])))]);
    const h = g.op('Gemm', [row, g.weight('w', tensor('float32', [4, 6], new Float32Array(24))), g.weight('b', tensor('float32', [4], new Float32Array(4)))], { transB: 1 });
    g.op('Squeeze', [h, g.weight('ax0', tensor('int64', [1], new BigInt64Array([0n])))], {}, 'y');
    g.output('y', 'float32', [4]);
    const a = await analyzeModel(g.build());
    assert.equal(a.batchDim, null);
    assert.equal(a.totalMacs, 24, 'the Gemm: 4 × 6 multiply-adds (the probe ran one sample, not 6)');
  });

  it('a graph with no cut point gives an empty exit list, not an error', async () => {
    const a = await analyzeModel(denseConcat().model);
    assert.deepEqual(a.exits, []);
    assert.ok(a.totalMacs > 0);
  });
});

describe('segments chained at every cut reproduce the uncut model', () => {
  const cases = [
    { name: 'MLP', build: () => mlp().model, input: 'x', dims: [6] },
    { name: 'MLP at opset 11', build: () => mlp(11).model, input: 'x', dims: [6] },
    { name: 'residual conv net', build: () => residualNet().model, input: 'image', dims: [3, 8, 8] },
    { name: 'residual conv net at opset 21', build: () => residualNet(21).model, input: 'image', dims: [3, 8, 8] },
    { name: 'branch that rejoins', build: () => branchRejoin().model, input: 'x', dims: [4] },
    { name: 'two outputs', build: () => twoOutputs().model, input: 'x', dims: [5] },
    { name: 'batch size read from the input early, used at the end', build: () => earlyBatchRead().model, input: 'x', dims: [2, 3] },
    { name: 'batch folded into rows, restored from the input shape', build: () => foldedBatch().model, input: 'x', dims: [4, 6] },
  ];
  for (const c of cases) {
    it(c.name, async () => {
      const model = c.build();
      const a = await analyzeModel(model);
      const segments = extractSegments(model, a.flow, a.flow.cuts, a.typeOf);
      assert.equal(segments.length, a.flow.cuts.length + 1);
      for (const batch of [1, 3]) {
        const feeds = { [c.input]: randomInput([batch, ...c.dims], batch) };
        const expected = await runModel(model, feeds);
        const got = await runChain(segments, feeds);
        assert.deepEqual(Object.keys(got).sort(), Object.keys(expected).sort());
        for (const k of Object.keys(expected)) assert.ok(maxAbsDiff(got[k]!, expected[k]!) <= 1e-5, `${k} differs at batch ${batch}`);
      }
    });
  }

  it('segments keep only the initializers they use and keep the batch dimension symbolic', async () => {
    const { model } = residualNet();
    const a = await analyzeModel(model);
    const segments = extractSegments(model, a.flow, ['b1_out'], a.typeOf);
    const inits = segments.map((s) => s.model.graph!.initializer.map((t) => t.name).sort());
    assert.deepEqual(inits[0], ['b1_b1', 'b1_b2', 'b1_w1', 'b1_w2', 'stem_b', 'stem_w']);
    assert.ok(!inits[1]!.includes('stem_w'));
    assert.deepEqual(readValueInfo(segments[1]!.model.graph!.input[0]!)!.shape, ['N', 4, 8, 8]);
    // The constant shape tensor feeding Reshape is copied into the segment that needs it.
    assert.ok(segments[1]!.model.graph!.node.some((n) => n.opType === 'Constant'));
  });

  it('a batch size read early does not pin the tensors in between: they are still cuts', async () => {
    const { model, hidden } = earlyBatchRead();
    const a = await analyzeModel(model);
    assert.deepEqual(a.flow.cuts, hidden);
    const segments = extractSegments(model, a.flow, ['c2'], a.typeOf);
    // The second segment rebuilds the batch size from its own input instead of reading x.
    assert.ok(segments[1]!.model.graph!.node.some((n) => n.opType === 'Shape' && n.input[0] === 'c2'));
  });

  it('tensors with the batch folded into rows are not cuts when a later Reshape needs the batch size', async () => {
    const a = await analyzeModel(foldedBatch().model);
    assert.ok(!a.flow.cuts.includes('h1') && !a.flow.cuts.includes('rows'));
    assert.ok(a.flow.cuts.includes('back'));
    assert.deepEqual(a.tensor('h1')!.shape, ['?', 6]);
  });

  it('rejects a tensor that is not a cut, naming the bypass', async () => {
    const { model } = residualNet();
    const a = await analyzeModel(model);
    assert.throws(() => extractSegments(model, a.flow, ['b1_relu1'], a.typeOf), (e: Error & { code?: string }) => {
      assert.equal(e.code, 'CUT_NOT_FRONTIER');
      assert.match(e.message, /b1_relu1/);
      assert.match(e.message, /'stem'/);
      return true;
    });
    assert.throws(() => extractSegments(model, a.flow, ['nope'], a.typeOf), { code: 'CUT_NOT_FOUND' });
    assert.throws(() => extractSegments(model, a.flow, ['logits'], a.typeOf), /graph output/);
    assert.throws(() => extractSegments(model, a.flow, ['stem_w'], a.typeOf), /constant/);
  });
});
