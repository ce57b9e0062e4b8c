import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { parseConfig } from '../config/index.ts';
import { recordedBuildConfig, settingsOf } from './build-settings.ts';

describe('recordedBuildConfig', () => {
  it('gives back the configuration a build recorded, for what shapes its heads (a round trip through settingsOf)', () => {
    const c = parseConfig({ build: {
      augment: ['flip', 'crop'], family: [{ pool: 2, hidden: 64, dropout: 0.1 }], objective: 'macs', score: 'margin', folds: 4, cvSplits: 3,
      batch: 8, delta: 0.05, refineExits: 7, screenEpochs: 3, epochs: 20, trainBatch: 128, learningRate: 0.01, weightDecay: 0.001, temperature: 2, seed: 9,
    } }).build;
    // Through JSON, as a manifest stores it.
    const recorded = JSON.parse(JSON.stringify(settingsOf(c, 5000))) as Record<string, unknown>;
    const back = recordedBuildConfig(recorded);
    for (const [k, v] of Object.entries(back)) assert.deepEqual(v, (c as Record<string, unknown>)[k], k);
    assert.deepEqual(Object.keys(back).sort(), ['augment', 'batch', 'cvSplits', 'delta', 'epochs', 'family', 'folds', 'learningRate', 'objective', 'refineExits', 'score', 'screenEpochs', 'seed', 'temperature', 'trainBatch', 'weightDecay']);
    assert.deepEqual(recordedBuildConfig({ augment: ['flip'] }), { augment: ['flip'] }, 'an older bundle records less');
  });
});
