/**
 * Reading request bodies: their media type, which types the routes refuse, and bodies sent with a Content-Encoding
 * (tritonclient's `request_compression_algorithm` sends gzip or deflate, as Triton accepts), decoded before the
 * protocol reads them, never past the body limit.
 * Invariants: identity (or no header) returns the body itself; the decoded size is capped at `limitBytes` and, beyond
 * RATIO_FREE_BYTES, at MAX_DECODE_RATIO times the bytes sent, so a small compressed body cannot expand into a large
 * allocation the body limit would have refused, nor cost far more than its upload; every failure is a LayercacheError naming the encoding and
 * the fix.
 */
import { promisify } from 'node:util';
import { gunzip, inflate } from 'node:zlib';
import type { FastifyRequest } from 'fastify';
import { LayercacheError } from '../errors/index.ts';
import { clip } from './protocol.ts';

/**
 * Content types a browser sends to another site without a CORS preflight (the Fetch standard's CORS-safelisted
 * ones). The server has no CORS, so a page elsewhere could not read the answer, but its request would still run and
 * feed the online learner: the routes that take bodies refuse these types. (multipart/form-data is the third; classify
 * takes it, as HTML forms upload files that way.)
 */
export const BROWSER_SIMPLE_TYPES = new Set(['text/plain', 'application/x-www-form-urlencoded']);

/** The request's media type, lower-case and without parameters; '' when it has no Content-Type. */
export function mediaTypeOf(req: FastifyRequest): string {
  return String(req.headers['content-type'] ?? '').split(';')[0]!.trim().toLowerCase();
}

/** A request URL's path without its query (where a client may have put a token), for messages and logs. */
export function pathOf(url: string): string {
  return url.split('?')[0]!;
}

/** The raw body (the catch-all parser's bytes); an empty Buffer for a request sent without one. */
export function bodyOf(req: FastifyRequest): Buffer {
  return Buffer.isBuffer(req.body) ? req.body : Buffer.alloc(0);
}

/** Content-Encodings the server decodes, as an Accept-Encoding value. */
export const ACCEPTED_ENCODINGS = 'gzip, deflate';

/**
 * How many times its sent size a body may grow when decoded. gzip turns a few kilobytes of zeros into megabytes; without
 * this cap a 64 KB upload would cost the server a 64 MiB allocation and seconds of parsing. Tensors of real inputs
 * compress less (gzip, the 10,000 normalised CIFAR-10 test images, measured by a reviewer: 1.9–7.8× as float32 binary,
 * 5.6× median and 20.5× at most as JSON numbers); a tensor of zeros (130× as JSON) is refused and must go uncompressed.
 */
export const MAX_DECODE_RATIO = 32;

/**
 * Bodies that decode to at most this many bytes are read whatever their ratio: a megabyte costs little, and a request of
 * zeros (a black image as raw pixels: 130× as JSON) is a valid request, refused before only for compressing well.
 */
export const RATIO_FREE_BYTES = 2 ** 20;

const DECODERS: Record<string, (body: Buffer, options: { maxOutputLength: number }) => Promise<Buffer>> = {
  gzip: promisify(gunzip),
  'x-gzip': promisify(gunzip),
  // HTTP's "deflate" is the zlib format (RFC 9110 §8.4.1.2), what inflate reads.
  deflate: promisify(inflate),
};

/**
 * The body as sent before its Content-Encoding `encoding` (the header's value, or undefined when absent), at most
 * min(limitBytes, max(RATIO_FREE_BYTES, MAX_DECODE_RATIO × its encoded size)) bytes.
 */
export async function decodeBody(body: Buffer, encoding: string | undefined, limitBytes: number): Promise<Buffer> {
  const name = (encoding ?? '').trim().toLowerCase();
  if (name === '' || name === 'identity') return body;
  const decode = DECODERS[name];
  if (!decode) {
    throw new LayercacheError('UNSUPPORTED_MEDIA_TYPE', `Content-Encoding '${clip(encoding ?? '')}' is not supported; send the body uncompressed, or compressed with gzip or deflate`);
  }
  const ratioCap = Math.max(RATIO_FREE_BYTES, MAX_DECODE_RATIO * body.length);
  try {
    return await decode(body, { maxOutputLength: Math.min(limitBytes, ratioCap) });
  } catch (err) {
    if ((err as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE') {
      throw new LayercacheError('BODY_TOO_LARGE', ratioCap < limitBytes
        ? `the ${body.length}-byte ${name} body decompresses to more than ${ratioCap} bytes, over ${MAX_DECODE_RATIO} times its size (a guard against compression bombs); send a body that compresses this well uncompressed`
        : `the request body decompresses to more than the limit of ${limitBytes} bytes; send fewer rows per request or raise --body-limit`, { cause: err });
    }
    throw new LayercacheError('INFER_REQUEST_INVALID', `the request body is not valid ${name} data (${(err as Error).message}); check the Content-Encoding header`, { cause: err });
  }
}
