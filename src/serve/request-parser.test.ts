/**
 * The request parser: bodies parsed in its worker give exactly what parseInferRequest gives on the calling thread,
 * errors included; a dead worker fails its pending parses and is replaced; close() refuses what is left.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LayercacheError } from '../errors/index.ts';
import { parseInferRequest } from './protocol.ts';
import { INLINE_BINARY_BYTES, RequestParser } from './request-parser.ts';

const spec = { inputName: 'x', sampleDims: [2, 3], maxRows: 8, outputs: ['class', 'exit'] };
const json = (v: unknown): Buffer => Buffer.from(JSON.stringify(v));

/** Same code and message from both, or the same request. */
async function same(body: () => Buffer, headerLength: number | null, parser: RequestParser): Promise<void> {
  let inline: unknown;
  try {
    inline = parseInferRequest(body(), headerLength, spec);
  } catch (e) {
    inline = e;
  }
  const worker = await parser.parse(body(), headerLength).catch((e: unknown) => e);
  if (inline instanceof LayercacheError) {
    assert.ok(worker instanceof LayercacheError, `the worker parsed what the thread refused: ${inline.message}`);
    assert.equal(worker.code, inline.code);
    assert.equal(worker.message, inline.message);
  } else {
    assert.deepEqual(worker, inline);
  }
}

describe('RequestParser', () => {
  it('parses in its worker exactly as on the calling thread: JSON, binary, raw binary, and refusals', async () => {
    const parser = new RequestParser(spec, 0);
    try {
      const x = Array.from({ length: 12 }, (_, i) => i / 7 - 0.5);
      await same(() => json({ id: 'r', inputs: [{ name: 'x', shape: [2, 2, 3], datatype: 'FP32', data: x }], outputs: [{ name: 'exit', parameters: { binary_data: true } }] }), null, parser);
      const header = json({ inputs: [{ name: 'x', shape: [1, 2, 3], datatype: 'FP64', parameters: { binary_data_size: 48 } }] });
      await same(() => Buffer.concat([header, Buffer.from(new Float64Array(x.slice(0, 6)).buffer)]), header.length, parser);
      await same(() => Buffer.from(new Float32Array(x).buffer), 0, parser);
      await same(() => json({ inputs: [{ name: 'y', shape: [1, 2, 3], datatype: 'FP32', data: x.slice(0, 6) }] }), null, parser);
      await same(() => Buffer.from('{"inputs": ['), null, parser);
    } finally {
      await parser.close();
    }
  });

  it('moves a body with a large JSON part to its worker; parses small JSON and binary tensors of any size on the calling thread', async () => {
    const parser = new RequestParser(spec, 100);
    try {
      const request = { inputs: [{ name: 'x', shape: [2, 2, 3], datatype: 'FP32', data: Array.from({ length: 12 }, (_, i) => i / 4) }] };
      const encoded = json(request);
      const big = Buffer.from(encoded.buffer.slice(encoded.byteOffset, encoded.byteOffset + encoded.byteLength));
      assert.ok(big.byteLength > 100 && big.byteOffset === 0 && big.byteLength === big.buffer.byteLength);
      await parser.parse(big, null);
      assert.equal(big.byteLength, 0, 'a body that owns its memory is transferred, not copied');
      // A view into a larger allocation is copied to the worker, not transferred: the allocation and its other views stay.
      const text = json(request);
      const parent = Buffer.alloc(text.length + 200);
      const view = parent.subarray(100, 100 + text.length);
      const beside = parent.subarray(0, 100);
      view.set(text);
      assert.deepEqual(Array.from((await parser.parse(view, null)).inputs[0]!.data.subarray(0, 2)), [0, 0.25]);
      assert.deepEqual([parent.byteLength, view.byteLength, beside.byteLength], [text.length + 200, text.length, 100]);
      // Binary tensors with a small JSON part: parsed here up to INLINE_BINARY_BYTES (nothing is transferred), in the worker beyond.
      const raw = Buffer.from(new Float32Array(48).fill(0.5).buffer);
      assert.equal((await parser.parse(raw, 0)).inputs[0]!.data.length, 48);
      assert.equal(raw.byteLength, 192);
      const rows = Math.ceil((INLINE_BINARY_BYTES + 1) / 24);
      const large = Buffer.from(new Float32Array(rows * 6).fill(0.25).buffer);
      const wide = new RequestParser({ ...spec, maxRows: rows }, 100);
      try {
        assert.equal((await wide.parse(large, 0)).inputs[0]!.data.length, rows * 6);
        assert.equal(large.byteLength, 0, 'a large binary body goes to the worker');
      } finally {
        await wide.close();
      }
      const small = json({ inputs: [{ name: 'x', shape: [1, 2, 3], datatype: 'FP32', data: [1, 2, 3, 4, 5, 6] }] }).subarray(0);
      const copy = Buffer.from(small);
      await parser.parse(copy.subarray(0, 99), null).catch(() => {});
      assert.equal(copy.byteLength, small.byteLength, 'a small body stays where it is');
    } finally {
      await parser.close();
    }
  });

  it('fails the parses of a worker that stops with WORKER_RESTARTING (send again), and starts another for the next body', async () => {
    const parser = new RequestParser(spec, 0);
    try {
      const body = () => json({ inputs: [{ name: 'x', shape: [1, 2, 3], datatype: 'FP32', data: [1, 2, 3, 4, 5, 6] }] });
      await parser.parse(body(), null);
      const worker = (parser as unknown as { worker: { terminate(): Promise<number> } }).worker;
      const pending = parser.parse(Buffer.from(JSON.stringify({ inputs: [{ name: 'x', shape: [8, 2, 3], datatype: 'FP32', data: new Array(48).fill(0.5) }] }).padEnd(20_000_000, ' ')), null).catch((e: unknown) => e);
      await worker.terminate();
      const failed = await pending;
      assert.ok(failed instanceof LayercacheError && failed.code === 'WORKER_RESTARTING' && failed.httpStatus === 503, String(failed));
      assert.deepEqual(Array.from((await parser.parse(body(), null)).inputs[0]!.data), [1, 2, 3, 4, 5, 6]);
    } finally {
      await parser.close();
    }
  });

  it('fails a body that takes the worker past its heap with BODY_TOO_LARGE, those behind it with WORKER_RESTARTING, and goes on (the process survives)', { timeout: 60_000 }, async () => {
    const parser = new RequestParser(spec, 0, 16);
    try {
      const input = JSON.stringify({ name: 'x', shape: [1, 2, 3], datatype: 'FP32', data: [1, 2, 3, 4, 5, 6] });
      // Strings: values past the model's need are refused before parsing (protocol.ts), strings are not. About 21 MB
      // for a 16 MB heap: V8 aborts the whole process, not the worker, when one allocation (the body as a string, made
      // before parsing) is far past a worker's heap (40 MB did here); the server's parser heap is 8 times its body
      // limit, so no body can be.
      const heavy = Buffer.from(`{"inputs":[${input}],"pad":[${Array.from({ length: 700 }, () => `"${'x'.repeat(30_000)}"`).join(',')}]}`);
      // A body queued behind the heavy one is not blamed for it: it is told to retry.
      const [failed, behind] = await Promise.all([parser.parse(heavy, null), parser.parse(Buffer.from(`{"inputs":[${input}]}`), null)].map((p) => p.catch((e: unknown) => e)));
      assert.ok(failed instanceof LayercacheError && failed.code === 'BODY_TOO_LARGE' && failed.httpStatus === 413 && /this request's body took the request-parser worker past its 16 MB heap; send the tensors as binary/.test(failed.message), String(failed));
      assert.ok(behind instanceof LayercacheError && behind.code === 'WORKER_RESTARTING' && behind.httpStatus === 503 && /stopped while this request waited .*send it again/.test(behind.message), String(behind));
      assert.deepEqual(Array.from((await parser.parse(Buffer.from(`{"inputs":[${input}]}`), null)).inputs[0]!.data), [1, 2, 3, 4, 5, 6]);
    } finally {
      await parser.close();
    }
  });

  it('refuses large bodies once closed, and fails those still parsing with NOT_READY', async () => {
    const parser = new RequestParser(spec, 0);
    const pending = parser.parse(Buffer.from(JSON.stringify({ inputs: [{ name: 'x', shape: [1, 2, 3], datatype: 'FP32', data: [1, 2, 3, 4, 5, 6] }] }).padEnd(20_000_000, ' ')), null).catch((e: unknown) => e);
    await parser.close();
    const failed = await pending;
    assert.ok(failed instanceof LayercacheError && failed.code === 'NOT_READY', String(failed));
    await assert.rejects(parser.parse(Buffer.from('{}'), null), (e: unknown) => e instanceof LayercacheError && e.code === 'NOT_READY');
  });
});
