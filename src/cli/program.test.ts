import assert from 'node:assert/strict';
import { execFile, execFileSync, spawn } from 'node:child_process';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { EventEmitter } from 'node:events';
import { describe, it } from 'node:test';
import { promisify } from 'node:util';
import { GraphBuilder, makeValueInfo, saveModel, serializeModel, loadModel } from '../onnx/index.ts';
import { tensor } from '../tensor/index.ts';
import { loadConfig, type ConfigInput } from '../config/index.ts';
import type { LayercacheError } from '../errors/index.ts';
import { runServe, type RunServeOptions } from './commands/serve.ts';
import { cli } from '../../test/support/cli.ts';
import { denseConcat, hardBatchOne, mlp, residualNet, withNormalisedOutput, withOpenSize } from '../../test/support/models.ts';
import { maxAbsDiff, randomInput, runModel } from '../../test/support/chain.ts';
import { tempDir } from '../../test/support/temp-dir.ts';

async function fixture(): Promise<{ dir: string; model: string }> {
  const dir = await tempDir('cli');
  const model = path.join(dir, 'net.onnx');
  await saveModel(residualNet().model, model);
  return { dir, model };
}

/** One line on stderr, naming the code, and no stack trace. */
function assertOneLineError(r: { code: number; stderr: string; stdout: string }, code: string, pattern: RegExp): void {
  assert.equal(r.code, 2, r.stderr);
  assert.equal(r.stdout, '');
  const lines = r.stderr.trimEnd().split('\n');
  assert.equal(lines.length, 1, r.stderr);
  assert.match(lines[0]!, new RegExp(`^layercache: error ${code}: `));
  assert.match(lines[0]!, pattern);
  assert.doesNotMatch(r.stderr, /\n\s+at /);
}

describe('layercache inspect', () => {
  it('--json follows the CLI contract', async () => {
    const { model } = await fixture();
    const r = await cli('inspect', model, '--json');
    assert.equal(r.code, 0, r.stderr);
    const j = JSON.parse(r.stdout);
    assert.equal(j.model, model);
    assert.deepEqual(j.inputs, [{ name: 'image', shape: ['N', 3, 8, 8] }]);
    assert.deepEqual(j.outputs, [{ name: 'logits', shape: ['N', 5] }]);
    assert.deepEqual(j.reading, { scoresOutput: null, flattenScores: false, logits: { kind: 'logits' }, dynamicBatch: false, inputDtype: null, outputDtype: null, sampleDims: null });
    assert.equal(typeof j.totalMacs, 'number');
    assert.deepEqual(j.exits.map((e: { tensor: string }) => e.tensor), ['stem', 'b1_out', 'b2_out']);
    for (const [i, e] of j.exits.entries()) {
      assert.equal(e.index, i);
      assert.ok(e.fraction > 0 && e.fraction <= 1);
      assert.equal(e.cumulativeMacs, Math.round(e.fraction * j.totalMacs));
    }
    const all = JSON.parse((await cli('inspect', model, '--json', '--all')).stdout);
    assert.equal(all.exits.length, 8);
  });

  it('prints a table', async () => {
    const { model } = await fixture();
    const r = await cli('inspect', model);
    assert.equal(r.code, 0);
    assert.match(r.stdout, /b1_out/);
    assert.match(r.stdout, /3 exits/);
    assert.doesNotMatch(r.stdout, /^reading /m, 'a plain model needs no note');
    const softmax = path.join(path.dirname(model), 'softmax.onnx');
    await saveModel(withNormalisedOutput(residualNet().model, 'softmax'), softmax);
    assert.match((await cli('inspect', softmax)).stdout, /^reading +output 'probs' is a softmax \(node '.+'\); layercache reads the logits before it$/m);
    // A batch hard-coded inside the graph: inspect says that build and serve refuse the model, as they do.
    const one = path.join(path.dirname(model), 'one.onnx');
    await saveModel(hardBatchOne().model, one);
    assert.match((await cli('inspect', one)).stdout, /^refused +build and serve refuse this model: .*fixes its batch at 1 .*re-export it with a dynamic batch dimension/m);
    assert.match(JSON.parse((await cli('inspect', one, '--json')).stdout).refusal, /fixes its batch at 1/);
    assert.equal(JSON.parse((await cli('inspect', model, '--json')).stdout).refusal, null);
  });

  it('bad input: one-line errors with codes, no stack trace', async () => {
    const { dir, model } = await fixture();
    const text = path.join(dir, 'notes.txt');
    await fs.writeFile(text, 'not a model at all\n');
    const bytes = await fs.readFile(model);
    const truncated = path.join(dir, 'truncated.onnx');
    await fs.writeFile(truncated, bytes.subarray(0, Math.floor(bytes.length / 2)));
    const r1 = await cli('inspect', text);
    assert.match(r1.stderr, /^layercache: error ONNX_(PARSE_FAILED|INVALID_MODEL): .*notes\.txt/);
    assertOneLineError(r1, 'ONNX_(PARSE_FAILED|INVALID_MODEL)', /notes\.txt/);
    assertOneLineError(await cli('inspect', truncated), 'ONNX_(PARSE_FAILED|INVALID_MODEL)', /truncated\.onnx/);
    assertOneLineError(await cli('inspect', path.join(dir, 'missing.onnx')), 'FILE_NOT_FOUND', /missing\.onnx/);
  });

  it('a graph with no cut point: an empty list with a clear message, and split refuses with NO_EXITS', async () => {
    const { dir } = await fixture();
    const file = path.join(dir, 'dense.onnx');
    await saveModel(denseConcat().model, file);
    const table = await cli('inspect', file);
    assert.equal(table.code, 0);
    assert.match(table.stdout, /No candidate exits/);
    assert.deepEqual(JSON.parse((await cli('inspect', file, '--json')).stdout).exits, []);
    assertOneLineError(await cli('split', file, '--at', 'a', '--out', path.join(dir, 'segs')), 'NO_EXITS', /no cut point/);
    // Two inputs that meet at the end: the reason given is the second input, not parallel branches.
    const g = new GraphBuilder();
    const x = g.input('x', 'float32', ['batch', 4]);
    const t = g.input('t', 'float32', ['batch', 3]);
    const a = g.op('Relu', [g.op('MatMul', [x, g.weight('w', tensor('float32', [4, 3], new Float32Array(12).fill(0.5)))])], {}, 'a');
    g.op('Add', [a, t], {}, 'y');
    g.output('y', 'float32', ['batch', 3]);
    const two = path.join(dir, 'two-inputs.onnx');
    await saveModel(g.build(), two);
    const r = await cli('inspect', two);
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /No candidate exits: no single tensor carries all of the data from the inputs to the outputs \(before its 2 inputs meet, none does\)\. This model has 2 inputs; layercache builds and serves single-input classifiers/);
  });

  it('--verbose adds the stack trace', async () => {
    const { dir } = await fixture();
    const r = await cli('--verbose', 'inspect', path.join(dir, 'missing.onnx'));
    assert.equal(r.code, 2);
    assert.match(r.stderr, /\n\s+at /);
  });

  it('usage errors exit 2', async () => {
    const r = await cli('inspect');
    assert.equal(r.code, 2);
    assert.match(r.stderr, /missing required argument/);
  });
});

describe('layercache --help', () => {
  it('every command has help with an example, and the top level documents exit codes', async () => {
    const top = await cli('--help');
    assert.equal(top.code, 0);
    assert.match(top.stdout, /Exit status: 0 success, 2 bad input or usage, 1 internal failure/);
    for (const command of ['inspect', 'split', 'build', 'eval', 'report', 'demo', 'serve']) {
      assert.match(top.stdout, new RegExp(`^  ${command} `, 'm'), `${command} missing from --help`);
      const r = await cli(command, '--help');
      assert.equal(r.code, 0, command);
      assert.match(r.stdout, /Examples?:\n {2}(npx )?layercache /, `${command} --help has no example`);
    }
  });
});

/**
 * Runs `serve` in-process on `signals` until it says it is serving; `stop` emits the signals given and waits for the
 * command to return; `err` is its stderr so far.
 */
async function serving(model: string, serve: ConfigInput['serve'], opts: RunServeOptions = {}) {
  const signals = new EventEmitter();
  let err = '';
  const config = loadConfig({ engine: { intraOpThreads: 1 }, serve: { port: 0, log: 'silent', ...serve } }, {});
  const running = runServe(model, config, { out: () => {}, err: (s) => void (err += s), isTty: false }, signals, opts);
  while (!/serving 'layercache' at http:\/\/[^ ]+:\d+/.test(err)) await new Promise((r) => setImmediate(r));
  return {
    signals,
    err: () => err,
    stop: async (...names: string[]) => {
      for (const n of names) signals.emit(n);
      await running;
    },
  };
}

describe('layercache serve', () => {
  it('drains and returns on SIGTERM; a repeated signal does not cut the drain short', async () => {
    const { dir, model } = await fixture();
    const s = await serving(model, { stateDir: path.join(dir, 'sig-state') });
    await s.stop('SIGTERM', 'SIGTERM');
    assert.match(s.err(), /SIGTERM: draining in-flight requests\n.*SIGTERM: already draining/s);
    assert.equal(s.signals.listenerCount('SIGTERM'), 0);
  });

  it('says it listens on every interface when bound to a wildcard host (the address printed is one of them)', async () => {
    const { dir, model } = await fixture();
    const s = await serving(model, { host: '0.0.0.0', token: 'a-token-of-16-characters', stateDir: path.join(dir, 'any-state') });
    await s.stop('SIGTERM');
    assert.match(s.err(), /serving 'layercache' at http:\/\/[^ ]+ \(state .*any-state, listening on every interface \(--host 0\.0\.0\.0\)\)/);
  });

  it('suggests its example request at the port it listens on (demo --serve --port 0 printed port 0)', async () => {
    const { model } = await fixture();
    const s = await serving(model, { online: { enabled: false } }, { exampleRequest: (address, name) => `${address}/v2/models/${name}/infer -d @req.json` });
    await s.stop('SIGTERM');
    const port = /serving 'layercache' at http:\/\/127\.0\.0\.1:(\d+)/.exec(s.err())?.[1];
    assert.ok(port !== undefined && port !== '0', s.err());
    assert.match(s.err(), new RegExp(`\n {2}curl -s http://127\\.0\\.0\\.1:${port}/v2/models/layercache/infer -d @req\\.json\n`));
  });

  it('drains on SIGHUP too (a closed terminal), which would otherwise kill it with its state locked', async () => {
    const { dir, model } = await fixture();
    const s = await serving(model, { stateDir: path.join(dir, 'hup-state') });
    await s.stop('SIGHUP');
    assert.match(s.err(), /SIGHUP: draining in-flight requests/);
    await assert.rejects(fs.access(path.join(dir, 'hup-state', 'lock')), 'the state lock is released');
    assert.equal(s.signals.listenerCount('SIGHUP'), 0);
  });

  it('warns, as build does, when an image model is served with no normalisation given; not for a model of other inputs', async () => {
    const { dir, model } = await fixture();
    const flat = path.join(dir, 'flat.onnx');
    await saveModel(mlp().model, flat);
    for (const [file, warned] of [[model, true], [flat, false]] as const) {
      const s = await serving(file, { online: { enabled: false } }, { warnRawPixels: true });
      await s.stop('SIGTERM');
      assert.equal(/warning: no --scale, --mean or --std: images sent to classify reach the model as raw 0–255 pixel values/.test(s.err()), warned, s.err());
    }
  });

  it('a shutdown that fails is an error of the command (exit status 1), not a clean exit', async () => {
    const { dir, model } = await fixture();
    const state = path.join(dir, 'doomed-state');
    const signals = new EventEmitter();
    let err = '';
    const config = loadConfig({ engine: { intraOpThreads: 1 }, serve: { port: 0, log: 'silent', stateDir: state, online: { enabled: false } } }, {});
    const running = runServe(model, config, { out: () => {}, err: (s) => void (err += s), isTty: false }, signals);
    while (!/serving 'layercache' at/.test(err)) await new Promise((r) => setImmediate(r));
    // The state directory becomes a file: the lock cannot be released.
    await fs.rm(state, { recursive: true, force: true });
    await fs.writeFile(state, '');
    signals.emit('SIGTERM');
    await assert.rejects(running, (e: LayercacheError) => /^the shutdown failed: .*ENOTDIR/.test(e.message) && e.exitCode === 1);
  });

  it('a shutdown past shutdownTimeoutMs ends by the signal received (process.exit would wait for a worker thread stuck in onnxruntime)', async () => {
    const { dir, model } = await fixture();
    const signals = new EventEmitter();
    let err = '';
    const kills: string[] = [];
    // A timeout of 0 ms runs out before the shutdown, which waits for the engine's worker threads to end.
    const config = loadConfig({ engine: { intraOpThreads: 1 }, serve: { port: 0, log: 'silent', shutdownTimeoutMs: 0, stateDir: path.join(dir, 'overrun-state'), online: { enabled: false } } }, {});
    const running = runServe(model, config, { out: () => {}, err: (s) => void (err += s), isTty: false, killBySignal: (s) => void kills.push(s) }, signals);
    while (!/serving 'layercache' at/.test(err)) await new Promise((r) => setImmediate(r));
    signals.emit('SIGINT');
    // In a test killBySignal returns: the command returns, and the shutdown goes on to its end.
    await running;
    assert.deepEqual(kills, ['SIGINT']);
    assert.match(err, /SIGINT: draining in-flight requests\n.*shutdown took over 0 ms; stopping anyway, by SIGINT\n/s);
  });

  it('a signal during startup is held, then shuts the started server down properly', async () => {
    const { dir, model } = await fixture();
    const signals = new EventEmitter();
    let err = '';
    const state = path.join(dir, 'early-state');
    const config = loadConfig({ engine: { intraOpThreads: 1 }, serve: { port: 0, log: 'silent', stateDir: state } }, {});
    const running = runServe(model, config, { out: () => {}, err: (s) => void (err += s), isTty: false }, signals);
    // Emitted synchronously, before the server has started.
    signals.emit('SIGTERM');
    await running;
    assert.match(err, /^layercache: SIGTERM: the server is starting; it stops once started \(send another signal, or this one again after a second, to stop at once\)\n.*serving 'layercache' at .*\n.*SIGTERM: draining in-flight requests/s);
    assert.equal(signals.listenerCount('SIGTERM'), 0);
    await assert.rejects(fs.access(path.join(state, 'lock')), 'the state lock is released');
  });

  it('a second signal during startup stops at once, with the signal\'s exit status (a stuck startup could be ended by SIGKILL only)', async () => {
    const { dir, model } = await fixture();
    const signals = new EventEmitter();
    let err = '';
    const kills: string[] = [];
    const config = loadConfig({ engine: { intraOpThreads: 1 }, serve: { port: 0, log: 'silent', stateDir: path.join(dir, 'twice-state') } }, {});
    // In a test killBySignal returns, so the command goes on to start and then shuts down on the first signal.
    const running = runServe(model, config, { out: () => {}, err: (s) => void (err += s), isTty: false, killBySignal: (s) => void kills.push(s) }, signals);
    // The same signal at once is one request sent twice (an orchestrator and a process group): held.
    signals.emit('SIGTERM');
    signals.emit('SIGTERM');
    assert.deepEqual(kills, []);
    assert.match(err, /SIGTERM again within a second: taken as the same request; it stops once started/);
    signals.emit('SIGINT');
    assert.deepEqual(kills, ['SIGINT']);
    assert.match(err, /SIGINT again during startup: stopping at once/);
    await running;
  });

  it('without --state and with no usable TMPDIR, serve says so and names --state (it was INTERNAL ENOENT)', async () => {
    const { model } = await fixture();
    const before = process.env.TMPDIR;
    process.env.TMPDIR = '/nonexistent-layercache-tmp';
    try {
      const r = await cli('serve', model, '--port', '0', '--scale', '255', '--mean', '0.5', '--std', '0.25');
      assert.equal(r.code, 1, r.stderr);
      assert.match(r.stderr, /^layercache: error FILE_WRITE_FAILED: cannot make a temporary state directory in \/nonexistent-layercache-tmp \(ENOENT\); give the server one of its own with --state DIR \(serve\.stateDir\), or set TMPDIR to a writable directory\n$/);
    } finally {
      if (before === undefined) delete process.env.TMPDIR;
      else process.env.TMPDIR = before;
    }
  });

  it('serve refuses a model from a pipe: its engine workers read the model again', async () => {
    const { dir } = await fixture();
    const fifo = path.join(dir, 'served.fifo');
    execFileSync('mkfifo', [fifo]);
    const r = await cli('serve', fifo, '--port', '0', '--scale', '255', '--mean', '0.5', '--std', '0.25');
    assertOneLineError(r, 'FILE_UNREADABLE', /served\.fifo is a FIFO \(named pipe\), not a model file; serve reads the model more than once \(engine workers, retrains\): save it to a file and serve that$/);
  });

  it('bad sources and options fail with one-line errors before listening', async () => {
    const { dir, model } = await fixture();
    // A bad token is named by its length, never printed.
    const token = await cli('serve', path.join(dir, 'missing.onnx'), '--token', 'tiny secret');
    assertOneLineError(token, 'USAGE', /^layercache: error USAGE: --token \(11 characters\) is invalid: /);
    assert.ok(!token.stderr.includes('tiny secret'), token.stderr);
    // A flag that would do nothing is refused, not ignored.
    assertOneLineError(await cli('demo', '--port', '80', '--out', path.join(dir, 'demo')), 'USAGE', /^layercache: error USAGE: --port 80 applies only with --serve; add --serve/);
    // Preprocessing that does not fit the model's images is a usage error of its flag.
    const means = await cli('serve', model, '--mean', '0.5,0.5', '--port', '0', '--no-online', '--state', path.join(dir, 'means-state'));
    assertOneLineError(means, 'USAGE', /^layercache: error USAGE: --mean '0\.5,0\.5' is invalid: has 2 values but the images have 3 channels: give one value per channel \(3\) or one for all$/);
    const missing = await cli('serve', path.join(dir, 'missing.onnx'), '--state', path.join(dir, 'state'));
    assert.equal(missing.code, 2);
    assert.match(missing.stderr, /^layercache: error FILE_NOT_FOUND: .*missing\.onnx does not exist; give a MODEL\.onnx file or a bundle directory/);
    const notBundle = await cli('serve', dir, '--state', path.join(dir, 'state2'));
    assert.equal(notBundle.code, 2);
    assert.match(notBundle.stderr, /error BUNDLE_NOT_FOUND: .* is a directory without manifest\.json/);
    const badName = await cli('serve', path.join(dir, 'missing.onnx'), '--name', 'a b');
    assert.equal(badName.code, 2);
    assertOneLineError(badName, 'USAGE', /--name 'a b' is invalid: /);
    const badShare = await cli('serve', path.join(dir, 'missing.onnx'), '--verify-share', '2');
    assertOneLineError(badShare, 'USAGE', /--verify-share '2' is invalid: must be at most 1$/);
    // A check across values names the flag too.
    assertOneLineError(await cli('serve', path.join(dir, 'missing.onnx'), '--retrain-after', '30'), 'USAGE', /--retrain-after '30' is invalid: 30 samples are too few for a build with 3 folds; use at least 32/);
    // Range errors of build options name the flag, not the configuration path.
    const build = ['build', path.join(dir, 'missing.onnx'), '--data', 'raw:x.raw:3#0-1', '--out', path.join(dir, 'out')];
    assertOneLineError(await cli(...build, '--batch', '1000000000'), 'USAGE', /^layercache: error USAGE: --batch '1000000000' is invalid: must be at most 4096$/);
    assertOneLineError(await cli(...build, '--folds', '1'), 'USAGE', /--folds '1' is invalid: must be at least 2$/);
    // Two flags that exclude each other: the one that would be dropped is named.
    assertOneLineError(await cli(...build, '--confidence', '0.05', '--margin', '0.01'), 'USAGE', /--margin '0.01' is invalid: .*give one of them$/);
    // A value inside a list flag is named by its place.
    assertOneLineError(await cli(...build, '--std', '0.2,0,0.2'), 'USAGE', /^layercache: error USAGE: --std item 2 \('0'\) is invalid: must be more than 0$/);
    // A negative std (every input's sign flipped) and a scale that sends pixels past float32's range.
    assertOneLineError(await cli(...build, '--std', '-1'), 'USAGE', /--std item 1 \('-1'\) is invalid: must be more than 0$/);
    // The model given as the latency profile, which retrains would overwrite: refused, the model untouched.
    const before = await fs.readFile(model);
    assertOneLineError(await cli('serve', model, '--state', path.join(dir, 'state3'), '--latency-profile', model), 'OUTPUT_EXISTS', /--latency-profile .*net\.onnx is not a latency profile/);
    assert.deepEqual(await fs.readFile(model), before);
    // One retrains cannot write: refused at the start, not a warning at every retrain.
    assertOneLineError(await cli('serve', model, '--state', path.join(dir, 'state3'), '--latency-profile', dir), 'OUTPUT_EXISTS', /--latency-profile .* is a directory; give a file path/);
    // A --state that is a file, or lies under one.
    assertOneLineError(await cli('serve', model, '--state', model), 'CONFIG_INVALID', /state directory .*net\.onnx cannot be created: it, or a directory above it, is a file; give a directory path for --state/);
    assertOneLineError(await cli('serve', model, '--state', path.join(model, 'sub')), 'CONFIG_INVALID', /cannot be created: it, or a directory above it, is a file/);
    // --augment for a model whose samples are not images: every retrain would fail, so the start does.
    const flat = path.join(dir, 'mlp.onnx');
    await saveModel(mlp().model, flat);
    assertOneLineError(await cli('serve', flat, '--state', path.join(dir, 'state4'), '--augment', 'flip'), 'DATA_SHAPE_MISMATCH', /--augment flip needs image samples \[C, H, W\] or \[H, W, C\], but the model's input has \[\d+\]; drop --augment$/);
  });
});

describe('layercache split', () => {
  it('writes segments and segments.json that chain to the uncut model', async () => {
    const { dir, model } = await fixture();
    const out = path.join(dir, 'segs');
    const r = await cli('split', model, '--at', 'b2_out,stem', '--out', out);
    assert.equal(r.code, 0, r.stderr);
    const index = JSON.parse(await fs.readFile(path.join(out, 'segments.json'), 'utf8'));
    assert.deepEqual(index.cuts, ['stem', 'b2_out']);
    assert.deepEqual(index.segments.map((s: { file: string }) => s.file), ['segment_00.onnx', 'segment_01.onnx', 'segment_02.onnx']);
    assert.deepEqual(index.segments[1].inputs, [{ name: 'stem', dtype: 'float32', shape: ['N', 4, 8, 8] }]);
    assert.deepEqual(index.segments[2].outputs, [{ name: 'logits', dtype: 'float32', shape: ['N', 5] }]);

    let current: Record<string, ReturnType<typeof randomInput>> = { image: randomInput([2, 3, 8, 8]) };
    const expected = await runModel(await loadModel(model), current);
    for (const s of index.segments) {
      const seg = await loadModel(path.join(out, s.file));
      current = (await runModel(seg, current)) as typeof current;
    }
    assert.ok(maxAbsDiff(current.logits!, expected.logits!) <= 1e-5);
  });

  it('a model of open input size: every segment is cut for the --input-shape size, the first included', async () => {
    const { dir } = await fixture();
    const open = path.join(dir, 'open.onnx');
    await saveModel(withOpenSize(residualNet().model), open);
    const out = path.join(dir, 'open-segs');
    const r = await cli('split', open, '--at', 'stem', '--out', out, '--input-shape', 'image=1x3x8x8');
    assert.equal(r.code, 0, r.stderr);
    assert.match(r.stdout, /^note: input 'image' \[N, 3, H, W\] leaves its size open; the segments are cut for \[3, 8, 8\] per sample/m);
    const index = JSON.parse(await fs.readFile(path.join(out, 'segments.json'), 'utf8'));
    assert.deepEqual(index.segments[0].inputs, [{ name: 'image', dtype: 'float32', shape: ['N', 3, 8, 8] }]);
    assert.deepEqual(index.segments[1].inputs, [{ name: 'stem', dtype: 'float32', shape: ['N', 4, 8, 8] }]);
    // A batch fixed at 1 ([1, 3, 'H', 'W']) is the first axis too.
    const fixedOne = path.join(dir, 'fixed-one.onnx');
    const withOne = withOpenSize(residualNet().model);
    const decl = withOne.graph!.input[0]!;
    withOne.graph!.input[0] = makeValueInfo(decl.name, 1, [1, 3, 'H', 'W']);
    await saveModel(withOne, fixedOne);
    const one = await cli('split', fixedOne, '--at', 'stem', '--out', path.join(dir, 'one-segs'), '--input-shape', 'image=1x3x8x8');
    assert.equal(one.code, 0, one.stderr);
    const oneIndex = JSON.parse(await fs.readFile(path.join(dir, 'one-segs', 'segments.json'), 'utf8'));
    assert.deepEqual(oneIndex.segments[0].inputs[0].shape.slice(1), [3, 8, 8]);
    // A batch that is not the first axis ([seq, batch, 8]) stays free: nothing is fixed, as before.
    const g = new GraphBuilder({ opset: 17 });
    g.op('Relu', [g.op('Relu', [g.input('x', 'float32', ['seq', 'batch', 8])], {}, 'r1')], {}, 'y');
    g.output('y', 'float32', ['seq', 'batch', 8]);
    const timeMajor = path.join(dir, 'time-major.onnx');
    await saveModel(g.build(), timeMajor);
    const tm = await cli('split', timeMajor, '--at', 'r1', '--out', path.join(dir, 'tm-segs'), '--input-shape', 'x=5x2x8');
    assert.equal(tm.code, 0, tm.stderr);
    assert.doesNotMatch(tm.stdout, /leaves its size open/);
    const tmIndex = JSON.parse(await fs.readFile(path.join(dir, 'tm-segs', 'segments.json'), 'utf8'));
    assert.deepEqual(tmIndex.segments[0].inputs[0].shape, ['seq', 'batch', 8]);
    // Unnamed open dims ('?', as exporters write them) are not a batch elsewhere: [1, 3, '?', '?'] is sized.
    const anon = withOpenSize(residualNet().model);
    const anonDecl = anon.graph!.input[0]!;
    anon.graph!.input[0] = makeValueInfo(anonDecl.name, 1, [1, 3, '?', '?']);
    const anonFile = path.join(dir, 'anon.onnx');
    await saveModel(anon, anonFile);
    const an = await cli('split', anonFile, '--at', 'stem', '--out', path.join(dir, 'anon-segs'), '--input-shape', 'image=1x3x8x8');
    assert.equal(an.code, 0, an.stderr);
    const anIndex = JSON.parse(await fs.readFile(path.join(dir, 'anon-segs', 'segments.json'), 'utf8'));
    assert.deepEqual(anIndex.segments[0].inputs[0].shape, [1, 3, 8, 8]);
    // So is one whose sequence length is fixed ([1, batch, 8]): its first axis is not the batch.
    const g1 = new GraphBuilder({ opset: 17 });
    g1.op('Relu', [g1.op('Relu', [g1.input('x', 'float32', [1, 'batch', 8])], {}, 'r1')], {}, 'y');
    g1.output('y', 'float32', [1, 'batch', 8]);
    const fixedSeq = path.join(dir, 'fixed-seq.onnx');
    await saveModel(g1.build(), fixedSeq);
    const fs1 = await cli('split', fixedSeq, '--at', 'r1', '--out', path.join(dir, 'fs-segs'), '--input-shape', 'x=1x4x8');
    assert.equal(fs1.code, 0, fs1.stderr);
    const fsIndex = JSON.parse(await fs.readFile(path.join(dir, 'fs-segs', 'segments.json'), 'utf8'));
    assert.deepEqual(fsIndex.segments[0].inputs[0].shape, [1, 'batch', 8]);
  });

  it('bad cuts: unknown tensor and non-frontier tensor; nothing is written', async () => {
    const { dir, model } = await fixture();
    const out = path.join(dir, 'segs');
    assertOneLineError(await cli('split', model, '--at', 'nope', '--out', out), 'CUT_NOT_FOUND', /'nope'/);
    assertOneLineError(await cli('split', model, '--at', 'b1_relu1', '--out', out), 'CUT_NOT_FRONTIER', /'b1_relu1'.*bypass/);
    await assert.rejects(fs.stat(out), { code: 'ENOENT' });
    assert.deepEqual((await fs.readdir(dir)).sort(), ['net.onnx']);
  });

  it('refuses to overwrite a non-empty --out unless --force, and even then one it did not write; an empty --out is refused', async () => {
    const { dir, model } = await fixture();
    const out = path.join(dir, 'segs');
    await fs.mkdir(out);
    await fs.writeFile(path.join(out, 'keep.txt'), 'x');
    assertOneLineError(await cli('split', model, '--at', 'stem', '--out', out), 'OUTPUT_EXISTS', /--force/);
    // A directory of other files is never replaced: a mistyped --out with --force must not delete them.
    assertOneLineError(await cli('split', model, '--at', 'stem', '--out', out, '--force'), 'OUTPUT_EXISTS', /is not a layercache segments directory \(it holds no segments\.json\)/);
    assert.deepEqual(await fs.readdir(out), ['keep.txt']);
    const earlier = path.join(dir, 'segs2');
    assert.equal((await cli('split', model, '--at', 'b2_out', '--out', earlier)).code, 0);
    assert.equal((await cli('split', model, '--at', 'stem', '--out', earlier, '--force')).code, 0);
    assert.deepEqual((await fs.readdir(earlier)).sort(), ['segment_00.onnx', 'segment_01.onnx', 'segments.json']);
  });

  it('refuses an empty --out, which would be the working directory', async (t) => {
    const { dir, model } = await fixture();
    // Run from a scratch directory: were the check to regress, --force would replace this one, not the checkout.
    const scratch = path.join(dir, 'cwd');
    await fs.mkdir(scratch);
    await fs.writeFile(path.join(scratch, 'notes.txt'), 'mine');
    const cwd = process.cwd();
    process.chdir(scratch);
    t.after(() => process.chdir(cwd));
    assertOneLineError(await cli('split', model, '--at', 'stem', '--out', '', '--force'), 'USAGE', /--out '' is an empty path; give one, e.g. --out segments\//);
    assertOneLineError(await cli('build', model, '--data', 'mnist:#0-9', '--out', ' ', '--force'), 'USAGE', /--out ' ' is an empty path/);
    assertOneLineError(await cli('report', scratch, '--data', 'mnist:#0-9', '--out', '', '--force'), 'USAGE', /--out '' is an empty path; give one, e.g. --out report\.html/);
    assertOneLineError(await cli('eval', scratch, '--data', 'mnist:#0-9', '--html', ''), 'USAGE', /--html '' is an empty path/);
    assert.deepEqual(await fs.readdir(scratch), ['notes.txt']);
  });
});

describe('the layercache bin', () => {
  it('runs as a process: --version, and a one-line error with exit status 2', async () => {
    const bin = path.resolve(import.meta.dirname, '../../bin/layercache.js');
    const run = promisify(execFile);
    const v = await run(process.execPath, [bin, '--version']);
    assert.match(v.stdout, /^\d+\.\d+\.\d+/);
    const { dir } = await fixture();
    const bad = path.join(dir, 'bad.onnx');
    await fs.writeFile(bad, serializeModel(residualNet().model).subarray(0, 100));
    await assert.rejects(run(process.execPath, [bin, 'inspect', bad]), (e: { code: number; stderr: string }) => {
      assert.equal(e.code, 2);
      assert.match(e.stderr, /^layercache: error ONNX_\w+: .*bad\.onnx.*\n$/);
      return true;
    });
  });

  it('output that cannot be written fails the command with one line, not a stack or exit 0 (> /dev/full)', async () => {
    const bin = path.resolve(import.meta.dirname, '../../bin/layercache.js');
    const { dir } = await fixture();
    const model = path.join(dir, 'full.onnx');
    await saveModel(residualNet().model, model);
    const full = await fs.open('/dev/full', 'w');
    try {
      const child = spawn(process.execPath, [bin, 'inspect', model, '--json'], { stdio: ['ignore', full.fd, 'pipe'] });
      let stderr = '';
      child.stderr!.on('data', (d: Buffer) => void (stderr += d.toString()));
      const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
      assert.equal(code, 1, stderr);
      assert.match(stderr, /^layercache: error FILE_WRITE_FAILED: could not write standard output \(ENOSPC\): what the command printed is incomplete \(files it wrote are whole\); free space where it is redirected, or redirect it elsewhere\n$/);
    } finally {
      await full.close();
    }
  });

  it('a reader that closes the pipe early does not crash it (layercache … | head)', async () => {
    const bin = path.resolve(import.meta.dirname, '../../bin/layercache.js');
    const child = spawn(process.execPath, [bin, '--help'], { stdio: ['ignore', 'pipe', 'pipe'] });
    child.stdout.destroy();
    let stderr = '';
    child.stderr.on('data', (d: Buffer) => void (stderr += d.toString()));
    const code = await new Promise<number | null>((resolve) => child.on('close', resolve));
    assert.doesNotMatch(stderr, /EPIPE|Unhandled/);
    assert.equal(code, 0);
  });

  it('a server whose output pipes close keeps serving and still shuts down properly on SIGTERM', { timeout: 60_000 }, async () => {
    const dir = await tempDir('epipe');
    try {
      const model = path.join(dir, 'net.onnx');
      const state = path.join(dir, 'state');
      await saveModel(residualNet().model, model);
      const bin = path.resolve(import.meta.dirname, '../../bin/layercache.js');
      const child = spawn(process.execPath, [bin, 'serve', model, '--port', '0', '--state', state, '--no-online', '--log-level', 'info', '--scale', '255', '--mean', '0.5', '--std', '0.25'], { stdio: ['ignore', 'pipe', 'pipe'] });
      const exited = new Promise<number | null>((resolve) => child.on('exit', resolve));
      const url = await new Promise<string>((resolve) => {
        let text = '';
        child.stderr.on('data', (d: Buffer) => {
          text += d.toString();
          const m = /at (http:\/\/\S+)/.exec(text);
          if (m) resolve(m[1]!);
        });
      });
      // The reader goes away; every later log line (one per request at info) hits a closed pipe.
      child.stdout.destroy();
      child.stderr.destroy();
      for (let i = 0; i < 3; i++) assert.equal((await fetch(`${url}/v2/models/nope`)).status, 404);
      assert.equal((await fetch(`${url}/v2/health/live`)).status, 200, 'still serving');
      child.kill('SIGTERM');
      assert.equal(await exited, 0);
      await assert.rejects(fs.access(path.join(state, 'lock')), 'the shutdown ran: the state lock is released');
    } finally {
      await fs.rm(dir, { recursive: true, force: true });
    }
  });
});

describe('serve --allowed-host', () => {
  it('adds up when repeated, and a name with a port is refused naming the flag', async () => {
    // The bad name comes first: refused only if the second flag did not replace the first.
    const r = await cli('serve', 'model.onnx', '--allowed-host', 'bad.example:8080', '--allowed-host', 'ok.example');
    assert.equal(r.code, 2, r.stderr);
    assert.match(r.stderr, /--allowed-host \S*\s*.*bad\.example:8080.*without a port/s);
  });
});

describe('an empty path as a command argument', () => {
  it('is a USAGE error naming the argument (exit 2), never a library error for the CLI user to decode', async () => {
    const cases: Array<[string[], RegExp]> = [
      [['inspect', ''], /the MODEL argument '' is an empty path; give one, e.g\. layercache inspect model\.onnx/],
      [['split', ' ', '--at', 'x', '--out', 'o'], /the MODEL argument ' ' is an empty path/],
      [['build', '', '--data', 'mnist:#0-9', '--out', 'o'], /the MODEL argument '' is an empty path; give one, e.g\. layercache build model\.onnx/],
      [['eval', '', '--data', 'mnist:#0-9'], /the BUNDLE argument '' is an empty path; give one, e.g\. layercache eval bundle\//],
      [['report', '', '--data', 'mnist:#0-9', '--out', 'r.html'], /the BUNDLE argument '' is an empty path/],
      [['serve', ''], /the SOURCE argument '' is an empty path; give one, e.g\. layercache serve bundle\//],
    ];
    for (const [argv, message] of cases) {
      const r = await cli(...argv);
      assert.equal(r.code, 2, `${argv.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, /^layercache: error USAGE: /, argv.join(' '));
      assert.match(r.stderr, message, argv.join(' '));
    }
  });
});
