import assert from 'node:assert/strict';
import { execFile } from 'node:child_process';
import { promisify } from 'node:util';
import { describe, it } from 'node:test';
import { GraphBuilder, serializeModel } from '../onnx/index.ts';
import { ortMessage, Session } from './session.ts';

describe('onnxruntime messages', () => {
  it('drop the source location and the quoted C++ assertion, keeping what the user can act on', () => {
    const raw = "Non-zero status code returned while running Reshape node. Name:'hb_reshape' Status Message: /onnxruntime_src/onnxruntime/core/providers/cpu/tensor/reshape_helper.h:91 onnxruntime::ReshapeHelper::ReshapeHelper(const onnxruntime::TensorShape&, onnxruntime::TensorShapeVector&, bool) input_shape_size == requested_shape_size was false. The input tensor cannot be reshaped to the requested shape. Input shape:{2,64,1,1}, requested shape:{1,64}\n";
    assert.equal(ortMessage(new Error(raw)), "Non-zero status code returned while running Reshape node. Name:'hb_reshape' Status Message: The input tensor cannot be reshaped to the requested shape. Input shape:{2,64,1,1}, requested shape:{1,64}");
    const plain = 'Got invalid dimensions for input: temp for the following indices index: 0 Got: 2 Expected: 1 Please fix either the inputs/outputs or the model.';
    assert.equal(ortMessage(new Error(plain)), plain, 'a message without them is kept as it is');
  });
});

describe('Session', () => {
  it('refuses data that does not fit its dims with INPUT_INVALID; release is idempotent, and a released session says so', async () => {
    const g = new GraphBuilder();
    g.output(g.op('Relu', [g.input('x', 'float32', ['batch', 4])]), 'float32', ['batch', 4]);
    const s = await Session.create(serializeModel(g.build()), 'relu');
    await assert.rejects(s.run({ x: { dtype: 'float32', dims: [2, 4], data: new Float32Array(4) } }), { code: 'INPUT_INVALID', message: /input 'x' is not a valid float32 tensor of dims \[2, 4\] \(its data holds 4 values\)/ });
    // Inputs named otherwise than the model's are the caller's error, not onnxruntime's failure.
    await assert.rejects(s.run({ y: { dtype: 'float32', dims: [1, 4], data: new Float32Array(4) } }), { code: 'INPUT_INVALID', message: /relu takes the inputs 'x'; 'x' is missing \(given: 'y'\)/ });
    await assert.rejects(s.run({}), { code: 'INPUT_INVALID', message: /relu takes the inputs 'x'; 'x' is missing/ });
    const y = await s.run({ x: { dtype: 'float32', dims: [1, 4], data: Float32Array.from([-1, 2, -3, 4]) } });
    assert.deepEqual(Array.from(Object.values(y)[0]!.data as Float32Array), [0, 2, 0, 4]);
    await s.release();
    await s.release();
    await assert.rejects(s.run({ x: { dtype: 'float32', dims: [1, 4], data: new Float32Array(4) } }), { code: 'RELEASED', message: /relu was released/ });
  });
});

describe('onnxruntime telemetry', () => {
  it('is off unless the user says otherwise: a process that runs a session leaves no telemetry log file', { timeout: 60_000 }, async () => {
    // A fresh process, as a user's: onnxruntime reads the opt-out once, when it starts.
    // (A file of an earlier process with the same pid is removed first: pids are reused.)
    const script = `const { existsSync, rmSync } = await import('node:fs');
      rmSync('/tmp/mat-debug-' + process.pid + '.log', { force: true });
      const { Session } = await import(${JSON.stringify(new URL('./session.ts', import.meta.url).href)});
      const { GraphBuilder, serializeModel } = await import(${JSON.stringify(new URL('../onnx/index.ts', import.meta.url).href)});
      const g = new GraphBuilder();
      g.output(g.op('Relu', [g.input('x', 'float32', ['batch', 2])]), 'float32', ['batch', 2]);
      const s = await Session.create(serializeModel(g.build()), 'relu');
      await s.release();
      console.log(JSON.stringify({ env: process.env.ORT_DISABLE_TELEMETRY ?? null, log: existsSync('/tmp/mat-debug-' + process.pid + '.log') }));`;
    const run = async (value: string | undefined): Promise<{ env: string | null; log: boolean }> => {
      const env = { ...process.env };
      if (value === undefined) delete env.ORT_DISABLE_TELEMETRY;
      else env.ORT_DISABLE_TELEMETRY = value;
      // (The user's own value is left alone, but a test does not turn the telemetry on to show it.)
      const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { env });
      return JSON.parse(stdout.trim().split('\n').at(-1)!);
    };
    // onnxruntime-node 1.30's telemetry SDK writes that file in every process that creates a session.
    assert.deepEqual(await run(undefined), { env: '1', log: false });
    // An empty value is no choice: it is turned off too.
    assert.deepEqual(await run(''), { env: '1', log: false });
  });

  it('loaded first in a worker thread (whose environment onnxruntime does not read), says that it cannot turn it off', { timeout: 60_000 }, async () => {
    // A worker does not inherit tsx's loader: it registers it, as module-launch.ts does.
    const boot = `import('node:worker_threads').then(({ parentPort }) => {
        process.on('warning', (w) => parentPort.postMessage(w.code));
        return import(${JSON.stringify(import.meta.resolve('tsx/esm/api'))}).then((tsx) => { tsx.register(); return import(${JSON.stringify(new URL('./session.ts', import.meta.url).href)}); })
          // A warning is emitted on a later tick: done after it.
          .then(() => new Promise((r) => setImmediate(r))).then(() => parentPort.postMessage('loaded'));
      });`;
    const script = `const { Worker } = await import('node:worker_threads');
      const env = { ...process.env };
      delete env.ORT_DISABLE_TELEMETRY;
      const w = new Worker(${JSON.stringify(boot)}, { eval: true, env });
      const seen = [];
      w.on('message', (m) => { seen.push(m); if (m === 'loaded') { console.log(JSON.stringify(seen)); w.terminate(); } });`;
    const env = { ...process.env };
    delete env.ORT_DISABLE_TELEMETRY;
    const { stdout } = await promisify(execFile)(process.execPath, ['--import', 'tsx', '--input-type=module', '-e', script], { env });
    assert.deepEqual(JSON.parse(stdout.trim().split('\n').at(-1)!), ['LAYERCACHE_ORT_TELEMETRY', 'loaded']);
  });
});

describe('a session released while it runs', () => {
  it('fails that run with RELEASED, as a later run does', async () => {
    // A run long enough to be under way when release() comes: 24 chained 512×512 MatMuls over 512 rows.
    const g = new GraphBuilder();
    let h = g.input('x', 'float32', [512, 512]);
    const w = g.weight('w', { dtype: 'float32', dims: [512, 512], data: new Float32Array(512 * 512).fill(1 / 512) });
    for (let i = 0; i < 24; i++) h = g.op('MatMul', [h, w]);
    g.output(h, 'float32', [512, 512]);
    const s = await Session.create(serializeModel(g.build()), 'matmuls', { intraOpThreads: 1, graphOptimization: 'disabled' });
    const run = s.run({ x: { dtype: 'float32', dims: [512, 512], data: new Float32Array(512 * 512).fill(1) } }).then(() => 'finished', (e: unknown) => e);
    await s.release();
    const outcome = await run;
    assert.ok(outcome !== 'finished', 'the run finished before the release: make it longer');
    assert.equal((outcome as { code?: string }).code, 'RELEASED', String(outcome));
  });
});
