/**
 * Checks of the arguments a public function receives, for callers in plain JavaScript (TypeScript checks
 * the same at compile time). Invariant: a failed check is ARGUMENT_INVALID, and its message names the call,
 * the argument, what it was given and what to give instead; a check never coerces or defaults a value.
 */
import { LayercacheError } from './layercache-error.ts';

/**
 * What an argument must be:
 * - `path`: a non-empty string;
 * - `string`: any string;
 * - `object`: a non-null object that is not an array;
 * - `bytes`: a Uint8Array (a Node Buffer is one);
 * - `array`: an array;
 * - `function`: a function;
 * - `tensor`: `{ dtype: string, dims: number[], data }`, data a typed array or an array (whether it fits is the
 *   runtime's to check: onnxruntime takes plain arrays of numbers, a cascade only a Float32Array).
 */
export type ArgumentKind = 'path' | 'string' | 'object' | 'bytes' | 'array' | 'function' | 'tensor';

/** Whether `v` is a non-null object that is not an array (what `object` arguments must be). */
export const isRecord = (v: unknown): v is Record<string, unknown> => typeof v === 'object' && v !== null && !Array.isArray(v);

const FITS: Readonly<Record<ArgumentKind, (v: unknown) => boolean>> = {
  path: (v) => typeof v === 'string' && v.length > 0,
  string: (v) => typeof v === 'string',
  object: isRecord,
  bytes: (v) => v instanceof Uint8Array,
  array: Array.isArray,
  function: (v) => typeof v === 'function',
  tensor: (v) => isRecord(v) && typeof v.dtype === 'string' && Array.isArray(v.dims) && v.dims.every((d) => typeof d === 'number') && (ArrayBuffer.isView(v.data) || Array.isArray(v.data)),
};

/** Whether `value` is of `kind` (requireArgument's test, for a caller that builds its message only on failure). */
export function fitsArgument(value: unknown, kind: ArgumentKind): boolean {
  return FITS[kind](value);
}

/** A short description of any value, for a message: `123 (a number)`, `null`, `an array of 2`, `an object (Map)`. */
export function describeArgument(value: unknown): string {
  if (value === undefined) return 'missing';
  if (value === null) return 'null';
  if (typeof value === 'string') return value === '' ? 'an empty string' : `'${value.length > 60 ? `${value.slice(0, 57)}...` : value}' (a string)`;
  if (typeof value === 'number' || typeof value === 'boolean' || typeof value === 'bigint') return `${String(value)} (a ${typeof value})`;
  if (typeof value === 'function') return 'a function';
  if (Array.isArray(value)) return `an array of ${value.length}`;
  if (ArrayBuffer.isView(value)) return `a ${value.constructor.name}`;
  if (typeof value === 'object') {
    const name = (value as object).constructor?.name;
    return name && name !== 'Object' ? `an object (${name})` : 'an object';
  }
  return `a ${typeof value}`;
}

/**
 * Throws ARGUMENT_INVALID unless `value` is of `kind` (or passes it, when it is a test of its own). call: the call as a user writes it (`loadBundle(dir)`);
 * arg: the argument's name in it (`dir`, or `input.model` for a field); give: what to pass, with an example.
 */
export function requireArgument(call: string, arg: string, value: unknown, kind: ArgumentKind | ((value: unknown) => boolean), give: string): void {
  if ((typeof kind === 'function' ? kind : FITS[kind])(value)) return;
  throw new LayercacheError('ARGUMENT_INVALID', `${call}: ${arg} is ${describeArgument(value)}; give ${give}`);
}
