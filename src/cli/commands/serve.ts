/** `layercache serve`: run the KServe v2 server until SIGTERM, SIGINT or SIGHUP, then shut down gracefully. */
import { promises as fs } from 'node:fs';
import type { Config } from '../../config/index.ts';
import { asLayercacheError, LayercacheError } from '../../errors/index.ts';
import { notRegularFile } from '../../files/index.ts';
import { startServer } from '../../serve/index.ts';
import { curlLine, openHostWarning, rawPixelsWarning } from '../format.ts';
import type { CliIo } from '../io.ts';

/** Reads class names, one per line in class order (blank lines at the end are allowed; one before a name is refused: it would shift every later name). */
export async function readLabels(file: string): Promise<string[]> {
  // A FIFO is read whole (`--labels <(…)`).
  const kind = await notRegularFile(file, { fifo: true });
  if (kind !== null) throw new LayercacheError('FILE_UNREADABLE', `labels file ${file} is ${kind}; give a text file with one class name per line`);
  let text: string;
  try {
    text = await fs.readFile(file, 'utf8');
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw new LayercacheError(code === 'ENOENT' ? 'FILE_NOT_FOUND' : 'FILE_UNREADABLE', `labels file ${file} cannot be read (${code ?? 'error'}); give a text file with one class name per line`, { cause: err });
  }
  const lines = text.split(/\r?\n/).map((l) => l.trim());
  // Blank lines at the end shift nothing; a blank line before a name would.
  while (lines.length > 0 && lines.at(-1) === '') lines.pop();
  if (lines.length === 0) throw new LayercacheError('CONFIG_INVALID', `labels file ${file} is empty; give one class name per line, in class order`);
  const blank = lines.indexOf('');
  if (blank >= 0) throw new LayercacheError('CONFIG_INVALID', `labels file ${file} has a blank line ${blank + 1}; give one class name per line, in class order, with no blank lines`);
  return lines;
}

/** A signal repeated within this long is one request sent twice (an orchestrator and a process group), not an insistence. */
const REPEAT_MS = 1000;

export interface RunServeOptions {
  /**
   * No --scale, --mean or --std was given for a model (as build does, the server then says so if the model takes
   * images, which classify would feed it as raw 0–255 pixels).
   */
  readonly warnRawPixels?: boolean;
  /** The request to suggest, as curl's arguments for the address listened on (`--port 0` picks it); default: the model's metadata. */
  readonly exampleRequest?: (address: string, model: string) => string;
}

export async function runServe(source: string, config: Config, io: CliIo, signals: NodeJS.EventEmitter = process, opts: RunServeOptions = {}): Promise<void> {
  // One handler per signal for the whole command. A signal during startup is held until the server is
  // up, then shuts it down properly (the default action would kill the process and leave the state lock
  // and a temporary directory behind). Another one stops at once (a startup stuck on a stalled mount could
  // otherwise be ended by SIGKILL only), unless it is the same signal within a second: an orchestrator and a
  // process group both sending SIGTERM.
  let received: string | null = null;
  let receivedAt = 0;
  let onSignal = (signal: string): void => {
    if (received === null) {
      received = signal;
      receivedAt = performance.now();
      io.err(`layercache: ${signal}: the server is starting; it stops once started (send another signal, or this one again after a second, to stop at once)\n`);
      return;
    }
    if (signal === received && performance.now() - receivedAt < REPEAT_MS) {
      io.err(`layercache: ${signal} again within a second: taken as the same request; it stops once started\n`);
      return;
    }
    io.err(`layercache: ${signal} again during startup: stopping at once (a temporary state directory or the state lock may be left behind)\n`);
    for (const [s, handler] of handlers) signals.off(s, handler);
    io.killBySignal?.(signal as NodeJS.Signals);
  };
  // SIGHUP too (its terminal closed): its default action would kill the server without saving its buffer or
  // releasing its state lock.
  const handlers = ['SIGTERM', 'SIGINT', 'SIGHUP'].map((signal) => [signal, () => onSignal(signal)] as const);
  for (const [signal, handler] of handlers) signals.on(signal, handler);
  try {
    const server = await startServer(source, config);
    const address = await server.listen().catch(async (err: unknown) => {
      // The listen error is the one to report; a shutdown that fails too is said beside it.
      await server.close().catch((e: unknown) => io.err(`layercache: also, the shutdown after it failed: ${(e as Error).message}\n`));
      throw err;
    });
    const m = server.model;
    const open = openHostWarning(config.serve.host, config.serve.token);
    if (open) io.err(open);
    if (opts.warnRawPixels && m.imageSize) {
      io.err(rawPixelsWarning('images sent to classify'));
    }
    // Fastify names one address of a wildcard host; the server listens on every interface.
    const everywhere = ['0.0.0.0', '::', '[::]'].includes(config.serve.host) ? `, listening on every interface (--host ${config.serve.host})` : '';
    io.err(`layercache: serving '${m.name}' at ${address} (state ${server.stateDir}${everywhere})\n`);
    // The token itself is never printed.
    io.err(curlLine(opts.exampleRequest?.(address, m.name) ?? `${address}/v2/models/${m.name}`, config.serve.token));
    await new Promise<void>((resolve, reject) => {
      let draining = false;
      onSignal = (signal) => {
        // A repeated signal (an orchestrator and a process group both sending SIGTERM) does not cut the drain short.
        if (draining) {
          io.err(`layercache: ${signal}: already draining\n`);
          return;
        }
        draining = true;
        io.err(`layercache: ${signal}: draining in-flight requests\n`);
        const timer = setTimeout(() => {
          io.err(`layercache: shutdown took over ${config.serve.shutdownTimeoutMs} ms; stopping anyway, by ${signal}\n`);
          // By the signal's default action: process.exit would wait for the engine's worker threads, and one stuck
          // in onnxruntime would keep the process alive for good.
          io.killBySignal?.(signal as NodeJS.Signals);
          resolve();
        }, config.serve.shutdownTimeoutMs);
        server.close().then(() => {
          clearTimeout(timer);
          resolve();
        }, (err: unknown) => {
          clearTimeout(timer);
          // A failed shutdown (the buffer not saved, the lock not released) is a failure: exit status 1, not 0.
          const e = asLayercacheError(err);
          reject(new LayercacheError(e.code, `the shutdown failed: ${e.message}`, { cause: err }));
        });
      };
      if (received !== null) onSignal(received);
    });
  } finally {
    for (const [signal, handler] of handlers) signals.off(signal, handler);
  }
}
