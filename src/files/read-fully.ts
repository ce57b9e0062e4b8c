/**
 * Reading a byte range of an open file whole. Invariant: fills `into` unless the file ends first, in reads of at
 * most 1 GiB (one read takes at most 2 GiB, and may return fewer bytes than asked).
 */
import type { promises as fs } from 'node:fs';

const READ_CHUNK = 2 ** 30;

/** Reads into `into` from `position` on; returns the bytes read (fewer than into.length only at the file's end). */
export async function readFully(handle: fs.FileHandle, into: Uint8Array, position: number): Promise<number> {
  let done = 0;
  while (done < into.length) {
    const { bytesRead } = await handle.read(into, done, Math.min(READ_CHUNK, into.length - done), position + done);
    if (bytesRead === 0) break;
    done += bytesRead;
  }
  return done;
}
