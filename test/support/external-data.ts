/**
 * Saves a model with every initializer's weights in one external data file beside it (`<name>.data`), as large
 * exports do; returns the model file's path.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { create } from '@bufbuild/protobuf';
import { StringStringEntryProtoSchema, TensorProto_DataLocation } from 'onnx-buf';
import { cloneModel, saveModel, type ModelProto } from '../../src/onnx/index.ts';

export async function saveWithExternalData(model: ModelProto, dir: string, name: string): Promise<string> {
  const copy = cloneModel(model);
  const chunks: Uint8Array[] = [];
  let offset = 0;
  for (const init of copy.graph!.initializer) {
    const raw = init.rawData;
    if (raw.length === 0) continue;
    chunks.push(raw);
    init.rawData = new Uint8Array(0);
    init.dataLocation = TensorProto_DataLocation.EXTERNAL;
    init.externalData = [
      create(StringStringEntryProtoSchema, { key: 'location', value: `${name}.data` }),
      create(StringStringEntryProtoSchema, { key: 'offset', value: String(offset) }),
      create(StringStringEntryProtoSchema, { key: 'length', value: String(raw.length) }),
    ];
    offset += raw.length;
  }
  await fs.writeFile(path.join(dir, `${name}.data`), Buffer.concat(chunks));
  const file = path.join(dir, name);
  await saveModel(copy, file);
  return file;
}
