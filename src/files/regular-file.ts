/**
 * Files a user names are read only when they are regular files. Anything else is refused before it is opened: a
 * device never ends (/dev/zero filled the machine's memory), opening a FIFO waits for a writer (the process hangs),
 * and a directory or socket holds no bytes to read. A file read whole once may be a FIFO when its caller says so:
 * process substitution (`inspect <(curl …)`) and `/dev/stdin` from a pipe are FIFOs with a writer.
 * Invariant: only the kind is checked (symbolic links followed); a missing file is left to the caller's read, which
 * names it as missing.
 */
import { promises as fs, type Stats } from 'node:fs';

/** What a file of these stats is when it is not a regular file ("a directory", "a FIFO (named pipe)", …); else null. */
export function nonRegularKind(st: Stats, accept: { fifo?: boolean } = {}): string | null {
  if (st.isFile()) return null;
  if (st.isDirectory()) return 'a directory';
  if (st.isFIFO()) return accept.fifo === true ? null : 'a FIFO (named pipe)';
  if (st.isCharacterDevice() || st.isBlockDevice()) return 'a device';
  if (st.isSocket()) return 'a socket';
  return 'not a regular file';
}

/**
 * What `file` is when it exists and is not a regular file ("a directory", "a FIFO (named pipe)", …); else null.
 * fifo: a FIFO passes (null) too.
 */
export async function notRegularFile(file: string, accept: { fifo?: boolean } = {}): Promise<string | null> {
  const st = await fs.stat(file).catch(() => null);
  return st === null ? null : nonRegularKind(st, accept);
}
