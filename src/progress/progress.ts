/**
 * Progress reporting for long work. Library code reports through this interface; the
 * CLI renders bars on a terminal, and tests and servers pass SILENT.
 * Invariant: every phase that starts is ended, also when it fails.
 */
import { requireArgument } from '../errors/index.ts';

export interface Progress {
  /** Starts a phase of `total` units. */
  phase(label: string, total: number): ProgressPhase;
  /** A one-line note (estimates, choices made). */
  note(text: string): void;
}

export interface ProgressPhase {
  tick(units?: number, status?: string): void;
  end(): void;
}

const NO_PHASE: ProgressPhase = Object.freeze({ tick: () => {}, end: () => {} });

/** Throws ARGUMENT_INVALID unless `value` has a Progress's methods. call: the public call, as a user writes it. */
export function requireProgress(call: string, value: unknown): void {
  requireArgument(call, 'progress', value, (v) => typeof v === 'object' && v !== null && typeof (v as Progress).phase === 'function' && typeof (v as Progress).note === 'function',
    'a Progress (an object with phase() and note()), e.g. SILENT');
}

export const SILENT: Progress = Object.freeze({ phase: () => NO_PHASE, note: () => {} });

/** Runs `fn` inside a phase, ending the phase however `fn` finishes. */
export async function withPhase<T>(progress: Progress, label: string, total: number, fn: (phase: ProgressPhase) => Promise<T>): Promise<T> {
  const phase = progress.phase(label, total);
  try {
    return await fn(phase);
  } finally {
    phase.end();
  }
}
