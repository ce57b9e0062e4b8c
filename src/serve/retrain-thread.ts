/**
 * The main thread's side of one retrain: the whole builder runs in a fresh worker thread
 * (retrain-worker.ts) and answers once. Invariants: the promise settles exactly once; the
 * samples are transferred, not copied; a stop function is handed out at once, so a shutdown
 * can abandon the retrain. Stopping is cooperative (the worker checks a shared flag between
 * steps and answers with an error): terminating a worker while onnxruntime runs in it aborts
 * the whole process.
 */
import { LayercacheError } from '../errors/index.ts';
import type { RetrainReply, RetrainRequest } from './messages.ts';
import { startWorker } from './worker-thread.ts';

/** Runs one retrain in a fresh worker thread; `started` gets the function that abandons it. The samples are transferred. */
export function runRetrainWorker(request: Omit<RetrainRequest, 'stop'>, started: (stop: () => void) => void): Promise<RetrainReply> {
  return new Promise((resolve, reject) => {
    const stop = new SharedArrayBuffer(4);
    const worker = startWorker('retrain-worker', { ...request, stop } satisfies RetrainRequest, [request.samples.buffer as ArrayBuffer]);
    started(() => Atomics.store(new Int32Array(stop), 0, 1));
    let settled = false;
    worker.once('message', (reply: RetrainReply) => {
      settled = true;
      resolve(reply);
    });
    worker.once('error', (err) => {
      if (!settled) reject(new LayercacheError('WORKER_FAILED', `the retraining worker failed: ${err.message}`, { cause: err }));
      settled = true;
    });
    worker.once('exit', (code) => {
      if (!settled) reject(new LayercacheError('WORKER_FAILED', `the retraining worker exited with code ${code} before answering`));
      settled = true;
    });
  });
}
