import assert from 'node:assert/strict';
import { test } from 'node:test';
import { sha256 } from './digest.ts';

test('sha256: the FIPS 180-2 value for "abc", and the bytes of a view, not of its whole buffer', () => {
  const abc = new TextEncoder().encode('abc');
  assert.equal(sha256(abc), 'ba7816bf8f01cfea414140de5dae2223b00361a396177a9cb410ff61f20015ad');
  const inside = new Uint8Array([0, 97, 98, 99, 0]).subarray(1, 4);
  assert.equal(sha256(inside), sha256(abc));
  // A float32 row hashes its 4-byte values.
  const row = new Float32Array([1, 2, 3, 4]).subarray(1, 3);
  assert.equal(sha256(row), sha256(new Uint8Array(new Float32Array([2, 3]).buffer)));
});
