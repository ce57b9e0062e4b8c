/**
 * The main thread's side of one retrain: the whole builder runs in a fresh worker thread
 * (retrain-worker.ts) and answers once. Invariants: the promise settles exactly once; the
 * samples are transferred, not copied; the worker is handed out at once so a shutdown can
 * stop it, which rejects the promise with WORKER_FAILED.
 */
import type { Worker } from 'node:worker_threads';
import { LayercacheError } from '../errors/index.ts';
import type { RetrainReply, RetrainRequest } from './messages.ts';
import { startWorker } from './worker-thread.ts';

/** Runs one retrain in a fresh worker thread (handed to `started`); the samples are transferred to it. */
export function runRetrainWorker(request: RetrainRequest, started: (w: Worker) => void): Promise<RetrainReply> {
  return new Promise((resolve, reject) => {
    const worker = startWorker('retrain-worker', request, [request.samples.buffer as ArrayBuffer]);
    started(worker);
    let settled = false;
    worker.once('message', (reply: RetrainReply) => {
      settled = true;
      resolve(reply);
      void worker.terminate();
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
