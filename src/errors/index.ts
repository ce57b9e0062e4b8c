/** Public surface of the errors module: the error class and its code catalogue. */
export { LayercacheError, asLayercacheError } from './layercache-error.ts';
export { ERROR_CODES, type ErrorCode, type ErrorCodeInfo } from './error-codes.ts';
export { requireArgument, fitsArgument, describeArgument, isRecord, type ArgumentKind } from './argument-check.ts';
