/**
 * The main thread's side of the engine workers: one request/reply channel per worker,
 * batches sent to an idle worker, and hot swaps applied to every worker.
 * Invariants:
 * - at most one batch runs per worker at a time; a batch waits for a worker while any is
 *   alive (the batcher never sends more batches than the pool was started with);
 * - a worker joins the pool only once it has loaded the current version, so no batch is
 *   ever sent to a worker without a model;
 * - a swap resolves only when every worker runs the new version (each switches between its
 *   own batches); if any worker fails to load it, or none is running, every worker is taken
 *   back to the previous version and the swap rejects, so the pool does not stay split
 *   between two versions;
 * - a worker that dies fails its pending calls with WORKER_FAILED and is replaced, loaded
 *   with the current version; a replacement that fails to load is retried with backoff
 *   (1 s doubling to 30 s) until it loads or the pool closes.
 */
import type { Worker } from 'node:worker_threads';
import type { EngineOptions } from '../engine/index.ts';
import { LayercacheError } from '../errors/index.ts';
import { fromReport } from './remote-error.ts';
import type { BatchOutput } from './batcher.ts';
import type { EngineCall, EngineReply, EngineSource } from './messages.ts';
import { startWorker } from './module-launch.ts';
import type { VerifyRule } from './verify-rule.ts';

type Verified = Extract<EngineReply, { kind: 'verified' }>;

interface Pending {
  readonly resolve: (r: EngineReply) => void;
  readonly reject: (e: Error) => void;
}

class EngineWorker {
  private readonly pending = new Map<number, Pending>();
  /** Batches sent and not yet done with (their verification included), by id: resolved at 'idle' or when the worker stops. */
  private readonly unfinished = new Map<number, () => void>();
  private nextId = 1;
  /** A batch was handed to it and it is not done with it (verification included). */
  busy = false;
  /** Verifying rows it held back, on its own timer. */
  verifying = false;
  /** The version this worker last loaded (−1 before its first load). */
  version = -1;
  readonly worker: Worker;

  constructor(onVerified: (v: Verified) => void, onVerifyFailed: (err: Error) => void, onExit: (w: EngineWorker, err: Error) => void, onFree: () => void) {
    this.worker = startWorker('engine-worker');
    this.worker.on('message', (reply: EngineReply) => {
      if (reply.kind === 'verified') {
        onVerified(reply);
        return;
      }
      if (reply.kind === 'verify-failed') {
        const failed = fromReport(reply);
        onVerifyFailed(new LayercacheError('ENGINE_RUN_FAILED', `verification of ${reply.rows} early answers failed (${reply.code}): ${reply.message}`, { cause: failed }));
        return;
      }
      if (reply.kind === 'verifying' || reply.kind === 'verified-held') {
        this.verifying = reply.kind === 'verifying';
        if (!this.verifying) onFree();
        return;
      }
      if (reply.kind === 'idle') {
        this.unfinished.get(reply.id)?.();
        this.unfinished.delete(reply.id);
        return;
      }
      const p = this.pending.get(reply.id);
      if (!p) return;
      this.pending.delete(reply.id);
      if (reply.kind === 'error') p.reject(fromReport(reply));
      else p.resolve(reply);
    });
    const fail = (err: Error): void => {
      const e = new LayercacheError('WORKER_FAILED', `an engine worker stopped: ${err.message}`, { cause: err });
      for (const p of this.pending.values()) p.reject(e);
      this.pending.clear();
      for (const done of this.unfinished.values()) done();
      this.unfinished.clear();
      onExit(this, e);
    };
    this.worker.on('error', fail);
    this.worker.on('exit', (code) => {
      if (this.pending.size > 0 || this.unfinished.size > 0 || code !== 0) fail(new Error(`exit code ${code}`));
    });
  }

  call(msg: EngineCall, transfer: ArrayBuffer[] = []): Promise<EngineReply> {
    return this.send(msg, transfer).reply;
  }

  /** A batch: its reply, and when the worker is done with it (after any verification it runs). */
  infer(msg: Extract<EngineCall, { kind: 'infer' }>, transfer: ArrayBuffer[]): { reply: Promise<EngineReply>; done: Promise<void> } {
    const { id, reply } = this.send(msg, transfer);
    const done = new Promise<void>((resolve) => this.unfinished.set(id, resolve));
    return { reply, done };
  }

  private send(msg: EngineCall, transfer: ArrayBuffer[]): { id: number; reply: Promise<EngineReply> } {
    const id = this.nextId++;
    const reply = new Promise<EngineReply>((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ ...msg, id }, transfer);
    });
    return { id, reply };
  }
}

/** First and longest wait before a failed worker replacement is tried again. */
const RESPAWN_FIRST_MS = 1000;
const RESPAWN_MAX_MS = 30_000;

export class EnginePool {
  private readonly workers: EngineWorker[] = [];
  private source: EngineSource;
  private version: number;
  private closing = false;
  /** Batches waiting for a worker to become idle. */
  private readonly waiting: (() => void)[] = [];
  /** Pending retries of failed replacements, and replacements still loading: close() ends both. */
  private readonly respawnTimers = new Set<NodeJS.Timeout>();
  private readonly spawning = new Set<Promise<void>>();

  private constructor(
    private readonly engine: EngineOptions,
    private readonly sampleDims: readonly number[],
    private readonly onVerified: (v: Verified) => void,
    private readonly onWorkerError: (err: Error) => void,
    private readonly onVerifyFailed: (err: Error) => void,
    private readonly verifyHoldMs: number,
    private readonly onWorkerReplaced: () => void,
    source: EngineSource,
    version: number,
  ) {
    this.source = source;
    this.version = version;
  }

  /** Starts `count` workers, each loading `source` as `version`. */
  static async start(
    count: number, source: EngineSource, version: number,
    opts: {
      engine: EngineOptions; sampleDims: readonly number[]; onVerified: (v: Verified) => void; onWorkerError: (err: Error) => void;
      /** A verification failure (the answers were sent; the worker serves on). */
      onVerifyFailed: (err: Error) => void;
      /** Longest verification rows held back under load wait when no further batch comes. */
      verifyHoldMs: number;
      /** A replacement for a failed worker has loaded the current version and takes batches. */
      onWorkerReplaced?: () => void;
    },
  ): Promise<EnginePool> {
    const pool = new EnginePool(opts.engine, opts.sampleDims, opts.onVerified, opts.onWorkerError, opts.onVerifyFailed, opts.verifyHoldMs, opts.onWorkerReplaced ?? (() => {}), source, version);
    try {
      for (let i = 0; i < count; i++) await pool.spawn();
    } catch (err) {
      await pool.close();
      throw err;
    }
    return pool;
  }

  get currentVersion(): number {
    return this.version;
  }

  /** Workers that have loaded the current version and take batches. */
  get size(): number {
    return this.workers.length;
  }

  /** For tests and diagnostics: the live worker threads. */
  get threads(): readonly Worker[] {
    return this.workers.map((w) => w.worker);
  }

  private load(w: EngineWorker, source: EngineSource, version: number): Promise<void> {
    return w.call({ kind: 'load', source, version, engine: this.engine, verifyHoldMs: this.verifyHoldMs }).then(() => {
      w.version = version;
    });
  }

  /** A new worker, added to the pool once it runs the current version (reloaded if a swap or rollback moved on meanwhile). */
  private async spawn(): Promise<void> {
    const w = new EngineWorker(this.onVerified, this.onVerifyFailed, (dead, err) => this.replace(dead, err), () => this.wakeOne());
    try {
      while (w.version !== this.version) await this.load(w, this.source, this.version);
    } catch (err) {
      void w.worker.terminate();
      throw err;
    }
    if (this.closing) {
      await w.worker.terminate();
      return;
    }
    this.workers.push(w);
    this.wakeOne();
  }

  private replace(dead: EngineWorker, err: Error): void {
    const at = this.workers.indexOf(dead);
    if (at < 0) return;
    this.workers.splice(at, 1);
    void dead.worker.terminate();
    if (this.closing) return;
    this.onWorkerError(err);
    this.respawn();
  }

  /** Starts a replacement worker; if it cannot load, tries again after `delayMs`, doubling up to RESPAWN_MAX_MS. */
  private respawn(delayMs = RESPAWN_FIRST_MS): void {
    const attempt = this.spawn();
    this.spawning.add(attempt);
    attempt.then(() => {
      if (!this.closing) this.onWorkerReplaced();
    }, (e: unknown) => {
      if (this.closing) return;
      this.onWorkerError(new LayercacheError('WORKER_FAILED', `a replacement engine worker could not load version ${this.version} (retrying in ${delayMs / 1000} s): ${(e as Error).message}`, { cause: e }));
      const timer = setTimeout(() => {
        this.respawnTimers.delete(timer);
        if (!this.closing) this.respawn(Math.min(RESPAWN_MAX_MS, delayMs * 2));
      }, delayMs);
      this.respawnTimers.add(timer);
    }).finally(() => this.spawning.delete(attempt));
  }

  private wakeOne(): void {
    this.waiting.shift()?.();
  }

  /** An idle worker, reserved for the caller (busy), waiting for one while any worker is alive. */
  private async idleWorker(): Promise<EngineWorker> {
    for (;;) {
      // Reserved here, not after the await: two batches sent in one tick would both have taken the first worker.
      const w = this.workers.find((x) => !x.busy && !x.verifying) ?? this.workers.find((x) => !x.busy);
      if (w) {
        w.busy = true;
        return w;
      }
      if (this.workers.length === 0 || this.closing) {
        throw new LayercacheError('ENGINE_UNAVAILABLE', 'no engine worker is running: the server is recovering from a worker failure (see its log); retry shortly');
      }
      await new Promise<void>((resolve) => this.waiting.push(resolve));
    }
  }

  /**
   * input: [rows, ...sampleDims]; a copy is sent to the worker. draws: [rows], read by `rule` (verify-rule.ts). more:
   * other batches are waiting (verification may wait for them).
   */
  async run(input: Float32Array, rows: number, draws: Float64Array, rule: VerifyRule, more = false): Promise<BatchOutput> {
    const asked = performance.now();
    const w = await this.idleWorker();
    const waitedMs = performance.now() - asked;
    // A copy is transferred: the caller keeps its input (the online buffer may admit it).
    const own = input.slice();
    const { reply, done } = w.infer({ kind: 'infer', input: own, rows, sampleDims: this.sampleDims, draws, rule, more }, [own.buffer as ArrayBuffer]);
    // Busy until done with it: a batch sent while the worker verifies would wait in it, unseen, for a worker that may be idle.
    void done.then(() => {
      w.busy = false;
      this.wakeOne();
    });
    const r = await reply;
    if (r.kind !== 'result') throw new LayercacheError('INTERNAL', `engine worker answered '${r.kind}' to a batch`);
    return { probs: r.probs, exits: r.exits, confidence: r.confidence, classes: r.classes, version: r.version, waitedMs };
  }

  /**
   * Loads `source` as `version` on every worker; each swaps between batches. If any worker
   * cannot load it, every worker goes back to the previous version and this rejects.
   */
  async swap(source: EngineSource, version: number): Promise<void> {
    // With no worker running nothing could try the new version: it must not become the one replacements load.
    if (this.workers.length === 0) throw new LayercacheError('ENGINE_UNAVAILABLE', `hot swap to version ${version} postponed: no engine worker is running (a replacement is loading version ${this.version})`);
    const previous = { source: this.source, version: this.version };
    // From here on, replacement workers load the new version.
    this.source = source;
    this.version = version;
    const results = await Promise.allSettled(this.workers.map((w) => this.load(w, source, version)));
    const failed = results.find((r): r is PromiseRejectedResult => r.status === 'rejected');
    if (!failed && this.workers.every((w) => w.version === version)) return;
    this.source = previous.source;
    this.version = previous.version;
    await Promise.all(this.workers.filter((w) => w.version !== previous.version).map((w) => this.load(w, previous.source, previous.version).catch((err: unknown) => {
      // A worker that can load neither version is replaced (the replacement loads the previous one).
      this.replace(w, err as Error);
    })));
    const reason = failed ? (failed.reason as Error) : new Error('a worker was replaced during the swap');
    throw new LayercacheError('WORKER_FAILED', `hot swap to version ${version} failed, version ${previous.version} serves on: ${reason.message}`, { cause: reason });
  }

  async close(): Promise<void> {
    this.closing = true;
    for (const timer of this.respawnTimers) clearTimeout(timer);
    this.respawnTimers.clear();
    for (const wake of this.waiting.splice(0)) wake();
    // A replacement still loading terminates itself once it sees `closing`.
    await Promise.allSettled([...this.spawning]);
    await Promise.all(this.workers.map(async (w) => {
      // 'close' is answered after the batch under way (messages are handled in order): a worker terminated during an
      // onnxruntime run aborts the whole process (onnxruntime-node 1.30: "terminate called after throwing an instance
      // of 'Napi::Error'", measured in session 28), so no worker is terminated while it may be running.
      await w.call({ kind: 'close' }).catch(() => undefined);
      await w.worker.terminate();
    }));
    this.workers.length = 0;
  }
}
