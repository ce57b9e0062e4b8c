/**
 * Whether one path lies within another, compared as real paths: a path through a symbolic link, or one not created
 * yet, is compared by where it would land.
 * Invariant: realPath of a path that does not exist is its nearest existing ancestor's real path joined with the rest.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';

/** `p` absolute, with symbolic links resolved as far as it exists. */
export async function realPath(p: string): Promise<string> {
  const abs = path.resolve(p);
  const real = await fs.realpath(abs).catch(() => null);
  if (real !== null) return real;
  const parent = path.dirname(abs);
  return parent === abs ? abs : path.join(await realPath(parent), path.basename(abs));
}

/** Whether real path `inner` is `outer` or lies inside it. */
export function isWithin(inner: string, outer: string): boolean {
  return inner === outer || inner.startsWith(outer.endsWith(path.sep) ? outer : `${outer}${path.sep}`);
}
