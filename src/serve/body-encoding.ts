/**
 * Request bodies sent with a Content-Encoding (tritonclient's `request_compression_algorithm` sends gzip or
 * deflate, as Triton accepts): decoded before the protocol reads them, never past the body limit.
 * Invariants: identity (or no header) returns the body itself; the decoded size is capped at `limitBytes`, so a small
 * compressed body cannot expand into an allocation the body limit would have refused; every failure is a
 * LayercacheError naming the encoding and the fix.
 */
import { promisify } from 'node:util';
import { gunzip, inflate } from 'node:zlib';
import { LayercacheError } from '../errors/index.ts';

const DECODERS: Record<string, (body: Buffer, options: { maxOutputLength: number }) => Promise<Buffer>> = {
  gzip: promisify(gunzip),
  'x-gzip': promisify(gunzip),
  // HTTP's "deflate" is the zlib format (RFC 9110 §8.4.1.2), what inflate reads.
  deflate: promisify(inflate),
};

/** The body as sent before its Content-Encoding `encoding` (the header's value, or undefined when absent). */
export async function decodeBody(body: Buffer, encoding: string | undefined, limitBytes: number): Promise<Buffer> {
  const name = (encoding ?? '').trim().toLowerCase();
  if (name === '' || name === 'identity') return body;
  const decode = DECODERS[name];
  if (!decode) {
    throw new LayercacheError('UNSUPPORTED_MEDIA_TYPE', `Content-Encoding '${encoding}' is not supported; send the body uncompressed, or compressed with gzip or deflate`);
  }
  try {
    return await decode(body, { maxOutputLength: limitBytes });
  } catch (err) {
    if ((err as { code?: string }).code === 'ERR_BUFFER_TOO_LARGE') {
      throw new LayercacheError('BODY_TOO_LARGE', `the request body decompresses to more than the limit of ${limitBytes} bytes; send fewer rows per request or raise --body-limit`, { cause: err });
    }
    throw new LayercacheError('INFER_REQUEST_INVALID', `the request body is not valid ${name} data (${(err as Error).message}); check the Content-Encoding header`, { cause: err });
  }
}
