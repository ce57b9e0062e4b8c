import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { LoadedBundle } from '../bundle/index.ts';
import { parseConfig } from '../config/index.ts';
import { retrainBuild, type RetrainBuildOptions } from './retrain-build.ts';

/** A bundle as far as retrainBuild reads it: its directory and recorded build settings. */
const bundleWith = (build: Record<string, unknown>): LoadedBundle => ({ dir: 'built/', manifest: { build } }) as unknown as LoadedBundle;
const recorded = { augment: ['flip'], family: [{ pool: 2, hidden: 64, dropout: 0.1 }], objective: 'macs', train: { epochs: 20, seed: 9 } };
const options = (warned: string[] = [], augmentProblem: RetrainBuildOptions['augmentProblem'] = () => null, said: string[] = []): RetrainBuildOptions =>
  ({ tolerance: 0.02, scoresOutput: null, augmentProblem, info: (t) => void said.push(t), warn: (t) => void warned.push(t) });

describe('retrainBuild', () => {
  it('serving a bundle, takes the settings the configuration leaves at their defaults from the bundle as built', () => {
    const warned: string[] = [];
    const said: string[] = [];
    const b = retrainBuild(parseConfig({}), bundleWith(recorded), options(warned, () => null, said));
    assert.deepEqual([b.augment, b.family, b.objective, b.epochs, b.seed], [['flip'], [{ pool: 2, hidden: 64, dropout: 0.1 }], 'macs', 20, 9]);
    assert.deepEqual([b.tolerance, b.scoresOutput], [0.02, null], 'the tolerance the server holds');
    assert.deepEqual(warned, []);
    assert.deepEqual(said, ['retrains: as bundle built/ was built, augment flip, family [{"pool":2,"hidden":64,"dropout":0.1}], objective macs, epochs 20, seed 9']);
  });

  it('keeps a setting the configuration gives another value (serve --augment), and takes the rest from the bundle', () => {
    const b = retrainBuild(parseConfig({ build: { augment: ['crop'], epochs: 5 } }), bundleWith(recorded), { ...options(), scoresOutput: 'logits' });
    assert.deepEqual([b.augment, b.epochs, b.objective, b.scoresOutput], [['crop'], 5, 'macs', 'logits']);
  });

  it('serving a model, uses the configuration', () => {
    const c = parseConfig({});
    assert.deepEqual(retrainBuild(c, null, options()).augment, c.build.augment);
  });

  it('leaves out, each on its own and with a warning, a recorded setting the configuration refuses or the served samples cannot take', () => {
    const c = parseConfig({ build: { margin: 0.001 } });
    const warned: string[] = [];
    // epochs out of range (another version's bundle), delta at odds with the margin given: the rest is still taken.
    const b = retrainBuild(c, bundleWith({ ...recorded, delta: 0.05, train: { epochs: -3, seed: 9 } }), options(warned));
    assert.deepEqual([b.augment, b.objective, b.seed, b.epochs, b.delta], [['flip'], 'macs', 9, c.build.epochs, null]);
    assert.equal(warned.length, 1);
    assert.match(warned[0]!, /^retrains: bundle built\/ was built with settings retrains here cannot take, so they use the configuration's: delta \(.*\); epochs \(.*\)$/);
    // Tensor samples whose layout the bundle does not record: its flip would mirror the wrong axis.
    const flipless: string[] = [];
    const t = retrainBuild(parseConfig({}), bundleWith(recorded), options(flipless, (a) => (a.length > 0 ? 'looks nhwc' : null)));
    assert.deepEqual([t.augment, t.objective], [[], 'macs']);
    assert.match(flipless[0]!, /augment \(looks nhwc\)$/);
  });
});
