import assert from 'node:assert/strict';
import { test } from 'node:test';
import { seededRng, shuffleInPlace } from './random.ts';

test('shuffleInPlace draws every permutation, about equally often (Fisher–Yates, not Sattolo\'s cycles)', () => {
  const rng = seededRng(11);
  const seen = new Map<string, number>();
  for (let k = 0; k < 600; k++) {
    const key = shuffleInPlace(rng, [0, 1, 2]).join('');
    seen.set(key, (seen.get(key) ?? 0) + 1);
  }
  assert.deepEqual([...seen.keys()].sort(), ['012', '021', '102', '120', '201', '210']);
  // 100 expected each; a binomial(600, 1/6) lies within 100 ± 40 with probability 1 − 1e-5.
  for (const [key, count] of seen) assert.ok(count > 60 && count < 140, `${key}: ${count}`);
});
