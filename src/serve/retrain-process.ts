/**
 * The server's side of one retrain: the whole builder runs in a fresh child process (retrain-child.ts) and
 * answers once. A process rather than a worker thread because everything a retrain allocates is returned to
 * the system when it exits (in a worker thread, glibc kept most of it: the server's memory grew by a few MiB
 * per retrain, about 900 MiB after 30 small retrains), and because a crash in onnxruntime during a retrain
 * then ends the retrain, not the server. For the same reason a retrain can be abandoned at once: the process
 * is killed, where terminating a worker thread inside onnxruntime would abort the whole server.
 * Invariants: the promise settles exactly once; the process is gone (or being killed) once it has; the
 * buffered inputs go over in parts of at most SAMPLE_PART_VALUES values, each written before the next, so the
 * server holds one copy of the buffer (the snapshot) and not a serialised second one.
 */
import { LayercacheError } from '../errors/index.ts';
import type { RetrainMessage, RetrainReply, RetrainRequest } from './messages.ts';
import { startChild } from './module-launch.ts';

/** Float32 values per IPC message of buffered inputs (32 MiB). */
export const SAMPLE_PART_VALUES = 8 * 2 ** 20;

/** Bytes of the retraining process's stderr kept for the error message when it fails. */
const STDERR_TAIL_BYTES = 4096;

/**
 * Runs one retrain in a fresh process on `samples` ([count, ...request.sampleDims], preprocessed); `started` gets
 * the function that abandons it (kills the process; nothing it had not saved yet is saved). `partValues`: the
 * values per message of buffered inputs.
 */
export function runRetrainProcess(
  request: RetrainRequest, samples: Float32Array, started: (stop: () => void) => void, partValues = SAMPLE_PART_VALUES,
): Promise<RetrainReply> {
  return new Promise((resolve, reject) => {
    const child = startChild('retrain-child');
    let settled = false;
    let stderr = '';
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (chunk: string) => { stderr = (stderr + chunk).slice(-STDERR_TAIL_BYTES); });
    const fail = (err: LayercacheError): void => {
      if (settled) return;
      settled = true;
      child.kill('SIGKILL');
      reject(err);
    };
    started(() => fail(new LayercacheError('NOT_READY', 'retrain abandoned: the server is shutting down')));
    child.once('message', (reply: RetrainReply) => {
      if (settled) return;
      settled = true;
      // Its work is done (the version saved, or nothing): the process ends here, whatever is left running in it.
      child.kill('SIGKILL');
      resolve(reply);
    });
    // `on`, not `once`: a kill that fails after a failed spawn is a second 'error', which unheard would end the server.
    child.on('error', (err) => fail(new LayercacheError('WORKER_FAILED', `the retraining process failed: ${err.message}`, { cause: err })));
    // A message that cannot be sent ends the process; its exit then says why, unless that kill was the reason.
    let unsent: unknown = null;
    child.once('exit', (code, signal) => {
      if (unsent !== null && signal === 'SIGKILL') {
        const reason = unsent instanceof Error ? unsent.message : String(unsent);
        fail(new LayercacheError('WORKER_FAILED', `the buffered inputs could not be sent to the retraining process: ${reason}`, { cause: unsent }));
        return;
      }
      const tail = stderr.trim();
      fail(new LayercacheError('WORKER_FAILED', `the retraining process exited with ${signal ? `signal ${signal}` : `code ${code}`} before answering${tail ? `: ${tail}` : ''}`));
    });
    const send = (message: RetrainMessage): Promise<void> => new Promise((done, failed) => {
      if (settled) return done();
      child.send(message, (err) => (err ? failed(err) : done()));
    });
    (async () => {
      await send({ kind: 'start', request, values: samples.length });
      for (let at = 0; at < samples.length && !settled; at += partValues) {
        await send({ kind: 'samples', data: samples.subarray(at, Math.min(samples.length, at + partValues)) });
      }
    })().catch((err: unknown) => {
      // Often the process died first (EPIPE): its exit, which follows, reports the cause.
      unsent = err;
      child.kill('SIGKILL');
    });
  });
}
