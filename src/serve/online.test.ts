/**
 * Online caching on a tiny conv net: a retrain hot-swaps a new bundle version while
 * concurrent requests keep arriving (none fails, none is answered by a half-loaded
 * version), and a killed server restarts from its newest valid version, skipping a
 * corrupted newer one.
 */
import assert from 'node:assert/strict';
import { spawn } from 'node:child_process';
import { createHash } from 'node:crypto';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { deriveConfig, loadConfig, type ConfigInput } from '../config/index.ts';
import { GraphBuilder, protoToTensor, saveModel, serializeModel } from '../onnx/index.ts';
import { buildHeadModel } from '../heads/index.ts';
import { randomNormal, seededRng } from '../tensor/index.ts';
import { LayercacheError } from '../errors/index.ts';
import { mlp, residualNet } from '../../test/support/models.ts';
import { loadBundle, saveBundle } from '../bundle/index.ts';
import { cli } from '../../test/support/cli.ts';
import { saveWithForcedExit } from '../../test/support/forced-exit.ts';
import { startServer, type RunningServer } from './server.ts';
import { VersionStore } from './version-store.ts';
import { BUFFER_FILE, readBufferFile } from './buffer-file.ts';
import { ServerMetrics } from './metrics.ts';
import { OnlineLearner } from './online.ts';
import { verifies } from './verify-rule.ts';
import { revisedBundle } from './bundle-revision.ts';
import type { OnlineDeps } from './online-deps.ts';

let dir: string;
let modelFile: string;
const sample = 3 * 8 * 8;
const repo = path.resolve(import.meta.dirname, '../..');

type OnlineInput = NonNullable<NonNullable<ConfigInput['serve']>['online']>;

function config(stateDir: string, online: OnlineInput, log: 'silent' | 'info' | 'warn' | 'error' = 'silent'): ReturnType<typeof loadConfig> {
  return loadConfig({
    engine: { intraOpThreads: 1 },
    build: { folds: 2, epochs: 3, tolerance: 0.2, measureReps: 3 },
    serve: { name: 'tiny', log, stateDir, online },
  }, {});
}

const body = (x: Float32Array): Record<string, unknown> => ({ inputs: [{ name: 'image', shape: [1, 3, 8, 8], datatype: 'FP32', data: Array.from(x) }] });

/** Sends 60 one-row requests of seeded random inputs, each after the guard has settled; the exit each was answered at. */
async function guardedExits(s: RunningServer, seed: number): Promise<number[]> {
  const x = randomNormal(seededRng(seed), 60 * sample);
  const exits: number[] = [];
  for (let i = 0; i < 60; i++) {
    const res = await s.app.inject({ method: 'POST', url: '/v2/models/tiny/infer', payload: body(x.subarray(i * sample, (i + 1) * sample)) });
    assert.equal(res.statusCode, 200, res.body);
    exits.push(res.json().outputs.find((o: { name: string }) => o.name === 'exit').data[0]);
    await s.online.idle();
  }
  return exits;
}

before(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'layercache-online-'));
  modelFile = path.join(dir, 'tiny.onnx');
  await saveModel(residualNet().model, modelFile);
});

after(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

describe('online retraining', () => {
  it('hot-swaps the retrained version under concurrent requests without failing any', async () => {
    // A corrupt latency profile in the state directory (the server's own file) must not fail the retrain: it is removed
    // at start, measured again and replaced.
    await fs.mkdir(path.join(dir, 'swap'), { recursive: true });
    await fs.writeFile(path.join(dir, 'swap', 'latency-profile.json'), 'not a profile');
    const s = await startServer(modelFile, config(path.join(dir, 'swap'), { retrainAfter: 150, retrainEvery: 1_000_000 }));
    try {
      const x = randomNormal(seededRng(21), 400 * sample);
      const versions: number[] = [];
      let sent = 0;
      // Waves of 8 concurrent requests until the new version has answered a full wave.
      for (let wave = 0; wave < 5000; wave++) {
        const res = await Promise.all(Array.from({ length: 8 }, () => {
          const i = sent++ % 400;
          return s.app.inject({ method: 'POST', url: '/v2/models/tiny/infer', payload: body(x.subarray(i * sample, (i + 1) * sample)) });
        }));
        for (const r of res) assert.equal(r.statusCode, 200, r.body);
        const v = res.map((r) => r.json().parameters.bundle_version as number);
        versions.push(...v);
        if (v.every((k) => k === 1)) break;
      }
      assert.equal(versions[0], 0);
      assert.equal(versions.at(-1), 1, `no swap after ${sent} requests`);
      // Versions only move forward: no request is answered by the old version after the new one.
      for (let i = 1; i < versions.length; i++) assert.ok(versions[i]! >= versions[i - 1]! || versions.slice(i).every((v) => v === 1), `version went back at ${i}`);
      const status = s.online.status();
      assert.equal(status.retrains, 1);
      assert.equal(status.verifyShare, 0.05, 'a retrained version without exits has no answer to verify more of');
      const m = (await s.app.inject('/metrics')).body;
      assert.match(m, /^layercache_retrain_total\{model="tiny",outcome="swapped"\} 1$/m);
      assert.match(m, /^layercache_bundle_version\{model="tiny"\} 1$/m);
      // The retrain kept its latency measurements in the state directory, for the next retrains and restarts.
      const profile = JSON.parse(await fs.readFile(path.join(dir, 'swap', 'latency-profile.json'), 'utf8'));
      assert.equal(profile.format, 'layercache.latency-profile/1');
      assert.ok(profile.fullMs > 0 && Object.keys(profile.toExitMs).length > 0);
    } finally {
      await s.close();
    }
  });

  it('abandons a running retrain at shutdown instead of waiting for it', { timeout: 120_000 }, async () => {
    const lines: string[] = [];
    let started: () => void = () => {};
    const building = new Promise<void>((resolve) => { started = resolve; });
    const state = path.join(dir, 'abandon');
    // Enough epochs that the retrain is still training when the server closes.
    const s = await startServer(modelFile, loadConfig({
      engine: { intraOpThreads: 1 },
      build: { folds: 2, epochs: 1000, tolerance: 0.2, measureReps: 3 },
      serve: { name: 'tiny', log: 'info', stateDir: state, online: { retrainAfter: 40, retrainEvery: 1_000_000 } },
    }, {}), {
      write: (l) => {
        lines.push(l);
        // The builder's phases reach the log as they end, while the retrain runs (not with its answer, which never comes here).
        if (l.includes('retrain: collect took')) started();
      },
    });
    const x = randomNormal(seededRng(51), 40 * sample);
    for (let i = 0; i < 40; i++) {
      const res = await s.app.inject({ method: 'POST', url: '/v2/models/tiny/infer', payload: body(x.subarray(i * sample, (i + 1) * sample)) });
      assert.equal(res.statusCode, 200, res.body);
    }
    // The retrain has collected its features and goes on measuring and training: closing stops it rather than waiting.
    await building;
    await s.close();
    const logged = lines.map((l) => JSON.parse(l) as { msg: string; level: number; stopped?: string });
    // Its process was killed, which cannot harm the server's.
    assert.ok(logged.some((l) => /^retrain of version 1 abandoned: the server is shutting down/.test(l.msg) && l.stopped === 'killed'), lines.join(''));
    const collected = logged.findIndex((l) => /^retrain: collect took \d+\.\d s$/.test(l.msg));
    assert.ok(collected >= 0 && collected < logged.findIndex((l) => /abandoned/.test(l.msg)), lines.join(''));
    assert.ok(!logged.some((l) => l.level >= 50), 'an abandoned retrain is not an error');
    assert.deepEqual(await new VersionStore(state).list(), []);
    // The buffer goes to the next start with the schedule as if the retrain had never started: it retrains at once.
    const saved = await readBufferFile(path.join(state, BUFFER_FILE), () => null);
    assert.equal(saved?.admitted, 40);
    assert.equal(saved?.lastRetrainAt, 0);
    // A restart starts that retrain with the restored buffer, before any request.
    const again = await startServer(modelFile, loadConfig({
      engine: { intraOpThreads: 1 },
      build: { folds: 2, epochs: 1000, tolerance: 0.2, measureReps: 3 },
      serve: { name: 'tiny', log: 'silent', stateDir: state, online: { retrainAfter: 40, retrainEvery: 1_000_000 } },
    }, {}));
    try {
      assert.equal(again.online.status().restoredSamples, 40);
      assert.equal(again.online.status().retraining, true);
    } finally {
      await again.close();
    }
    // Closed at once (the retrain was still being numbered): it counts as never started, again.
    assert.equal((await readBufferFile(path.join(state, BUFFER_FILE), () => null))?.lastRetrainAt, 0);
  });

  it('backs off after a failed retrain: one sample sent over and over (too few distinct to build) is not retried every --retrain-every', { timeout: 120_000 }, async () => {
    const s = await startServer(modelFile, config(path.join(dir, 'one-sample'), { retrainAfter: 40, retrainEvery: 40 }));
    const x = randomNormal(seededRng(61), sample);
    try {
      // Due at 40, then (doubling after each failure) at 120 and 280: two retrains in 200 samples, not five.
      for (let i = 0; i < 200; i++) {
        const res = await s.app.inject({ method: 'POST', url: '/v2/models/tiny/infer', payload: body(x) });
        assert.equal(res.statusCode, 200, res.body);
        await s.online.idle();
      }
      const m = (await s.app.inject('/metrics')).body;
      assert.match(m, /^layercache_retrain_total\{model="tiny",outcome="failed"\} 2$/m);
      assert.equal(s.online.status().version, 0);
    } finally {
      await s.close();
    }
  });

  it('a retrained version loads whatever preprocessing the server was given for a model that takes no images', { timeout: 120_000 }, async () => {
    // With --layout nhwc the [3, 8, 8] input reads as 8 channels: no image, so three means are not checked at start;
    // the retrain records them, and its bundle must load (it was refused as a corrupted manifest).
    const s = await startServer(modelFile, loadConfig({
      engine: { intraOpThreads: 1 },
      build: { folds: 2, epochs: 3, tolerance: 0.2, measureReps: 3 },
      preprocess: { scale: 255, mean: [0.4, 0.5, 0.6], std: [0.25], layout: 'nhwc' },
      serve: { name: 'tiny', log: 'silent', stateDir: path.join(dir, 'no-image'), online: { retrainAfter: 40, retrainEvery: 1_000_000 } },
    }, {}));
    try {
      const x = randomNormal(seededRng(71), 40 * sample);
      for (let i = 0; i < 40; i++) await s.app.inject({ method: 'POST', url: '/v2/models/tiny/infer', payload: body(x.subarray(i * sample, (i + 1) * sample)) });
      await s.online.idle();
      assert.equal(s.online.status().version, 1);
      assert.match((await s.app.inject('/metrics')).body, /^layercache_retrain_total\{model="tiny",outcome="swapped"\} 1$/m);
    } finally {
      await s.close();
    }
  });

  it('says when --buffer-bytes holds fewer samples than --buffer-samples asks for', async () => {
    const lines: string[] = [];
    // 2 MiB of 768-byte samples: 2,730 of the 5,000 asked for.
    const s = await startServer(modelFile, config(path.join(dir, 'small-buffer'), { bufferBytes: 2 * 2 ** 20, retrainAfter: 1_000_000 }, 'warn'), { write: (l) => void lines.push(l) });
    await s.close();
    assert.ok(lines.some((l) => /online buffer: 2730 samples, not the 5000 of --buffer-samples: a sample is 1 KiB and --buffer-bytes caps the buffer at 2 MiB, so retrains learn from the latest 2730 samples; raise --buffer-bytes/.test(JSON.parse(l).msg)), lines.join(''));
  });

  it('keeps retraining after a restart once the resumed version is pruned (retrains read the given model)', { timeout: 300_000 }, async () => {
    const state = path.join(dir, 'pruned');
    const x = randomNormal(seededRng(5), 400 * sample);
    const first = await startServer(modelFile, config(state, { retrainAfter: 40, retrainEvery: 1_000_000 }));
    for (let i = 0; i < 40; i++) await first.app.inject({ method: 'POST', url: '/v2/models/tiny/infer', payload: body(x.subarray(i * sample, (i + 1) * sample)) });
    await first.online.idle();
    await first.close();
    assert.deepEqual(await new VersionStore(state).list(), [1]);

    const lines: string[] = [];
    const s = await startServer(modelFile, config(state, { retrainAfter: 40, retrainEvery: 40, verifyShare: 1, keepVersions: 1 }, 'info'), { write: (l) => void lines.push(l) });
    const exits = (await loadBundle(new VersionStore(state).dirOf(1))).manifest.exits.length;
    // The start says what it serves, resumed or not.
    assert.ok(lines.some((l) => l.includes(`serving version 1 of model ${modelFile}: ${exits === 0 ? 'no exit' : `${exits} exit`}`)), lines.join(''));
    try {
      for (let i = 0; i < 400 && s.online.status().retrains < 2; i++) {
        const res = await s.app.inject({ method: 'POST', url: '/v2/models/tiny/infer', payload: body(x.subarray(i * sample, (i + 1) * sample)) });
        assert.equal(res.statusCode, 200, res.body);
        await s.online.idle();
      }
      assert.equal(s.online.status().retrains, 2, lines.join(''));
    } finally {
      await s.close();
    }
    // Version 1, whose backbone the resumed server started from, was pruned after the first retrain; the second still ran.
    const store = new VersionStore(state);
    assert.equal((await store.list()).length, 1);
    assert.ok(!(await store.list()).includes(1));
    assert.ok(!lines.some((l) => (JSON.parse(l) as { level: number }).level >= 50), lines.join(''));
  });

  it('resumes from the newest valid version after being killed, skipping a corrupted one', async () => {
    const state = path.join(dir, 'restart');
    const child = spawn(process.execPath, ['--import', 'tsx', path.join(repo, 'test/support/serve-child.ts'), modelFile, state, '120'], { cwd: repo, stdio: ['ignore', 'pipe', 'pipe'] });
    let out = '';
    let err = '';
    child.stderr.on('data', (d: Buffer) => {
      err += d.toString();
    });
    const version = await new Promise<number>((resolve, reject) => {
      child.stdout.on('data', (d: Buffer) => {
        out += d.toString();
        const m = /VERSION (\d+)/.exec(out);
        if (m) resolve(Number(m[1]));
      });
      child.once('exit', (code) => reject(new Error(`child exited with ${code}: ${err}`)));
    });
    const exited = new Promise((resolve) => child.once('exit', resolve));
    child.kill('SIGKILL');
    await exited;
    assert.equal(version, 1);

    // A newer version that is corrupted: its manifest is truncated.
    const store = new VersionStore(state);
    await fs.cp(store.dirOf(1), store.dirOf(2), { recursive: true });
    const manifest = path.join(store.dirOf(2), 'manifest.json');
    await fs.writeFile(manifest, (await fs.readFile(manifest, 'utf8')).slice(0, 100));
    // A newer one still, whose files are intact (hashes match) but whose first segment uses an
    // operator onnxruntime does not have: it validates on disk, and only the engine finds it unusable.
    await fs.cp(store.dirOf(1), store.dirOf(3), { recursive: true });
    const m3 = JSON.parse(await fs.readFile(path.join(store.dirOf(3), 'manifest.json'), 'utf8'));
    const g = new GraphBuilder();
    g.output(g.op('NoSuchOperator', [g.input('image', 'float32', ['N', 3, 8, 8])]), 'float32', ['N', 5]);
    const foreign = serializeModel(g.build());
    await fs.writeFile(path.join(store.dirOf(3), m3.segments[0].file), foreign);
    m3.segments[0].sha256 = createHash('sha256').update(foreign).digest('hex');
    await fs.writeFile(path.join(store.dirOf(3), 'manifest.json'), JSON.stringify(m3));

    // The unfinished save of a process that is gone (pids never reach 2^22 + 1).
    const leftover = `${store.dirOf(3)}.tmp-4194305-0badf00d`;
    await fs.mkdir(leftover, { recursive: true });

    // The state belongs to tiny.onnx: another model is refused, naming both.
    const other = path.join(dir, 'other.onnx');
    await saveModel(mlp().model, other);
    await assert.rejects(startServer(other, config(state, { retrainAfter: 1_000_000 })), (e: unknown) => e instanceof LayercacheError && e.code === 'STATE_MISMATCH' && e.message.includes('tiny.onnx') && e.message.includes(other));
    // The same model with other preprocessing flags: the saved version would keep normalising as it was built to,
    // ignoring the flags, so it is refused, naming both.
    const rescaled = deriveConfig(config(state, { retrainAfter: 1_000_000 }), { preprocess: { scale: 255, mean: [0.5], std: [0.25], layout: 'nchw' } });
    const refused = await startServer(modelFile, rescaled).then(async (started) => {
      await started.close();
      return null;
    }, (e: unknown) => e);
    assert.ok(refused instanceof LayercacheError && refused.code === 'STATE_MISMATCH', `expected STATE_MISMATCH, got ${String(refused)}`);
    assert.match(refused.message, /preprocesses inputs with --scale 1 --mean 0 --std 1 --layout nchw, but this start asks for --scale 255 --mean 0\.5 --std 0\.25/);

    const lines: string[] = [];
    const s = await startServer(modelFile, config(state, { retrainAfter: 1_000_000 }, 'warn'), { write: (l) => void lines.push(l) });
    try {
      assert.equal(s.online.status().version, 1);
      await assert.rejects(fs.stat(leftover), 'the leftover was removed');
      // The killed child's lock was taken over; a second server on the same state is refused while this one runs.
      await assert.rejects(startServer(modelFile, config(state, { retrainAfter: 1_000_000 })), (e: unknown) => e instanceof LayercacheError && e.code === 'STATE_LOCKED' && /another server in this process/.test(e.message));
      const res = await s.app.inject({ method: 'POST', url: '/v2/models/tiny/infer', payload: body(randomNormal(seededRng(1), sample)) });
      assert.equal(res.json().parameters.bundle_version, 1);
      const logged = lines.map((l) => JSON.parse(l) as { level: number; msg: string });
      assert.ok(logged.some((l) => l.level >= 50 && /version 3 cannot be served and was skipped: its files are intact but the engine cannot load it/.test(l.msg)), lines.join(''));
      assert.ok(logged.some((l) => l.level >= 50 && /version 2 cannot be served and was skipped/.test(l.msg)), lines.join(''));
    } finally {
      await s.close();
    }
  });
});

let forcedBundle: Promise<string> | null = null;

/** A bundle whose only exit answers everything (threshold 0) with a head that is often wrong (built once). */
function forcedExitBundle(): Promise<string> {
  forcedBundle ??= (async () => {
    const data = path.join(dir, 'samples.f32');
    await fs.writeFile(data, randomNormal(seededRng(9), 300 * sample));
    const built = path.join(dir, 'built');
    const b = await cli('build', modelFile, '--data', `raw:${data}:3x8x8#0-299`, '--out', built, '--folds', '2', '--epochs', '1', '--tolerance', '0.2', '--threads', '1');
    assert.equal(b.code, 0, b.stderr);
    const forced = path.join(dir, 'forced');
    await saveWithForcedExit(await loadBundle(built), 0, 0, forced);
    return forced;
  })();
  return forcedBundle;
}

describe('metric labels across a hot swap', () => {
  it("an engine worker that answers with the new version before the others have loaded it labels the new version's exit tensor", async () => {
    const forced = await forcedExitBundle();
    const bundle = await loadBundle(forced);
    const c = loadConfig({}, {});
    const seen: string[] = [];
    let learner: OnlineLearner | null = null;
    // A pool of two workers mid-swap: the first has loaded version 2 and answers at exit 0 while the second still loads.
    const pool = { swap: async (_source: unknown, version: number) => { seen.push(learner!.exitTensor(version, 0)); } };
    const store = { dirOf: () => forced, remove: async () => {} };
    const deps = {
      config: { ...c.serve.online, enabled: false }, build: c.build, preprocess: null, layout: 'nchw', engine: c.engine, modelFile, latencyProfile: '',
      sampleDims: [3, 8, 8], modelSha256: '', bufferFile: null, pool, store, metrics: new ServerMetrics(), model: 'tiny', log: { info() {}, warn() {}, error() {} },
    } as unknown as OnlineDeps;
    learner = new OnlineLearner(deps, { version: 1, bundle });
    // swapTo is private: the guard and retrains reach it only through a saved version and a running engine pool.
    await (learner as unknown as { swapTo(version: number): Promise<void> }).swapTo(2);
    assert.deepEqual(seen, [bundle.manifest.exits[0]!.tensor]);
    assert.equal(learner.exitTensor(2, 0), bundle.manifest.exits[0]!.tensor);
  });
});

/**
 * A learner serving the forced-exit bundle as version 1, with learning on and no engine behind it (default settings);
 * `thresholds` in place of the bundle's (null: disabled by the guard).
 */
async function learnerOnForcedExit(thresholds?: (number | null)[], own: Partial<Pick<OnlineDeps, 'store' | 'pool'>> = {}): Promise<OnlineLearner> {
  const loaded = await loadBundle(await forcedExitBundle());
  const bundle = thresholds ? revisedBundle(loaded, 1, thresholds, [1]) : loaded;
  const c = loadConfig({ serve: { online: { retrainAfter: 1_000_000 } } }, {});
  const deps = {
    config: { ...c.serve.online, enabled: true }, build: c.build, preprocess: null, layout: 'nchw', engine: c.engine, modelFile, latencyProfile: '',
    sampleDims: [3, 8, 8], modelSha256: '', bufferFile: null, pool: {}, store: { dirOf: () => '', remove: async () => {} }, metrics: new ServerMetrics(), model: 'tiny', log: { info() {}, warn() {}, error() {} },
    ...own,
  } as unknown as OnlineDeps;
  return new OnlineLearner(deps, { version: 1, bundle });
}

describe('the online buffer\'s admissions', () => {
  it('with an exit serving, takes only the full-backbone rows picked for verification (an unbiased sample, not every hard input)', async () => {
    const learner = await learnerOnForcedExit();
    // Rows 0 and 1 ran the whole backbone, row 2 exited; only rows 1 and 2 drew under --verify-share (0.05), and row 2
    // is admitted when its verification comes back.
    learner.onAnswered(randomNormal(seededRng(50), 3 * sample), Int32Array.from([-1, -1, 0]), Float64Array.from([0.5, 0.01, 0.01]), 1);
    assert.equal(learner.status().bufferSamples, 1);
    await learner.close();
  });

  it('while the guard wants evidence it verifies more rows, but admits only those drawn under --verify-share (probation does not fill the buffer faster)', async () => {
    const learner = await learnerOnForcedExit();
    const draws = learner.verifyDraws(20_000);
    const verified = (rule: ReturnType<OnlineLearner['verifyRule']>): number => draws.reduce((a, u) => a + (verifies(rule, u, 0) ? 1 : 0), 0);
    assert.deepEqual(learner.verifyRule(), { admitBelow: 0.05, verifyBelow: [0.05] });
    assert.ok(Math.abs(verified(learner.verifyRule()) - 1000) < 150, `${verified(learner.verifyRule())} of 20,000 exit-0 answers verified at 5%`);
    // Exit 0 answers every row, and 12 verified answers all disagree: the guard is suspicious and wants evidence.
    learner.onAnswered(randomNormal(seededRng(51), 100 * sample), new Int32Array(100), new Float64Array(100).fill(0.5), 1);
    learner.onVerified({ kind: 'verified', version: 1, exits: new Int32Array(12), agree: new Uint8Array(12), scores: new Float64Array(12), admit: Uint8Array.from({ length: 12 }, (_, i) => (i < 3 ? 1 : 0)), input: randomNormal(seededRng(52), 12 * sample), rows: 12 });
    assert.equal(learner.status().bufferSamples, 3, 'only the verified rows drawn under --verify-share are learnt from');
    assert.deepEqual(learner.verifyRule(), { admitBelow: 0.05, verifyBelow: [0.5] });
    assert.equal(learner.status().verifyShare, 0.5);
    assert.ok(Math.abs(verified(learner.verifyRule()) - 10_000) < 400, `${verified(learner.verifyRule())} of 20,000 verified at the boosted 50%`);
    // Full-backbone rows drawn beyond --verify-share are not admitted either.
    learner.onAnswered(randomNormal(seededRng(53), 3 * sample), Int32Array.from([-1, -1, -1]), Float64Array.from([0.3, 0.01, 0.9]), 1);
    assert.equal(learner.status().bufferSamples, 4);
    await learner.close();
  });

  it('verifies more of the answers of an exit that answers few rows: as often as if it answered a tenth of them', async () => {
    const learner = await learnerOnForcedExit();
    // Exit 0 answers 2% of the rows: each answer is verified at 0.05 · 0.1 / 0.02 = 0.25, one verified answer per 200 rows.
    learner.onAnswered(randomNormal(seededRng(54), 1000 * sample), Int32Array.from({ length: 1000 }, (_, i) => (i % 50 === 0 ? 0 : -1)), new Float64Array(1000).fill(0.5), 1);
    const rule = learner.verifyRule();
    assert.ok(Math.abs(rule.verifyBelow[0]! - 0.25) < 1e-9, JSON.stringify(rule));
    assert.equal(rule.admitBelow, 0.05, 'the buffer still admits at --verify-share');
    const status = learner.status();
    assert.ok(Math.abs(status.perExit[0]!.verifyShare! - 0.25) < 1e-9 && Math.abs(status.verifyShare - 0.25) < 1e-9, JSON.stringify(status));
    await learner.close();
  });

  it('shows no verify share for an exit the guard disabled', async () => {
    const learner = await learnerOnForcedExit([null]);
    learner.onAnswered(randomNormal(seededRng(55), 10 * sample), new Int32Array(10).fill(-1), new Float64Array(10).fill(0.5), 1);
    const status = learner.status();
    assert.deepEqual([status.answeringExits, status.perExit[0]!.threshold, status.perExit[0]!.verifyShare, status.verifyShare], [0, null, null, 0.05]);
    await learner.close();
  });

  it('names each exit\'s cut tensor, and says when the next retrain starts', async () => {
    const learner = await learnerOnForcedExit();
    const tensor = (await loadBundle(await forcedExitBundle())).manifest.exits[0]!.tensor;
    const status = learner.status();
    assert.deepEqual([status.perExit[0]!.tensor, status.admitted, status.nextRetrainAt], [tensor, 0, 1_000_000]);
    await learner.close();
  });
});

describe('retrains of a served bundle', () => {
  it('build with the bundle\'s recorded settings, and the start names any they cannot take', async () => {
    const odd = path.join(dir, 'odd-settings');
    await fs.cp(await forcedExitBundle(), odd, { recursive: true });
    const file = path.join(odd, 'manifest.json');
    const m = JSON.parse(await fs.readFile(file, 'utf8'));
    m.build.train.epochs = -3;
    await fs.writeFile(file, JSON.stringify(m));
    const lines: string[] = [];
    const s = await startServer(odd, loadConfig({ engine: { intraOpThreads: 1 }, serve: { name: 'tiny', log: 'warn', stateDir: path.join(dir, 'odd-state'), online: { retrainAfter: 1_000_000 } } }, {}), { write: (l) => void lines.push(l) });
    await s.close();
    const said = lines.map((l) => (JSON.parse(l) as { msg: string }).msg);
    assert.ok(said.some((x) => x.startsWith(`retrains: bundle ${odd} was built with settings retrains here cannot take, so they use the configuration's: epochs (`)), said.join('\n'));
  });
});

describe('a finished retrain against the serving version', () => {
  it('is kept out when it expects to save fewer MACs than the serving version saves on live traffic, and swapped in when more', async () => {
    const learner = await learnerOnForcedExit();
    const m = (await loadBundle(await forcedExitBundle())).manifest;
    // Exit 0 answers every row, and 50 verified answers all agree: live agreement 100%, at the exit's whole share.
    learner.onAnswered(randomNormal(seededRng(56), 1000 * sample), new Int32Array(1000), new Float64Array(1000).fill(0.5), 1);
    learner.onVerified({ kind: 'verified', version: 1, exits: new Int32Array(50), agree: new Uint8Array(50).fill(1), scores: new Float64Array(50).fill(5), admit: new Uint8Array(50), input: randomNormal(seededRng(57), 50 * sample), rows: 50 });
    const live = 1 - (m.exits[0]!.cumulativeMacs + m.exits[0]!.head.macs) / m.source.totalMacs;
    const shares = learner.status().perExit[0]!.share;
    assert.ok(shares > 0.99 && live > 0.05, `share ${shares}, live saving ${live}`);
    const settle = (macsSaved: number) => (learner as unknown as { settle(d: unknown): Promise<number | 'kept' | null> })
      .settle({ kind: 'done', version: 2, exits: 1, agreement: 0.995, macsSaved, seconds: 1, noExitReason: null, latencyReused: true });
    assert.equal(await settle(live - 0.01), 'kept');
    // A retrain that saves more is swapped in: here the swap fails (no engine behind this learner), which shows it was tried.
    await assert.rejects(settle(live + 0.01), /loadBundle\(dir\): dir is an empty string/);
    await learner.close();
  });

  it('a guard action resets the backoff of kept retrains: the next retrain waits --retrain-every again', async () => {
    const learner = await learnerOnForcedExit(undefined, { store: new VersionStore(path.join(dir, 'backoff')), pool: { swap: async () => {} } as unknown as OnlineDeps['pool'] });
    // Ten full-backbone rows drawn under --verify-share are admitted; a kept retrain then doubles the wait from there.
    learner.onAnswered(randomNormal(seededRng(58), 10 * sample), new Int32Array(10).fill(-1), new Float64Array(10).fill(0.01), 1);
    learner.onAnswered(randomNormal(seededRng(59), 1000 * sample), new Int32Array(1000), new Float64Array(1000).fill(0.5), 1);
    learner.onVerified({ kind: 'verified', version: 1, exits: new Int32Array(40), agree: new Uint8Array(40).fill(1), scores: new Float64Array(40).fill(5), admit: new Uint8Array(40), input: randomNormal(seededRng(61), 40 * sample), rows: 40 });
    const settle = (learner as unknown as { settle(d: unknown): Promise<number | 'kept' | null> }).settle.bind(learner);
    assert.equal(await settle({ kind: 'done', version: 2, exits: 1, agreement: 1, macsSaved: -1, seconds: 1, noExitReason: null, latencyReused: true }), 'kept');
    assert.equal(learner.status().nextRetrainAt, 10 + 2 * 2000);
    // Then exit 0 is wrong on its last 16 verified answers: disabled, as a new version.
    learner.onVerified({ kind: 'verified', version: 1, exits: new Int32Array(16), agree: new Uint8Array(16), scores: new Float64Array(16).fill(5), admit: new Uint8Array(16), input: randomNormal(seededRng(60), 16 * sample), rows: 16 });
    await learner.idle();
    const status = learner.status();
    assert.deepEqual([status.version, status.answeringExits, status.nextRetrainAt], [2, 0, 10 + 2000]);
    await learner.close();
  });
});

describe('agreement in /cache and /metrics', () => {
  it('no verified answer yet: agreement null, no estimate and no exit gauge; the bounds agree between /cache and /metrics as the exit shares move', async () => {
    const forced = await forcedExitBundle();
    const s = await startServer(forced, loadConfig({
      engine: { intraOpThreads: 1 },
      serve: { name: 'tiny', log: 'silent', stateDir: path.join(dir, 'gauges'), online: { enabled: false, verifyShare: 0 } },
    }, {}));
    try {
      const x = randomNormal(seededRng(32), 6 * sample);
      const gauge = (text: string, name: string) => Number(new RegExp(`^${name}\\{model="tiny"\\} (\\S+)$`, 'm').exec(text)?.[1]);
      for (let i = 0; i < 6; i++) {
        const res = await s.app.inject({ method: 'POST', url: '/v2/models/tiny/infer', payload: body(x.subarray(i * sample, (i + 1) * sample)) });
        assert.equal(res.statusCode, 200, res.body);
        const cache = (await s.app.inject('/v2/models/tiny/cache')).json();
        const m = (await s.app.inject('/metrics')).body;
        assert.equal(cache.perExit[0].verified, 0);
        assert.equal(cache.perExit[0].agreement, null);
        assert.doesNotMatch(m, /^layercache_exit_agreement_estimate\{/m, 'no gauge for an exit without verified answers');
        assert.equal(gauge(m, 'layercache_agreement_lower_bound'), cache.agreement.lower, `after request ${i + 1}`);
        // Every row exits early and none is verified: nothing says how often they agree (the estimate read 1 here).
        assert.equal(cache.agreement.estimate, null);
        assert.doesNotMatch(m, /^layercache_agreement_estimate\{/m, 'no estimate without evidence');
      }
    } finally {
      await s.close();
    }
  });
});

describe('accuracy guard', () => {
  it('disables an exit no threshold would save, and raises one that a threshold would; logs and counts each action, and a restart keeps them', async () => {
    const forced = await forcedExitBundle();
    // Random heads at threshold 0 answer every row at exit 0 and agree about one time in five. With no raise
    // allowed (guardMaxRaises 0) the guard's first action disables the exit.
    const run = async (state: string, online: Record<string, number>) => {
      const lines: string[] = [];
      const s = await startServer(forced, loadConfig({
        engine: { intraOpThreads: 1 },
        serve: { tolerance: 0.01, name: 'tiny', log: 'warn', stateDir: path.join(dir, state), online: { enabled: false, verifyShare: 1, guardMinSamples: 10, keepVersions: 1, ...online } },
      }, {}), { write: (l) => void lines.push(l) });
      try {
        const exits = await guardedExits(s, 31);
        return { status: s.online.status(), parameters: (await s.app.inject('/v2/models/tiny')).json().parameters, metrics: (await s.app.inject('/metrics')).body, exits, actions: lines.map((l) => JSON.parse(l) as { msg: string; action?: string; thresholdAfter?: number | null }).filter((l) => l.action) };
      } finally {
        await s.close();
      }
    };
    const disabled = await run('guard', { guardMaxRaises: 0 });
    assert.deepEqual(disabled.actions.map((a) => a.action), ['disable']);
    assert.equal(disabled.status.perExit[0]!.threshold, null);
    assert.deepEqual([disabled.status.exits, disabled.status.answeringExits], [1, 0], 'the disabled exit is kept but answers nothing');
    assert.deepEqual(disabled.parameters, { bundle_version: 2, exits: 1, answering_exits: 0 }, 'the model metadata says so too');
    assert.equal(disabled.status.version, 2, 'the built bundle is version 1; the disable, version 2');
    assert.equal(disabled.exits[0], 0, 'threshold 0 answers at the exit');
    assert.equal(disabled.exits.at(-1), -1, 'a disabled exit answers nothing');
    // Metric series name the exit's cut tensor too: after a retrain, index 0 may be another tensor.
    const tensor = (await loadBundle(forced)).manifest.exits[0]!.tensor.replace(/[.*+?^${}()|[\]\\/]/g, '\\$&');
    const count = (text: string, name: string, labels = ''): number => Number(new RegExp(`^${name}\\{model="tiny",exit="0",tensor="${tensor}"${labels}\\} (\\d+)$`, 'm').exec(text)?.[1]);
    assert.equal(count(disabled.metrics, 'layercache_guard_actions_total', ',action="disable"'), 1);
    assert.ok(count(disabled.metrics, 'layercache_verification_total', ',agree="no"') > 0, 'verified answers counted by exit and tensor');
    assert.ok(count(disabled.metrics, 'layercache_inference_exit_total') > 0, 'answers counted by exit and tensor');
    assert.deepEqual(await new VersionStore(path.join(dir, 'guard')).list(), [2], 'persisted; only the newest with keepVersions 1');
    // A revision changes only the manifest: its model files are hard links to those of the bundle it revised.
    for (const file of ['backbone.onnx', 'segments/segment_00.onnx', 'heads/head_00.onnx']) {
      const [from, to] = await Promise.all([fs.stat(path.join(forced, file)), fs.stat(path.join(new VersionStore(path.join(dir, 'guard')).dirOf(2), file))]);
      assert.equal(to.ino, from.ino, file);
    }
    // A least raise above every score the heads give: that threshold keeps no wrong answer, so it is a raise (to 100).
    const raised = await run('guard-raise', { guardRaise: 100 });
    assert.deepEqual(raised.actions.map((a) => [a.action, a.thresholdAfter]), [['raise', 100]]);
    assert.equal(count(raised.metrics, 'layercache_guard_actions_total', ',action="raise"'), 1);
    // The serving version's thresholds, in the score's units: the raise's 100, and +Inf for the disabled exit.
    const threshold = (text: string): string | undefined => new RegExp(`^layercache_exit_threshold\\{model="tiny",exit="0",tensor="${tensor}",score="max"\\} (\\S+)$`, 'm').exec(text)?.[1];
    assert.equal(threshold(raised.metrics), '100');
    assert.equal(threshold(disabled.metrics), '+Inf');
    assert.equal(raised.exits.at(-1), -1, 'raised above its scores, the exit answers nothing');
    assert.equal(raised.status.perExit[0]!.raises, 1);
    assert.equal(raised.status.perExit[0]!.verified, 0, 'a raise drops the verified answers its threshold was fitted on');
    // A restart resumes the raise count too: no exit gets its raises again.
    const again = await startServer(forced, loadConfig({ engine: { intraOpThreads: 1 }, serve: { tolerance: 0.01, name: 'tiny', log: 'silent', stateDir: path.join(dir, 'guard'), online: { enabled: false } } }, {}));
    try {
      assert.deepEqual(again.online.status().perExit.map((x) => [x.threshold, x.raises]), [[null, 1]]);
    } finally {
      await again.close();
    }
    // A resumed version whose heads a retrain learnt from traffic starts on probation, as after the swap that first
    // served it: this process has verified none of its answers. The given bundle, and a guard's revision of it (its
    // heads), do not.
    const onProbation = async (state: string): Promise<number> => {
      const t = await startServer(forced, loadConfig({ engine: { intraOpThreads: 1 }, serve: { tolerance: 0.01, name: 'tiny', log: 'silent', stateDir: path.join(dir, state), online: { enabled: false } } }, {}));
      try {
        return t.online.status().verifyShare;
      } finally {
        await t.close();
      }
    };
    await saveWithForcedExit(await loadBundle(path.join(dir, 'built')), 1, 0, new VersionStore(path.join(dir, 'guard-learnt')).dirOf(3));
    assert.equal(await onProbation('guard-learnt'), 0.5, 'resumed with other heads than the given bundle\'s: boosted');
    assert.equal(await onProbation('guard-raise'), 0.05, 'a revision of the given bundle: --verify-share');
    assert.equal(await onProbation('guard-fresh'), 0.05, 'the given bundle: --verify-share');
    // With its only exit disabled every row runs the whole backbone, so every row is learnt from, not only the verified share.
    const learning = await startServer(forced, loadConfig({ engine: { intraOpThreads: 1 }, serve: { tolerance: 0.01, name: 'tiny', log: 'silent', stateDir: path.join(dir, 'guard'), online: { retrainAfter: 1_000_000, verifyShare: 0 } } }, {}));
    try {
      const x = randomNormal(seededRng(33), 20 * sample);
      for (let i = 0; i < 20; i++) await learning.app.inject({ method: 'POST', url: '/v2/models/tiny/infer', payload: body(x.subarray(i * sample, (i + 1) * sample)) });
      assert.equal(learning.online.status().bufferSamples, 20);
    } finally {
      await learning.close();
    }
  });

  it("holds a bundle to the tolerance it was built for (0.2 here), not build.tolerance's default; serve.tolerance overrides it", async () => {
    const forced = await forcedExitBundle();
    const start = async (state: string, serve: { tolerance?: number }) => {
      const lines: string[] = [];
      const s = await startServer(forced, loadConfig({ engine: { intraOpThreads: 1 }, serve: { name: 'tiny', log: 'info', stateDir: path.join(dir, state), online: { enabled: false }, ...serve } }, {}), { write: (l) => void lines.push(l) });
      await s.close();
      const said = lines.map((l) => JSON.parse(l) as { msg: string; tolerance?: number }).find((l) => l.tolerance !== undefined);
      return { status: s.online.status().tolerance, said };
    };
    const built = await start('tolerance-built', {});
    assert.equal(built.status, 0.2);
    assert.match(built.said?.msg ?? '', /^the accuracy guard holds agreement with the backbone at 80% or more \(tolerance 20%: the bundle's, as built; --tolerance overrides it\)$/);
    const given = await start('tolerance-given', { tolerance: 0.05 });
    assert.equal(given.status, 0.05);
    assert.match(given.said?.msg ?? '', /at 95% or more \(tolerance 5%: serve\.tolerance, --tolerance\)$/);
    // A version in the state directory retrained at another tolerance (as a server given --tolerance 0.05 saves
    // them) does not change it: a restart with the same settings runs at the same tolerance.
    const bundle = await loadBundle(forced);
    const store = new VersionStore(path.join(dir, 'tolerance-resumed'));
    await saveBundle(store.dirOf(2), { ...bundle.manifest, version: 2, build: { ...bundle.manifest.build, tolerance: 0.05 } }, bundle);
    const resumed = await start('tolerance-resumed', {});
    assert.equal(resumed.status, 0.2, "the given bundle's, not the resumed version's");
  });

  for (const unlistable of [false, true]) it(`acts at once when the state directory cannot save the new version${unlistable ? ', nor list its versions' : ''}: served from memory, counted and logged`, async () => {
    const forced = await forcedExitBundle();
    const lines: string[] = [];
    const state = path.join(dir, `guard-unsaved${unlistable ? '-unlistable' : ''}`);
    const s = await startServer(forced, loadConfig({
      engine: { intraOpThreads: 1 },
      serve: { tolerance: 0.07, name: 'tiny', log: 'warn', stateDir: state, online: { enabled: false, verifyShare: 1, guardMinSamples: 10, keepVersions: 1, guardMaxRaises: 0 } },
    }, {}), { write: (l) => void lines.push(l) });
    // Fault injection: a full (or read-only) disk refuses every new version.
    const store = (s.online as unknown as { deps: { store: VersionStore } }).deps.store;
    store.saveRevision = () => Promise.reject(new Error('ENOSPC: no space left on device (injected)'));
    // An unreadable versions directory (EACCES, EIO) failed the action before its save, at each verified answer, uncounted.
    if (unlistable) store.nextVersion = () => Promise.reject(new Error('EIO: i/o error, scandir (injected)'));
    try {
      const exits = await guardedExits(s, 31);
      const status = s.online.status();
      assert.equal(status.version, 2, 'the disable serves as version 2');
      assert.equal(status.perExit[0]!.threshold, null);
      assert.equal(exits.at(-1), -1, 'the disabled exit answers nothing, though its version was never saved');
      const m = (await s.app.inject('/metrics')).body;
      assert.match(m, /^layercache_guard_unsaved_total\{model="tiny"\} 1$/m);
      assert.match(m, /^layercache_guard_actions_total\{model="tiny",exit="0",tensor="[^"]+",action="disable"\} 1$/m);
      const why = unlistable ? /EIO: i\/o error, scandir \(injected\)/ : /ENOSPC: no space left on device \(injected\)/;
      assert.ok(lines.some((l) => new RegExp(`guard: version 2 could not be saved \\(${why.source}\\); it serves from memory`).test(l)), lines.join(''));
      assert.equal(lines.filter((l) => /"level":50/.test(l)).length, 1, 'one error line, not one per verified answer');
      // The target with the tolerance's digits ((1 − 0.07) · 100 printed 93.00000000000001).
      assert.ok(lines.some((l) => l.includes('guard: live agreement below 93%; exit 0 disabled (version 2)')), lines.join(''));
      assert.deepEqual(await new VersionStore(state).list(), [], 'nothing was saved (the bundle it revised is the one the server started from)');
    } finally {
      await s.close();
    }
  });

  it('verifies more answers (guardBoostShare) while the point estimate says agreement is short', async () => {
    const forced = await forcedExitBundle();
    const verifiedAfter = async (state: string, guardBoostShare: number) => {
      const s = await startServer(forced, loadConfig({
        engine: { intraOpThreads: 1 },
        // guardMinSamples and guardFloorSamples as large as the window: the guard never acts here, it only verifies.
        serve: { tolerance: 0.01, name: 'tiny', log: 'silent', stateDir: path.join(dir, state), online: { enabled: false, verifyShare: 0.1, guardBoostShare, guardWindow: 400, guardMinSamples: 400, guardFloorSamples: 400 } },
      }, {}));
      try {
        const x = randomNormal(seededRng(33), 300 * sample);
        for (let i = 0; i < 300; i++) await s.app.inject({ method: 'POST', url: '/v2/models/tiny/infer', payload: body(x.subarray(i * sample, (i + 1) * sample)) });
        await s.online.idle();
        return s.online.status().perExit[0]!.verified;
      } finally {
        await s.close();
      }
    };
    const plain = await verifiedAfter('boost-off', 0);
    const boosted = await verifiedAfter('boost-on', 1);
    // About 10% of 300 without the boost; with it, every answer once ten verified ones put the estimate at ~20%.
    assert.ok(plain < 60, `without the boost ${plain} verified`);
    assert.ok(boosted > 150, `with the boost ${boosted} verified`);
  });

  it('a retrained version with fewer exits leaves no agreement gauge of the old exits behind', { timeout: 120_000 }, async () => {
    const forced = await forcedExitBundle();
    const s = await startServer(forced, loadConfig({
      engine: { intraOpThreads: 1 },
      // As below: the retrain keeps no exit, and with the guard held off (guardMinSamples, guardFloorSamples) nothing keeps version 1.
      build: { objective: 'macs', folds: 2, epochs: 1, family: [{ pool: 2, hidden: 4, dropout: 0 }], measureReps: 3 },
      serve: { tolerance: 0.01, name: 'tiny', log: 'silent', stateDir: path.join(dir, 'fewer'), online: { verifyShare: 1, guardMinSamples: 400, guardFloorSamples: 400, retrainAfter: 100, retrainEvery: 1_000_000 } },
    }, {}));
    const gauges = async (): Promise<string[]> => (await s.app.inject('/metrics')).body.split('\n').filter((l) => l.startsWith('layercache_exit_agreement_estimate{'));
    try {
      const x = randomNormal(seededRng(72), 120 * sample);
      const send = async (i: number) => assert.equal((await s.app.inject({ method: 'POST', url: '/v2/models/tiny/infer', payload: body(x.subarray(i * sample, (i + 1) * sample)) })).statusCode, 200);
      for (let i = 0; i < 20; i++) await send(i);
      assert.equal((await gauges()).length, 1, 'exit 0 of version 1 has verified answers');
      assert.match((await s.app.inject('/metrics')).body, /^layercache_exit_threshold\{model="tiny",exit="0",tensor="[^"]+",score="max"\} 0$/m, "version 1's exit at its threshold, 0");
      for (let i = 20; i < 120; i++) await send(i);
      await s.online.idle();
      assert.deepEqual([s.online.status().version, s.online.status().exits], [2, 0], 'the retrained version, with no exit, serves');
      assert.deepEqual(await gauges(), []);
      assert.doesNotMatch((await s.app.inject('/metrics')).body, /^layercache_exit_threshold\{/m, 'no threshold of the old exit');
    } finally {
      await s.close();
    }
  });

  it('a retrain that keeps no exit leaves in place a serving version whose verified answers show it safe', { timeout: 120_000 }, async () => {
    await forcedExitBundle();
    const built = await loadBundle(path.join(dir, 'built'));
    // Exit at the last block with the backbone's own classifier as its head (global average pool, then fc): it
    // always agrees, and at threshold 0 it answers every row.
    const c = built.manifest.candidates.findIndex((x) => x.tensor === 'b2_out');
    assert.ok(c >= 0, JSON.stringify(built.manifest.candidates.map((x) => x.tensor)));
    const init = (name: string) => protoToTensor(residualNet().model.graph!.initializer.find((t) => t.name === name)!);
    const fc = [init('fc_w'), init('fc_b')];
    const head = buildHeadModel({ pool: 1, hidden: 0, dropout: 0 }, [{ name: 'w', dims: fc[0]!.dims, data: fc[0]!.data as Float32Array }, { name: 'b', dims: fc[1]!.dims, data: fc[1]!.data as Float32Array }], [4, 8, 8], 5, 17);
    const exact = path.join(dir, 'exact-exit');
    await saveWithForcedExit(built, c, 0, exact, head);
    const lines: string[] = [];
    const s = await startServer(exact, loadConfig({
      engine: { intraOpThreads: 1 },
      // MACs as the objective: no runtime check, so the retrain's outcome does not depend on timing. One epoch of
      // a small MLP head (a linear head on pooled b2_out would be the backbone's own classifier) keeps no exit at 1%.
      build: { objective: 'macs', folds: 2, epochs: 1, family: [{ pool: 2, hidden: 4, dropout: 0 }], measureReps: 3 },
      // guardDelta 0.5: 70 agreeing answers bound agreement at 0.5^(1/70) ≥ 99%.
      serve: { tolerance: 0.01, name: 'tiny', log: 'info', stateDir: path.join(dir, 'kept'), online: { verifyShare: 1, guardDelta: 0.5, retrainAfter: 100, retrainEvery: 1_000_000 } },
    }, {}), { write: (l) => void lines.push(l) });
    try {
      const x = randomNormal(seededRng(71), 120 * sample);
      for (let i = 0; i < 120; i++) {
        const res = await s.app.inject({ method: 'POST', url: '/v2/models/tiny/infer', payload: body(x.subarray(i * sample, (i + 1) * sample)) });
        assert.equal(res.statusCode, 200, res.body);
      }
      await s.online.idle();
      const status = s.online.status();
      const logged = lines.map((l) => JSON.parse(l) as { msg: string });
      assert.ok(logged.some((l) => /^retrain: version 2 kept no exit \(.*\); version 1 stays, since its \d+ verified answers bound live agreement at 99\.\d+% ≥ 99\.00%/.test(l.msg)), lines.join(''));
      assert.deepEqual([status.version, status.exits], [1, 1], 'still the version with the exit');
      assert.match((await s.app.inject('/metrics')).body, /^layercache_retrain_total\{model="tiny",outcome="kept"\} 1$/m);
      assert.deepEqual(await new VersionStore(path.join(dir, 'kept')).list(), [], 'the 0-exit version is not kept for a restart');
    } finally {
      await s.close();
    }
  });

  /** A server on the forced-exit bundle whose guard acts while its first retrain (at 40 samples) runs; log lines go to `lines`. */
  async function guardDuringRetrain(state: string, lines: string[]): Promise<Awaited<ReturnType<typeof startServer>>> {
    return startServer(await forcedExitBundle(), loadConfig({
      engine: { intraOpThreads: 1 },
      // Enough epochs that the retrain outlasts the verified answers the guard needs.
      build: { folds: 2, epochs: 100, measureReps: 3 },
      // The guard needs 60 verified answers: it acts after the retrain started at 40 samples.
      serve: { tolerance: 0.01, name: 'tiny', log: 'info', stateDir: state, online: { retrainAfter: 40, retrainEvery: 1_000_000, verifyShare: 1, guardMinSamples: 60, guardFloorSamples: 60, guardMaxRaises: 50, guardRaise: 0.05 } },
    }, {}), { write: (l) => void lines.push(l) });
  }

  it('acts while a retrain runs, and the retrained bundle then serves under a newer version than the guard\'s', { timeout: 120_000 }, async () => {
    const lines: string[] = [];
    const state = path.join(dir, 'guard-retrain');
    const s = await guardDuringRetrain(state, lines);
    try {
      const x = randomNormal(seededRng(41), 400 * sample);
      const versions: number[] = [];
      for (let i = 0; i < 20_000 && s.online.status().retrains === 0; i++) {
        const res = await s.app.inject({ method: 'POST', url: '/v2/models/tiny/infer', payload: body(x.subarray((i % 400) * sample, ((i % 400) + 1) * sample)) });
        assert.equal(res.statusCode, 200, res.body);
        versions.push(res.json().parameters.bundle_version as number);
      }
      await s.online.idle();
      const logged = lines.map((l) => JSON.parse(l) as { msg: string; action?: string; duringRetrain?: boolean; version?: number });
      assert.ok(logged.some((l) => l.action && l.duringRetrain), 'no guard action while the retrain ran');
      const guardVersions = logged.filter((l) => l.action).map((l) => l.version!);
      const retrained = logged.find((l) => /^retrain: version \d+ serving/.test(l.msg))!;
      assert.ok(retrained, lines.join(''));
      assert.equal(s.online.status().version, retrained.version);
      assert.ok(retrained.version! > Math.max(...guardVersions), `retrained ${retrained.version} is not newer than the guard's ${guardVersions.join(', ')}`);
      assert.equal((await new VersionStore(state).list())[0], retrained.version, 'a restart resumes the retrained heads');
      // The retrain took its number when it started; guard actions during it took higher ones, so it was renumbered.
      assert.ok(logged.some((l) => /^retrain: version \d+ saved again as version \d+, after the guard's version/.test(l.msg)), lines.join(''));
      for (let i = 1; i < versions.length; i++) assert.ok(versions[i]! >= versions[i - 1]!, `answered by version ${versions[i]} after ${versions[i - 1]}`);
    } finally {
      await s.close();
    }
  });

  for (const fault of ['save', 'list'] as const) it(`counts a retrain whose renumbering fails (${fault === 'save' ? 'its save' : 'the versions cannot be listed'}) as failed, and removes its copy`, { timeout: 120_000 }, async () => {
    const lines: string[] = [];
    const state = path.join(dir, `guard-retrain-fails-${fault}`);
    const s = await guardDuringRetrain(state, lines);
    const store = (s.online as unknown as { deps: { store: VersionStore } }).deps.store;
    const injected = fault === 'save' ? 'disk full (injected)' : 'EIO: i/o error, scandir (injected)';
    if (fault === 'save') {
      // The renumbering save (a retrained bundle, no raises) fails; the guard's own saves (with raises) work.
      const save = store.saveRevision.bind(store);
      store.saveRevision = (bundle, version, thresholds, raises) => (raises.every((r) => r === 0) ? Promise.reject(new Error(injected)) : save(bundle, version, thresholds, raises));
    } else {
      // The retrain takes its number; then the versions cannot be listed: the guard acts from memory, and the
      // renumbering's allocation fails (its copy was left for a restart to resume).
      const next = store.nextVersion.bind(store);
      let calls = 0;
      store.nextVersion = (current) => (++calls === 1 ? next(current) : Promise.reject(new Error(injected)));
    }
    try {
      const x = randomNormal(seededRng(41), 400 * sample);
      const failed = (): boolean => lines.some((l) => l.includes(`"msg":"online: ${injected}`));
      for (let i = 0; i < 20_000 && !failed(); i++) {
        const res = await s.app.inject({ method: 'POST', url: '/v2/models/tiny/infer', payload: body(x.subarray((i % 400) * sample, ((i % 400) + 1) * sample)) });
        assert.equal(res.statusCode, 200, res.body);
      }
      await s.online.idle();
      assert.ok(failed(), lines.join(''));
      const m = (await s.app.inject('/metrics')).body;
      assert.match(m, /^layercache_retrain_total\{model="tiny",outcome="failed"\} 1$/m);
      // The guard's version serves on; the retrained copy under its first number is gone (a restart must not resume it).
      const built = Number(/"retrain: building version (\d+)/.exec(lines.join(''))![1]);
      const onDisk = await new VersionStore(state).list();
      assert.ok(!onDisk.includes(built), `version ${built} left on disk: ${onDisk.join(', ')}`);
      if (fault === 'save') assert.ok(onDisk.includes(s.online.status().version), 'the guard\'s version was saved');
      assert.ok(s.online.status().version > built, 'a guard version serves');
    } finally {
      await s.close();
    }
  });
});
