/**
 * Turns off onnxruntime's usage telemetry before onnxruntime-node loads. Its official 1.30 build ships Microsoft's
 * 1DS telemetry on Linux too, on by default: every process that creates a session writes a device id and an offline
 * event cache under ~/.cache/Microsoft/DeveloperTools/.onnxruntime and an empty /tmp/mat-debug-PID.log (one per
 * retrain process, never removed), and uploads when it can. A library that runs the user's models on the user's
 * machine does not report on them unasked, so layercache sets onnxruntime's own opt-out, ORT_DISABLE_TELEMETRY=1
 * (read when its native environment starts), unless the variable is set already: ORT_DISABLE_TELEMETRY=0 keeps
 * the telemetry. Worker threads share it, and child processes (retrains) inherit it.
 * Invariant: imported by session.ts before onnxruntime-node (ES modules run in import order). The one place besides
 * the config module that touches process.env: the variable is onnxruntime's, read by onnxruntime, and must be set
 * before any configuration exists.
 */
// eslint-disable-next-line no-restricted-properties -- onnxruntime's own variable, set before it loads (see above).
process.env.ORT_DISABLE_TELEMETRY ??= '1';

export {};
