/**
 * The one error class of layercache. Invariant: every error that crosses a module
 * boundary is a LayercacheError with a stable `code`; its message names the bad value
 * and says how to fix it; the underlying error, if any, is chained as `cause`.
 */
import { ERROR_CODES, type ErrorCode } from './error-codes.ts';

/**
 * Every error layercache throws: `code` is stable (ERROR_CODES lists each with its HTTP status and exit code),
 * the message names the bad value and the fix, and `cause` chains the underlying error.
 */
export class LayercacheError extends Error {
  readonly code: ErrorCode;
  /**
   * For CONFIG_INVALID: the configuration path of the bad value (`build.batch`), the value, and
   * what is wrong with it, so a front end can name its own flag or field instead.
   */
  readonly setting?: { readonly path: string; readonly value: unknown; readonly problem: string };

  constructor(code: ErrorCode, message: string, options?: { cause?: unknown; setting?: { path: string; value: unknown; problem: string } }) {
    super(message, options?.cause === undefined ? undefined : { cause: options.cause });
    this.name = 'LayercacheError';
    this.code = code;
    if (options?.setting) this.setting = options.setting;
  }

  get httpStatus(): number {
    return ERROR_CODES[this.code].httpStatus;
  }

  get exitCode(): 1 | 2 {
    return ERROR_CODES[this.code].exitCode;
  }
}

/** Wraps anything thrown into a LayercacheError, keeping the original as `cause`. */
export function asLayercacheError(err: unknown, code: ErrorCode = 'INTERNAL'): LayercacheError {
  if (err instanceof LayercacheError) return err;
  const detail = err instanceof Error ? err.message : String(err);
  return new LayercacheError(code, detail, { cause: err });
}
