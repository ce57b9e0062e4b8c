import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LayercacheError } from '../errors/index.ts';
import { deriveConfig, loadConfig, parseConfig, validConfig, type ConfigInput } from './config.ts';

describe('config', () => {
  it('defaults, frozen', () => {
    const c = loadConfig({}, {});
    assert.deepEqual(c.engine, { intraOpThreads: 0, graphOptimization: 'all' });
    assert.equal(c.build.tolerance, 0.01);
    assert.equal(c.build.delta, null);
    assert.equal(c.build.cvFolds, null, 'open: the builder resolves it by the build size');
    assert.equal(c.color, true);
    assert.ok(Object.isFrozen(c) && Object.isFrozen(c.engine));
  });

  it('refuses a margin beside a confidence δ, which would drop it silently', () => {
    assert.throws(() => loadConfig({ build: { delta: 0.05, margin: 0.01 } }, {}), (e: LayercacheError) => e.code === 'CONFIG_INVALID' && e.setting?.path === 'build.margin' && /confidence δ \(0.05\) is set/.test(e.message));
    assert.equal(loadConfig({ build: { delta: 0.05 } }, {}).build.margin, null);
  });

  it('reads LAYERCACHE_THREADS, NO_COLOR and TERM=dumb; explicit settings win', () => {
    assert.equal(loadConfig({}, { LAYERCACHE_THREADS: '2' }).engine.intraOpThreads, 2);
    assert.equal(loadConfig({ engine: { intraOpThreads: 1 } }, { LAYERCACHE_THREADS: '2' }).engine.intraOpThreads, 1);
    assert.equal(loadConfig({}, { NO_COLOR: '1' }).color, false);
    assert.equal(loadConfig({}, { NO_COLOR: '1' }).progressBars, true);
    // A dumb terminal prints escape codes as text: neither colour nor bars redrawn in place.
    assert.deepEqual([loadConfig({}, { TERM: 'dumb' }).color, loadConfig({}, { TERM: 'dumb' }).progressBars], [false, false]);
    assert.deepEqual([loadConfig({}, { TERM: 'xterm-256color' }).color, loadConfig({}, { TERM: 'xterm-256color' }).progressBars], [true, true]);
    const token = 't'.repeat(32);
    assert.equal(loadConfig({}, { LAYERCACHE_TOKEN: token }).serve.token, token);
    assert.equal(loadConfig({ serve: { port: 9000 } }, { LAYERCACHE_TOKEN: token }).serve.token, token, 'other serve settings keep the token from the environment');
    assert.equal(loadConfig({ serve: { token: 'u'.repeat(32) } }, { LAYERCACHE_TOKEN: token }).serve.token, 'u'.repeat(32));
    assert.equal(loadConfig({}, {}).serve.token, null);
  });

  it('rejects bad values and unknown keys, naming them', () => {
    assert.throws(() => loadConfig({}, { LAYERCACHE_THREADS: 'two' }), { code: 'CONFIG_INVALID', message: /LAYERCACHE_THREADS='two'/ });
    // Number() read these as 0 (onnxruntime's default) and 2.
    for (const v of [' ', '0x2']) assert.throws(() => loadConfig({}, { LAYERCACHE_THREADS: v }), { code: 'CONFIG_INVALID', message: /is not an integer from 0 to 256/ }, JSON.stringify(v));
    // From code: a section that is not an object spread to nothing, and the defaults served (serve: 5, engine: null).
    for (const [given, where] of [[{ engine: 5 }, /configuration engine is 5, not an object of settings; give e\.g\. \{ engine: \{ … \} \}/], [{ engine: null }, /engine is null/], [{ serve: [] }, /serve is \[\]/], [{ serve: { online: 1 } }, /serve\.online is 1, not an object of settings; give e\.g\. \{ serve: \{ online: \{ … \} \} \}/], [{ engine: new Map([['intraOpThreads', 2]]) }, /engine is a Map, not an object of settings/], [{ engine: 5n }, /engine is 5, not an object/], [null, /configuration \(root\) is null, not an object of settings; give e\.g\. loadConfig\(\{ serve: \{ port: 8080 \} \}\)/]] as const) {
      assert.throws(() => loadConfig(given as never, {}), { code: 'CONFIG_INVALID', message: where }, String(where));
    }
    // NaN was shown as null (JSON's spelling).
    assert.throws(() => loadConfig({ serve: { port: Number.NaN } }, {}), { code: 'CONFIG_INVALID', message: /configuration value serve\.port \(NaN\) is invalid/ });
    // The grammar of --threads: decimal, so '2.0' and '+2' are 2.
    for (const v of ['2.0', '+2']) assert.equal(loadConfig({}, { LAYERCACHE_THREADS: v }).engine.intraOpThreads, 2, v);
    // Out of range: still named as the variable (the CLI would otherwise name its --threads flag).
    assert.throws(() => loadConfig({}, { LAYERCACHE_THREADS: '1000' }), (e: LayercacheError) => e.code === 'CONFIG_INVALID' && /LAYERCACHE_THREADS='1000' is not an integer from 0 to 256/.test(e.message) && e.setting === undefined);
    assert.throws(() => parseConfig({ engine: { intraOpThreads: -1 } }), { code: 'CONFIG_INVALID', message: /engine\.intraOpThreads/ });
    assert.throws(() => parseConfig({ colour: true } as never), { code: 'CONFIG_INVALID' });
    assert.throws(() => parseConfig({ build: { tolerance: 1.5 } }), { code: 'CONFIG_INVALID', message: /build\.tolerance/ });
    assert.throws(() => parseConfig({ build: { tolerance: 0 } }), { code: 'CONFIG_INVALID' });
    assert.throws(() => parseConfig({ build: { folds: 5 }, serve: { online: { retrainAfter: 39 } } }), { code: 'CONFIG_INVALID', message: /serve\.online\.retrainAfter.*at least 40/ });
    assert.doesNotThrow(() => parseConfig({ build: { folds: 5 }, serve: { online: { enabled: false, retrainAfter: 39 } } }));
    assert.throws(() => parseConfig({ serve: { online: { guardWindow: 30, guardMinSamples: 40 } } }), { code: 'CONFIG_INVALID', message: /guardMinSamples.*never act/ });
    assert.throws(() => loadConfig({}, { LAYERCACHE_TOKEN: 'short' }), { code: 'CONFIG_INVALID', message: /^LAYERCACHE_TOKEN \(5 characters\) must be 16–4096 printable/ });
    assert.throws(() => parseConfig({ serve: { token: 'short' } }), (e: LayercacheError) => /serve\.token \(5 characters\) is invalid.*16–4096 printable/.test(e.message) && !e.message.includes('short'));
    // Nor inside an object shown whole, the environment's token included.
    for (const input of [{ serve: { prot: 8080 } }, { bogus: 1 }] as never[]) {
      assert.throws(() => loadConfig(input, { LAYERCACHE_TOKEN: 'envsecrettoken-abcdefgh' }), (e: LayercacheError) => e.code === 'CONFIG_INVALID' && !e.message.includes('envsecret') && /has unknown setting/.test(e.message));
    }
    assert.throws(() => parseConfig({ build: { augment: ['flip', 'random', 'flip'] } }), { code: 'CONFIG_INVALID', message: /build\.augment.*flip more than once/ });
    // An empty token is refused, not read as "no authentication".
    assert.throws(() => loadConfig({}, { LAYERCACHE_TOKEN: '' }), { code: 'CONFIG_INVALID', message: /^LAYERCACHE_TOKEN is set but empty, which would serve without authentication; unset it/ });
    // A command that does not serve ignores it, as it ignores the token.
    assert.equal(loadConfig({}, { LAYERCACHE_TOKEN: '' }, { serving: false }).serve.token, null);
    assert.equal(loadConfig({}, { LAYERCACHE_TOKEN: 'short' }, { serving: false }).serve.token, null);
  });

  it('says what is wrong in plain words, not the validator\'s', () => {
    const problem = (input: ConfigInput): string => {
      try {
        parseConfig(input);
      } catch (e) {
        return (e as LayercacheError).setting!.problem;
      }
      throw new Error('accepted');
    };
    assert.equal(problem({ serve: { port: 99999 } }), 'must be at most 65535');
    assert.equal(problem({ build: { tolerance: 1 } }), 'must be less than 1');
    assert.equal(problem({ build: { tolerance: 0 } }), 'must be more than 0');
    assert.equal(problem({ build: { folds: 1 } }), 'must be at least 2');
    assert.equal(problem({ build: { folds: 2.5 } }), 'must be a whole number');
    assert.equal(problem({ build: { folds: 'three' as never } }), 'must be a number');
    assert.equal(problem({ preprocess: { layout: 'chw' as never } }), 'must be one of nchw, nhwc');
    assert.equal(problem({ colour: true } as never), 'has unknown setting colour');
    assert.equal(problem({ build: { augment: 'flip' as never } }), 'must be an array');
    assert.throws(() => parseConfig({ serve: { port: -1 } }), { code: 'CONFIG_INVALID', message: /^configuration value serve\.port \(-1\) is invalid: must be at least 0$/ });
  });
});

describe('validConfig', () => {
  it("returns parseConfig's own results as they are, and parses a configuration made in code", () => {
    const loaded = loadConfig({ serve: { port: 9000 } }, {});
    assert.equal(validConfig(loaded), loaded, 'validated once');
    const copy = { ...loaded, serve: { ...loaded.serve } };
    const parsed = validConfig(copy);
    assert.notEqual(parsed, copy);
    assert.deepEqual(parsed, loaded);
    assert.throws(() => validConfig({ ...loaded, serve: { ...loaded.serve, port: -1 } }), { code: 'CONFIG_INVALID', message: /serve\.port/ });
  });
});

describe('serve.allowedHosts', () => {
  it('takes host names and IP addresses (IPv6 with or without brackets), refuses ports, zone ids and malformed names', () => {
    const ok = ['api.example.com', 'api.example.com.', 'my_host', 'localhost', '10.0.0.1', 'fe80::1', '[fe80::1]', '[::1]'];
    assert.deepEqual(loadConfig({ serve: { allowedHosts: ok } }, {}).serve.allowedHosts, ok);
    for (const bad of ['example.com:8080', '[::1]:80', 'localhost:8080', ':', '[', 'a..b', '', '-', 'a b', 'fe80::1%eth0', '[fe80::1%eth0]']) {
      assert.throws(() => loadConfig({ serve: { allowedHosts: [bad] } }, {}), { code: 'CONFIG_INVALID', message: /serve\.allowedHosts\.0 .*must be a host name or an IP address \(IPv6 in brackets or not, without a zone id\), without a port/ }, bad);
    }
  });
});

describe('deriveConfig', () => {
  it('overrides section by section, keeps the rest, validates and freezes', () => {
    const base = loadConfig({ engine: { intraOpThreads: 2 }, build: { tolerance: 0.02, augment: ['flip'] } }, {});
    const d = deriveConfig(base, { build: { objective: 'macs' }, serve: { port: 9000, online: { enabled: false } } });
    assert.equal(d.build.objective, 'macs');
    assert.equal(d.build.tolerance, 0.02);
    assert.deepEqual(d.build.augment, ['flip']);
    assert.equal(d.engine.intraOpThreads, 2);
    assert.equal(d.serve.port, 9000);
    assert.equal(d.serve.online.enabled, false);
    assert.equal(d.serve.online.verifyShare, base.serve.online.verifyShare);
    assert.ok(Object.isFrozen(d.serve.online));
    assert.equal(base.build.objective, 'latency', 'the base is untouched');
    assert.throws(() => deriveConfig(base, { build: { tolerance: 2 } }), (e: unknown) => e instanceof LayercacheError && e.code === 'CONFIG_INVALID' && /build\.tolerance/.test(e.message));
  });
});
