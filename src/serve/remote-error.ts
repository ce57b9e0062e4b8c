/**
 * Errors that cross a thread or process boundary: an engine worker, the request-parser worker or the retraining
 * process reports an error as plain data (its code, message and stack), and the server rebuilds it as a
 * LayercacheError. Invariant: the stack where the error arose survives as the rebuilt error's cause, so an INTERNAL
 * error (a bug) in a worker reaches the log with something to debug from; an unknown code becomes WORKER_FAILED.
 */
import { asLayercacheError, ERROR_CODES, LayercacheError, type ErrorCode } from '../errors/index.ts';

/** An error as a worker or child process posts it. */
export interface ErrorReport {
  readonly code: string;
  readonly message: string;
  /** Where it arose: for an error wrapped as a LayercacheError, its cause's stack. */
  readonly stack: string | undefined;
}

/** A stack as a string, or undefined: a stack that is not a string, or whose getter throws, is none. */
function stackOf(e: unknown): string | undefined {
  try {
    const stack = e instanceof Error ? e.stack : undefined;
    return typeof stack === 'string' ? stack : undefined;
  } catch {
    return undefined;
  }
}

/**
 * `err` as plain data, structured-clone and IPC safe; never throws. The stack is where layercache raised it, followed
 * by its cause's (for a wrapped error, the cause's is where it arose).
 */
export function reportOf(err: unknown): ErrorReport {
  try {
    // Not one of ours: wrapped here, so the wrapper's stack says nothing; the original's is where it arose.
    if (!(err instanceof LayercacheError)) return { code: 'INTERNAL', message: asLayercacheError(err).message, stack: stackOf(err) };
    const own = stackOf(err);
    const cause = stackOf(err.cause);
    return { code: err.code, message: err.message, stack: own !== undefined && cause !== undefined ? `${own}\ncaused by: ${cause}` : (own ?? cause) };
  } catch {
    // A thrown value that cannot even be turned into a string (an object without a prototype).
    return { code: 'INTERNAL', message: 'a value that is not an error was thrown, and it cannot be described', stack: undefined };
  }
}

/** The reported error here, its message optionally reworded; the reported stack is its cause. */
export function fromReport(report: ErrorReport, message: string = report.message): LayercacheError {
  const code = (Object.hasOwn(ERROR_CODES, report.code) ? report.code : 'WORKER_FAILED') as ErrorCode;
  // The cause carries the stack only: its message would repeat the error's own in every log line.
  const cause = report.stack === undefined ? undefined : Object.assign(new Error('(stack of the worker that raised it)'), { stack: report.stack });
  return new LayercacheError(code, message, cause ? { cause } : undefined);
}
