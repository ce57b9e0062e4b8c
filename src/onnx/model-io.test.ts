import assert from 'node:assert/strict';
import { execFileSync, spawn } from 'node:child_process';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { create } from '@bufbuild/protobuf';
import { StringStringEntryProtoSchema, TensorProto_DataLocation } from 'onnx-buf';
import { mlp } from '../../test/support/models.ts';
import { loadModel, loadModelFile, parseModel, saveModel, serializeModel, hasExternalData } from './model-io.ts';
import { saveWithExternalData } from '../../test/support/external-data.ts';
import { protoToTensor } from './tensor-proto.ts';
import { tempDir as newTempDir } from '../../test/support/temp-dir.ts';

async function tempDir(): Promise<string> {
  return newTempDir('io');
}

describe('model I/O', () => {
  it('an unmodified model round-trips byte for byte', () => {
    const bytes = serializeModel(mlp().model);
    assert.deepEqual(serializeModel(parseModel(bytes)), bytes);
  });

  it('keeps unknown fields (from a newer ONNX schema) on round trip', () => {
    const bytes = serializeModel(mlp().model);
    // Field 99, varint 7: not in the ONNX 1.20 schema.
    const withUnknown = new Uint8Array([...bytes, 0x98, 0x06, 0x07]);
    assert.deepEqual(serializeModel(parseModel(withUnknown)), withUnknown);
  });

  it('refuses empty, non-ONNX and truncated bytes with clear codes', () => {
    assert.throws(() => parseModel(new Uint8Array(0), 'a.onnx'), { code: 'ONNX_PARSE_FAILED', message: /a\.onnx is empty/ });
    const text = new TextEncoder().encode('this is not a model, just some text\n');
    assert.throws(() => parseModel(text, 'notes.txt'), (e: Error & { code?: string }) => {
      assert.ok(e.code === 'ONNX_PARSE_FAILED' || e.code === 'ONNX_INVALID_MODEL');
      assert.match(e.message, /notes\.txt/);
      return true;
    });
    const bytes = serializeModel(mlp().model);
    for (const keep of [0.3, 0.5, 0.9]) {
      const cut = bytes.slice(0, Math.floor(bytes.length * keep));
      assert.throws(() => parseModel(cut, 'cut.onnx'), /cut\.onnx/);
    }
  });

  it('saves atomically and loads back', async () => {
    const dir = await tempDir();
    const file = path.join(dir, 'm.onnx');
    const model = mlp().model;
    await saveModel(model, file);
    assert.deepEqual(serializeModel(await loadModel(file)), serializeModel(model));
    assert.deepEqual((await fs.readdir(dir)).sort(), ['m.onnx']);
  });

  it('a missing file or a directory gets FILE_NOT_FOUND / FILE_UNREADABLE', async () => {
    const dir = await tempDir();
    await assert.rejects(loadModel(path.join(dir, 'missing.onnx')), { code: 'FILE_NOT_FOUND', message: /missing\.onnx/ });
    await assert.rejects(loadModel(dir), { code: 'FILE_UNREADABLE' });
    // A device never ends (/dev/zero filled the memory): refused unread.
    await assert.rejects(loadModel('/dev/zero'), { code: 'FILE_UNREADABLE', message: /^\/dev\/zero is a device, not a model file; pass the \.onnx model file$/ });
  });

  it('reads a model from a FIFO with a writer (process substitution, /dev/stdin from a pipe)', async () => {
    const dir = await tempDir();
    const file = path.join(dir, 'm.onnx');
    const { model } = mlp();
    await saveModel(model, file);
    const fifo = path.join(dir, 'fifo.onnx');
    execFileSync('mkfifo', [fifo]);
    const writer = spawn('sh', ['-c', 'cat "$0" > "$1"', file, fifo], { stdio: 'ignore' });
    const done = new Promise((resolve) => writer.on('close', resolve));
    try {
      assert.deepEqual(serializeModel(await loadModel(fifo)), serializeModel(model));
      assert.equal(await done, 0);
    } finally {
      // Refused unread, the writer would wait for a reader for good.
      writer.kill();
    }
  });

  it('inlines weights kept in an external data file, and names the file when it is missing', async () => {
    const dir = await tempDir();
    const model = mlp().model;
    const init = model.graph!.initializer[0]!;
    const original = protoToTensor(init).data as Float32Array;
    const raw = init.rawData;
    await fs.writeFile(path.join(dir, 'weights.bin'), new Uint8Array([9, 9, 9, 9, ...raw]));
    init.rawData = new Uint8Array(0);
    init.dataLocation = TensorProto_DataLocation.EXTERNAL;
    init.externalData = [
      create(StringStringEntryProtoSchema, { key: 'location', value: 'weights.bin' }),
      create(StringStringEntryProtoSchema, { key: 'offset', value: '4' }),
      create(StringStringEntryProtoSchema, { key: 'length', value: String(raw.length) }),
    ];
    assert.ok(hasExternalData(model));
    await saveModel(model, path.join(dir, 'ext.onnx'));
    const loaded = await loadModel(path.join(dir, 'ext.onnx'));
    assert.ok(!hasExternalData(loaded));
    assert.deepEqual(protoToTensor(loaded.graph!.initializer[0]!).data, original);

    await fs.rm(path.join(dir, 'weights.bin'));
    await assert.rejects(loadModel(path.join(dir, 'ext.onnx')), { code: 'ONNX_EXTERNAL_DATA_MISSING', message: /weights\.bin/ });
  });

  it('loadModelFile: the bytes of a model with external data are the whole model, inlined, and stay so without the data file', async () => {
    const dir = await tempDir();
    const model = mlp().model;
    const file = await saveWithExternalData(model, dir, 'ext.onnx');
    assert.ok(hasExternalData(parseModel(await fs.readFile(file))), 'the file itself is only the header');
    const { bytes } = await loadModelFile(file);
    await fs.rm(`${file}.data`);
    const whole = parseModel(bytes);
    assert.ok(!hasExternalData(whole));
    assert.deepEqual(whole.graph!.initializer.map((t) => protoToTensor(t).data), model.graph!.initializer.map((t) => protoToTensor(t).data));
    // A model without external data: the file's own bytes.
    await saveModel(model, path.join(dir, 'plain.onnx'));
    assert.deepEqual((await loadModelFile(path.join(dir, 'plain.onnx'))).bytes, new Uint8Array(await fs.readFile(path.join(dir, 'plain.onnx'))));
  });
});
