/**
 * The CLI's standard output and error as the process has them. Output to a file or a device is written with a
 * loop that checks every byte count: Node's file stream drops the rest of a short write without an error (on a
 * nearly full disk `inspect --json > f` left 4 KiB of 7 KiB and exited 0). A write that fails is FILE_WRITE_FAILED,
 * thrown where the command writes, so the command fails with its usual one-line error. A closed pipe (EPIPE) ends
 * that output, not the command; a later stream error is reported once on stderr and fails the exit status.
 * Invariant: every byte a command writes reaches its destination, or the command's exit status says it did not.
 */
import { fstatSync, writeSync } from 'node:fs';
import { LayercacheError } from '../errors/index.ts';

/** Whether fd is written synchronously by Node's file stream (a regular file, or a device that is not a terminal). */
function isFileLike(fd: number, isTty: boolean): boolean {
  try {
    const st = fstatSync(fd);
    return st.isFile() || (st.isCharacterDevice() && !isTty);
  } catch {
    return false;
  }
}

/** What went wrong writing to `name`, and the fix. */
function writeFailed(name: string, err: NodeJS.ErrnoException): LayercacheError {
  const fix = err.code === 'ENOSPC' ? 'free space where it is redirected, or redirect it elsewhere' : 'redirect it to a file that can be written';
  return new LayercacheError('FILE_WRITE_FAILED', `could not write ${name} (${err.code ?? err.message}): what the command printed is incomplete (files it wrote are whole); ${fix}`, { cause: err });
}

/**
 * A writer for `stream` (process.stdout or process.stderr), named `name` in errors ("standard output"). onLateError:
 * called once with an error the stream raised after a write returned (pipes write asynchronously to their end).
 */
export function processWriter(stream: Pick<NodeJS.WriteStream, 'on' | 'write' | 'isTTY'>, fd: number, name: string, onLateError: (e: LayercacheError) => void): (text: string) => void {
  let closed = false;
  stream.on('error', (err: NodeJS.ErrnoException) => {
    if (closed) return;
    closed = true;
    if (err.code !== 'EPIPE') onLateError(writeFailed(name, err));
  });
  if (!isFileLike(fd, stream.isTTY === true)) {
    return (text) => {
      if (!closed) stream.write(text);
    };
  }
  return (text) => {
    if (closed) return;
    const bytes = Buffer.from(text, 'utf8');
    try {
      for (let done = 0; done < bytes.length;) done += writeSync(fd, bytes, done);
    } catch (err) {
      closed = true;
      if ((err as NodeJS.ErrnoException).code === 'EPIPE') return;
      throw writeFailed(name, err as NodeJS.ErrnoException);
    }
  };
}
