import assert from 'node:assert/strict';
import { test } from 'node:test';
import { percentile } from './percentile.ts';

test('percentiles follow the nearest-rank rule: p99 of 100 samples is the 99th smallest, not the largest', () => {
  const hundred = Array.from({ length: 100 }, (_, i) => 100 - i);
  assert.equal(percentile(hundred, 0.99), 99);
  assert.equal(percentile(hundred, 0.95), 95);
  assert.equal(percentile(hundred, 0.5), 50);
  assert.equal(percentile([3, 1], 0.5), 1);
  assert.equal(percentile([7], 0.99), 7);
  assert.ok(Number.isNaN(percentile([], 0.5)));
  assert.equal(hundred[0], 100, 'the values are not reordered');
  // p·n not whole: the rank rounds up (0.95 · 13 = 12.35 → the 13th), never to the nearest.
  assert.equal(percentile(Array.from({ length: 13 }, (_, i) => i + 1), 0.95), 13);
});
