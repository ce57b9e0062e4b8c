import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { LoadedBundle } from '../bundle/index.ts';
import { parseConfig } from '../config/index.ts';
import { retrainBuild } from './retrain-build.ts';

/** A bundle as far as retrainBuild reads it: its directory and recorded build settings. */
const bundleWith = (build: Record<string, unknown>): LoadedBundle => ({ dir: 'built/', manifest: { build } }) as unknown as LoadedBundle;
const recorded = { augment: ['flip'], family: [{ pool: 2, hidden: 64, dropout: 0.1 }], objective: 'macs', train: { epochs: 20, seed: 9 } };

describe('retrainBuild', () => {
  it('serving a bundle, takes the settings the configuration leaves at their defaults from the bundle as built', () => {
    const warned: string[] = [];
    const b = retrainBuild(parseConfig({}), bundleWith(recorded), 0.02, null, (t) => void warned.push(t));
    assert.deepEqual([b.augment, b.family, b.objective, b.epochs, b.seed], [['flip'], [{ pool: 2, hidden: 64, dropout: 0.1 }], 'macs', 20, 9]);
    assert.deepEqual([b.tolerance, b.scoresOutput], [0.02, null], 'the tolerance the server holds');
    assert.deepEqual(warned, []);
  });

  it('keeps a setting the configuration gives (serve --augment), and takes the rest from the bundle', () => {
    const b = retrainBuild(parseConfig({ build: { augment: ['crop'], epochs: 5 } }), bundleWith(recorded), 0.01, 'logits', () => {});
    assert.deepEqual([b.augment, b.epochs, b.objective, b.scoresOutput], [['crop'], 5, 'macs', 'logits']);
  });

  it('serving a model, uses the configuration; a bundle whose recorded settings it would refuse, too, with a warning', () => {
    const c = parseConfig({});
    assert.deepEqual(retrainBuild(c, null, 0.01, null, () => {}).augment, c.build.augment);
    const warned: string[] = [];
    const b = retrainBuild(c, bundleWith({ ...recorded, train: { epochs: -3 } }), 0.01, null, (t) => void warned.push(t));
    assert.deepEqual([b.augment, b.epochs], [c.build.augment, c.build.epochs]);
    assert.equal(warned.length, 1);
    assert.match(warned[0]!, /^retrains: bundle built\/ records build settings this version does not take \(.*epochs.*\); retrains use the configuration's$/);
  });
});
