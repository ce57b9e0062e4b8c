import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LayercacheError } from '../errors/index.ts';
import { seededRng } from '../tensor/index.ts';
import { DynamicBatcher, type BatchOutput } from './batcher.ts';

/** An engine that answers class = first input value of each row, and records the batches it saw. */
function fakeEngine(): { batches: number[][]; release: () => void; hold: boolean; execute: (input: Float32Array, rows: number) => Promise<BatchOutput> } {
  const state = {
    batches: [] as number[][],
    hold: false,
    pending: [] as (() => void)[],
    release(): void {
      for (const p of state.pending.splice(0)) p();
    },
    async execute(input: Float32Array, rows: number): Promise<BatchOutput> {
      state.batches.push(Array.from(input));
      if (state.hold) await new Promise<void>((r) => state.pending.push(r));
      const probs = new Float32Array(rows * 2);
      const exits = new Int32Array(rows);
      for (let i = 0; i < rows; i++) {
        probs[i * 2] = input[i]!;
        exits[i] = i;
      }
      return { probs, exits, confidence: new Float32Array(rows).fill(1), classes: 2, version: 7 };
    },
  };
  return state;
}

const opts = { maxBatchSize: 4, maxQueueDelayUs: 0, maxQueueRows: 8, requestTimeoutMs: 60_000, rowSize: 1, engines: 1 };
const row = (v: number, n = 1): Float32Array => new Float32Array(n).fill(v);

describe('DynamicBatcher', () => {
  it('batches requests that queue while the engine is busy and gives each its own rows back', async () => {
    const engine = fakeEngine();
    engine.hold = true;
    const b = new DynamicBatcher(opts, (i, r) => engine.execute(i, r));
    const first = b.submit(row(1), 1, new Float64Array(1));
    const rest = [b.submit(row(2), 1, new Float64Array(1)), b.submit(row(3, 2), 2, new Float64Array(2)), b.submit(row(4), 1, new Float64Array(1))];
    engine.hold = false;
    engine.release();
    const [r1, r2, r3, r4] = await Promise.all([first, ...rest]);
    assert.deepEqual(engine.batches, [[1], [2, 3, 3, 4]]);
    assert.deepEqual(Array.from(r2!.probs), [2, 0]);
    assert.deepEqual(Array.from(r3!.probs), [3, 0, 3, 0]);
    assert.deepEqual(Array.from(r3!.exits), [1, 2]);
    assert.deepEqual(Array.from(r4!.exits), [3]);
    assert.equal(r4!.batchRows, 4);
    assert.equal(r1!.version, 7);
  });

  it('counts the time a batch waited inside the engine (verifying earlier batches) as queue time, not compute', async () => {
    const engine = fakeEngine();
    engine.hold = true;
    // The engine held the batch until released, then says the batch waited all that time for it to be free.
    const b = new DynamicBatcher(opts, async (i, r) => ({ ...(await engine.execute(i, r)), waitedMs: Number.MAX_VALUE }));
    const started = performance.now();
    const pending = b.submit(row(1), 1, new Float64Array(1));
    while (engine.batches.length === 0) await new Promise<void>((resolve) => setImmediate(resolve));
    await new Promise<void>((resolve) => setImmediate(resolve));
    engine.hold = false;
    engine.release();
    const r = await pending;
    const total = performance.now() - started;
    assert.equal(r.computeMs, 0);
    assert.ok(r.queueMs > 0 && r.queueMs <= total, `${r.queueMs} of ${total} ms`);
    // An executor that does not know its run time: the whole call is compute.
    const plain = new DynamicBatcher(opts, (i, rows) => engine.execute(i, rows));
    const q = await plain.submit(row(1), 1, new Float64Array(1));
    assert.ok(q.computeMs > 0);
  });

  it('puts each request\'s verification draws at its own rows, and gives each request its own confidences', async () => {
    const masks: number[][] = [];
    let hold = true;
    const held: (() => void)[] = [];
    const b = new DynamicBatcher(opts, async (input, rows, draws) => {
      masks.push(Array.from(draws));
      if (hold) await new Promise<void>((resolve) => held.push(resolve));
      return { probs: new Float32Array(rows * 2), exits: new Int32Array(rows), confidence: Float32Array.from(input, (v) => v / 10), classes: 2, version: 1 };
    });
    const first = b.submit(row(1), 1, Float64Array.from([0.1]));
    while (masks.length === 0) await new Promise<void>((resolve) => setImmediate(resolve));
    const rest = [b.submit(row(2), 1, Float64Array.from([0.2])), b.submit(row(3, 2), 2, Float64Array.from([0.3, 0.35])), b.submit(row(4), 1, Float64Array.from([0.1]))];
    hold = false;
    for (const release of held.splice(0)) release();
    const [, , r3, r4] = await Promise.all([first, ...rest]);
    assert.deepEqual(masks, [[0.1], [0.2, 0.3, 0.35, 0.1]]);
    assert.deepEqual(r3!.confidence, Float32Array.from([0.3, 0.3]));
    assert.deepEqual(r4!.confidence, Float32Array.from([0.4]));
  });

  it('tells the engine whether requests were still queued when it sent a batch', async () => {
    const engine = fakeEngine();
    engine.hold = true;
    const more: boolean[] = [];
    const b = new DynamicBatcher({ ...opts, maxBatchSize: 2 }, (i, r, _v, m) => {
      more.push(m);
      return engine.execute(i, r);
    });
    const first = b.submit(row(1), 1, new Float64Array(1));
    const rest = [1, 2, 3].map((v) => b.submit(row(v), 1, new Float64Array(1)));
    engine.hold = false;
    engine.release();
    await Promise.all([first, ...rest]);
    // [1] alone (queue empty), then [1, 2] with [3] still waiting, then [3] with nothing behind it.
    assert.deepEqual(engine.batches, [[1], [1, 2], [3]]);
    assert.deepEqual(more, [false, true, false]);
  });

  it('never splits a request and never exceeds maxBatchSize when combining', async () => {
    const engine = fakeEngine();
    engine.hold = true;
    const b = new DynamicBatcher(opts, (i, r) => engine.execute(i, r));
    const all = [b.submit(row(0), 1, new Float64Array(1)), b.submit(row(1, 3), 3, new Float64Array(3)), b.submit(row(2, 3), 3, new Float64Array(3)), b.submit(row(3, 1), 1, new Float64Array(1))];
    engine.hold = false;
    engine.release();
    await Promise.all(all);
    // FIFO: [3 rows] cannot take the next 3 (6 > 4), so it runs alone; then 3 + 1.
    assert.deepEqual(engine.batches.map((x) => x.length), [1, 3, 4]);
  });

  it('refuses a request that would overfill the queue with QUEUE_FULL, at once', async () => {
    const engine = fakeEngine();
    engine.hold = true;
    const b = new DynamicBatcher(opts, (i, r) => engine.execute(i, r));
    const running = b.submit(row(1), 1, new Float64Array(1));
    const queued = b.submit(row(1, 8), 8, new Float64Array(8));
    await assert.rejects(b.submit(row(1), 1, new Float64Array(1)), (e: unknown) => e instanceof LayercacheError && e.code === 'QUEUE_FULL' && /holds 8 rows/.test(e.message));
    engine.hold = false;
    engine.release();
    await Promise.all([running, queued]);
  });

  it('times a request out while queued and never computes it', async () => {
    const engine = fakeEngine();
    engine.hold = true;
    const b = new DynamicBatcher({ ...opts, requestTimeoutMs: 1 }, (i, r) => engine.execute(i, r));
    const running = assert.rejects(b.submit(row(1), 1, new Float64Array(1)), (e: unknown) => e instanceof LayercacheError && e.code === 'REQUEST_TIMEOUT' && /running/.test(e.message));
    const late = assert.rejects(b.submit(row(2), 1, new Float64Array(1)), (e: unknown) => e instanceof LayercacheError && e.code === 'REQUEST_TIMEOUT' && /still queued/.test(e.message));
    await Promise.all([running, late]);
    engine.hold = false;
    engine.release();
    await b.drain();
    assert.deepEqual(engine.batches, [[1]]);
  });

  it('fails every request of a batch when the engine fails', async () => {
    const b = new DynamicBatcher(opts, () => Promise.reject(new LayercacheError('WORKER_FAILED', 'boom')));
    await assert.rejects(b.submit(row(1), 1, new Float64Array(1)), /boom/);
  });

  it('when onnxruntime fails a batch of several requests, runs each alone: only the one that fails alone fails', async () => {
    const engine = fakeEngine();
    engine.hold = true;
    // Fails any batch holding a row of value 9 (a token id past the vocabulary, say).
    const b = new DynamicBatcher(opts, async (input, rows) => {
      const out = await engine.execute(input, rows);
      if (input.includes(9)) throw new LayercacheError('ENGINE_RUN_FAILED', 'index 9 out of range');
      return out;
    });
    const first = b.submit(row(1), 1, new Float64Array(1));
    const batched = [b.submit(row(2), 1, new Float64Array(1)), b.submit(row(9), 1, new Float64Array(1)), b.submit(row(3, 2), 2, new Float64Array(2))];
    engine.hold = false;
    engine.release();
    const [bad] = await Promise.allSettled([batched[1]!]);
    const [r1, r2, r3] = await Promise.all([first, batched[0]!, batched[2]!]);
    assert.equal(r1.probs[0], 1);
    assert.equal(r2.probs[0], 2);
    assert.deepEqual(Array.from(r3.probs), [3, 0, 3, 0]);
    // Failed on its own after other batches were answered: its input is refused (422), onnxruntime's reason kept.
    assert.ok(bad?.status === 'rejected' && bad.reason instanceof LayercacheError && bad.reason.code === 'MODEL_INPUT_REFUSED', String(bad));
    assert.match(bad.reason.message, /^the model cannot run on this request's input, though it ran the requests batched with it: index 9 out of range; check that the input holds values the model takes/);
    assert.equal((bad.reason.cause as LayercacheError).code, 'ENGINE_RUN_FAILED');
    // The failed batch, then each of its requests on its own, in their order, and the one that failed once more after them.
    assert.deepEqual(engine.batches, [[1], [2, 9, 3, 3], [2], [9], [3, 3], [9]]);
    // Another failure (a worker gone) is not retried.
    const gone = new DynamicBatcher(opts, () => Promise.reject(new LayercacheError('WORKER_FAILED', 'boom')));
    await assert.rejects(gone.submit(row(1), 1, new Float64Array(1)), /boom/);
  });

  it('without a batch-mate answered alone, a request onnxruntime fails stays ENGINE_RUN_FAILED; with one, it waits for its batch-mates', async (t) => {
    // Timers never fire (nor hold the test open): a batch goes when it is full, a request run again alone at once.
    t.mock.timers.enable({ apis: ['setTimeout'] });
    const turns = async (until: () => boolean): Promise<void> => {
      for (let i = 0; i < 50 && !until(); i++) await new Promise((r) => setImmediate(r));
    };
    // Fail every run holding a 9, and, once `broken`, every run (a version that cannot run).
    let broken = false;
    const engine = fakeEngine();
    const batcher = (maxQueueDelayUs: number) => {
      const b = new DynamicBatcher({ ...opts, maxQueueDelayUs }, async (input, rows) => {
        const out = await engine.execute(input, rows);
        if (broken || input.includes(9)) throw new LayercacheError('ENGINE_RUN_FAILED', 'index 9 out of range');
        return out;
      });
      return (v: number): Promise<unknown> => b.submit(row(v), 1, new Float64Array(1)).then((r) => r.probs[0], (e: LayercacheError) => e.code);
    };
    // A request alone to begin with: nothing shows the fault is its input's, even after other requests were answered.
    const send = batcher(0);
    assert.equal(await send(2), 2);
    assert.equal(await send(9), 'ENGINE_RUN_FAILED');
    // Every request of the batch fails alone too: no evidence against the engines.
    const sendSlow = batcher(1e9);
    broken = true;
    engine.batches.length = 0;
    const all = [sendSlow(9), sendSlow(2), sendSlow(3), sendSlow(4)];
    // Run again alone without waiting for the queue delay (they take no batch-mates).
    await turns(() => engine.batches.length === 9);
    assert.deepEqual(engine.batches, [[9, 2, 3, 4], [9], [2], [3], [4], [9], [2], [3], [4]]);
    assert.deepEqual(await Promise.all(all), ['ENGINE_RUN_FAILED', 'ENGINE_RUN_FAILED', 'ENGINE_RUN_FAILED', 'ENGINE_RUN_FAILED']);
    // The refused request ran first alone, and is answered only once its batch-mate was: then as its input's fault.
    broken = false;
    engine.batches.length = 0;
    engine.hold = true;
    let refused: unknown = null;
    const bad = sendSlow(9).then((code) => { refused = code; });
    const mates = [sendSlow(2), sendSlow(3), sendSlow(4)];
    await new Promise((r) => setImmediate(r));
    engine.release(); // [9, 2, 3, 4] fails
    await new Promise((r) => setImmediate(r));
    engine.release(); // [9] fails alone
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(engine.batches, [[9, 2, 3, 4], [9], [2]]);
    assert.equal(refused, null, 'answered before its batch-mates ran');
    engine.hold = false;
    engine.release();
    assert.deepEqual(await Promise.all(mates), [2, 3, 4]);
    await bad;
    assert.equal(refused, 'MODEL_INPUT_REFUSED');
  });

  it('a request that fails alone once but not the second time (a failure of the moment, a lack of memory say) is answered', async () => {
    const engine = fakeEngine();
    let failuresLeft = 2;
    // Sent in one tick, the two fill a batch at once (a long queue delay would leave a timer holding the test open).
    const b = new DynamicBatcher({ ...opts, maxQueueDelayUs: 1000, maxBatchSize: 2 }, async (input, rows) => {
      const out = await engine.execute(input, rows);
      // The batch fails, then the first request's first run alone.
      if (input.includes(1) && failuresLeft-- > 0) throw new LayercacheError('ENGINE_RUN_FAILED', 'Failed to allocate memory');
      return out;
    });
    const answers = await Promise.all([b.submit(row(1), 1, new Float64Array(1)), b.submit(row(2), 1, new Float64Array(1))]);
    assert.deepEqual(answers.map((r) => r.probs[0]), [1, 2]);
    assert.deepEqual(engine.batches, [[1, 2], [1], [2], [1]]);
  });

  it('at its deadline, a request that failed alone gets the error known by then, not a timeout a client would retry', async (t) => {
    t.mock.timers.enable({ apis: ['setTimeout'] });
    // Each run waits until the test lets the run of its first value go. 9 always fails; 8 fails its first two runs.
    const waiting: { value: number; go: () => void }[] = [];
    const ran: number[][] = [];
    let eightFails = 2;
    const batcher = (maxBatchSize: number): ((v: number) => Promise<string>) => {
      const b = new DynamicBatcher({ ...opts, engines: 2, requestTimeoutMs: 100, maxQueueDelayUs: 10_000_000, maxBatchSize }, async (input, rows) => {
        ran.push(Array.from(input));
        await new Promise<void>((go) => waiting.push({ value: input[0]!, go }));
        if (input.includes(9) || (input.includes(8) && eightFails-- > 0)) throw new LayercacheError('ENGINE_RUN_FAILED', 'index out of range');
        return { probs: new Float32Array(rows * 2).fill(input[0]!), exits: new Int32Array(rows), confidence: new Float32Array(rows).fill(1), classes: 2, version: 1 };
      });
      return (v) => b.submit(row(v), 1, new Float64Array(1)).then(() => 'answered', (e: LayercacheError) => e.code);
    };
    const go = async (value: number): Promise<void> => {
      const at = waiting.findIndex((w) => w.value === value);
      assert.ok(at >= 0, `no run of ${value} is waiting`);
      waiting.splice(at, 1)[0]!.go();
      for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
    };
    // Failed once, its second run waiting for its batch-mate's first: onnxruntime's error.
    let send = batcher(2);
    const once = send(9);
    const mate = send(2);
    await go(9); // [9, 2] fails: each runs alone, on the two engines
    await go(9); // [9] fails alone; its second run waits until [2] has run
    assert.deepEqual(ran, [[9, 2], [9], [2]]);
    t.mock.timers.tick(150);
    assert.equal(await once, 'ENGINE_RUN_FAILED');
    assert.equal(await mate, 'REQUEST_TIMEOUT');
    await go(2);
    // Failed twice while a batch-mate was answered, held for another's second run: refused for its input.
    ran.length = 0;
    send = batcher(3);
    const twice = send(9);
    const flaky = send(8);
    const good = send(2);
    await go(9); // [9, 8, 2] fails: [9] and [8] run alone, [2] waits for an engine
    await go(9); // [9] fails alone; [2] runs
    await go(8); // [8] fails alone (its first failure)
    await go(2); // [2] is answered: no first run is left, so [9] and [8] run again
    assert.deepEqual(ran, [[9, 8, 2], [9], [8], [2], [9], [8]]);
    await go(9); // [9] fails again: held while [8] runs
    t.mock.timers.tick(150);
    assert.equal(await twice, 'MODEL_INPUT_REFUSED');
    assert.equal(await flaky, 'ENGINE_RUN_FAILED', 'failed once by its deadline');
    assert.equal(await good, 'answered');
    await go(8);
  });

  it('a second run alone waits for a batch-mate\'s first run that goes on in its engine past that request\'s deadline', async (t) => {
    t.mock.timers.enable({ apis: ['setTimeout'] });
    const waiting: { value: number; go: () => void }[] = [];
    const ran: number[][] = [];
    // 7 is a big request: while its run is in an engine, a run of 9 beside it lacks memory.
    let bigRuns = 0;
    const b = new DynamicBatcher({ ...opts, engines: 3, requestTimeoutMs: 100, maxQueueDelayUs: 10_000_000, maxBatchSize: 3 }, async (input, rows) => {
      ran.push(Array.from(input));
      const big = input.includes(7);
      if (big) bigRuns++;
      try {
        await new Promise<void>((go) => waiting.push({ value: input[0]!, go }));
        if (rows > 1 || (input[0] === 9 && bigRuns > 0)) throw new LayercacheError('ENGINE_RUN_FAILED', 'Failed to allocate memory');
        return { probs: new Float32Array(rows * 2), exits: new Int32Array(rows), confidence: new Float32Array(rows), classes: 2, version: 1 };
      } finally {
        if (big) bigRuns--;
      }
    });
    const go = async (value: number): Promise<void> => {
      const at = waiting.findIndex((w) => w.value === value);
      assert.ok(at >= 0, `no run of ${value} is waiting`);
      waiting.splice(at, 1)[0]!.go();
      for (let i = 0; i < 5; i++) await new Promise((r) => setImmediate(r));
    };
    const send = (v: number): Promise<string> => b.submit(row(v), 1, new Float64Array(1)).then(() => 'answered', (e: LayercacheError) => e.code);
    const big = send(7);
    t.mock.timers.tick(50);
    const nine = send(9);
    const two = send(2);
    await go(7); // [7, 9, 2] fails: each runs alone, on the three engines
    await go(9); // [9] fails beside [7]
    await go(2); // [2] is answered
    t.mock.timers.tick(60); // [7]'s deadline passes; its run goes on
    assert.equal(await big, 'REQUEST_TIMEOUT');
    assert.equal(await two, 'answered');
    assert.deepEqual(ran, [[7, 9, 2], [7], [9], [2]], 'no second run beside the run of [7]');
    await go(7); // [7]'s run ends: [9] runs again, alone now
    assert.deepEqual(ran, [[7, 9, 2], [7], [9], [2], [9]]);
    await go(9);
    assert.equal(await nine, 'answered');
    assert.equal(b.pendingRows, 0);
  });

  it('a request left alone in a failed batch (its batch-mate timed out while it ran) runs again on its own', async (t) => {
    t.mock.timers.enable({ apis: ['setTimeout'] });
    const engine = fakeEngine();
    engine.hold = true;
    const b = new DynamicBatcher({ ...opts, requestTimeoutMs: 100 }, async (input, rows) => {
      const out = await engine.execute(input, rows);
      if (input.includes(9)) throw new LayercacheError('ENGINE_RUN_FAILED', 'index 9 out of range');
      return out;
    });
    const first = b.submit(row(1), 1, new Float64Array(1));
    const bad = assert.rejects(b.submit(row(9), 1, new Float64Array(1)), { code: 'REQUEST_TIMEOUT' });
    t.mock.timers.tick(50);
    const good = b.submit(row(2), 1, new Float64Array(1));
    engine.release();
    await first;
    // [9, 2] runs (held) once the event loop turns; the bad request's deadline passes first, then the batch fails.
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(engine.batches, [[1], [9, 2]]);
    t.mock.timers.tick(60);
    await bad;
    engine.hold = false;
    engine.release();
    assert.equal((await good).probs[0], 2);
    assert.deepEqual(engine.batches, [[1], [9, 2], [2]]);
  });

  it('keeps its invariants under random failures, deadlines, hurry and drain (200 seeded runs on mocked time)', async (t) => {
    t.mock.timers.enable({ apis: ['setTimeout'] });
    /** One mocked millisecond, then the event loop's turns that follow from it. */
    const tick = async (): Promise<void> => {
      t.mock.timers.tick(1);
      for (let i = 0; i < 3; i++) await new Promise((r) => setImmediate(r));
    };
    for (let seed = 1; seed <= 200; seed++) {
      const random = seededRng(seed);
      const rng = (): number => random.uniform();
      const engines = 1 + Math.floor(rng() * 3);
      const bad = new Set<number>();
      const runs = new Map<number, number>();
      const b = new DynamicBatcher({ maxBatchSize: 4, maxQueueDelayUs: 2000, maxQueueRows: 1000, requestTimeoutMs: 5 + Math.floor(rng() * 40), rowSize: 1, engines }, async (input, rows) => {
        assert.ok(b.pendingRows >= 0, `seed ${seed}: negative pending rows`);
        for (const v of input) runs.set(v, (runs.get(v) ?? 0) + 1);
        await new Promise((r) => setTimeout(r, Math.floor(rng() * 6)));
        if (rng() < 0.15 || Array.from(input).some((v) => bad.has(v))) throw new LayercacheError('ENGINE_RUN_FAILED', 'refused');
        if (rng() < 0.03) throw new LayercacheError('WORKER_FAILED', 'gone');
        return { probs: new Float32Array(rows * 2), exits: new Int32Array(rows), confidence: new Float32Array(rows), classes: 2, version: 1 };
      });
      const settled = new Map<number, number>();
      const answers: Promise<unknown>[] = [];
      let drained: Promise<void> | null = null;
      for (let i = 1, n = 5 + Math.floor(rng() * 20); i <= n; i++) {
        if (rng() < 0.3) bad.add(i);
        const count = (): void => void settled.set(i, (settled.get(i) ?? 0) + 1);
        answers.push(b.submit(Float32Array.of(i), 1, new Float64Array(1)).then(count, count));
        for (let k = rng() < 0.3 ? Math.floor(rng() * 4) : 0; k > 0; k--) await tick();
        if (rng() < 0.1) b.hurry();
        if (rng() < 0.05) {
          drained = b.drain();
          break;
        }
      }
      let done = false;
      void (drained ?? b.drain()).then(() => { done = true; });
      for (let ms = 0; ms < 1000 && !done; ms++) await tick();
      assert.ok(done, `seed ${seed}: drain did not resolve`);
      await Promise.all(answers);
      assert.equal(b.pendingRows, 0, `seed ${seed}`);
      for (const [i, c] of settled) assert.equal(c, 1, `seed ${seed}: request ${i} settled ${c} times`);
      for (const [v, c] of runs) assert.ok(c <= 3, `seed ${seed}: request ${v} ran ${c} times`);
    }
  });

  it('hurry sends a request waiting for its batch to fill at once, and still takes new ones', async () => {
    const engine = fakeEngine();
    // A queue delay far longer than the test's timeout: only hurry() can send the lone request.
    const b = new DynamicBatcher({ ...opts, maxBatchSize: 8, maxQueueDelayUs: 1e9 }, (i, r) => engine.execute(i, r));
    const a = b.submit(row(5), 1, new Float64Array(1));
    await new Promise((r) => setImmediate(r));
    assert.deepEqual(engine.batches, [], 'still waiting for the batch to fill');
    b.hurry();
    assert.equal((await a).probs[0], 5);
    assert.deepEqual(engine.batches, [[5]]);
    // New requests are still taken, and go at once too.
    assert.equal((await b.submit(row(6), 1, new Float64Array(1))).probs[0], 6);
    assert.deepEqual(engine.batches, [[5], [6]]);
    await b.drain();
  });

  it('drain waits for queued requests, then refuses new ones with NOT_READY', async () => {
    const engine = fakeEngine();
    engine.hold = true;
    const b = new DynamicBatcher(opts, (i, r) => engine.execute(i, r));
    const a = b.submit(row(1), 1, new Float64Array(1));
    const c = b.submit(row(2), 1, new Float64Array(1));
    let drained = false;
    const d = b.drain().then(() => {
      drained = true;
    });
    await assert.rejects(b.submit(row(3), 1, new Float64Array(1)), (e: unknown) => e instanceof LayercacheError && e.code === 'NOT_READY');
    assert.equal(drained, false);
    engine.hold = false;
    engine.release();
    await Promise.all([a, c, d]);
    assert.equal(drained, true);
  });
});
