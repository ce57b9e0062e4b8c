/**
 * buildCascade called from code: its settings are checked against the configuration schema, and the model and its
 * bytes must be one model, before any work (a library caller's spread of bad settings built a bundle anyway).
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadConfig } from '../config/index.ts';
import { memorySource } from '../data/index.ts';
import { LayercacheError } from '../errors/index.ts';
import { serializeModel } from '../onnx/index.ts';
import { SILENT } from '../progress/index.ts';
import { randomNormal, seededRng } from '../tensor/index.ts';
import { mlp, residualNet } from '../../test/support/models.ts';
import { buildCascade } from './build.ts';

describe('buildCascade from code', () => {
  const config = loadConfig({}, {});
  const { model } = residualNet();
  const input = { modelFile: 'net.onnx', modelBytes: serializeModel(model), model, data: memorySource(randomNormal(seededRng(1), 40 * 192), [3, 8, 8], 'random'), preprocess: null };

  it('refuses settings outside the schema, naming the setting', async () => {
    for (const [change, where] of [[{ epochs: 0 }, /build\.epochs/], [{ folds: 1 }, /build\.folds/], [{ tolerance: 0 }, /build\.tolerance/], [{ learningRate: -1 }, /build\.learningRate/], [{ family: [] }, /build\.family/], [{ bogus: 1 }, /bogus/]] as const) {
      await assert.rejects(buildCascade(input, { ...config.build, ...change } as typeof config.build, config.engine, SILENT),
        (e: unknown) => e instanceof LayercacheError && e.code === 'CONFIG_INVALID' && where.test(e.message), JSON.stringify(change));
    }
    await assert.rejects(buildCascade(input, config.build, { ...config.engine, intraOpThreads: -1 }, SILENT),
      (e: unknown) => e instanceof LayercacheError && e.code === 'CONFIG_INVALID' && /engine\.intraOpThreads/.test(e.message));
  });

  it('takes a file whose fields are in another order than serializeModel writes (the same model)', async () => {
    // ir_version (field 1, the first serializeModel writes) moved to the end: any order is valid protobuf.
    const bytes = serializeModel(model);
    const fields: Uint8Array[] = [];
    for (let at = 0; at < bytes.length;) {
      const start = at;
      const varint = (): number => {
        let v = 0;
        for (let shift = 0; ; shift += 7) {
          const b = bytes[at++]!;
          v += (b & 0x7f) * 2 ** shift;
          if (b < 0x80) return v;
        }
      };
      const wire = varint() & 7;
      if (wire === 0) varint();
      else if (wire === 2) {
        const length = varint();
        at += length;
      }
      else throw new Error(`unexpected wire type ${wire}`);
      fields.push(bytes.subarray(start, at));
    }
    const reordered = Buffer.concat([...fields.slice(1), fields[0]!]);
    assert.notDeepEqual(new Uint8Array(reordered), bytes);
    const data = memorySource(randomNormal(seededRng(2), 40 * 192), [3, 8, 8], 'random');
    await assert.doesNotReject(buildCascade({ ...input, data, modelBytes: reordered }, { ...config.build, epochs: 1, screenEpochs: 1, folds: 2, refineExits: 1 }, { intraOpThreads: 1, graphOptimization: 'all' }, SILENT));
  });

  it('refuses a model and model bytes that are two models, or bytes that are no model', async () => {
    for (const modelBytes of [serializeModel(mlp().model), new Uint8Array([1, 2, 3])]) {
      await assert.rejects(buildCascade({ ...input, modelBytes }, config.build, config.engine, SILENT),
        (e: unknown) => e instanceof LayercacheError && e.code === 'CONFIG_INVALID' && /are not the same model \(net\.onnx\)/.test(e.message));
    }
  });
});
