/**
 * The main thread's side of the engine workers: one request/reply channel per worker,
 * batches sent to an idle worker, and hot swaps applied to every worker.
 * Invariants: at most one batch runs per worker at a time (the batcher never sends more
 * batches than there are workers); a swap resolves only when every worker runs the new
 * version; a worker that dies fails its pending calls with WORKER_FAILED and is replaced,
 * loaded with the current version.
 */
import type { Worker } from 'node:worker_threads';
import type { EngineOptions } from '../engine/index.ts';
import { ERROR_CODES, LayercacheError, type ErrorCode } from '../errors/index.ts';
import type { BatchOutput } from './batcher.ts';
import type { EngineCall, EngineReply, EngineSource } from './messages.ts';
import { startWorker } from './worker-thread.ts';

type Verified = Extract<EngineReply, { kind: 'verified' }>;

interface Pending {
  readonly resolve: (r: EngineReply) => void;
  readonly reject: (e: Error) => void;
}

class EngineWorker {
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  busy = false;
  readonly worker: Worker;

  constructor(onVerified: (v: Verified) => void, onVerifyFailed: (err: Error) => void, onExit: (w: EngineWorker, err: Error) => void) {
    this.worker = startWorker(new URL('./engine-worker.ts', import.meta.url));
    this.worker.on('message', (reply: EngineReply) => {
      if (reply.kind === 'verified') {
        onVerified(reply);
        return;
      }
      if (reply.kind === 'verify-failed') {
        onVerifyFailed(new LayercacheError('ENGINE_RUN_FAILED', `verification of ${reply.rows} early answers failed (${reply.code}): ${reply.message}`));
        return;
      }
      const p = this.pending.get(reply.id);
      if (!p) return;
      this.pending.delete(reply.id);
      if (reply.kind === 'error') {
        const code = (reply.code in ERROR_CODES ? reply.code : 'WORKER_FAILED') as ErrorCode;
        p.reject(new LayercacheError(code, reply.message));
      } else p.resolve(reply);
    });
    const fail = (err: Error): void => {
      const e = new LayercacheError('WORKER_FAILED', `an engine worker stopped: ${err.message}`, { cause: err });
      for (const p of this.pending.values()) p.reject(e);
      this.pending.clear();
      onExit(this, e);
    };
    this.worker.on('error', fail);
    this.worker.on('exit', (code) => {
      if (this.pending.size > 0 || code !== 0) fail(new Error(`exit code ${code}`));
    });
  }

  call(msg: EngineCall, transfer: ArrayBuffer[] = []): Promise<EngineReply> {
    const id = this.nextId++;
    return new Promise((resolve, reject) => {
      this.pending.set(id, { resolve, reject });
      this.worker.postMessage({ ...msg, id }, transfer);
    });
  }
}

export class EnginePool {
  private readonly workers: EngineWorker[] = [];
  private source: EngineSource;
  private version: number;
  private closing = false;

  private constructor(
    private readonly engine: EngineOptions,
    private readonly sampleDims: readonly number[],
    private readonly onVerified: (v: Verified) => void,
    private readonly onWorkerError: (err: Error) => void,
    private readonly onVerifyFailed: (err: Error) => void,
    private readonly verifyHoldMs: number,
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
    },
  ): Promise<EnginePool> {
    const pool = new EnginePool(opts.engine, opts.sampleDims, opts.onVerified, opts.onWorkerError, opts.onVerifyFailed, opts.verifyHoldMs, source, version);
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

  private async spawn(): Promise<EngineWorker> {
    const w = new EngineWorker(this.onVerified, this.onVerifyFailed, (dead, err) => this.replace(dead, err));
    this.workers.push(w);
    await w.call({ kind: 'load', source: this.source, version: this.version, engine: this.engine, verifyHoldMs: this.verifyHoldMs });
    return w;
  }

  private replace(dead: EngineWorker, err: Error): void {
    const at = this.workers.indexOf(dead);
    if (at < 0) return;
    this.workers.splice(at, 1);
    void dead.worker.terminate();
    if (this.closing) return;
    this.onWorkerError(err);
    this.spawn().catch((e: unknown) => this.onWorkerError(e as Error));
  }

  /** input: [rows, ...sampleDims]; a copy is sent to the worker. more: other batches are waiting (verification may wait for them). */
  async run(input: Float32Array, rows: number, verify: Uint8Array, more = false): Promise<BatchOutput> {
    const w = this.workers.find((x) => !x.busy);
    if (!w) throw new LayercacheError('WORKER_FAILED', 'no engine worker is available; the server is recovering from a worker failure, retry shortly');
    w.busy = true;
    try {
      // A copy is transferred: the caller keeps its input (the online buffer may admit it).
      const own = input.slice();
      const reply = await w.call({ kind: 'infer', input: own, rows, sampleDims: this.sampleDims, verify, more }, [own.buffer as ArrayBuffer]);
      if (reply.kind !== 'result') throw new LayercacheError('INTERNAL', `engine worker answered '${reply.kind}' to a batch`);
      return { probs: reply.probs, exits: reply.exits, confidence: reply.confidence, classes: reply.classes, version: reply.version };
    } finally {
      w.busy = false;
    }
  }

  /** Loads `source` as `version` on every worker; each swaps between batches. */
  async swap(source: EngineSource, version: number): Promise<void> {
    await Promise.all(this.workers.map((w) => w.call({ kind: 'load', source, version, engine: this.engine, verifyHoldMs: this.verifyHoldMs })));
    this.source = source;
    this.version = version;
  }

  async close(): Promise<void> {
    this.closing = true;
    await Promise.all(this.workers.map(async (w) => {
      await w.call({ kind: 'close' }).catch(() => undefined);
      await w.worker.terminate();
    }));
    this.workers.length = 0;
  }
}
