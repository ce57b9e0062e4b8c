/**
 * The retraining process on a tiny residual net: the buffered inputs arrive whole however many parts they are sent
 * in and the snapshot is let go once sent, a failing build answers with its error (as does a failed copy of the
 * buffer, without harm to this process), a process that did not start is
 * never signalled, a crash of the process fails the retrain (not this process), and an abandoned retrain ends at
 * once and saves nothing.
 */
import assert from 'node:assert/strict';
import { spawn, type ChildProcess } from 'node:child_process';
import { readdirSync, readFileSync, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import v8 from 'node:v8';
import vm from 'node:vm';
import { mlp, residualNet } from '../../test/support/models.ts';
import { loadBundle } from '../bundle/index.ts';
import { loadConfig, type ConfigInput } from '../config/index.ts';
import { LayercacheError } from '../errors/index.ts';
import { sha256 } from '../files/index.ts';
import { saveModel } from '../onnx/index.ts';
import { randomNormal, seededRng } from '../tensor/index.ts';
import type { RetrainReply, RetrainRequest } from './messages.ts';
import { runRetrainProcess } from './retrain-process.ts';

let dir: string;
let modelFile: string;
let modelSha256: string;
const sampleDims = [3, 8, 8];
const samples = randomNormal(seededRng(7), 120 * 3 * 8 * 8);

function request(name: string, build: NonNullable<ConfigInput['build']> = {}): RetrainRequest {
  const config = loadConfig({ engine: { intraOpThreads: 1 }, build: { folds: 2, epochs: 3, tolerance: 0.2, measureReps: 3, objective: 'macs', ...build } }, {});
  return {
    modelFile, modelSha256, sampleDims, build: config.build, preprocess: null, layout: 'nchw', engine: config.engine,
    outDir: path.join(dir, name), version: 1, latencyProfile: path.join(dir, `${name}-profile.json`),
  };
}

before(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'layercache-retrain-'));
  modelFile = path.join(dir, 'tiny.onnx');
  await saveModel(residualNet().model, modelFile);
  modelSha256 = sha256(await fs.readFile(modelFile));
});

after(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

/** Pids of this process's children (Linux /proc). */
function childPids(): number[] {
  return readdirSync('/proc').filter((n) => /^\d+$/.test(n)).flatMap((n) => {
    try {
      const stat = readFileSync(`/proc/${n}/stat`, 'utf8');
      // pid (comm) state ppid …: comm may hold spaces and parentheses, so read after its last ')'.
      return Number(stat.slice(stat.lastIndexOf(')') + 2).split(' ')[1]) === process.pid ? [Number(n)] : [];
    } catch {
      return []; // gone meanwhile
    }
  });
}

describe('retraining process', () => {
  const all = (): Float32Array => samples;

  it('builds the same version from the buffered inputs sent whole or in 19 parts', { timeout: 120_000 }, async () => {
    const whole = await runRetrainProcess(request('whole'), all, () => {});
    // 23,040 values in parts of 1,250: 19 messages, the last one short.
    const parts = await runRetrainProcess(request('parts'), all, () => {}, { partValues: 1250 });
    const figures = (r: RetrainReply) => (r.kind === 'done' ? { exits: r.exits, agreement: r.agreement, macsSaved: r.macsSaved } : r);
    assert.equal(whole.kind, 'done', JSON.stringify(whole));
    assert.deepEqual(figures(parts), figures(whole));
    const [a, b] = await Promise.all([loadBundle(path.join(dir, 'whole')), loadBundle(path.join(dir, 'parts'))]);
    // The same exits, heads and thresholds (their measured costs are timings, which differ run to run).
    const kept = (m: typeof a.manifest) => m.exits.map((e) => ({ candidate: e.candidate, threshold: e.threshold, head: e.head }));
    assert.ok(a.manifest.exits.length > 0);
    assert.deepEqual(kept(b.manifest), kept(a.manifest));
    assert.equal(a.manifest.version, 1);
  });

  it('answers with the build\'s error, coded, when the build fails', { timeout: 60_000 }, async () => {
    // Samples of another shape than the model's input: the build refuses them.
    const mlpFile = path.join(dir, 'mlp.onnx');
    await saveModel(mlp().model, mlpFile);
    const reply = await runRetrainProcess({ ...request('failed'), modelFile: mlpFile, modelSha256: sha256(await fs.readFile(mlpFile)) }, all, () => {});
    assert.equal(reply.kind, 'error');
    assert.ok(reply.kind === 'error' && reply.code.length > 0 && reply.message.length > 0, JSON.stringify(reply));
    await assert.rejects(fs.stat(path.join(dir, 'failed')), /ENOENT/);
  });

  it('refuses a model file that changed since the server loaded it (SOURCE_CHANGED), saving nothing', { timeout: 60_000 }, async () => {
    const reply = await runRetrainProcess({ ...request('changed'), modelSha256: sha256(new Uint8Array([1, 2, 3])) }, all, () => {});
    assert.ok(reply.kind === 'error' && reply.code === 'SOURCE_CHANGED', JSON.stringify(reply));
    assert.match(reply.message, /tiny\.onnx changed since the server loaded it/);
    await assert.rejects(fs.stat(path.join(dir, 'changed')), /ENOENT/);
  });

  it('lets go of the snapshot once it is sent, and a retrain abandoned while it builds ends at once, saving nothing', { timeout: 60_000 }, async () => {
    v8.setFlagsFromString('--expose-gc');
    const gc = vm.runInNewContext('gc') as () => void;
    let snapshot: WeakRef<Float32Array> | null = null;
    let stop: () => void = () => {};
    let received: () => void = () => {};
    const building = new Promise<void>((resolve) => { received = resolve; });
    // Far more epochs than the test waits for: the process is building when it is stopped.
    const running = runRetrainProcess(request('abandoned', { epochs: 1000 }), () => {
      const copy = samples.slice();
      snapshot = new WeakRef(copy);
      return copy;
    }, (s) => { stop = s; }, { onReceived: () => received() });
    // The process has every input and builds (it says so before it starts).
    await building;
    // Nothing holds the snapshot any more (a worker thread got it transferred; a kept copy would cost the server
    // --buffer-bytes for the whole retrain).
    gc();
    assert.equal(snapshot!.deref(), undefined);
    stop();
    await assert.rejects(running, (err: unknown) => err instanceof LayercacheError && err.code === 'NOT_READY');
    await assert.rejects(fs.stat(path.join(dir, 'abandoned')), /ENOENT/);
  });

  it('fails the retrain, not the server, when the buffer cannot be copied', { timeout: 60_000 }, async () => {
    const running = runRetrainProcess(request('uncopied'), () => { throw new RangeError('Array buffer allocation failed'); }, () => {});
    await assert.rejects(running, (err: unknown) => err instanceof LayercacheError && err.code === 'WORKER_FAILED' && /could not be copied for the retraining process: Array buffer allocation failed/.test(err.message));
    await assert.rejects(fs.stat(path.join(dir, 'uncopied')), /ENOENT/);
  });

  it('never signals a process that did not start, and reports why it did not', async () => {
    const signalled: (number | undefined)[] = [];
    // A process that cannot start has no pid; until Node reports the failure, a kill would reach pid 0, the
    // server's own process group. This one records kills instead of sending them.
    const start = (): ChildProcess => {
      const c = spawn(path.join(dir, 'no-such-program'), [], { stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
      c.kill = () => {
        signalled.push(c.pid);
        return false;
      };
      return c;
    };
    await assert.rejects(runRetrainProcess(request('unstarted'), all, (stop) => stop(), { start }), (err: unknown) => err instanceof LayercacheError && err.code === 'NOT_READY');
    await assert.rejects(runRetrainProcess(request('unstarted'), all, () => {}, { start }), (err: unknown) => err instanceof LayercacheError && err.code === 'WORKER_FAILED' && /ENOENT/.test(err.message));
    assert.deepEqual(signalled, []);
  });

  it('fails the retrain, coded and with the signal, when its process crashes; the server process lives on', { skip: process.platform !== 'linux' && 'reads /proc', timeout: 60_000 }, async () => {
    const before = new Set(childPids());
    const running = runRetrainProcess(request('crashed', { epochs: 1000 }), all, () => {});
    // fork() has returned: the child exists now.
    const child = childPids().filter((p) => !before.has(p));
    assert.equal(child.length, 1);
    process.kill(child[0]!, 'SIGSEGV');
    await assert.rejects(running, (err: unknown) => err instanceof LayercacheError && err.code === 'WORKER_FAILED' && /exited with signal SIGSEGV before answering/.test(err.message));
    await assert.rejects(fs.stat(path.join(dir, 'crashed')), /ENOENT/);
  });
});
