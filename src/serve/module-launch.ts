/**
 * Starting code of this folder in a worker thread or a child process, both where the package runs from its
 * TypeScript sources (a checkout, through tsx) and where it runs compiled (`dist/`, as installed from a tarball).
 * On Node 20 a worker does not inherit tsx's loader, whether it was registered with `--import tsx` or with
 * tsx's API, so a TypeScript worker starts from a tiny script that registers tsx and then imports the module;
 * a TypeScript child process gets tsx's loader with `--import`. Compiled modules start from their file directly.
 * Invariant: a launched module is a sibling of this file with this file's extension.
 */
import { fork, type ChildProcess } from 'node:child_process';
import { fileURLToPath } from 'node:url';
import { Worker } from 'node:worker_threads';

/** The modules of this folder that run in a worker thread. */
export type WorkerModule = 'engine-worker' | 'parse-worker';

/** The modules of this folder that run in a child process. */
export type ChildModule = 'retrain-child';

/** The URL of module `name` beside this file (`.ts` in the sources, `.js` compiled). */
function moduleUrl(name: WorkerModule | ChildModule): URL {
  // The path, not the URL: a loader may add a query (tsx adds ?tsx-namespace=…).
  const ext = new URL(import.meta.url).pathname.endsWith('.ts') ? '.ts' : '.js';
  return new URL(`./${name}${ext}`, import.meta.url);
}

/**
 * Starts worker module `name` with `workerData` (its transferList items are moved, not copied); `heapMb` bounds its
 * heap, so that running out of memory stops the worker (an 'error' with code ERR_WORKER_OUT_OF_MEMORY), not the process.
 */
export function startWorker(name: WorkerModule, workerData?: unknown, transferList: ArrayBuffer[] = [], heapMb?: number): Worker {
  const file = moduleUrl(name);
  const resourceLimits = heapMb === undefined ? undefined : { maxOldGenerationSizeMb: heapMb };
  if (!file.pathname.endsWith('.ts')) return new Worker(file, { workerData, transferList, resourceLimits });
  const tsx = import.meta.resolve('tsx/esm/api');
  const boot = `import(${JSON.stringify(tsx)}).then((tsx) => { tsx.register(); return import(${JSON.stringify(file.href)}); });`;
  return new Worker(boot, { eval: true, workerData, transferList, resourceLimits });
}

/**
 * Starts child module `name` in a new node process with an IPC channel that carries typed arrays (advanced
 * serialization). Its stdout is discarded and its stderr piped, for the parent to read when it fails. It stays in
 * the parent's process group, so whatever stops the group (a supervisor, `timeout`) stops it too.
 */
export function startChild(name: ChildModule): ChildProcess {
  const file = moduleUrl(name);
  const execArgv = file.pathname.endsWith('.ts') ? ['--import', import.meta.resolve('tsx')] : [];
  return fork(fileURLToPath(file), [], { execArgv, serialization: 'advanced', stdio: ['ignore', 'ignore', 'pipe', 'ipc'] });
}
