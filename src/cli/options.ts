/** Parsers for CLI option values. Invariant: bad values raise USAGE errors naming the value and the fix. */
import { parseDecimal } from '../config/index.ts';
import { LayercacheError } from '../errors/index.ts';

/** Parses "name=1x3x224x224" (repeatable) into { name: [1,3,224,224] }. */
export function parseInputShape(value: string, previous: Record<string, number[]> = {}): Record<string, number[]> {
  const m = /^([^=]+)=(\d+(?:x\d+)*)$/.exec(value.trim());
  if (!m) throw new LayercacheError('USAGE', `--input-shape '${value}' is malformed; write NAME=DIMS, e.g. --input-shape input=1x3x224x224`);
  const dims = m[2]!.split('x').map(Number);
  if (dims.some((d) => d <= 0)) throw new LayercacheError('USAGE', `--input-shape '${value}' has a zero dimension; every dimension must be at least 1`);
  const values = dims.reduce((a, b) => a * b, 1);
  if (values > MAX_TENSOR_VALUES) {
    throw new LayercacheError('USAGE', `--input-shape '${value}' is ${values.toExponential(2)} values, more than one tensor can hold here (${MAX_TENSOR_VALUES.toExponential(2)}); give the input's real shape, e.g. --input-shape input=1x3x224x224`);
  }
  return { ...previous, [m[1]!]: dims };
}

/** Values one float32 tensor may hold: 1 GiB (typed arrays stop near 2^32 bytes, and a build holds many). */
const MAX_TENSOR_VALUES = 2 ** 28;

/** Longest image side --image-size takes: no model input is larger. */
const MAX_IMAGE_SIDE = 16_384;

/** A file or directory path: refuses an empty one, which would resolve to the working directory. */
export function parsePath(value: string, option: string, example: string): string {
  if (value.trim() === '') throw new LayercacheError('USAGE', `${option} '${value}' is an empty path; give one, e.g. ${option} ${example}`);
  return value;
}

/** A path given as a command's argument: refuses an empty one, as parsePath does an option's. usage: the command line to show. */
export function parsePathArgument(value: string, name: string, usage: string): string {
  if (value.trim() === '') throw new LayercacheError('USAGE', `the ${name} argument '${value}' is an empty path; give one, e.g. ${usage}`);
  return value;
}

/** Parses "HxW" (image height and width, each at least 1) into [height, width]. */
export function parseImageSize(value: string, option: string): [number, number] {
  const m = /^(\d+)x(\d+)$/.exec(value.trim());
  if (!m || Number(m[1]) < 1 || Number(m[2]) < 1) throw new LayercacheError('USAGE', `${option} '${value}' is not HxW; give the height and width in pixels, e.g. ${option} 224x224`);
  if (Number(m[1]) > MAX_IMAGE_SIDE || Number(m[2]) > MAX_IMAGE_SIDE) throw new LayercacheError('USAGE', `${option} '${value}' has a side over ${MAX_IMAGE_SIDE} pixels; give the model's input size, e.g. ${option} 224x224`);
  return [Number(m[1]), Number(m[2])];
}

/** Parses "a,b,c" into a list of non-empty names. */
export function parseNameList(value: string, option: string, what = 'tensors', example = '/layer1/Relu_output_0'): string[] {
  const names = value.split(',').map((s) => s.trim()).filter((s) => s.length > 0);
  if (names.length === 0) throw new LayercacheError('USAGE', `${option} '${value}' names no ${what}; pass a comma-separated list, e.g. ${option} ${example}`);
  return names;
}

/** Parses a positive integer option. */
export function parsePositiveCount(value: string, option: string): number {
  const n = parseDecimal(value);
  // A whole number below 1 is told the bound; anything else how to write one ('0x10' and '2.5' are not read as numbers here).
  if (Number.isInteger(n) && n < 1) throw new LayercacheError('USAGE', `${option} '${value}' is not a positive integer; give a whole number of at least 1`);
  if (!Number.isInteger(n)) throw new LayercacheError('USAGE', `${option} '${value}' is not a positive integer; write a whole number in decimal`);
  return n;
}

/** Parses a non-negative integer option. */
export function parseCount(value: string, option: string): number {
  const n = parseDecimal(value);
  if (Number.isInteger(n) && n < 0) throw new LayercacheError('USAGE', `${option} '${value}' is not a non-negative integer; give a whole number of at least 0`);
  if (!Number.isInteger(n)) throw new LayercacheError('USAGE', `${option} '${value}' is not a non-negative integer; write a whole number in decimal`);
  return n;
}

/** Parses a finite number option. */
export function parseNumber(value: string, option: string): number {
  const n = parseDecimal(value);
  if (Number.isNaN(n)) throw new LayercacheError('USAGE', `${option} '${value}' is not a number; write it in decimal, e.g. 255 or 0.5`);
  if (!Number.isFinite(n)) throw new LayercacheError('USAGE', `${option} '${value}' is beyond the range of numbers; give a value of smaller magnitude`);
  return n;
}

/** Parses "a,b,c" numbers. */
export function parseNumberList(value: string, option: string): number[] {
  return value.split(',').map((v, i, all) => {
    try {
      return parseNumber(v, option);
    } catch (err) {
      if (all.length === 1) throw err;
      const why = Number.isNaN(parseDecimal(v)) ? 'is not a number' : 'is beyond the range of numbers';
      throw new LayercacheError('USAGE', `${option} '${value}': item ${i + 1} ('${v}') ${why}; give comma-separated decimals, e.g. ${option} 0.485,0.456,0.406`, { cause: err });
    }
  });
}

/** Parses a number strictly between 0 and 1 (a tolerance or a confidence level δ). */
export function parseFraction(value: string, option: string, example: string): number {
  const n = parseNumber(value, option);
  if (!(n > 0 && n < 1)) throw new LayercacheError('USAGE', `${option} ${value} is outside (0, 1); pass e.g. ${option} ${example}`);
  return n;
}

/** Parses one of a fixed set of choices. */
export function parseChoice<T extends string>(value: string, option: string, choices: readonly T[]): T {
  if (!(choices as readonly string[]).includes(value)) throw new LayercacheError('USAGE', `${option} '${value}' is not one of ${choices.join(', ')}`);
  return value as T;
}
