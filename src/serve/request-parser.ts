/**
 * Parses inference request bodies: small ones, and binary ones up to INLINE_BINARY_BYTES, on the calling thread;
 * the others in one worker thread (parse-worker.ts), so that the event loop stays free while tens of megabytes of
 * JSON (or binary tensors of another type than FP32, read value by value) are read.
 * Invariants:
 * - the answer is the same either way (the same parseInferRequest runs), errors included (code and message);
 * - a large body is moved to the worker, not copied, when it owns its memory; the caller must not read it after;
 * - the worker starts at the first large body and keeps the process alive only while parses are pending; its heap is bounded, so a body
 *   that needs more memory stops the worker, not the process, and fails with BODY_TOO_LARGE; the parses that only
 *   waited behind it fail with WORKER_RESTARTING (503: send again), as do all pending parses when the worker dies
 *   of another cause; the next large body starts another worker;
 * - after close() every parse still pending fails with NOT_READY, and large bodies are refused the same way.
 */
import type { Worker } from 'node:worker_threads';
import { LayercacheError } from '../errors/index.ts';
import { fromReport } from './remote-error.ts';
import type { ParseReply, ParseRequest } from './messages.ts';
import { startWorker } from './module-launch.ts';
import { parseInferRequest, type InferRequest, type ModelSpec } from './protocol.ts';

/**
 * Bodies up to this size are parsed on the calling thread: a 256 KiB JSON body parses in about 2 ms here, less than
 * a round trip to the worker costs in copying and waking it.
 */
export const PARSE_INLINE_BYTES = 256 * 1024;

/**
 * Binary bodies up to this size (with a small JSON part) are read on the calling thread: 4 MiB is 341 CIFAR rows in
 * FP32 (one copy) or 4 M UINT8 values (about 40 ms read one by one); larger ones go to the worker like JSON.
 */
export const INLINE_BINARY_BYTES = 4 * 2 ** 20;

interface Pending {
  readonly resolve: (r: InferRequest) => void;
  readonly reject: (e: Error) => void;
}

export class RequestParser {
  private worker: Worker | null = null;
  private readonly pending = new Map<number, Pending>();
  private nextId = 1;
  private closed = false;

  /** heapMb: the worker's heap limit (a body that needs more fails alone, with BODY_TOO_LARGE, not the server). */
  constructor(private readonly spec: ModelSpec, private readonly inlineBytes = PARSE_INLINE_BYTES, private readonly heapMb = 512) {}

  /** Parses `body` (see parseInferRequest); headerLength: Inference-Header-Content-Length, null when absent. */
  async parse(body: Uint8Array, headerLength: number | null): Promise<InferRequest> {
    // Small bodies here; so are binary ones up to INLINE_BINARY_BYTES with a small JSON part (their tensors are read,
    // not parsed: 4 MiB take a few milliseconds), so that usual binary requests never wait behind a large JSON body.
    const jsonBytes = headerLength ?? body.length;
    if (body.length <= this.inlineBytes || (jsonBytes <= this.inlineBytes && body.length <= INLINE_BINARY_BYTES)) {
      return parseInferRequest(body, headerLength, this.spec);
    }
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
        reject(new LayercacheError('WORKER_RESTARTING', `the request body could not be sent to the request-parser worker (${(err as Error).message}); this request was not read: send it again`, { cause: err }));
        return;
      }
      this.pending.set(id, { resolve, reject });
      // A parse under way keeps the process alive, as any awaited work does; an idle worker does not.
      if (this.pending.size === 1) worker.ref();
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
    const w = startWorker('parse-worker', undefined, [], this.heapMb);
    w.unref();
    w.on('message', (reply: ParseReply) => {
      const p = this.pending.get(reply.id);
      if (!p) return;
      this.pending.delete(reply.id);
      if (this.pending.size === 0) w.unref();
      if (reply.kind === 'parsed') p.resolve(reply.request);
      else p.reject(fromReport(reply));
    });
    const fail = (err: Error & { code?: string }): void => {
      if (this.worker !== w) return;
      this.worker = null;
      // The worker parses one body at a time, oldest first: out of memory, the oldest pending body is the one that
      // took it there; the others only waited behind it, and may be sent again.
      if (err.code === 'ERR_WORKER_OUT_OF_MEMORY') {
        const [first] = this.pending.values();
        this.pending.delete(this.pending.keys().next().value!);
        first?.reject(new LayercacheError('BODY_TOO_LARGE', `this request's body took the request-parser worker past its ${this.heapMb} MB heap; send the tensors as binary (Inference-Header-Content-Length) or fewer rows per request`, { cause: err }));
      }
      this.failAll(new LayercacheError('WORKER_RESTARTING', `the request-parser worker stopped while this request waited (${err.message}); this request was not read: send it again`, { cause: err }));
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
