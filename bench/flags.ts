/**
 * Command-line flags of the bench scripts: `--name value`, `--name` alone, and an optional
 * first positional argument (a bundle directory).
 * Invariant: a numeric flag whose value is not a number stops the run, naming the flag.
 */
import path from 'node:path';

/** The value after `--name`, or `dflt` when the flag is absent. */
export function flag(name: string, dflt: string): string {
  const i = process.argv.indexOf(`--${name}`);
  return i >= 0 ? (process.argv[i + 1] ?? '') : dflt;
}

export function hasFlag(name: string): boolean {
  return process.argv.includes(`--${name}`);
}

/** A number given as `value`, for flag `name`; throws naming the flag when it is not one. */
export function toNumber(name: string, value: string): number {
  const n = Number(value);
  if (value.trim() === '' || !Number.isFinite(n)) throw new Error(`--${name} '${value}' is not a number`);
  return n;
}

/** The number after `--name`, or `dflt` when the flag is absent. */
export function numberFlag(name: string, dflt: number): number {
  return hasFlag(name) ? toNumber(name, flag(name, '')) : dflt;
}

/** The number after `--name`, or undefined when the flag is absent (the library's default applies). */
export function optionalNumberFlag(name: string): number | undefined {
  return hasFlag(name) ? toNumber(name, flag(name, '')) : undefined;
}

/** The comma-separated numbers after `--name`, or `dflt` (same format) when the flag is absent. */
export function numberListFlag(name: string, dflt: string): number[] {
  return flag(name, dflt).split(',').map((v) => toNumber(name, v));
}

/** A positive integer after `--name`, or `dflt` when the flag is absent; throws naming the flag otherwise. */
export function countFlag(name: string, dflt: number): number {
  const v = numberFlag(name, dflt);
  if (!Number.isInteger(v) || v < 1) throw new Error(`--${name} ${v} must be a positive integer`);
  return v;
}

/** The bundle directory given as the first argument, or the bench:cifar ResNet-56 1% bundle. */
export function bundleArg(root: string): string {
  const first = process.argv[2];
  return first && !first.startsWith('--') ? first : path.join(root, 'bench/results/bundles/resnet56-0.01');
}
