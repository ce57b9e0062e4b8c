/**
 * The engine pool with real worker threads: verification of early answers runs after each
 * batch when nothing else waits, and is held back and batched while more batches wait; a
 * worker that cannot be replaced takes no batches; a failed swap leaves every worker on the
 * previous version.
 */
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { loadBundle } from '../bundle/index.ts';
import { saveModel } from '../onnx/index.ts';
import { randomNormal, seededRng } from '../tensor/index.ts';
import { cli } from '../../test/support/cli.ts';
import { saveWithForcedExit } from '../../test/support/forced-exit.ts';
import { buildTinyBundle } from '../../test/support/tiny-bundle.ts';
import { nanAbove100, residualNet, withFixedBatch } from '../../test/support/models.ts';
import { LayercacheError } from '../errors/index.ts';
import { sha256 } from '../files/index.ts';
import { EnginePool } from './engine-pool.ts';
import type { EngineSource } from './messages.ts';

const sample = 3 * 8 * 8;
/** Every exit's answers verified at half (verify-rule.ts): a draw of 0 is verified and admitted, a draw of 1 neither. */
const RULE = { admitBelow: 0.5, verifyBelow: [] };
const verifyAll = (n: number): Float64Array => new Float64Array(n);
const verifyNone = (n: number): Float64Array => new Float64Array(n).fill(1);
let dir: string;
let forced: string;

before(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'layercache-pool-'));
  const { built } = await buildTinyBundle(dir);
  // Every row exits at candidate 0 (threshold 0), so every row picked for verification is an early answer.
  forced = path.join(dir, 'forced');
  await saveWithForcedExit(await loadBundle(built), 0, 0, forced);
});

after(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

interface Seen { rows: number; version: number }

/** The engine source of the bundle in `d`, as the server names it (with its manifest's sha256). */
async function bundleAt(d: string): Promise<EngineSource> {
  return { kind: 'bundle', dir: d, manifestSha256: (await loadBundle(d)).manifestSha256 };
}

async function startPool(verified: Seen[], failures: Error[], verifyHoldMs: number): Promise<EnginePool> {
  return EnginePool.start(1, await bundleAt(forced), 1, {
    engine: { intraOpThreads: 1, graphOptimization: 'all' }, sampleDims: [3, 8, 8], verifyHoldMs,
    onVerified: (v) => verified.push({ rows: v.rows, version: v.version }), onWorkerError: (e) => failures.push(e), onVerifyFailed: (e) => failures.push(e),
  });
}

describe('EnginePool verification', () => {
  it('verifies at once when no batch waits, batches verification while batches wait, and verifies held rows when traffic stops and before a swap', async () => {
    const verified: Seen[] = [];
    const failures: Error[] = [];
    // A hold longer than any test: only batches, swaps and closes flush here.
    const pool = await startPool(verified, failures, 60_000);
    const x = randomNormal(seededRng(4), 8 * sample);
    const rows = () => verified.map((v) => v.rows);
    // The worker handles messages in order and verifies before taking the next one, so once a
    // batch's result is back, every verification of earlier batches has been reported.
    try {
      // What goes to the worker and comes back, in order.
      const seen: string[] = [];
      const thread = pool.threads[0]!;
      thread.on('message', (m: { kind: string }) => void seen.push(`in ${m.kind}`));
      const postMessage = thread.postMessage.bind(thread);
      thread.postMessage = (m: { kind: string }, transfer?: Parameters<typeof postMessage>[1]) => {
        seen.push(`out ${m.kind}`);
        postMessage(m, transfer);
      };
      await pool.run(x.slice(0, 2 * sample), 2, verifyAll(2), RULE, false);
      // The worker verifies after the first result: the next batch is sent once it is done, not queued inside it
      // behind the verification (where its wait counted as engine time, and where a second worker may have been idle).
      const next = await pool.run(x.slice(0, sample), 1, verifyNone(1), RULE, true);
      assert.deepEqual(seen.slice(0, 6), ['out infer', 'in result', 'in verified', 'in idle', 'out infer', 'in result']);
      assert.ok(next.waitedMs! > 0);
      assert.deepEqual(rows(), [2], 'nothing waited: verified right after its batch');
      for (let k = 0; k < 3; k++) await pool.run(x.slice(0, 5 * sample), 5, verifyAll(5), RULE, true);
      await pool.run(x.slice(0, sample), 1, verifyNone(1), RULE, true);
      assert.deepEqual(rows(), [2], '15 rows pending under load: held back');
      await pool.run(x.slice(0, 5 * sample), 5, verifyAll(5), RULE, true);
      await pool.run(x.slice(0, sample), 1, verifyNone(1), RULE, true);
      assert.deepEqual(rows(), [2, 20], 'at 16 or more pending rows: one backbone batch');
      // Traffic stops: the last batch comes with nothing queued behind it and flushes what was held.
      await pool.run(x.slice(0, 3 * sample), 3, verifyAll(3), RULE, true);
      await pool.run(x.slice(0, sample), 1, verifyNone(1), RULE, false);
      await pool.run(x.slice(0, sample), 1, verifyNone(1), RULE, true);
      assert.deepEqual(rows(), [2, 20, 3]);
      // A swap verifies what is held first, as the version that answered it, before it resolves.
      await pool.run(x.slice(0, 4 * sample), 4, verifyAll(4), RULE, true);
      await pool.swap(await bundleAt(forced), 2);
      assert.deepEqual(verified.at(-1), { rows: 4, version: 1 });
      // At close, held rows are dropped (the server has stopped learning by then).
      await pool.run(x.slice(0, 2 * sample), 2, verifyAll(2), RULE, true);
    } finally {
      await pool.close();
    }
    assert.deepEqual(rows(), [2, 20, 3, 4]);
    assert.deepEqual(failures, []);
  });

  it('verifies rows held back under load once no further batch comes within verifyHoldMs', { timeout: 60_000 }, async () => {
    const verified: Seen[] = [];
    const failures: Error[] = [];
    let arrived: () => void = () => {};
    const first = new Promise<void>((resolve) => { arrived = resolve; });
    const pool = await EnginePool.start(1, await bundleAt(forced), 1, {
      engine: { intraOpThreads: 1, graphOptimization: 'all' }, sampleDims: [3, 8, 8], verifyHoldMs: 1,
      onVerified: (v) => { verified.push({ rows: v.rows, version: v.version }); arrived(); }, onWorkerError: (e) => failures.push(e), onVerifyFailed: (e) => failures.push(e),
    });
    try {
      // Under load (more = true) and then nothing: the batch that was waiting never comes.
      await pool.run(randomNormal(seededRng(6), 3 * sample), 3, verifyAll(3), RULE, true);
      await first;
      assert.deepEqual(verified, [{ rows: 3, version: 1 }]);
    } finally {
      await pool.close();
    }
    assert.deepEqual(failures, []);
  });

  it('verifies an early answer when its draw is under its exit\'s verify share, and admits it when under --verify-share', async () => {
    const admitted: number[][] = [];
    const failures: Error[] = [];
    const pool = await EnginePool.start(1, await bundleAt(forced), 1, {
      engine: { intraOpThreads: 1, graphOptimization: 'all' }, sampleDims: [3, 8, 8], verifyHoldMs: 60_000,
      onVerified: (v) => void admitted.push(Array.from(v.admit)), onWorkerError: (e) => failures.push(e), onVerifyFailed: (e) => failures.push(e),
    });
    try {
      // Every row exits at exit 0, whose answers are verified at 0.6; the buffer admits at 0.1.
      const out = await pool.run(randomNormal(seededRng(7), 4 * sample), 4, Float64Array.from([0.05, 0.3, 0.7, 0.59]), { admitBelow: 0.1, verifyBelow: [0.6] }, false);
      assert.deepEqual(Array.from(out.exits), [0, 0, 0, 0]);
      await pool.run(randomNormal(seededRng(8), sample), 1, verifyNone(1), RULE, false);
    } finally {
      await pool.close();
    }
    assert.deepEqual(failures, []);
    assert.deepEqual(admitted, [[1, 0, 0]], 'rows 0, 1 and 3 verified; row 0 admitted');
  });
});

describe('EnginePool verification of rows the backbone cannot answer', () => {
  it('leaves them out: they verify nothing, and would fail every retrain from the buffer', { timeout: 60_000 }, async () => {
    const model = path.join(dir, 'nan-above-100.onnx');
    await saveModel(nanAbove100().model, model);
    const data = path.join(dir, 'nan-samples.f32');
    const x = randomNormal(seededRng(5), 60 * 6).map((v) => Math.abs(v) / 4);
    await fs.writeFile(data, x);
    const built = path.join(dir, 'nan-built');
    const b = await cli('build', model, '--data', `raw:${data}:6#0-59`, '--out', built, '--folds', '2', '--epochs', '1', '--tolerance', '0.2', '--threads', '1');
    assert.equal(b.code, 0, b.stderr);
    const nanForced = path.join(dir, 'nan-forced');
    await saveWithForcedExit(await loadBundle(built), 0, 0, nanForced);
    const verified: { rows: number; input: Float32Array; exits: number[]; agree: number[]; scores: number[] }[] = [];
    const failures: Error[] = [];
    const pool = await EnginePool.start(1, await bundleAt(nanForced), 1, {
      engine: { intraOpThreads: 1, graphOptimization: 'all' }, sampleDims: [6], verifyHoldMs: 60_000,
      onVerified: (v) => verified.push({ rows: v.rows, input: v.input, exits: Array.from(v.exits), agree: Array.from(v.agree), scores: Array.from(v.scores) }), onWorkerError: (e) => failures.push(e), onVerifyFailed: (e) => failures.push(e),
    });
    let confidence: number[] = [];
    try {
      // Three rows answered early (every row exits at candidate 0); the backbone gives NaN for the middle one.
      const rows = Float32Array.from([...x.subarray(0, 6), 1000, 0, 0, 0, 0, 0, ...x.subarray(6, 12)]);
      const answered = await pool.run(rows, 3, verifyAll(3), RULE, false);
      assert.deepEqual(Array.from(answered.exits), [0, 0, 0]);
      confidence = Array.from(answered.confidence);
      // The worker verifies before it takes the next batch, so the verification is in once this one is back.
      await pool.run(x.slice(0, 6), 1, verifyNone(1), RULE, false);
    } finally {
      await pool.close();
    }
    assert.deepEqual(failures, []);
    assert.deepEqual(verified.map((v) => v.rows), [2]);
    assert.deepEqual(Array.from(verified[0]!.input), [...x.subarray(0, 6), ...x.subarray(6, 12)]);
    // Every per-row field keeps rows 0 and 2, aligned: the scores are those rows' exit scores (log-odds of their
    // confidence), and each row is counted once.
    const v = verified[0]!;
    assert.deepEqual([v.exits.length, v.agree.length, v.scores.length], [2, 2, 2]);
    [0, 2].forEach((row, j) => assert.ok(Math.abs(v.scores[j]! + Math.log1p(-confidence[row]!)) < 1e-3 * Math.max(1, v.scores[j]!), `row ${row}: score ${v.scores[j]} vs confidence ${confidence[row]}`));
  });
});

describe('EnginePool with a model whose batch is fixed at 1', () => {
  it('serves the bare model in batches, swaps to a bundle built from it, and verifies that bundle\'s early answers in batches', { timeout: 60_000 }, async () => {
    const model = path.join(dir, 'batch1.onnx');
    await saveModel(withFixedBatch(residualNet().model, 1), model);
    const data = path.join(dir, 'samples.f32');
    const b = await cli('build', model, '--data', `raw:${data}:3x8x8#0-99`, '--out', path.join(dir, 'batch1-built'), '--folds', '2', '--epochs', '1', '--tolerance', '0.2', '--threads', '1');
    assert.equal(b.code, 0, b.stderr);
    const bundleDir = path.join(dir, 'batch1-forced');
    await saveWithForcedExit(await loadBundle(path.join(dir, 'batch1-built')), 0, 0, bundleDir);
    const verified: number[] = [];
    const failures: Error[] = [];
    const reading = { scoresOutput: null, flattenScores: false, logits: { kind: 'logits' as const }, dynamicBatch: true, inputDtype: null, outputDtype: null, sampleDims: null };
    const pool = await EnginePool.start(1, { kind: 'model', file: model, classes: 5, reading, sha256: sha256(await fs.readFile(model)) }, 0, {
      engine: { intraOpThreads: 1, graphOptimization: 'all' }, sampleDims: [3, 8, 8], verifyHoldMs: 60_000,
      onVerified: (v) => void verified.push(v.rows), onWorkerError: (e) => failures.push(e), onVerifyFailed: (e) => failures.push(e),
    });
    const x = randomNormal(seededRng(12), 4 * sample);
    try {
      assert.deepEqual(Array.from((await pool.run(x.slice(), 4, verifyNone(4), RULE)).exits), [-1, -1, -1, -1]);
      await pool.swap(await bundleAt(bundleDir), 1);
      const out = await pool.run(x.slice(), 4, verifyAll(4), RULE, false);
      assert.deepEqual(Array.from(out.exits), [0, 0, 0, 0]);
      await pool.run(x.slice(0, sample), 1, verifyNone(1), RULE, false);
    } finally {
      await pool.close();
    }
    assert.deepEqual(failures, []);
    assert.deepEqual(verified, [4], 'the four early answers verified as one batch of the backbone as read');
  });
});

describe('EnginePool recovery', () => {
  const opts = (onWorkerError: (e: Error) => void, onWorkerReplaced: () => void) => ({
    engine: { intraOpThreads: 1, graphOptimization: 'all' as const }, sampleDims: [3, 8, 8], verifyHoldMs: 60_000,
    onVerified: () => {}, onWorkerError, onVerifyFailed: onWorkerError, onWorkerReplaced,
  });
  /** A promise and the function that resolves it. */
  const signal = (): { wait: Promise<void>; fire: () => void } => {
    let fire: () => void = () => {};
    const wait = new Promise<void>((resolve) => { fire = resolve; });
    return { wait, fire };
  };
  const x = randomNormal(seededRng(8), sample);

  it('keeps a worker that cannot load out of the pool, fails batches with ENGINE_UNAVAILABLE meanwhile, and retries until it loads', { timeout: 60_000 }, async () => {
    const movable = path.join(dir, 'movable');
    await fs.cp(forced, movable, { recursive: true });
    const failures: Error[] = [];
    const retrying = signal();
    const back = signal();
    const pool = await EnginePool.start(1, await bundleAt(movable), 1, opts((e) => {
      failures.push(e);
      if (/could not load/.test(e.message)) retrying.fire();
    }, back.fire));
    try {
      await fs.rename(movable, `${movable}-away`);
      await pool.threads[0]!.terminate();
      await retrying.wait;
      assert.equal(pool.size, 0, 'the replacement that could not load is not in the pool');
      // Nothing could try a new version now: the swap is refused and replacements keep loading version 1.
      await assert.rejects(pool.swap(await bundleAt(forced), 2), (e: unknown) => e instanceof LayercacheError && e.code === 'ENGINE_UNAVAILABLE');
      assert.equal(pool.currentVersion, 1);
      await assert.rejects(pool.run(x, 1, verifyNone(1), RULE), (e: unknown) => e instanceof LayercacheError && e.code === 'ENGINE_UNAVAILABLE' && e.httpStatus === 503);
      await fs.rename(`${movable}-away`, movable);
      await back.wait;
      assert.equal(pool.size, 1);
      const out = await pool.run(x, 1, verifyNone(1), RULE);
      assert.equal(out.version, 1);
    } finally {
      await pool.close();
    }
    assert.match(failures[0]!.message, /an engine worker stopped/);
  });

  it('has a replacement worker refuse a bundle rebuilt in place or a model written over, SOURCE_CHANGED, and load once it is put back', { timeout: 60_000 }, async () => {
    // The server describes what it loaded (its version, thresholds, guard): other content must not answer under it.
    const inPlace = path.join(dir, 'in-place');
    await fs.cp(forced, inPlace, { recursive: true });
    const modelFile = path.join(dir, 'in-place.onnx');
    await saveModel(residualNet().model, modelFile);
    const reading = { scoresOutput: null, flattenScores: false, logits: { kind: 'logits' as const }, dynamicBatch: true, inputDtype: null, outputDtype: null, sampleDims: null };
    const sources: [string, EngineSource, () => Promise<void>, () => Promise<void>][] = [
      ['bundle', await bundleAt(inPlace),
        // The same model and heads with other thresholds: only the manifest differs.
        async () => { await fs.rm(inPlace, { recursive: true }); await fs.cp(path.join(dir, 'built'), inPlace, { recursive: true }); },
        async () => { await fs.rm(inPlace, { recursive: true }); await fs.cp(forced, inPlace, { recursive: true }); }],
      ['model', { kind: 'model', file: modelFile, classes: 5, reading, sha256: sha256(await fs.readFile(modelFile)) },
        () => saveModel(nanAbove100().model, modelFile),
        () => saveModel(residualNet().model, modelFile)],
    ];
    for (const [what, source, replace, restore] of sources) {
      const failures: Error[] = [];
      const retrying = signal();
      const back = signal();
      const pool = await EnginePool.start(1, source, 1, opts((e) => {
        failures.push(e);
        if (/could not load/.test(e.message)) retrying.fire();
      }, back.fire));
      try {
        await replace();
        await pool.threads[0]!.terminate();
        await retrying.wait;
        assert.equal(pool.size, 0, `${what}: the replacement did not load the new content`);
        const refused = failures.find((e) => /could not load/.test(e.message))!;
        assert.ok(refused.cause instanceof LayercacheError && refused.cause.code === 'SOURCE_CHANGED', `${what}: ${String(refused.cause)}`);
        assert.match(refused.message, /changed since the server loaded it .*restart the server/);
        // The worker's stack came across as the cause (it was dropped at the thread boundary).
        assert.match(((refused.cause as Error).cause as Error).stack!, /engine-worker\.[tj]s/);
        await restore();
        await back.wait;
        assert.equal((await pool.run(x, 1, verifyNone(1), RULE)).version, 1);
      } finally {
        await pool.close();
      }
    }
  });

  it('sends batches to workers that are free: two in one tick to two workers, and past one verifying held rows', { timeout: 60_000 }, async () => {
    const pool = await EnginePool.start(2, await bundleAt(forced), 1, { ...opts(() => {}, () => {}), verifyHoldMs: 1 });
    const sentTo = [0, 0];
    pool.threads.forEach((thread, k) => {
      const postMessage = thread.postMessage.bind(thread);
      thread.postMessage = (m: { kind: string }, transfer?: Parameters<typeof postMessage>[1]) => {
        if (m.kind === 'infer') sentTo[k]!++;
        postMessage(m, transfer);
      };
    });
    const batch = (n: number) => randomNormal(seededRng(9), n * sample);
    // Both workers done with their first batch: the next goes to worker 0, the first free one.
    const idle = Promise.all(pool.threads.map((thread) => new Promise<void>((resolve) => {
      const onMessage = (m: { kind: string }): void => {
        if (m.kind !== 'idle') return;
        thread.off('message', onMessage);
        resolve();
      };
      thread.on('message', onMessage);
    })));
    try {
      // Both were free: one each (the pool reserved a worker only after an await, so both took the first).
      await Promise.all([pool.run(batch(1), 1, verifyNone(1), RULE), pool.run(batch(1), 1, verifyNone(1), RULE)]);
      assert.deepEqual(sentTo, [1, 1]);
      await idle;
      // A worker holds 15 rows back (more batches said to be waiting) and verifies them on its timer: the batch
      // sent while it does goes to the other worker, not behind the verification.
      const next = new Promise<{ verifying: number; before: number[] }>((resolve, reject) => {
        const listeners = pool.threads.map((thread, k) => {
          const onMessage = (m: { kind: string }): void => {
            if (m.kind !== 'verifying') return;
            pool.threads.forEach((t, j) => t.off('message', listeners[j]!));
            const before = [...sentTo];
            pool.run(batch(1), 1, verifyNone(1), RULE).then(() => resolve({ verifying: k, before }), reject);
          };
          thread.on('message', onMessage);
          return onMessage;
        });
      });
      await pool.run(batch(15), 15, verifyAll(15), RULE, true);
      const { verifying, before } = await next;
      assert.equal(verifying, 0);
      const other = 1 - verifying;
      assert.deepEqual(sentTo, before.map((n, k) => (k === other ? n + 1 : n)), `sent to ${sentTo} (was ${before}); worker ${verifying} was verifying`);
    } finally {
      await pool.close();
    }
  });

  it('takes every worker back to the previous version when one fails during a swap', { timeout: 60_000 }, async () => {
    const back = signal();
    const pool = await EnginePool.start(2, await bundleAt(forced), 1, opts(() => {}, back.fire));
    try {
      // Worker 0 stops while the swap's load is on its way to it; worker 1 loads version 2. The swap starts in the tick
      // of the terminate: after an await the worker may be gone and replaced already, and the swap rightly succeed.
      const next = await bundleAt(forced);
      void pool.threads[0]!.terminate();
      await assert.rejects(pool.swap(next, 2), /hot swap to version 2 failed, version 1 serves on/);
      assert.equal(pool.currentVersion, 1);
      await back.wait;
      assert.equal(pool.size, 2);
      // Two batches at once: one per worker, both on version 1.
      const outs = await Promise.all([pool.run(x, 1, verifyNone(1), RULE), pool.run(x, 1, verifyNone(1), RULE)]);
      assert.deepEqual(outs.map((o) => o.version), [1, 1]);
    } finally {
      await pool.close();
    }
  });
});
