import assert from 'node:assert/strict';
import { test } from 'node:test';
import { deflateSync, gzipSync } from 'node:zlib';
import type { LayercacheError } from '../errors/index.ts';
import { decodeBody, MAX_DECODE_RATIO, RATIO_FREE_BYTES } from './request-body.ts';

const text = Buffer.from(JSON.stringify({ inputs: [{ name: 'x', shape: [1, 2], datatype: 'FP32', data: [1, 2] }] }));

test('identity and a missing header return the body itself; gzip, x-gzip and deflate decode', async () => {
  assert.equal(await decodeBody(text, undefined, 1000), text);
  assert.equal(await decodeBody(text, 'identity', 1000), text);
  assert.deepEqual(await decodeBody(gzipSync(text), 'gzip', 1000), text);
  assert.deepEqual(await decodeBody(gzipSync(text), ' X-GZIP ', 1000), text);
  assert.deepEqual(await decodeBody(deflateSync(text), 'deflate', 1000), text);
});

test('an unknown encoding is a 415 naming it; bad data a 400; decoding past the limit a 413', async () => {
  await assert.rejects(decodeBody(text, 'br', 1000), (e: LayercacheError) => e.code === 'UNSUPPORTED_MEDIA_TYPE' && /'br' is not supported/.test(e.message));
  await assert.rejects(decodeBody(text, 'gzip', 1000), (e: LayercacheError) => e.code === 'INFER_REQUEST_INVALID' && /not valid gzip data/.test(e.message));
  // 4 MB of zeros compresses to about 4 KB: it may not decode to more than MAX_DECODE_RATIO times that, even under the limit.
  const bomb = gzipSync(Buffer.alloc(4_000_000));
  assert.ok(bomb.length < 8000 && 4_000_000 > RATIO_FREE_BYTES);
  await assert.rejects(decodeBody(bomb, 'gzip', 64 * 2 ** 20), (e: LayercacheError) => e.code === 'BODY_TOO_LARGE' && e.httpStatus === 413 && /decompresses to more than 1048576 bytes, over 32 times its size \(a guard against compression bombs\)/.test(e.message));
  // JSON numbers compress a few times: such a body decodes up to the body limit, and past it is a 413 naming the limit.
  const numbers = Buffer.from(JSON.stringify(Array.from({ length: 20_000 }, (_, i) => Math.sin(i).toFixed(6))));
  const packed = gzipSync(numbers);
  assert.ok(numbers.length / packed.length < MAX_DECODE_RATIO);
  assert.deepEqual(await decodeBody(packed, 'gzip', numbers.length), numbers);
  await assert.rejects(decodeBody(packed, 'gzip', numbers.length - 1), (e: LayercacheError) => e.code === 'BODY_TOO_LARGE' && /more than the limit of/.test(e.message));
});

test('a body of zeros that decodes to under RATIO_FREE_BYTES is read, however well it compressed', async () => {
  // A black 64×64 RGB image as JSON numbers: 12,288 zeros, about 24 KB that gzip packs into well under 1 KB.
  const zeros = Buffer.from(JSON.stringify({ inputs: [{ name: 'x', shape: [1, 3, 64, 64], datatype: 'FP32', data: new Array(3 * 64 * 64).fill(0) }] }));
  const packed = gzipSync(zeros);
  assert.ok(zeros.length / packed.length > MAX_DECODE_RATIO);
  assert.deepEqual(await decodeBody(packed, 'gzip', 64 * 2 ** 20), zeros);
});
