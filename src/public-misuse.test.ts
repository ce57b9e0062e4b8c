/**
 * The public functions called from plain JavaScript with arguments of the wrong kind: each refuses with
 * ARGUMENT_INVALID (or CONFIG_INVALID for an engine setting), naming the call and the argument, before any work
 * and before anything is written. They used to throw uncoded TypeErrors (`Cannot read properties of null`), read
 * file descriptor 5 for `readLatencyProfile(5)`, or blame the model for a bad engine option.
 */
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import * as lc from './index.ts';
import { mlp } from '../test/support/models.ts';
import { tempDir } from '../test/support/temp-dir.ts';

type Loose = (...args: unknown[]) => unknown;
const loose = (f: unknown): Loose => f as Loose;

describe('public functions given arguments of the wrong kind', async () => {
  const dir = await tempDir('misuse');
  after(() => fs.rm(dir, { recursive: true, force: true }));
  const { model } = mlp();
  const session = await lc.Session.create(lc.serializeModel(model), 'mlp');
  const cascade = await lc.Cascade.create({ segments: [model], heads: [], exits: [], classes: 4, score: 'max' }, { intraOpThreads: 1, graphOptimization: 'all' });
  after(() => { session.release(); cascade.release(); });
  const config = lc.loadConfig({}, {}, { serving: false });
  const out = path.join(dir, 'out');

  /** [call as written, the call, the argument the message must name] */
  const cases: Array<[string, () => unknown, string]> = [
    ['loadBundle(123)', () => loose(lc.loadBundle)(123), 'loadBundle(dir): dir is 123 (a number)'],
    ['loadBundle()', () => loose(lc.loadBundle)(), 'loadBundle(dir): dir is missing'],
    ['loadModel(null)', () => loose(lc.loadModel)(null), 'loadModel(file): file is null'],
    ["loadModelFile('')", () => loose(lc.loadModelFile)(''), 'loadModelFile(file): file is an empty string'],
    ['readModelFile({})', () => loose(lc.readModelFile)({}), 'readModelFile(file): file is an object'],
    ["parseModel('x')", () => loose(lc.parseModel)('x'), "parseModel(bytes): bytes is 'x' (a string)"],
    ['serializeModel({})', () => loose(lc.serializeModel)({}), 'serializeModel(model): model is an object'],
    ['saveModel(model, 7)', () => loose(lc.saveModel)(model, 7), 'saveModel(model, file): file is 7 (a number)'],
    ['analyzeModel(null)', () => loose(lc.analyzeModel)(null), 'analyzeModel(model, opts): model is null'],
    ['extractSegments(model, null, [], f)', () => loose(lc.extractSegments)(model, null, [], () => null), 'extractSegments(model, flow, cuts, typeOf): flow is null'],
    ["addOutputs(model, 'h1', f)", () => loose(lc.addOutputs)(model, 'h1', () => null), "addOutputs(model, taps, typeOf): taps is 'h1' (a string)"],
    ["openDataSource('mnist:#0-9')", () => loose(lc.openDataSource)('mnist:#0-9'), 'openDataSource(spec, preprocess, imageSize, progress): preprocess is missing'],
    ['openDataSource(5, id)', () => loose(lc.openDataSource)(5, lc.IDENTITY_PREPROCESS), 'spec is 5 (a number)'],
    ["openDataSource(spec, id, undefined, {})", () => loose(lc.openDataSource)('mnist:#0-9', lc.IDENTITY_PREPROCESS, undefined, {}), 'progress is an object'],
    ['memorySource([1, 2], [2], m)', () => loose(lc.memorySource)([1, 2], [2], 'm'), 'memorySource(data, sampleDims, description): data is an array of 2'],
    ['memorySource(f32, [2])', () => loose(lc.memorySource)(new Float32Array(4), [2]), 'description is missing'],
    ['Session.create(path)', () => loose(lc.Session.create)('model.onnx', 'x'), "Session.create(model, label, options): model is 'model.onnx' (a string)"],
    ['session.run(null)', () => loose(session.run.bind(session))(null), 'session.run(feeds, outputNames): feeds is null'],
    ['session.run({ x: null })', () => loose(session.run.bind(session))({ x: null }), "feeds['x'] is null"],
    ["session.run(feeds, 'logits')", () => loose(session.run.bind(session))({ x: { dtype: 'float32', dims: [1, 6], data: new Float32Array(6) } }, 'logits'), "outputNames is 'logits' (a string)"],
    ['cascade.run(null)', () => loose(cascade.run.bind(cascade))(null), 'cascade.run(input, options): input is null'],
    ['cascade.run([…])', () => loose(cascade.run.bind(cascade))([0, 1, 2, 3, 4, 5]), 'input is an array of 6'],
    ['cascade.run(x, null)', () => loose(cascade.run.bind(cascade))({ dtype: 'float32', dims: [1, 6], data: new Float32Array(6) }, null), 'options is null'],
    ['Cascade.create(null)', () => loose(lc.Cascade.create)(null, config.engine), 'Cascade.create(parts, engine, use): parts is null'],
    ["writeSegments(out, [], source)", () => loose(lc.writeSegments)(out, [], { path: 'm.onnx', bytes: new Uint8Array(1) }), 'writeSegments(dir, segments, source, options): segments is an array of 0'],
    ['Cascade.fromBundle(null)', () => loose(lc.Cascade.fromBundle)(null, config.engine), 'Cascade.fromBundle(bundle, engine, thresholds): bundle is null'],
    ['saveBundle(out, null, {})', () => loose(lc.saveBundle)(out, null, {}), 'saveBundle(dir, manifest, files, options): manifest is null'],
    ['evaluateBundle(null)', () => loose(lc.evaluateBundle)(null, null, {}), 'evaluateBundle(bundle, data, opts): bundle is null'],
    ['renderReport(null)', () => loose(lc.renderReport)(null), 'renderReport(input): input is null'],
    ['writeReport(out, {})', () => loose(lc.writeReport)(out, {}), 'writeReport(file, input): input.manifest is missing'],
    ['startServer(5)', () => loose(lc.startServer)(5, config), 'startServer(sourcePath, config, logSink): sourcePath is 5 (a number)'],
    ["startServer('x', 5)", () => loose(lc.startServer)('x', 5), 'startServer(sourcePath, config, logSink): config is 5 (a number)'],
    ['buildCascade(null)', () => loose(lc.buildCascade)(null, config.build, config.engine, lc.SILENT), 'buildCascade(input, build, engine, progress): input is null'],
    ['runDemo(out, config, null)', () => loose(lc.runDemo)(out, config, null, { latencySamples: 10 }), 'runDemo(outDir, config, progress, opts): progress is null'],
    ['readLatencyProfile(5)', () => loose(lc.readLatencyProfile)(5), 'readLatencyProfile(file): file is 5 (a number)'],
    ['writeLatencyProfile(out, {})', () => loose(lc.writeLatencyProfile)(out, {}), 'writeLatencyProfile(file, profile): profile.format'],
    ['loadConfig({}, null)', () => loose(lc.loadConfig)({}, null), 'loadConfig(overrides, env, opts): env is null'],
    ['new GraphBuilder(null)', () => new (lc.GraphBuilder as unknown as new (o: unknown) => unknown)(null), 'new GraphBuilder(options): options is null'],
    ['cascade.scoreOf(null)', () => loose(cascade.scoreOf.bind(cascade))(null), 'cascade.scoreOf(row): row is null'],
    ['cascade.trace(null)', () => loose(cascade.trace.bind(cascade))(null), 'cascade.trace(input): input is null'],
    ['Cascade.create({ segments: [null] … })', () => loose(lc.Cascade.create)({ segments: [null], heads: [], exits: [], classes: 4, score: 'max' }, config.engine), 'Cascade.create(parts, engine, use): parts.segments[0] is null'],
    ['Cascade.create({ exits: [null] … })', () => loose(lc.Cascade.create)({ segments: [model, model], heads: [model], exits: [null], classes: 4, score: 'max' }, config.engine), 'parts.exits is an array of 1'],
    ['Cascade.fromBundle({ manifest: {} })', () => loose(lc.Cascade.fromBundle)({ manifest: {} }, config.engine), 'Cascade.fromBundle(bundle, engine, thresholds): bundle is an object'],
    ['evaluateBundle({ manifest: {} }, …)', () => loose(lc.evaluateBundle)({ manifest: {} }, null, {}), 'evaluateBundle(bundle, data, opts): bundle is an object'],
    ["extractSegments(model, {}, ['h1'], f)", () => loose(lc.extractSegments)(model, {}, ['h1'], () => null), 'extractSegments(model, flow, cuts, typeOf): flow is an object'],
    ['writeSegments(out, [null], source)', () => loose(lc.writeSegments)(out, [null], { path: 'm.onnx', bytes: new Uint8Array(1) }), 'writeSegments(dir, segments, source, options): segments[0] is null'],
    ['bundlePaths(null, 1)', () => loose(lc.bundlePaths)(null, 1), 'bundlePaths(exits, candidates): exits is null'],
    ["bundlePaths(2, '1')", () => loose(lc.bundlePaths)(2, '1'), "candidates is '1' (a string)"],
    ['buildCascade({ …, model: null })', () => loose(lc.buildCascade)({ modelFile: 'm.onnx', modelBytes: new Uint8Array(1), model: null }, config.build, config.engine, lc.SILENT), 'buildCascade(input, build, engine, progress): input.model is null; give the model of input.modelBytes'],
    ['saveBundle(out, manifest, { backbone, segments: [] })', () => loose(lc.saveBundle)(out, { source: {}, segments: [], exits: [], candidates: [] }, { backbone: new Uint8Array(1), segments: [] }), 'saveBundle(dir, manifest, files, options): files.heads is missing'],
    ["withLatencyProfileFile(out, SILENT, 'b')", () => loose(lc.withLatencyProfileFile)(out, lc.SILENT, 'b'), "build is 'b' (a string)"],
  ];

  for (const [name, call, names] of cases) {
    it(`${name} is ARGUMENT_INVALID, naming the argument`, async () => {
      await assert.rejects(async () => call(), (e: unknown) => {
        assert.ok(e instanceof lc.LayercacheError, `not a LayercacheError: ${String(e)}`);
        assert.equal(e.code, 'ARGUMENT_INVALID', e.message);
        assert.ok(e.message.includes(names), `'${e.message}' does not name '${names}'`);
        assert.match(e.message, /; give /);
        return true;
      });
    });
  }

  it('nothing was written to the paths given alongside the bad arguments', async () => {
    await assert.rejects(fs.access(out), { code: 'ENOENT' });
  });

  it('an engine option onnxruntime would not take is CONFIG_INVALID naming the call and the option, not blamed on the model', async () => {
    const bytes = lc.serializeModel(model);
    const create = 'Session.create(model, label, options): ';
    const cases: Array<[unknown, RegExp]> = [
      [{ intraOpThreads: -1, graphOptimization: 'all' }, /engine\.intraOpThreads is -1 \(a number\); give a whole number of threads per operator up to 256/],
      [{ intraOpThreads: 300, graphOptimization: 'all' }, /engine\.intraOpThreads is 300 \(a number\)/],
      [{ intraOpThreads: Number.NaN, graphOptimization: 'all' }, /engine\.intraOpThreads is NaN \(a number\)/],
      [{ intraOpThreads: 2n, graphOptimization: 'all' }, /engine\.intraOpThreads is 2 \(a bigint\)/],
      [{ intraOpThreads: 1, graphOptimization: 'max' }, /engine\.graphOptimization is 'max' \(a string\); give one of 'disabled', 'basic', 'extended', 'all'/],
      [{ intraOpThreads: 1, graphOptimization: 'all', spinning: 1n }, /engine\.spinning is 1 \(a bigint\); give true, false or nothing/],
    ];
    for (const [options, message] of cases) {
      await assert.rejects(lc.Session.create(bytes, 'mlp', options as never), (e: unknown) => {
        assert.ok(e instanceof lc.LayercacheError, String(e));
        assert.equal(e.code, 'CONFIG_INVALID');
        assert.ok(e.message.startsWith(create), e.message);
        assert.match(e.message, message);
        return true;
      });
    }
    // Given through another public call, the message names that call.
    await assert.rejects(lc.analyzeModel(model, { engine: 5 as never }), { code: 'ARGUMENT_INVALID', message: /^analyzeModel\(model, opts\): engine options is 5 \(a number\)/ });
    await assert.rejects(lc.analyzeModel(model, { engine: { intraOpThreads: 1, graphOptimization: 'fast' as never } }), { code: 'CONFIG_INVALID', message: /^analyzeModel\(model, opts\): engine\.graphOptimization is 'fast'/ });
    // The same options, valid, load the model.
    (await lc.Session.create(bytes, 'mlp', { intraOpThreads: 1, graphOptimization: 'all', spinning: false })).release();
  });

  it('a configuration made in code is checked as loadConfig checks it, naming the setting', async () => {
    await assert.rejects(lc.startServer('x', { serve: { port: 'a' } } as never), { code: 'CONFIG_INVALID', message: /^configuration value serve\.port \("a"\) is invalid/ });
    await assert.rejects(lc.runDemo(out, { build: { epochs: 0 } } as never, lc.SILENT, { latencySamples: 10 }), { code: 'CONFIG_INVALID', message: /^configuration value build\.epochs \(0\) is invalid/ });
    const bad = { ...config, serve: { ...config.serve, port: -1 } };
    await assert.rejects(lc.startServer('x', bad as never), { code: 'CONFIG_INVALID', message: /configuration value serve\.port \(-1\) is invalid/ });
  });

  it('what the signatures allow is taken as before: plain-array tensor data, Buffer bytes, frozen and cloned models', async () => {
    const feeds = { x: { dtype: 'float32', dims: [1, 6], data: [0.5, -1, 2, 0, 1, 3] } };
    const fromArray = await loose(session.run.bind(session))(feeds) as Record<string, lc.Tensor>;
    const fromTyped = await session.run({ x: { dtype: 'float32', dims: [1, 6], data: Float32Array.from([0.5, -1, 2, 0, 1, 3]) } });
    assert.deepEqual(fromArray.logits!.data, fromTyped.logits!.data, 'onnxruntime takes a plain array of numbers');
    assert.equal(fromTyped.logits!.dims.join(','), '1,4');
    const buffered = await lc.Session.create(Buffer.from(lc.serializeModel(model)), 'buffer');
    buffered.release();
    const frozen = Object.freeze(lc.parseModel(lc.serializeModel(model)));
    assert.deepEqual(lc.serializeModel(frozen), lc.serializeModel(model));
    assert.deepEqual(lc.serializeModel(structuredClone(model)), lc.serializeModel(model));
    // A cascade takes only Float32Array data, and says so precisely.
    await assert.rejects(cascade.run(feeds.x as never), { code: 'INPUT_INVALID', message: /its data is not a Float32Array/ });
  });
});
