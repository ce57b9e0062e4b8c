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

/** `err` as plain data, structured-clone and IPC safe. */
export function reportOf(err: unknown): ErrorReport {
  const e = asLayercacheError(err);
  return { code: e.code, message: e.message, stack: (e.cause instanceof Error ? e.cause.stack : undefined) ?? e.stack };
}

/** The reported error here, its message optionally reworded; the reported stack is its cause. */
export function fromReport(report: ErrorReport, message: string = report.message): LayercacheError {
  const code = (report.code in ERROR_CODES ? report.code : 'WORKER_FAILED') as ErrorCode;
  const cause = report.stack === undefined ? undefined : Object.assign(new Error(report.message), { stack: report.stack });
  return new LayercacheError(code, message, cause ? { cause } : undefined);
}
