/**
 * The retraining process on a tiny residual net: the buffered inputs arrive whole however many parts they are sent
 * in, a failing build answers with its error, a crash of the process fails the retrain (not this process), and an
 * abandoned retrain ends at once and saves nothing.
 */
import assert from 'node:assert/strict';
import { readdirSync, readFileSync, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { mlp, residualNet } from '../../test/support/models.ts';
import { loadBundle } from '../bundle/index.ts';
import { loadConfig, type ConfigInput } from '../config/index.ts';
import { LayercacheError } from '../errors/index.ts';
import { saveModel } from '../onnx/index.ts';
import { randomNormal, seededRng } from '../tensor/index.ts';
import type { RetrainReply, RetrainRequest } from './messages.ts';
import { runRetrainProcess } from './retrain-process.ts';

let dir: string;
let modelFile: string;
const sampleDims = [3, 8, 8];
const samples = randomNormal(seededRng(7), 120 * 3 * 8 * 8);

function request(name: string, build: NonNullable<ConfigInput['build']> = {}): RetrainRequest {
  const config = loadConfig({ engine: { intraOpThreads: 1 }, build: { folds: 2, epochs: 3, tolerance: 0.2, measureReps: 3, objective: 'macs', ...build } }, {});
  return {
    modelFile, sampleDims, build: config.build, preprocess: null, layout: 'nchw', engine: config.engine,
    outDir: path.join(dir, name), version: 1, latencyProfile: path.join(dir, `${name}-profile.json`),
  };
}

before(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'layercache-retrain-'));
  modelFile = path.join(dir, 'tiny.onnx');
  await saveModel(residualNet().model, modelFile);
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
  it('builds the same version from the buffered inputs sent whole or in 19 parts', { timeout: 120_000 }, async () => {
    const whole = await runRetrainProcess(request('whole'), samples, () => {});
    // 23,040 values in parts of 1,250: 19 messages, the last one short.
    const parts = await runRetrainProcess(request('parts'), samples, () => {}, 1250);
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
    const reply = await runRetrainProcess({ ...request('failed'), modelFile: mlpFile }, samples, () => {});
    assert.equal(reply.kind, 'error');
    assert.ok(reply.kind === 'error' && reply.code.length > 0 && reply.message.length > 0, JSON.stringify(reply));
    await assert.rejects(fs.stat(path.join(dir, 'failed')), /ENOENT/);
  });

  it('ends an abandoned retrain at once, and it saves nothing', { timeout: 60_000 }, async () => {
    let stop: () => void = () => {};
    // Far more epochs than the test waits for.
    const running = runRetrainProcess(request('abandoned', { epochs: 1000 }), samples, (s) => { stop = s; });
    stop();
    await assert.rejects(running, (err: unknown) => err instanceof LayercacheError && err.code === 'NOT_READY');
    await assert.rejects(fs.stat(path.join(dir, 'abandoned')), /ENOENT/);
  });

  it('fails the retrain, coded and with the signal, when its process crashes; the server process lives on', { skip: process.platform !== 'linux' && 'reads /proc', timeout: 60_000 }, async () => {
    const before = new Set(childPids());
    const running = runRetrainProcess(request('crashed', { epochs: 1000 }), samples, () => {});
    // fork() has returned: the child exists now.
    const child = childPids().filter((p) => !before.has(p));
    assert.equal(child.length, 1);
    process.kill(child[0]!, 'SIGSEGV');
    await assert.rejects(running, (err: unknown) => err instanceof LayercacheError && err.code === 'WORKER_FAILED' && /exited with signal SIGSEGV before answering/.test(err.message));
    await assert.rejects(fs.stat(path.join(dir, 'crashed')), /ENOENT/);
  });
});
