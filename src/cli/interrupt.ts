/**
 * SIGINT, SIGTERM and SIGHUP during a command that writes outputs (all but serve, which shuts down on them itself):
 * the unfinished atomic writes of this process are undone (temporary files removed, an output set aside put back),
 * the command says it was interrupted, and the process ends by the signal (128 + its number to the shell), raised
 * again: nothing queued in libuv's thread pool runs after the undo, and a thread blocked for good (opening a FIFO
 * no one writes) does not hold the exit. Without it an interrupted build left its temporary bundle for an hour,
 * and said nothing.
 * Invariant: at most one set of handlers is installed; serve's own handling starts only after these are removed.
 */
import { removeUnfinishedWritesSync } from '../files/index.ts';
import type { CliIo } from './io.ts';

const SIGNALS = ['SIGINT', 'SIGTERM', 'SIGHUP'] as const;

let installed: { signals: NodeJS.EventEmitter; handlers: (readonly [string, () => void])[] } | null = null;

/** Installs the handlers on `signals` (the process), unless they are installed. */
export function undoWritesOnInterrupt(io: CliIo, signals: NodeJS.EventEmitter = process): void {
  // Without a way to end the process (the CLI run in-process, as tests do) a signal keeps its default action.
  if (installed || io.killBySignal === undefined) return;
  const kill = io.killBySignal;
  const handlers = SIGNALS.map((signal) => [signal, () => {
    const undone = removeUnfinishedWritesSync();
    io.err(`layercache: ${signal}: interrupted${undone > 0 ? '; the output being written was removed' : ''}\n`);
    stopUndoOnInterrupt();
    kill(signal);
  }] as const);
  for (const [signal, handler] of handlers) signals.on(signal, handler);
  installed = { signals, handlers };
}

/** Removes the handlers, if installed (before serving, and when the command ends). */
export function stopUndoOnInterrupt(): void {
  if (!installed) return;
  for (const [signal, handler] of installed.handlers) installed.signals.off(signal, handler);
  installed = null;
}
