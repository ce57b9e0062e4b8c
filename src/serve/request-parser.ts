/**
 * Parses inference request bodies: small ones on the calling thread, large ones (over `inlineBytes`) in one
 * worker thread (parse-worker.ts), so that the event loop stays free while tens of megabytes of JSON are read.
 * Invariants:
 * - the answer is the same either way (the same parseInferRequest runs), errors included (code and message);
 * - a large body is moved to the worker, not copied, when it owns its memory; the caller must not read it after;
 * - the worker starts at the first large body and never keeps the process alive; if it dies, its pending
 *   parses fail with WORKER_FAILED and the next large body starts another;
 * - after close() every parse still pending fails with NOT_READY, and large bodies are refused the same way.
 */
import type { Worker } from 'node:worker_threads';
import { ERROR_CODES, LayercacheError, type ErrorCode } from '../errors/index.ts';
import type { ParseReply, ParseRequest } from './messages.ts';
import { startWorker } from './module-launch.ts';
import { parseInferRequest, type InferRequest, type ModelSpec } from './protocol.ts';

/**
 * Bodies up to this size are parsed on the calling thread: a 256 KiB JSON body parses in about 2 ms here, less than
 * a round trip to the worker costs in copying and waking it.
 */
export const PARSE_INLINE_BYTES = 256 * 1024;

interface Pending {
  readonly resolve: (r: InferRequest) => void;
  readonly reject: (e: Error) => void;
}

export class RequestParser {
  private worker: Worker | null = null;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private closed = false;

  constructor(private readonly spec: ModelSpec, private readonly inlineBytes = PARSE_INLINE_BYTES) {}

  /** Parses `body` (see parseInferRequest); headerLength: Inference-Header-Content-Length, null when absent. */
  async parse(body: Uint8Array, headerLength: number | null): Promise<InferRequest> {
    if (body.length <= this.inlineBytes) return parseInferRequest(body, headerLength, this.spec);
    if (this.closed) throw new LayercacheError('NOT_READY', 'the server is shutting down and takes no new requests; retry against another replica');
    const worker = this.worker ?? this.start();
    const id = this.nextId++;
    // A view into a larger (or pooled) allocation is copied: transferring its buffer would detach memory others use.
    const owned = body.byteOffset === 0 && body.byteLength === body.buffer.byteLength && body.buffer instanceof ArrayBuffer;
    const moved = owned ? body : new Uint8Array(body);
    const message: ParseRequest = { id, body: moved, headerLength, spec: this.spec };
    return new Promise<InferRequest>((resolve, reject) => {
      try {
        worker.postMessage(message, [moved.buffer as ArrayBuffer]);
      } catch (err) {
        reject(new LayercacheError('WORKER_FAILED', `the request body could not be sent to the request-parser worker (${(err as Error).message}); retry the request`, { cause: err }));
        return;
      }
      this.pending.set(id, { resolve, reject });
    });
  }

  /** Stops the worker; parses still pending fail with NOT_READY. */
  async close(): Promise<void> {
    this.closed = true;
    this.failAll(new LayercacheError('NOT_READY', 'the server shut down before the request body was parsed'));
    const w = this.worker;
    this.worker = null;
    if (w) await w.terminate();
  }

  private start(): Worker {
    const w = startWorker('parse-worker');
    w.unref();
    w.on('message', (reply: ParseReply) => {
      const p = this.pending.get(reply.id);
      if (!p) return;
      this.pending.delete(reply.id);
      if (reply.kind === 'parsed') p.resolve(reply.request);
      else p.reject(new LayercacheError((reply.code in ERROR_CODES ? reply.code : 'WORKER_FAILED') as ErrorCode, reply.message));
    });
    const fail = (err: Error): void => {
      if (this.worker !== w) return;
      this.worker = null;
      this.failAll(new LayercacheError('WORKER_FAILED', `the request-parser worker stopped (${err.message}); retry the request`, { cause: err }));
    };
    w.on('error', fail);
    w.on('exit', (code) => fail(new Error(`exit code ${code}`)));
    this.worker = w;
    return w;
  }

  private failAll(err: LayercacheError): void {
    for (const p of this.pending.values()) p.reject(err);
    this.pending.clear();
  }
}
