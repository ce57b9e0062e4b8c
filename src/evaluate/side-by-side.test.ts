import assert from 'node:assert/strict';
import { test } from 'node:test';
import { inTurn } from './side-by-side.ts';

test('timing rounds take turns: the backbone runs first in even rounds, the other side in odd ones', async () => {
  const order: string[] = [];
  for (let k = 0; k < 4; k++) {
    await inTurn(k, async () => { order.push(`b${k}`); }, async () => { order.push(`c${k}`); });
  }
  assert.deepEqual(order, ['b0', 'c0', 'c1', 'b1', 'b2', 'c2', 'c3', 'b3']);
});
