import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ExitTensors } from './exit-tensors.ts';

describe('ExitTensors', () => {
  it('names each exit index by the tensor of the version that answered, the backbone and unknown versions by ""', () => {
    const t = new ExitTensors();
    t.remember(1, ['a', 'b']);
    t.remember(2, ['c']);
    assert.equal(t.of(1, 1), 'b', 'an answer in flight from version 1 keeps its label');
    assert.equal(t.of(2, 0), 'c');
    assert.equal(t.of(2, -1), '');
    assert.equal(t.of(3, 0), '');
  });

  it('forgets all but the latest four versions', () => {
    const t = new ExitTensors();
    for (let v = 1; v <= 6; v++) t.remember(v, [`x${v}`]);
    assert.deepEqual([1, 2, 3, 4, 5, 6].map((v) => t.of(v, 0)), ['', '', 'x3', 'x4', 'x5', 'x6']);
  });
});
