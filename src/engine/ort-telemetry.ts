/**
 * Turns off onnxruntime's usage telemetry before onnxruntime-node loads. Its official 1.30 build ships Microsoft's
 * 1DS telemetry on Linux too, on by default: every process that creates a session writes a device id and an offline
 * event cache under ~/.cache/Microsoft/DeveloperTools/.onnxruntime and an empty /tmp/mat-debug-PID.log (one per
 * retrain process, never removed), and uploads when it can. A library that runs the user's models on the user's
 * machine does not report on them unasked, so layercache sets onnxruntime's own opt-out, ORT_DISABLE_TELEMETRY=1
 * (read when onnxruntime creates its environment, with its first session), unless the variable is set already
 * (ORT_DISABLE_TELEMETRY=0 keeps the telemetry; an empty value counts as unset). Worker threads started after this
 * runs inherit it, and so do child processes (retrains). A worker thread's process.env is its own copy, which
 * onnxruntime does not read (unless the worker was started with SHARE_ENV): layercache loaded first in a worker
 * may not turn the telemetry off, and warns (set the variable in the environment, or import layercache in the main
 * thread first).
 * Invariant: imported by session.ts before onnxruntime-node (ES modules run in import order). The one place besides
 * the config module that touches process.env: the variable is onnxruntime's, read by onnxruntime, and must be set
 * before any configuration exists.
 */
import { isMainThread } from 'node:worker_threads';

/* eslint-disable no-restricted-properties -- onnxruntime's own variable, set before it loads (see above). */
if (!process.env.ORT_DISABLE_TELEMETRY) {
  process.env.ORT_DISABLE_TELEMETRY = '1';
  if (!isMainThread) {
    // (A worker started with SHARE_ENV writes the process's environment, and the opt-out then works; a worker cannot
    // tell which it has, so the warning says so.)
    process.emitWarning('layercache was loaded first in a worker thread, whose own copy of the environment onnxruntime does not read (unless the worker was started with SHARE_ENV), so onnxruntime\'s usage telemetry may stay on; set ORT_DISABLE_TELEMETRY=1 in the environment, or import layercache in the main thread first', { code: 'LAYERCACHE_ORT_TELEMETRY' });
  }
}
/* eslint-enable no-restricted-properties */
