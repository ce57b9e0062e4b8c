/**
 * The online buffer saved across restarts: STATE/buffer.bin, written at a graceful shutdown and read at the
 * next start, so a restart does not throw away the traffic a retrain was waiting for.
 * Layout: a uint32 (little-endian) byte length H, H bytes of JSON header (BufferHeader, space-padded to a
 * multiple of 4), then samples × rowSize float32 values (little-endian), oldest sample first.
 * Invariants: the file is written atomically (whole or absent); a read checks the header's schema and that
 * the file holds exactly the values it announces, else it is refused (FILE_UNREADABLE), never half-used; a
 * restore reads only the newest samples the buffer keeps, into the buffer itself (no second copy in memory).
 */
import { promises as fs } from 'node:fs';
import os from 'node:os';
import { z } from 'zod';
import { PreprocessSchema } from '../bundle/index.ts';
import { asLayercacheError, LayercacheError } from '../errors/index.ts';
import { preprocessFlags, samePreprocess, type Preprocess } from '../data/index.ts';
import { readFully, writeFileAtomic } from '../files/index.ts';
import type { Logger } from './online-deps.ts';
import type { SampleBuffer } from './sample-buffer.ts';
import { PRIVATE_FILE_MODE } from './state-dir.ts';
import type { ScheduleState } from './retrain-schedule.ts';

export const BUFFER_FILE = 'buffer.bin';

/** A header larger than this is not one of ours. */
const MAX_HEADER_BYTES = 1 << 20;

const BufferHeaderSchema = z.object({
  format: z.literal('layercache.buffer/1'),
  /** sha256 of the backbone the samples were served by. */
  model: z.string().regex(/^[0-9a-f]{64}$/),
  /** Dims of one sample (the model input without its batch dim). */
  sampleDims: z.array(z.number().int().min(1)).min(1),
  /**
   * How the classify route made samples of images (null: no preprocessing); absent in files saved before it was
   * kept, which are restored whatever the preprocessing now.
   */
  preprocess: PreprocessSchema.nullable().optional(),
  samples: z.number().int().min(0),
  /** Samples ever admitted by the buffer that was saved, and that count at its last retrain (the retrain schedule). */
  admitted: z.number().int().min(0),
  lastRetrainAt: z.number().int().min(0),
  /** Retrains in a row that added no exit (the schedule's backoff); absent in files saved before it was kept. */
  fruitlessRetrains: z.number().int().min(0).default(0),
  savedAt: z.string(),
}).strict();

export type BufferHeader = z.infer<typeof BufferHeaderSchema>;

/** Writes the header and the samples (parts: [k, rowSize] each, oldest first, as SampleBuffer.chunks gives them). */
export async function saveBufferFile(file: string, header: BufferHeader, parts: readonly Float32Array[]): Promise<void> {
  if (os.endianness() !== 'LE') throw new LayercacheError('INTERNAL', 'saving the online buffer needs a little-endian machine');
  const rowSize = header.sampleDims.reduce((a, b) => a * b, 1);
  const values = parts.reduce((a, p) => a + p.length, 0);
  if (values !== header.samples * rowSize) throw new LayercacheError('INTERNAL', `the online buffer holds ${values} values, not ${header.samples} samples × ${rowSize}`);
  let json = JSON.stringify(header);
  json += ' '.repeat((4 - (Buffer.byteLength(json) % 4)) % 4);
  const head = Buffer.alloc(4 + Buffer.byteLength(json));
  head.writeUInt32LE(Buffer.byteLength(json), 0);
  head.write(json, 4, 'utf8');
  // Clients' inputs: readable by this user only.
  await writeFileAtomic(file, [head, ...parts.map((p) => new Uint8Array(p.buffer, p.byteOffset, p.byteLength))], { mode: PRIVATE_FILE_MODE });
}

/**
 * Reads the header, and then the newest saved samples into the array `into` returns for it ([k, rowSize], k at most
 * the samples saved; none are read when it returns null). Returns the header; null when there is no file.
 */
export async function readBufferFile(file: string, into: (header: BufferHeader) => Float32Array | null): Promise<BufferHeader | null> {
  let handle: fs.FileHandle;
  try {
    handle = await fs.open(file, 'r');
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'ENOENT') return null;
    throw new LayercacheError('FILE_UNREADABLE', `cannot read the saved online buffer ${file}: ${(err as Error).message}`, { cause: err });
  }
  const refuse = (why: string, cause?: unknown): LayercacheError =>
    new LayercacheError('FILE_UNREADABLE', `the saved online buffer ${file} ${why}; it is ignored (delete it, or let the next shutdown replace it)`, cause === undefined ? undefined : { cause });
  try {
    const size = (await handle.stat()).size;
    const lengthBytes = Buffer.alloc(4);
    if (size < 4 || (await readFully(handle, lengthBytes, 0)) !== 4) throw refuse(`is ${size} bytes long, too short for a header`);
    const headerBytes = lengthBytes.readUInt32LE(0);
    if (headerBytes > MAX_HEADER_BYTES || 4 + headerBytes > size) throw refuse(`announces a header of ${headerBytes} bytes in a ${size}-byte file`);
    const text = Buffer.alloc(headerBytes);
    await readFully(handle, text, 4);
    let header: BufferHeader;
    try {
      header = BufferHeaderSchema.parse(JSON.parse(text.toString('utf8')));
    } catch (err) {
      throw refuse('has no valid header', err);
    }
    const rowBytes = header.sampleDims.reduce((a, b) => a * b, 1) * 4;
    const end = 4 + headerBytes + header.samples * rowBytes;
    if (end !== size) throw refuse(`is ${size} bytes long, but its header announces ${header.samples} samples of ${rowBytes} bytes (${end} bytes in all): it is truncated or corrupted`);
    const dst = into(header);
    if (dst === null) return header;
    const bytes = new Uint8Array(dst.buffer, dst.byteOffset, dst.byteLength);
    if (bytes.length % rowBytes !== 0 || bytes.length > end - 4 - headerBytes) throw new LayercacheError('INTERNAL', `readBufferFile: ${bytes.length} bytes are not whole samples of ${rowBytes} bytes, or more than the ${header.samples} saved`);
    const got = await readFully(handle, bytes, end - bytes.length);
    if (got < bytes.length) throw refuse(`ended early, at byte ${end - bytes.length + got}`);
    return header;
  } finally {
    await handle.close();
  }
}

/** What a saved buffer must match to be restored. */
export interface BufferOwner {
  /** sha256 of the backbone served. */
  readonly model: string;
  readonly sampleDims: readonly number[];
  /** The preprocessing that makes samples of images (null: none): samples made another way are not restored. */
  readonly preprocess: Preprocess | null;
}

/**
 * Restores into the empty `buffer` what `file` saved, when it holds samples of this backbone and sample shape;
 * returns the saved retrain schedule. null, with the reason logged, when there is no file or it does not fit.
 */
export async function restoreBufferFile(file: string, buffer: SampleBuffer, owner: BufferOwner, log: Logger): Promise<ScheduleState | null> {
  const dims = owner.sampleDims;
  let claimed = false;
  let h: BufferHeader | null;
  try {
    // The newest samples that fit are read straight into the buffer's storage.
    h = await readBufferFile(file, (header) => {
      const sameShape = header.sampleDims.length === dims.length && header.sampleDims.every((d, i) => d === dims[i]);
      const samePrep = header.preprocess === undefined || samePreprocess(header.preprocess, owner.preprocess);
      if (header.model === owner.model && sameShape && samePrep) {
        claimed = true;
        return buffer.restoreInto(Math.min(header.samples, buffer.capacity), header.admitted);
      }
      const whose = header.model !== owner.model
        ? `of another model (sha256 ${header.model.slice(0, 12)}…)`
        : !sameShape ? `of shape [${header.sampleDims.join(', ')}], not [${dims.join(', ')}]`
          : `of images preprocessed otherwise (${preprocessFlags(header.preprocess ?? null)}, not ${preprocessFlags(owner.preprocess)}), which a retrain would mix with today's`;
      log.warn({ file, model: header.model, sampleDims: header.sampleDims }, `online buffer: ${file} holds samples ${whose}; not restored (the next shutdown replaces it)`);
      return null;
    });
  } catch (err) {
    if (claimed) buffer.reset();
    const e = asLayercacheError(err);
    log.error({ code: e.code, err: e }, `online buffer: ${e.message}`);
    return null;
  }
  if (h === null || !claimed) return null;
  // Consumed: after a crash the next start must not restore these samples again (counted twice, with the schedule
  // of a retrain that has run since). The next graceful shutdown saves the buffer anew.
  try {
    await fs.rm(file, { force: true });
  } catch (err) {
    buffer.reset();
    log.error({ file, err }, `online buffer: ${file} could not be removed once read (${(err as Error).message}), so it is not restored: a later start would count its samples again`);
    return null;
  }
  log.info({ file, restored: buffer.size, saved: h.samples, admitted: h.admitted, savedAt: h.savedAt }, `online buffer: restored ${buffer.size} samples saved at ${h.savedAt}`);
  return { lastRetrainAt: Math.min(h.lastRetrainAt, buffer.total), fruitlessRetrains: h.fruitlessRetrains };
}

/**
 * Saves `buffer` to `file` with its retrain schedule. Rejects with a LayercacheError when it cannot (the shutdown
 * goes on, and then fails: the buffered samples are lost).
 */
export async function persistBufferFile(file: string, buffer: SampleBuffer, owner: BufferOwner & ScheduleState, log: Logger): Promise<void> {
  const started = performance.now();
  try {
    await saveBufferFile(file, {
      format: 'layercache.buffer/1', model: owner.model, sampleDims: [...owner.sampleDims],
      preprocess: owner.preprocess === null ? null : { ...owner.preprocess, mean: [...owner.preprocess.mean], std: [...owner.preprocess.std] },
      samples: buffer.size, admitted: buffer.total, lastRetrainAt: owner.lastRetrainAt, fruitlessRetrains: owner.fruitlessRetrains, savedAt: new Date().toISOString(),
    }, buffer.chunks());
  } catch (err) {
    const e = asLayercacheError(err);
    throw new LayercacheError(e.code, `the online buffer (${buffer.size} samples) was not saved: ${e.message}`, { cause: err });
  }
  log.info({ file, samples: buffer.size, ms: Math.round(performance.now() - started) }, `online buffer: saved ${buffer.size} samples to ${file} for the next start`);
}
