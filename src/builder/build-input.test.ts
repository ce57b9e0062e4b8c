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

  it('refuses a model and model bytes that are two models', async () => {
    await assert.rejects(buildCascade({ ...input, modelBytes: serializeModel(mlp().model) }, config.build, config.engine, SILENT),
      (e: unknown) => e instanceof LayercacheError && e.code === 'CONFIG_INVALID' && /are not the same model \(net\.onnx\)/.test(e.message));
  });
});
