/**
 * The classify route's image as a request carries it: its limits (form fields beside it, pixels, decodes at once),
 * the file part of a multipart body, and the formats it takes (JPEG and PNG, by their signature).
 * Invariant: a malformed multipart body is the client's error (400), an oversized file a 413; a body that stopped
 * arriving is left to the error handler (REQUEST_INCOMPLETE).
 */
import type { Readable } from 'node:stream';
import type { FastifyError, FastifyRequest } from 'fastify';
import { LayercacheError } from '../errors/index.ts';

/** Form fields a classify request may send beside its image. */
export const MULTIPART_FIELDS = 16;

/** Largest image the classify route decodes (64 megapixels, a large camera photo); larger ones are refused undecoded. */
export const CLASSIFY_MAX_PIXELS = 64 * 2 ** 20;

/**
 * Most bytes an image the classify route decodes may take decoded: 64 megapixels of 8-bit RGBA. A 16-bit PNG of as
 * many pixels (384 MiB as RGB) is refused from its header: four of them decoding pushed the server from 241 to
 * 941 MB (security review).
 */
export const CLASSIFY_MAX_DECODED_BYTES = 256 * 2 ** 20;

/**
 * Images decoded at once: sharp decodes on libuv's thread pool (4 threads), which also inflates compressed bodies
 * and reads files; eight large photos at once held a 3 KB gzip request 2.5 s.
 */
export const DECODE_SLOTS = 2;

const PNG_SIGNATURE = Buffer.from([0x89, 0x50, 0x4e, 0x47, 0x0d, 0x0a, 0x1a, 0x0a]);

/** By the file's signature: JPEG (FF D8 FF) or PNG. */
export function isJpegOrPng(bytes: Buffer): boolean {
  return (bytes.length >= 3 && bytes[0] === 0xff && bytes[1] === 0xd8 && bytes[2] === 0xff) || bytes.subarray(0, 8).equals(PNG_SIGNATURE);
}

/**
 * Why a body that is not a JPEG or PNG was sent, when its bytes or type say: JSON (tensors, or an image in base64,
 * meant for another route or encoding), a multipart body of another kind than form-data, or an image format
 * classify does not take. mediaType: the request's Content-Type, lower-cased, without parameters. '' when nothing says.
 */
export function notImageHint(bytes: Buffer, mediaType: string): string {
  if (mediaType.startsWith('multipart/') && mediaType !== 'multipart/form-data') return `; a ${mediaType} body is read as the image itself: send the image as a multipart/form-data file field`;
  const first = bytes.subarray(0, 64).toString('latin1').trimStart();
  if (first.startsWith('{') || first.startsWith('[')) return '; the body looks like JSON: classify takes the image file\'s bytes (as the body, or a multipart/form-data file field), and tensors go to the infer route';
  if (first.startsWith('GIF8')) return '; it looks like a GIF';
  if (first.startsWith('RIFF') && bytes.subarray(8, 12).toString('latin1') === 'WEBP') return '; it looks like a WebP';
  if (first.startsWith('BM')) return '; it looks like a BMP';
  if (/^(II\*\0|MM\0\*)/.test(first)) return '; it looks like a TIFF';
  if (/^[A-Za-z0-9+/]{16}/.test(first)) return '; it looks like base64 text: send the decoded bytes';
  return '';
}

/**
 * The file part of a multipart body (at most `limitBytes`); a malformed body is the client's error (400), an oversized
 * file a 413 as soon as it passes the limit (the plugin's toBuffer read the body to its end first, which a chunked
 * upload may never reach).
 */
export async function multipartImage(req: FastifyRequest, limitBytes: number): Promise<Buffer> {
  try {
    const part = await req.file();
    if (!part) throw new LayercacheError('INFER_REQUEST_INVALID', 'the multipart body has no file part; send the image as a file field');
    return await readFilePart(part.file, limitBytes);
  } catch (err) {
    const f = err as Partial<FastifyError>;
    // A body that stopped arriving is the error handler's REQUEST_INCOMPLETE, not a malformed body.
    if (err instanceof LayercacheError || f.statusCode === 413 || f.code === 'FST_REQ_FILE_TOO_LARGE' || f.code === 'ECONNRESET' || f.message === 'aborted') throw err;
    throw new LayercacheError('INFER_REQUEST_INVALID', `the multipart body is malformed (${(err as Error).message}); send a multipart/form-data body with the image as a file field, e.g. curl -F image=@cat.jpg`, { cause: err });
  }
}

/** A file part's bytes; refused when it passes `limitBytes` (busboy's 'limit'), without waiting for the part's end. */
function readFilePart(file: Readable & { truncated?: boolean }, limitBytes: number): Promise<Buffer> {
  return new Promise<Buffer>((resolve, reject) => {
    const chunks: Buffer[] = [];
    const tooLarge = (): void => {
      chunks.length = 0;
      reject(new LayercacheError('BODY_TOO_LARGE', `the image is over the limit of ${limitBytes} bytes; send a smaller image or raise --body-limit`));
      // Its parser stops; the rest of the body is not read (the answer closes the connection).
      file.destroy();
    };
    // The limit may have been passed before these listeners were attached (the part's head and the bytes beyond the
    // limit in one read): busboy then marks the part truncated, and 'limit' does not come again.
    if (file.truncated) return tooLarge();
    // Ended by an error (the client went away) before it was read: that error, which will not come again.
    if (file.errored) return reject(file.errored);
    file.on('data', (chunk: Buffer) => chunks.push(chunk));
    file.once('limit', tooLarge);
    file.once('end', () => (file.truncated ? tooLarge() : resolve(Buffer.concat(chunks))));
    file.once('error', reject);
  });
}
