/**
 * Starting a TypeScript worker thread. The package runs from its TypeScript sources through
 * tsx, and on Node 20 a worker does not inherit the loader, whether it was registered
 * with `--import tsx` or with tsx's API. So each worker starts from a tiny script that
 * registers tsx and then imports the worker module.
 */
import { Worker } from 'node:worker_threads';

const TSX_API = import.meta.resolve('tsx/esm/api');

/** Starts `file` in a worker thread with `workerData` (its transferList items are moved, not copied). */
export function startWorker(file: URL, workerData?: unknown, transferList: ArrayBuffer[] = []): Worker {
  const boot = `import(${JSON.stringify(TSX_API)}).then((tsx) => { tsx.register(); return import(${JSON.stringify(file.href)}); });`;
  return new Worker(boot, { eval: true, workerData, transferList });
}
