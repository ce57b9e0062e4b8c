import assert from 'node:assert/strict';
import { test } from 'node:test';
import { inTurn } from './evaluate.ts';

test('timing rounds take turns: the backbone runs first in even rounds, the other side in odd ones', async () => {
  const order: string[] = [];
  for (let k = 0; k < 4; k++) {
    await inTurn(k, async () => { order.push(`b${k}`); }, async () => { order.push(`c${k}`); });
  }
  assert.deepEqual(order, ['b0', 'c0', 'c1', 'b1', 'b2', 'c2', 'c3', 'b3']);
});

test('latency percentiles follow the nearest-rank rule: p99 of 100 samples is the 99th smallest, not the largest', async () => {
  const { percentile } = await import('./evaluate.ts');
  const hundred = Array.from({ length: 100 }, (_, i) => 100 - i);
  assert.equal(percentile(hundred, 0.99), 99);
  assert.equal(percentile(hundred, 0.95), 95);
  assert.equal(percentile(hundred, 0.5), 50);
  assert.equal(percentile([3, 1], 0.5), 1);
  assert.equal(percentile([7], 0.99), 7);
  assert.ok(Number.isNaN(percentile([], 0.5)));
});
