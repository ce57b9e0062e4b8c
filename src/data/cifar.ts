/**
 * Reader for the CIFAR-10 "binary version" layout: records of 3073 bytes, one label byte
 * then 1024 R, 1024 G and 1024 B bytes (32×32, row-major). Invariant: only the requested
 * record range is read from disk, whole (a file that shrinks meanwhile is refused, never read as zeros); labels and
 * pixels keep record order.
 */
import { promises as fs } from 'node:fs';
import { LayercacheError } from '../errors/index.ts';
import { nonRegularKind, readFully } from '../files/index.ts';

export const CIFAR_RECORD_BYTES = 3073;
export const CIFAR_SHAPE = { channels: 3, height: 32, width: 32 } as const;

export interface LabelledImages {
  readonly count: number;
  /** [count] */
  readonly labels: Uint8Array;
  /** [count, 3, 32, 32] planar bytes. */
  readonly pixels: Uint8Array;
}

/** Number of records in a CIFAR binary file. */
/** A CIFAR file that cannot be stat'ed or opened: missing, or not readable by this user. */
function cifarUnreadable(file: string, err: unknown): LayercacheError {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'EACCES' || code === 'EPERM') return new LayercacheError('FILE_UNREADABLE', `CIFAR file ${file} cannot be read (${code}); fix its permissions`, { cause: err });
  if (code === 'ENOENT' || code === 'ENOTDIR') return new LayercacheError('FILE_NOT_FOUND', `CIFAR file ${file} does not exist; check the path in the data spec`, { cause: err });
  return new LayercacheError('FILE_UNREADABLE', `CIFAR file ${file} cannot be read (${code ?? (err as Error).message}); check the path in the data spec`, { cause: err });
}

export async function cifarRecordCount(file: string): Promise<number> {
  let size: number;
  try {
    const st = await fs.stat(file);
    if (st.isDirectory()) throw new LayercacheError('FILE_UNREADABLE', `CIFAR file ${file} is a directory; give the binary file itself, e.g. cifar10:${file.replace(/\/$/, '')}/test_batch.bin#0-999`);
    const kind = nonRegularKind(st);
    if (kind !== null) throw new LayercacheError('FILE_UNREADABLE', `CIFAR file ${file} is ${kind}, not a CIFAR-10 binary file; give the path of the file itself`);
    size = st.size;
  } catch (err) {
    if (err instanceof LayercacheError) throw err;
    throw cifarUnreadable(file, err);
  }
  if (size === 0) throw new LayercacheError('DATA_SPEC_INVALID', `${file} is empty (0 bytes), so it holds no CIFAR-10 records; give the path of a CIFAR-10 binary file (3,073 bytes per record)`);
  if (size % CIFAR_RECORD_BYTES !== 0) {
    throw new LayercacheError('DATA_SPEC_INVALID', `${file} is ${size} bytes, not a multiple of ${CIFAR_RECORD_BYTES}; it is not a CIFAR-10 binary file`);
  }
  return size / CIFAR_RECORD_BYTES;
}

/** Reads records [start, end) of a CIFAR binary file. */
export async function readCifar(file: string, start: number, end: number): Promise<LabelledImages> {
  const total = await cifarRecordCount(file);
  if (!(Number.isInteger(start) && Number.isInteger(end) && start >= 0 && end <= total && start < end)) {
    throw new LayercacheError('DATA_SPEC_INVALID', `record range ${start}-${end - 1} is empty or outside ${file}, which holds records 0-${total - 1}`);
  }
  const count = end - start;
  const buf = new Uint8Array(count * CIFAR_RECORD_BYTES);
  const handle = await fs.open(file, 'r').catch((err: unknown) => {
    throw cifarUnreadable(file, err);
  });
  let done: number;
  try {
    // One read may return fewer bytes (a network or FUSE file system): read until done or the file ends.
    done = await readFully(handle, buf, start * CIFAR_RECORD_BYTES);
  } catch (err) {
    throw cifarUnreadable(file, err);
  } finally {
    // A read handle's close cannot lose data; its failure must not hide the read's.
    await handle.close().catch(() => undefined);
  }
  // The file shrank since its size was read: the missing records would be zeros with label 0.
  if (done < buf.length) {
    throw new LayercacheError('DATA_SPEC_INVALID', `${file} ended at byte ${start * CIFAR_RECORD_BYTES + done} while records ${start}-${end - 1} were read (it shrank: is another process writing it?); read it again once it is complete`);
  }
  const labels = new Uint8Array(count);
  const pixels = new Uint8Array(count * 3072);
  for (let i = 0; i < count; i++) {
    labels[i] = buf[i * CIFAR_RECORD_BYTES]!;
    // CIFAR-10 has 10 classes: another label byte means this is not a CIFAR-10 file (CIFAR-100's records are longer).
    if (labels[i]! > 9) throw new LayercacheError('DATA_SPEC_INVALID', `record ${start + i} of ${file} has label ${labels[i]}, but CIFAR-10 labels are 0-9; it is not a CIFAR-10 binary file`);
    pixels.set(buf.subarray(i * CIFAR_RECORD_BYTES + 1, (i + 1) * CIFAR_RECORD_BYTES), i * 3072);
  }
  return { count, labels, pixels };
}
