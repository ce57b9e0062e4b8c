import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LayercacheError } from '../errors/index.ts';
import { encodeInferResponse, parseInferRequest } from './protocol.ts';

const json = (v: unknown): Uint8Array => Buffer.from(JSON.stringify(v));

/** A v2 request with binary tensors: JSON header, then the raw bytes; returns body and header length. */
function binaryRequest(header: unknown, ...tensors: ArrayBufferView[]): { body: Uint8Array; headerLength: number } {
  const h = json(header);
  const parts = tensors.map((t) => Buffer.from(t.buffer, t.byteOffset, t.byteLength));
  return { body: Buffer.concat([h, ...parts]), headerLength: h.length };
}

function rejects(fn: () => unknown, pattern: RegExp): void {
  assert.throws(fn, (e: unknown) => e instanceof LayercacheError && e.code === 'INFER_REQUEST_INVALID' && pattern.test(e.message));
}

describe('parseInferRequest', () => {
  it('reads FP16 and BF16 binary tensors (oracle: bit patterns worked out by hand)', () => {
    const { body, headerLength } = binaryRequest({ inputs: [{ name: 'x', shape: [1, 2], datatype: 'FP16', parameters: { binary_data_size: 4 } }] }, new Uint16Array([0x3c00, 0xc000]));
    assert.deepEqual(Array.from(parseInferRequest(body, headerLength).inputs[0]!.data), [1, -2]);
    const b16 = binaryRequest({ inputs: [{ name: 'x', shape: [2], datatype: 'BF16', parameters: { binary_data_size: 4 } }] }, new Uint16Array([0x3f80, 0xc040]));
    assert.deepEqual(Array.from(parseInferRequest(b16.body, b16.headerLength).inputs[0]!.data), [1, -3]);
    // Beyond FP16's range in JSON, and a BOOL byte other than 0/1, are 400s too.
    rejects(() => parseInferRequest(json({ inputs: [{ name: 'x', shape: [2], datatype: 'FP16', data: [1, 1e6] }] }), null), /value 1 is 1000000, outside FP16 \(at most ±65504\)/);
    // JSON values of a narrow float type are what the type stores, as the same values sent as binary are:
    // 0.1 is 0x2e66 in FP16 (0.0999755859375) and 0x3dcd in BF16 (0.10009765625).
    assert.deepEqual(Array.from(parseInferRequest(json({ inputs: [{ name: 'x', shape: [1], datatype: 'FP16', data: [0.1] }] }), null).inputs[0]!.data), [Math.fround(0.0999755859375)]);
    assert.deepEqual(Array.from(parseInferRequest(json({ inputs: [{ name: 'x', shape: [1], datatype: 'BF16', data: [0.1] }] }), null).inputs[0]!.data), [Math.fround(0.10009765625)]);
    const bool = binaryRequest({ inputs: [{ name: 'x', shape: [2], datatype: 'BOOL', parameters: { binary_data_size: 2 } }] }, new Uint8Array([1, 2]));
    rejects(() => parseInferRequest(bool.body, bool.headerLength), /value 1 is 2, outside BOOL \(integers 0 to 1\)/);
    // An FP16 infinity is a 400 like any non-finite input.
    const inf = binaryRequest({ inputs: [{ name: 'x', shape: [1], datatype: 'FP16', parameters: { binary_data_size: 2 } }] }, new Uint16Array([0x7c00]));
    rejects(() => parseInferRequest(inf.body, inf.headerLength), /value 0 is Infinity/);
  });

  it('reads JSON data nested as the shape down to any level whose arrays hold the rest flat (one array per row)', () => {
    const values = Array.from({ length: 24 }, (_, i) => i);
    const perRow = [values.slice(0, 12), values.slice(12)];
    const perChannel = [0, 1, 2, 3, 4, 5].map((k) => values.slice(4 * k, 4 * k + 4));
    for (const data of [values, perRow, [[perChannel[0], perChannel[1], perChannel[2]], [perChannel[3], perChannel[4], perChannel[5]]]]) {
      assert.deepEqual(Array.from(parseInferRequest(json({ inputs: [{ name: 'x', shape: [2, 3, 2, 2], datatype: 'FP32', data }] }), null).inputs[0]!.data), values);
    }
    assert.deepEqual(Array.from(parseInferRequest(json({ inputs: [{ name: 'x', shape: [2, 3, 1], datatype: 'FP32', data: [[1, 2, 3], [4, 5, 6]] }] }), null).inputs[0]!.data), [1, 2, 3, 4, 5, 6]);
  });

  it('refuses JSON data nested unlike its shape, nested deeper than any shape, or of the wrong kind', () => {
    rejects(() => parseInferRequest(json({ inputs: [{ name: 'x', shape: [1, 3], datatype: 'FP32', data: [[1, 2, 3], []] }] }), null), /nested unlike its shape \[1, 3\]: level 1 has 2 entries/);
    rejects(() => parseInferRequest(json({ inputs: [{ name: 'x', shape: [2, 2], datatype: 'FP32', data: [[1, 2, 3], [4]] }] }), null), /nested unlike its shape/);
    rejects(() => parseInferRequest(json({ inputs: [{ name: 'x', shape: [1], datatype: 'FP32', data: [[[[1]]]] }] }), null), /nested unlike its shape \[1\]: deeper than its 1 dimensions/);
    // Millions of brackets are refused before JSON.parse spends seconds on them; brackets inside strings do not count.
    rejects(() => parseInferRequest(Buffer.from(`{"inputs":[{"name":"x","shape":[1],"datatype":"FP32","data":${'['.repeat(100_000)}1${']'.repeat(100_000)}}]}`), null), /JSON nests deeper than 32 levels/);
    assert.equal(parseInferRequest(json({ inputs: [{ name: '["{'.repeat(40), shape: [1], datatype: 'FP32', data: [1] }] }), null).inputs[0]!.name, '["{'.repeat(40));
    rejects(() => parseInferRequest(json({ inputs: [{ name: 'x', shape: new Array(17).fill(1), datatype: 'FP32', data: [1] }] }), null), /at most 16/);
    rejects(() => parseInferRequest(json({ inputs: [{ name: 'x', shape: [2], datatype: 'FP32', data: [true, 1] }] }), null), /holds true at value 0; it must hold finite numbers/);
    rejects(() => parseInferRequest(json({ inputs: [{ name: 'x', shape: [2, 2], datatype: 'FP32', data: [[1, 2], 'ab'] }] }), null), /level 2 has "ab" where 2 arrays or values belong/);
  });

  it('refuses a tensor sent both ways, a non-boolean binary_data, and an output named twice', () => {
    const both = binaryRequest({ inputs: [{ name: 'x', shape: [1], datatype: 'FP32', data: [1], parameters: { binary_data_size: 4 } }] }, new Float32Array([1]));
    rejects(() => parseInferRequest(both.body, both.headerLength), /both "data" and binary_data_size/);
    const input = { name: 'x', shape: [1], datatype: 'FP32', data: [1] };
    rejects(() => parseInferRequest(json({ inputs: [input], outputs: [{ name: 'class', parameters: { binary_data: 'yes' } }] }), null), /binary_data must be true or false, got "yes"/);
    rejects(() => parseInferRequest(json({ inputs: [input], parameters: { binary_data_output: 1 } }), null), /binary_data_output must be true or false/);
    rejects(() => parseInferRequest(json({ inputs: [input], outputs: [{ name: 'class' }, { name: 'class' }] }), null), /output 'class' is requested twice/);
  });

  it('names what is wrong: a string binary_data_size, the classification extension, a body that is not JSON text', () => {
    const sized = binaryRequest({ inputs: [{ name: 'x', shape: [1], datatype: 'FP32', parameters: { binary_data_size: '4' } }] }, new Float32Array([1]));
    rejects(() => parseInferRequest(sized.body, sized.headerLength), /binary_data_size must be a number of bytes, got the string "4"/);
    const input = { name: 'x', shape: [1], datatype: 'FP32', data: [1] };
    rejects(() => parseInferRequest(json({ inputs: [input], outputs: [{ name: 'probabilities', parameters: { classification: 2 } }] }), null), /classification extension, which this server does not offer/);
    // Plain JSON that does not parse gets no hint about binary tensors; binary bytes and gzip's magic get the fitting one.
    assert.throws(() => parseInferRequest(Buffer.from('{"inputs": ['), null), (e: LayercacheError) => /not valid JSON/.test(e.message) && !/binary|gzip|NaN|mark|Inference-Header/.test(e.message));
    // What Python's json.dumps writes for nan and inf, and a byte-order mark: each named.
    for (const literal of ['NaN', 'Infinity', '-Infinity']) {
      rejects(() => parseInferRequest(Buffer.from(`{"inputs":[{"name":"x","shape":[1,2],"datatype":"FP32","data":[1, ${literal}]}]}`), null), /not valid JSON .*; JSON has no NaN or Infinity \(Python's json\.dumps writes them unless allow_nan=False\): send finite numbers$/);
    }
    rejects(() => parseInferRequest(Buffer.from('\ufeff{"inputs": []}'), null), /; the body starts with a UTF-8 byte-order mark, which JSON does not allow: send the JSON without it$/);
    // A header length that cuts the JSON short or runs into the binary data: the hint names the header.
    const framed = binaryRequest({ inputs: [{ name: 'x', shape: [1], datatype: 'FP32', parameters: { binary_data_size: 4 } }] }, new Float32Array([1]));
    for (const off of [-1, 2]) {
      rejects(() => parseInferRequest(framed.body, framed.headerLength + off), new RegExp(`not valid JSON .*; Inference-Header-Content-Length says the JSON header is the body's first ${framed.headerLength + off} bytes: it must count exactly the JSON's bytes`));
    }
    // A header length that is right, on JSON that is wrong: the JSON's fault is named, not the length.
    const header = (text: string): { body: Buffer; headerLength: number } => ({ body: Buffer.concat([Buffer.from(text), Buffer.from(new Float32Array([1]).buffer)]), headerLength: Buffer.byteLength(text) });
    const exact = [
      [header('{"inputs":[{"name":"x","shape":[1],"datatype":"FP32","parameters":{"binary_data_size":4}}],"parameters":{"a":NaN}}'), /; JSON has no NaN or Infinity/],
      [header('\ufeff{"inputs":[{"name":"x","shape":[1],"datatype":"FP32","parameters":{"binary_data_size":4}}]}'), /; the body starts with a UTF-8 byte-order mark/],
      [header('{"inputs":[{"name":"x","shape":[1],"datatype":"FP32","parameters":{"binary_data_size":4}},]}'), /is not valid JSON \([^)]*\)$/],
    ] as const;
    for (const [{ body, headerLength }, message] of exact) {
      assert.throws(() => parseInferRequest(body, headerLength), (e: LayercacheError) => message.test(e.message) && !/Inference-Header-Content-Length says/.test(e.message), body.toString('latin1', 0, 40));
    }
    // "NaN" inside a string, where the parser stopped at something else: no NaN hint.
    assert.throws(() => parseInferRequest(Buffer.from('{"id":"a, NaN","inputs":[1,]}'), null), (e: LayercacheError) => /not valid JSON/.test(e.message) && !/NaN or Infinity/.test(e.message));
    // A header length of 0 (Triton's raw binary request) read without the model: no hint that the header is missing.
    assert.throws(() => parseInferRequest(Buffer.from(new Float32Array([1]).buffer), 0), (e: LayercacheError) => /not valid JSON/.test(e.message) && !/needs the Inference-Header-Content-Length/.test(e.message));
    rejects(() => parseInferRequest(Buffer.concat([Buffer.from('{"inputs": []}'), Buffer.from([0, 0, 128, 63])]), null), /binary bytes: a request with binary tensors also needs the Inference-Header-Content-Length header/);
    // Binary bytes full of bracket values after the header: still the hint, not a nesting error.
    rejects(() => parseInferRequest(Buffer.concat([Buffer.from('{"inputs": []}'), Buffer.alloc(400, 0x5b), Buffer.from([0])]), null), /also needs the Inference-Header-Content-Length header/);
    rejects(() => parseInferRequest(Buffer.from([0x1f, 0x8b, 8, 0, 0, 0]), null), /looks gzip-compressed: send it with Content-Encoding: gzip/);
  });

  it('rejects non-finite values, binary or beyond float32 in JSON, naming the value', () => {
    const { body, headerLength } = binaryRequest({ inputs: [{ name: 'x', shape: [1, 3], datatype: 'FP32', parameters: { binary_data_size: 12 } }] }, new Float32Array([1, Number.NaN, 2]));
    rejects(() => parseInferRequest(body, headerLength), /value 1 is NaN/);
    rejects(() => parseInferRequest(json({ inputs: [{ name: 'x', shape: [2], datatype: 'FP64', data: [1, 1e300] }] }), null), /value 1 is Infinity/);
  });

  it('reads the extreme values of binary integer types, exactly, then rounded to the model\'s float32 input', () => {
    const cases: [string, ArrayBufferView, number][] = [
      ['INT32', new Int32Array([2147483647, -2147483648]), 4],
      ['UINT32', new Uint32Array([4294967295, 0]), 4],
      ['INT64', new BigInt64Array([2n ** 62n, -(2n ** 63n)]), 8],
      ['UINT64', new BigUint64Array([2n ** 64n - 1n, 0n]), 8],
    ];
    for (const [datatype, values, bytes] of cases) {
      const { body, headerLength } = binaryRequest({ inputs: [{ name: 'x', shape: [2], datatype, parameters: { binary_data_size: 2 * bytes } }] }, values);
      const data = parseInferRequest(body, headerLength).inputs[0]!.data;
      const expected = Array.from(values as unknown as ArrayLike<number | bigint>, (v) => Math.fround(Number(v)));
      assert.deepEqual(Array.from(data), expected, datatype);
    }
  });

  it('reads JSON INT64 only where JSON numbers are exact, and says to send wider values as binary', () => {
    rejects(() => parseInferRequest(json({ inputs: [{ name: 'x', shape: [1], datatype: 'INT64', data: [2 ** 62] }] }), null), /value 0 is 4611686018427388000, beyond the integers JSON numbers hold exactly \(-9007199254740991 to 9007199254740991\); send it as binary INT64, or as FP32/);
    rejects(() => parseInferRequest(json({ inputs: [{ name: 'x', shape: [1], datatype: 'UINT64', data: [-1] }] }), null), /value 0 is -1, outside UINT64 \(integers 0 to 18446744073709551615\)/);
    // The type's largest value reaches the parser rounded up to 2^63: still the type's, so still the binary advice.
    rejects(() => parseInferRequest(Buffer.from('{"inputs":[{"name":"x","shape":[1],"datatype":"INT64","data":[9223372036854775807]}]}'), null), /beyond the integers JSON numbers hold exactly .*send it as binary INT64/);
    // Beyond the type itself: no advice to send it as binary, which cannot hold it either.
    rejects(() => parseInferRequest(json({ inputs: [{ name: 'x', shape: [1], datatype: 'INT64', data: [1e19] }] }), null), /value 0 is 10000000000000000000, outside INT64 \(integers -9223372036854775808 to 9223372036854775807\)/);
    rejects(() => parseInferRequest(json({ inputs: [{ name: 'x', shape: [1], datatype: 'UINT64', data: [1e20] }] }), null), /outside UINT64 \(integers 0 to 18446744073709551615\)/);
    rejects(() => parseInferRequest(json({ inputs: [{ name: 'x', shape: [1], datatype: 'INT64', data: [1.5] }] }), null), /value 0 is 1\.5, outside INT64/);
  });

  it('rejects JSON values outside an integer datatype, naming value and range', () => {
    rejects(() => parseInferRequest(json({ inputs: [{ name: 'x', shape: [2], datatype: 'UINT8', data: [3, 300] }] }), null), /value 1 is 300, outside UINT8 \(integers 0 to 255\)/);
    rejects(() => parseInferRequest(json({ inputs: [{ name: 'x', shape: [1], datatype: 'INT32', data: [1.5] }] }), null), /value 0 is 1.5, outside INT32/);
    assert.deepEqual(Array.from(parseInferRequest(json({ inputs: [{ name: 'x', shape: [2], datatype: 'BOOL', data: [true, 0] }] }), null).inputs[0]!.data), [1, 0]);
  });

  it('rejects a shape far larger than the data before allocating it', () => {
    const { body, headerLength } = binaryRequest({ inputs: [{ name: 'x', shape: [1e9, 3, 8, 8], datatype: 'FP32', parameters: { binary_data_size: 12 } }] }, new Float32Array(3));
    rejects(() => parseInferRequest(body, headerLength), /binary_data_size 12 does not match shape/);
    rejects(() => parseInferRequest(json({ inputs: [{ name: 'x', shape: [1e9, 3, 8, 8], datatype: 'FP32', data: [1, 2] }] }), null), /has 2 values but shape/);
    // Nested data too: its values are not allocated for a shape the body's text cannot fill.
    rejects(() => parseInferRequest(json({ inputs: [{ name: 'x', shape: [65536, 3, 224, 224], datatype: 'FP32', data: [[1]] }] }), null), /shape \[65536, 3, 224, 224\] needs 9865003008 values, more than the request's \d+ bytes of JSON can hold/);
  });

  it('reads JSON tensors, flat or nested, converting numbers to float32', () => {
    const r = parseInferRequest(json({ id: 'a', inputs: [{ name: 'x', shape: [2, 2], datatype: 'INT32', data: [[1, 2], [3, 4]] }] }), null);
    assert.equal(r.id, 'a');
    assert.deepEqual(Array.from(r.inputs[0]!.data), [1, 2, 3, 4]);
    assert.equal(r.outputs, null);
    assert.equal(parseInferRequest(json({ inputs: [{ name: 'x', shape: [1], datatype: 'FP32', data: [1] }], outputs: [] }), null).outputs, null, 'an empty "outputs" list means every output, as in Triton');
  });

  it('reads binary tensors after the JSON header, in input order, little-endian', () => {
    const a = new Float32Array([1.5, -2, 3.25]);
    const b = new Float64Array([0.125, 7]);
    const { body, headerLength } = binaryRequest({
      inputs: [
        { name: 'a', shape: [1, 3], datatype: 'FP32', parameters: { binary_data_size: 12 } },
        { name: 'b', shape: [2], datatype: 'FP64', parameters: { binary_data_size: 16 } },
      ],
      outputs: [{ name: 'class', parameters: { binary_data: true } }, { name: 'exit' }],
    }, a, b);
    const r = parseInferRequest(body, headerLength);
    assert.deepEqual(Array.from(r.inputs[0]!.data), [1.5, -2, 3.25]);
    assert.deepEqual(Array.from(r.inputs[1]!.data), [0.125, 7]);
    assert.deepEqual(r.outputs, [{ name: 'class', binary: true }, { name: 'exit', binary: false }]);
  });

  it('names the bad field', () => {
    rejects(() => parseInferRequest(json({ inputs: [] }), null), /"inputs" must be a non-empty array/);
    rejects(() => parseInferRequest(Buffer.from('{nope'), null), /not valid JSON/);
    rejects(() => parseInferRequest(json({ inputs: [{ name: 'x', shape: [2, 2], datatype: 'FP32', data: [1, 2, 3] }] }), null), /'x'\) has 3 values but shape \[2, 2\] needs 4/);
    rejects(() => parseInferRequest(json({ inputs: [{ name: 'x', shape: [1], datatype: 'BYTES', data: ['a'] }] }), null), /datatype BYTES/);
    rejects(() => parseInferRequest(json({ inputs: [{ name: 'x', shape: [-1], datatype: 'FP32', data: [] }] }), null), /shape must be/);
    rejects(() => parseInferRequest(json({ inputs: [{ name: 'x', shape: [2], datatype: 'FP32', data: [1, 'a'] }] }), null), /data holds "a" at value 1; it must hold finite numbers/);
    const { body, headerLength } = binaryRequest({ inputs: [{ name: 'x', shape: [4], datatype: 'FP32', parameters: { binary_data_size: 16 } }] }, new Float32Array(3));
    rejects(() => parseInferRequest(body, headerLength), /ends 4 bytes before/);
    rejects(() => parseInferRequest(json({ inputs: [{ name: 'x', shape: [1], datatype: 'FP32', parameters: { binary_data_size: 4 } }] }), null), /no Inference-Header-Content-Length/);
    const extra = binaryRequest({ inputs: [{ name: 'x', shape: [1], datatype: 'FP32', parameters: { binary_data_size: 4 } }] }, new Float32Array(2));
    rejects(() => parseInferRequest(extra.body, extra.headerLength), /4 bytes after the last binary tensor/);
    rejects(() => parseInferRequest(json({ inputs: [{ name: 'x', shape: [1], datatype: 'FP32', data: [1] }] }), 999), /Inference-Header-Content-Length 999/);
  });
});

describe('parseInferRequest against the model', () => {
  const spec = { inputName: 'x', sampleDims: [3], maxRows: 4, outputs: ['class', 'exit'] };

  it('refuses what the model cannot answer from the header, before reading any tensor data', () => {
    // Each request's data is bad too (a string, or too few bytes): the header's problem is named, so the data was not read.
    const badData = (header: object) => json({ inputs: [{ shape: [1, 3], datatype: 'FP32', ...header, data: [1, 'oops', 3] }] });
    rejects(() => parseInferRequest(badData({ name: 'y' }), null, spec), /the model takes one input named 'x', got 'y'/);
    rejects(() => parseInferRequest(badData({ name: 'x', shape: [1, 4] }), null, spec), /has shape \[1, 4\] but the model takes \[batch, 3\]/);
    rejects(() => parseInferRequest(badData({ name: 'x', shape: [5, 3] }), null, spec), /has 5 rows; send 1 to 4 rows per request/);
    rejects(() => parseInferRequest(json({ inputs: [{ name: 'x', shape: [1, 3], datatype: 'FP32', data: [1, 'oops', 3] }], outputs: [{ name: 'nope' }] }), null, spec), /output 'nope' does not exist; the outputs are class, exit/);
    const huge = binaryRequest({ inputs: [{ name: 'x', shape: [60_000_000, 3], datatype: 'UINT8', parameters: { binary_data_size: 180_000_000 } }] }, new Uint8Array(3));
    rejects(() => parseInferRequest(huge.body, huge.headerLength, spec), /has 60000000 rows; send 1 to 4/);
    // Many inputs are named briefly.
    const many = json({ inputs: Array.from({ length: 50 }, (_, i) => ({ name: `in${i}`, shape: [1, 3], datatype: 'FP32', data: [1, 2, 3] })) });
    rejects(() => parseInferRequest(many, null, spec), /got 'in0', 'in1', 'in2' and 47 more$/);
  });

  it("clips a client's long strings in its messages, and names JSON's 1e999 as a number too large for a double", () => {
    const long = 'n'.repeat(100_000);
    for (const body of [
      json({ inputs: [{ name: long, shape: [1, 3], datatype: 'FP32', data: [1, 2, 3] }] }),
      json({ inputs: [{ name: 'x', shape: [1, 3], datatype: 'FP32', data: [1, 2, 3] }], outputs: [{ name: long }] }),
      json({ inputs: [{ name: 'x', shape: [1, 3], datatype: long, data: [1, 2, 3] }] }),
      json({ inputs: [{ name: 'x', shape: [1, 3], datatype: 'FP32', data: [1, 2, 3] }], outputs: [{ name: 'class', parameters: { binary_data: long } }] }),
      json({ id: { [long]: 1 }, inputs: [] }),
    ]) assert.throws(() => parseInferRequest(body, null, spec), (e: LayercacheError) => e.code === 'INFER_REQUEST_INVALID' && e.message.length < 400 && e.message.includes('…'));
    rejects(() => parseInferRequest(Buffer.from('{"inputs":[{"name":"x","shape":[1,3],"datatype":"FP32","data":[1,1e999,3]}]}'), null, spec), /data holds a number too large for a double \(such as 1e400\) at value 1; it must hold finite numbers/);
  });

  it('refuses, before parsing, JSON that would cost more than any request: many objects or arrays; and a long id', () => {
    const input = '{"name":"x","shape":[1,3],"datatype":"FP32","data":[1,2,3]}';
    rejects(() => parseInferRequest(Buffer.from(`{"inputs":[${input}],"pad":[${'{},'.repeat(2000)}{}]}`), null, spec), /JSON holds more than 1024 objects/);
    // spec: 4 rows of [3] need 1 + 4 arrays for their data; 1024 more are allowed for shapes and lists.
    rejects(() => parseInferRequest(Buffer.from(`{"inputs":[${input}],"pad":[${'[],'.repeat(2000)}[]]}`), null, spec), /JSON holds more than 1029 arrays/);
    assert.equal(parseInferRequest(Buffer.from(`{"inputs":[{"name":"x","shape":[4,3],"datatype":"FP32","data":[[1,2,3],[4,5,6],[7,8,9],[1,2,3]]}]}`), null, spec).inputs[0]!.data.length, 12);
    // More values than the model's input at the row limit (4 rows of 3) and 4,096 for the rest: refused unparsed.
    rejects(() => parseInferRequest(Buffer.from(`{"inputs":[{"name":"x","shape":[1,3],"datatype":"FP32","data":[${'0,'.repeat(5000)}0]}]}`), null, spec), /JSON holds more than 4108 values, more than the model's input needs at the row limit \(--max-request-rows\); send fewer rows per request/);
    // Commas inside strings are no values.
    assert.equal(parseInferRequest(Buffer.from(`{"inputs":[${input}],"pad":"${','.repeat(5000)}"}`), null, spec).inputs[0]!.data.length, 3);
    rejects(() => parseInferRequest(json({ id: 'i'.repeat(300), inputs: [{ name: 'x', shape: [1, 3], datatype: 'FP32', data: [1, 2, 3] }] }), null, spec), /"id" has 300 characters; an id may have at most 256/);
  });

  it("reads Triton's raw binary request (header length 0) as whole rows of the model's input", () => {
    const x = new Float32Array([1, 2, 3, 4, 5, 6]);
    const r = parseInferRequest(Buffer.from(x.buffer), 0, spec);
    assert.deepEqual(r.inputs[0]!.shape, [2, 3]);
    assert.deepEqual(Array.from(r.inputs[0]!.data), [1, 2, 3, 4, 5, 6]);
    rejects(() => parseInferRequest(Buffer.from(x.buffer, 0, 20), 0, spec), /FP32 rows of \[3\] \(12 bytes each\); its body has 20 bytes/);
    rejects(() => parseInferRequest(Buffer.from(new Float32Array(15).buffer), 0, spec), /has 5 rows; send 1 to 4/);
  });
});

describe('encodeInferResponse', () => {
  it('puts binary outputs after the header with binary_data_size, JSON ones inline', () => {
    const probs = new Float32Array([0.25, 0.75]);
    const exits = new Int32Array([-1]);
    const { body, headerLength } = encodeInferResponse(
      { modelName: 'm', modelVersion: '3', id: 'q', parameters: { bundle_version: 3 } },
      [
        { tensor: { name: 'probabilities', datatype: 'FP32', shape: [1, 2], data: probs }, binary: true },
        { tensor: { name: 'exit', datatype: 'INT32', shape: [1], data: exits }, binary: false },
      ],
    );
    assert.ok(headerLength !== null);
    const head = JSON.parse(body.subarray(0, headerLength).toString('utf8'));
    assert.equal(head.id, 'q');
    assert.equal(head.outputs[0].parameters.binary_data_size, 8);
    assert.deepEqual(head.outputs[1].data, [-1]);
    const tail = body.subarray(headerLength);
    assert.deepEqual(Array.from(new Float32Array(tail.buffer.slice(tail.byteOffset, tail.byteOffset + 8))), [0.25, 0.75]);
  });

  it('is plain JSON when no output is binary', () => {
    const { body, headerLength } = encodeInferResponse({ modelName: 'm', modelVersion: '0', id: undefined, parameters: {} }, [
      { tensor: { name: 'class', datatype: 'INT64', shape: [2], data: new BigInt64Array([3n, 1n]) }, binary: false },
    ]);
    assert.equal(headerLength, null);
    assert.deepEqual(JSON.parse(body.toString()).outputs[0].data, [3, 1]);
  });
});
