/**
 * The server's side of one retrain: the whole builder runs in a fresh child process (retrain-child.ts) and
 * answers once. A process rather than a worker thread because everything a retrain allocates is returned to
 * the system when it exits (in a worker thread, glibc kept most of it: the server grew to 922 MiB over 20 small
 * retrains; docs/http-api.md), and because a crash in onnxruntime during a retrain then ends the retrain, not the
 * server. For the same reason a retrain can be abandoned at once: the process is killed, where terminating a
 * worker thread inside onnxruntime would abort the whole server.
 * Invariants: the promise settles exactly once, and the process is gone (or being killed) once it has; a
 * process that never started is never signalled (it has no pid, and until Node reports the failure a kill
 * reaches pid 0: the server's own process group). The snapshot of the buffered inputs is taken only
 * once the process runs, goes over in parts of at most `partValues` values, each written before the next, and is
 * let go as soon as the last is written, so the server holds it only while sending. The process says when it has
 * them all (`received`) before it answers.
 */
import type { ChildProcess } from 'node:child_process';
import { LayercacheError } from '../errors/index.ts';
import type { RetrainChildMessage, RetrainLog, RetrainMessage, RetrainReply, RetrainRequest } from './messages.ts';
import { startChild } from './module-launch.ts';

/** Float32 values per IPC message of buffered inputs (32 MiB). */
export const SAMPLE_PART_VALUES = 8 * 2 ** 20;

/** Bytes of the retraining process's stderr kept for the error message when it fails. */
const STDERR_TAIL_BYTES = 4096;

export interface RetrainProcessOptions {
  /** Float32 values per IPC message of buffered inputs (default SAMPLE_PART_VALUES). */
  readonly partValues?: number;
  /**
   * Hears when the process has every buffered input (and starts building): how many values, and the seconds since
   * it started, the copy of the buffer and its transfer included.
   */
  readonly onReceived?: (received: { readonly values: number; readonly seconds: number }) => void;
  /** Hears the process's log lines (builder notes, warnings, phases ended) as they come. */
  readonly onLog?: (entry: RetrainLog) => void;
  /** Starts the process (default: retrain-child.ts); for tests. */
  readonly start?: () => ChildProcess;
}

/**
 * Runs one retrain in a fresh process on the buffered inputs `snapshot()` returns ([count, ...request.sampleDims],
 * preprocessed; called once, when the process has started); `started` gets the function that abandons it (kills the
 * process; nothing it had not saved yet is saved).
 */
export function runRetrainProcess(
  request: RetrainRequest, snapshot: () => Float32Array, started: (stop: () => void) => void, options: RetrainProcessOptions = {},
): Promise<RetrainReply> {
  const partValues = options.partValues ?? SAMPLE_PART_VALUES;
  return new Promise((resolve, reject) => {
    const child = (options.start ?? (() => startChild('retrain-child')))();
    let settled = false;
    // Why sending stopped, when it did: the process's exit, which follows, reports it unless the process died first.
    let unsent: unknown = null;
    let stderr = '';
    const kill = (): void => {
      if (child.pid !== undefined) child.kill('SIGKILL');
    };
    const fail = (err: LayercacheError): void => {
      if (settled) return;
      settled = true;
      kill();
      reject(err);
    };
    child.stderr?.setEncoding('utf8');
    child.stderr?.on('data', (chunk: string) => { stderr = (stderr + chunk).slice(-STDERR_TAIL_BYTES); });
    started(() => fail(new LayercacheError('NOT_READY', 'retrain abandoned: the server is shutting down')));
    let values = 0;
    const t0 = performance.now();
    child.on('message', (message: RetrainChildMessage) => {
      if (settled) return;
      if (message.kind === 'received') {
        options.onReceived?.({ values, seconds: (performance.now() - t0) / 1000 });
        return;
      }
      if (message.kind === 'log') {
        options.onLog?.(message.entry);
        return;
      }
      const reply: RetrainReply = message;
      settled = true;
      // Its work is done (the version saved, or nothing): the process ends here, whatever is left running in it.
      kill();
      resolve(reply);
    });
    // `on`, not `once`: every 'error' is heard (an unheard one would end the server).
    child.on('error', (err) => fail(new LayercacheError('WORKER_FAILED', `the retraining process failed: ${err.message}`, { cause: err })));
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
    child.once('spawn', () => {
      if (settled) return;
      let samples: Float32Array | null;
      try {
        samples = snapshot();
      } catch (err) {
        // Copying the buffer can fail (memory): that fails this retrain, not the server.
        fail(new LayercacheError('WORKER_FAILED', `the buffered inputs could not be copied for the retraining process: ${err instanceof Error ? err.message : String(err)}`, { cause: err }));
        return;
      }
      values = samples.length;
      (async () => {
        await send({ kind: 'start', request, values });
        for (let at = 0; at < values && !settled; at += partValues) {
          await send({ kind: 'samples', data: samples!.subarray(at, Math.min(values, at + partValues)) });
        }
        samples = null;
      })().catch((err: unknown) => {
        samples = null;
        unsent = err;
        kill();
      });
    });
  });
}
