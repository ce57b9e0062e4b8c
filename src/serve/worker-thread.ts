/**
 * Starting a worker thread from a module of this folder, both where the package runs from
 * its TypeScript sources (a checkout, through tsx) and where it runs compiled (`dist/`, as
 * installed from a tarball). On Node 20 a worker does not inherit tsx's loader, whether it
 * was registered with `--import tsx` or with tsx's API, so a TypeScript worker starts from
 * a tiny script that registers tsx and then imports the module; a compiled one starts
 * from its file directly and needs no tsx.
 * Invariant: a worker module is a sibling of this file with this file's extension.
 */
import { Worker } from 'node:worker_threads';

/** The worker modules of this folder. */
export type WorkerModule = 'engine-worker' | 'retrain-worker';

/** The URL of worker module `name` beside this file (`.ts` in the sources, `.js` compiled). */
function workerModuleUrl(name: WorkerModule): URL {
  // The path, not the URL: a loader may add a query (tsx adds ?tsx-namespace=…).
  const ext = new URL(import.meta.url).pathname.endsWith('.ts') ? '.ts' : '.js';
  return new URL(`./${name}${ext}`, import.meta.url);
}

/** Starts worker module `name` with `workerData` (its transferList items are moved, not copied). */
export function startWorker(name: WorkerModule, workerData?: unknown, transferList: ArrayBuffer[] = []): Worker {
  const file = workerModuleUrl(name);
  if (!file.pathname.endsWith('.ts')) return new Worker(file, { workerData, transferList });
  const tsx = import.meta.resolve('tsx/esm/api');
  const boot = `import(${JSON.stringify(tsx)}).then((tsx) => { tsx.register(); return import(${JSON.stringify(file.href)}); });`;
  return new Worker(boot, { eval: true, workerData, transferList });
}
