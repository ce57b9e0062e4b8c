import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { GraphBuilder, type NodeProto } from '../onnx/index.ts';
import { nodeMacs } from './macs.ts';

function single(op: string, inputs: string[], attrs: Record<string, number | number[]> = {}): NodeProto {
  const g = new GraphBuilder();
  g.node(op, inputs, attrs, { outputs: ['y'] });
  return g.buildGraph().node[0]!;
}

describe('nodeMacs (hand-computed oracles)', () => {
  const dims = (table: Record<string, number[]>) => (name: string) => table[name];

  it('Conv: output elements × Cin/group × kernel', () => {
    const n = single('Conv', ['x', 'w']);
    assert.equal(nodeMacs(n, dims({ x: [1, 3, 8, 8], w: [16, 3, 3, 3], y: [1, 16, 8, 8] })), 16 * 64 * 27);
    // depthwise: group = 16, W [16, 1, 3, 3]
    assert.equal(nodeMacs(n, dims({ x: [1, 16, 8, 8], w: [16, 1, 3, 3], y: [1, 16, 8, 8] })), 16 * 64 * 9);
  });

  it('ConvTranspose: input elements × Cout/group × kernel', () => {
    const n = single('ConvTranspose', ['x', 'w']);
    assert.equal(nodeMacs(n, dims({ x: [1, 4, 5, 5], w: [4, 2, 3, 3], y: [1, 2, 11, 11] })), 100 * 18);
  });

  it('Gemm with and without transA, MatMul with batch dims', () => {
    assert.equal(nodeMacs(single('Gemm', ['a', 'b']), dims({ a: [1, 64], b: [64, 10], y: [1, 10] })), 640);
    assert.equal(nodeMacs(single('Gemm', ['a', 'b'], { transA: 1 }), dims({ a: [64, 1], b: [64, 10], y: [1, 10] })), 640);
    assert.equal(nodeMacs(single('MatMul', ['a', 'b']), dims({ a: [1, 4, 7, 32], b: [32, 5], y: [1, 4, 7, 5] })), 4 * 7 * 5 * 32);
  });

  it('pooling, reductions, elementwise and data movement', () => {
    assert.equal(nodeMacs(single('MaxPool', ['x'], { kernel_shape: [3, 3] }), dims({ x: [1, 2, 8, 8], y: [1, 2, 4, 4] })), 32 * 9);
    assert.equal(nodeMacs(single('GlobalAveragePool', ['x']), dims({ x: [1, 64, 8, 8], y: [1, 64, 1, 1] })), 4096);
    assert.equal(nodeMacs(single('Relu', ['x']), dims({ x: [1, 10], y: [1, 10] })), 10);
    assert.equal(nodeMacs(single('Reshape', ['x', 's']), dims({ x: [1, 10], y: [10] })), 0);
    assert.equal(nodeMacs(single('Conv', ['x', 'w']), dims({})), 0, 'unknown shapes count 0, never NaN');
  });
});
