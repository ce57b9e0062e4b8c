import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { loadConfig, parseConfig } from './config.ts';

describe('config', () => {
  it('defaults, frozen', () => {
    const c = loadConfig({}, {});
    assert.deepEqual(c.engine, { intraOpThreads: 0, graphOptimization: 'all' });
    assert.equal(c.build.tolerance, 0.01);
    assert.equal(c.build.delta, null);
    assert.equal(c.color, true);
    assert.ok(Object.isFrozen(c) && Object.isFrozen(c.engine));
  });

  it('reads LAYERCACHE_THREADS and NO_COLOR; explicit settings win', () => {
    assert.equal(loadConfig({}, { LAYERCACHE_THREADS: '2' }).engine.intraOpThreads, 2);
    assert.equal(loadConfig({ engine: { intraOpThreads: 1 } }, { LAYERCACHE_THREADS: '2' }).engine.intraOpThreads, 1);
    assert.equal(loadConfig({}, { NO_COLOR: '1' }).color, false);
  });

  it('rejects bad values and unknown keys, naming them', () => {
    assert.throws(() => loadConfig({}, { LAYERCACHE_THREADS: 'two' }), { code: 'CONFIG_INVALID', message: /LAYERCACHE_THREADS='two'/ });
    assert.throws(() => parseConfig({ engine: { intraOpThreads: -1 } }), { code: 'CONFIG_INVALID', message: /engine\.intraOpThreads/ });
    assert.throws(() => parseConfig({ colour: true } as never), { code: 'CONFIG_INVALID' });
    assert.throws(() => parseConfig({ build: { tolerance: 1.5 } }), { code: 'CONFIG_INVALID', message: /build\.tolerance/ });
    assert.throws(() => parseConfig({ build: { tolerance: 0 } }), { code: 'CONFIG_INVALID' });
  });
});
