import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { mlp } from '../../test/support/models.ts';
import { indexGraph } from './graph-index.ts';

describe('indexGraph', () => {
  it('sorts shuffled nodes topologically and records producers and consumers', () => {
    const { model } = mlp();
    const g = model.graph!;
    g.node = [g.node[3]!, g.node[0]!, g.node[4]!, g.node[2]!, g.node[1]!];
    const idx = indexGraph(g);
    assert.deepEqual(idx.nodes.map((n) => n.output[0]), ['h1', 'r1', 'h2', 'r2', 'logits']);
    assert.equal(idx.producer.get('r1'), 1);
    assert.deepEqual(idx.consumers.get('r1'), [2]);
    assert.deepEqual(idx.inputs, ['x']);
    assert.ok(idx.initializers.has('w1'));
  });

  it('refuses a cyclic graph', () => {
    const { model } = mlp();
    model.graph!.node[0]!.input[0] = 'r2';
    assert.throws(() => indexGraph(model.graph!), { code: 'ONNX_INVALID_MODEL', message: /cycle/ });
  });
});
