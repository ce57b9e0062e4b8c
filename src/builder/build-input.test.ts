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

  it('refuses preprocessing that the bundle could not be saved or loaded with, before the build: naming the value', async () => {
    // A 2-value mean for 3-channel images built, saved, then failed every load (BUNDLE_INVALID); a scale of 0 built and
    // then failed the save as INTERNAL ("refusing to save an invalid manifest").
    const pre = { scale: 255, mean: [0.5], std: [0.25], layout: 'nchw' as const };
    for (const [change, what] of [[{ mean: [0.1, 0.2] }, /preprocessing mean 0\.1,0\.2 has 2 values but the images have 3 channels/], [{ scale: 0 }, /preprocessing scale 0 must be more than 0/], [{ std: [-1] }, /preprocessing std -1 must be more than 0/]] as const) {
      await assert.rejects(buildCascade({ ...input, preprocess: { ...pre, ...change } }, config.build, config.engine, SILENT),
        (e: unknown) => e instanceof LayercacheError && e.code === 'CONFIG_INVALID' && what.test(e.message), JSON.stringify(change));
    }
    // A model whose input is not an image: its values are checked (the manifest's schema needs them), not the lists'
    // lengths, which a load and the server's start do not check either (a server's retrains failed on them).
    const flat = mlp().model;
    const flatInput = { modelFile: 'mlp.onnx', modelBytes: serializeModel(flat), model: flat, data: memorySource(randomNormal(seededRng(3), 40 * 6), [6], 'random') };
    await assert.rejects(buildCascade({ ...flatInput, preprocess: { ...pre, scale: 0 } }, config.build, config.engine, SILENT),
      (e: unknown) => e instanceof LayercacheError && e.code === 'CONFIG_INVALID' && /preprocessing scale 0 must be more than 0/.test(e.message));
    const quick = { ...config.build, epochs: 1, screenEpochs: 1, folds: 2, refineExits: 1 };
    await assert.doesNotReject(buildCascade({ ...flatInput, preprocess: { ...pre, mean: [0, 0], std: [1, 1, 1] } }, quick, { intraOpThreads: 1, graphOptimization: 'all' }, SILENT));
  });

  it('blames a NaN in the data on the data, not on the model', async () => {
    // It said the backbone's class scores were not finite: "check the model on that input".
    const values = randomNormal(seededRng(4), 40 * 192);
    values[30 * 192 + 5] = Number.NaN;
    // Sample 1 repeats sample 0: the sample is named as the caller counts, not among the distinct ones (29).
    values.copyWithin(192, 0, 192);
    await assert.rejects(buildCascade({ ...input, data: memorySource(values, [3, 8, 8], 'in memory') }, config.build, config.engine, SILENT),
      (e: unknown) => e instanceof LayercacheError && e.code === 'INPUT_INVALID' && /^sample 30 of 'in memory' holds NaN \(value 5\); inputs must be finite numbers/.test(e.message));
  });

  it('refuses a model and model bytes that are two models, or bytes that are no model', async () => {
    for (const modelBytes of [serializeModel(mlp().model), new Uint8Array([1, 2, 3])]) {
      await assert.rejects(buildCascade({ ...input, modelBytes }, config.build, config.engine, SILENT),
        (e: unknown) => e instanceof LayercacheError && e.code === 'CONFIG_INVALID' && /are not the same model \(net\.onnx\)/.test(e.message));
    }
  });
});
