import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { indexGraph, type ModelProto } from '../onnx/index.ts';
import { branchRejoin, denseConcat, mlp, residualNet, twoOutputs } from '../../test/support/models.ts';
import { analyzeDataflow } from './dataflow.ts';

const cutsOf = (m: ModelProto): readonly string[] => analyzeDataflow(indexGraph(m.graph!)).cuts;

describe('cut points', () => {
  it('every hidden tensor of an MLP is a cut, in order', () => {
    const { model, hidden } = mlp();
    assert.deepEqual(cutsOf(model), hidden);
  });

  it('residual blocks: block outputs are cuts, tensors bypassed by the skip are not', () => {
    const { model, blockOutputs, inner } = residualNet();
    const cuts = cutsOf(model);
    for (const b of blockOutputs) assert.ok(cuts.includes(b), `${b} should be a cut`);
    for (const t of inner) assert.ok(!cuts.includes(t), `${t} is bypassed by the skip and must not be a cut`);
    assert.deepEqual(cuts, ['stem_conv', 'stem', 'b1_add', 'b1_out', 'b2_add', 'b2_out', 'pooled', 'flat']);
  });

  it('a branch that rejoins later: the branch tensors are not cuts, the fork and join are', () => {
    assert.deepEqual(cutsOf(branchRejoin().model), ['a', 'd']);
  });

  it('two outputs: cuts are only where both outputs still depend on one tensor', () => {
    // 'logits' is itself a graph output, so it is never a cut (it stays live to the end).
    assert.deepEqual(cutsOf(twoOutputs().model), ['h_pre', 'h', 'z_pre', 'z']);
  });

  it('a graph that concatenates the input at every stage has no cut point', () => {
    assert.deepEqual(cutsOf(denseConcat().model), []);
  });

  it('node order in the file does not matter', () => {
    const { model, hidden } = mlp();
    model.graph!.node.reverse();
    assert.deepEqual(cutsOf(model), hidden);
  });
});
