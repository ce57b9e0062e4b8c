/**
 * Error answers in the protocol's shape, `{ "error": message, "code": CODE }` with the status of the code: for a
 * request Fastify routed, and for one Node's HTTP parser refused before any route saw it.
 * Invariants: an error answer's content type is exactly `application/json`, as every infer answer's is; a routed 503
 * carries `Retry-After`; one given before the request's body was all read closes the connection, lingering
 * (lingering-close.ts).
 */
import { STATUS_CODES } from 'node:http';
import type { Duplex } from 'node:stream';
import type { FastifyError, FastifyReply, FastifyRequest } from 'fastify';
import { asLayercacheError, LayercacheError } from '../errors/index.ts';
import { MULTIPART_FIELDS } from './classify-input.ts';
import { clip } from './protocol.ts';
import { pathOf } from './request-body.ts';
import { lingerOnClose } from './lingering-close.ts';

/** Seconds a client told 503 should wait before it sends the request again. */
export const RETRY_AFTER_S = 1;

/** Fastify's own errors (body limit, content type, parsing) as layercache errors; others unchanged. */
export function asProtocolError(error: unknown, req: FastifyRequest, bodyLimitBytes: number): LayercacheError {
  if (error instanceof LayercacheError) return error;
  const f = error as Partial<FastifyError>;
  if (f.code === 'FST_PARTS_LIMIT' || f.code === 'FST_FIELDS_LIMIT' || f.code === 'FST_FILES_LIMIT') {
    return new LayercacheError('BODY_TOO_LARGE', `the multipart body has more parts than a classify request needs (at most one file and ${MULTIPART_FIELDS} fields); send the image alone as one file field`, { cause: error });
  }
  if (f.statusCode === 413 || f.code === 'FST_REQ_FILE_TOO_LARGE') return new LayercacheError('BODY_TOO_LARGE', `the request body is over the limit of ${bodyLimitBytes} bytes; send fewer rows per request or raise --body-limit`, { cause: error });
  // The body stopped arriving: the client went away, or Node's request timeout ended it (it answers 408 itself).
  if (f.code === 'ECONNRESET' || f.message === 'aborted') return new LayercacheError('REQUEST_INCOMPLETE', 'the request body stopped arriving before it was complete (the client went away, or --timeout-ms ran out)', { cause: error });
  // Every content type has a parser (the catch-all); a plugin's own refusal still answers in this shape.
  if (f.statusCode === 415) {
    const given = req.headers['content-type'];
    const named = given === undefined ? 'no content type' : given.trim() === '' ? 'an empty Content-Type' : `content type '${clip(given)}'`;
    const send = pathOf(req.url).endsWith('/classify') ? 'image/jpeg, image/png, application/octet-stream or multipart/form-data' : 'application/json (with Inference-Header-Content-Length for binary tensors)';
    return new LayercacheError('UNSUPPORTED_MEDIA_TYPE', `${named} is not a media type this route reads; send Content-Type: ${send} (docs/http-api.md)`, { cause: error });
  }
  if (f.statusCode !== undefined && f.statusCode >= 400 && f.statusCode < 500) return new LayercacheError('INFER_REQUEST_INVALID', f.message ?? String(error), { cause: error });
  return asLayercacheError(error);
}

/** Sends `err` as the answer to a routed request. */
export function sendError(reply: FastifyReply, err: LayercacheError): FastifyReply {
  // Given before the request's body was all read (an oversized upload, a refused path): the connection closes, or
  // Node would read the rest to keep it, and a chunked body may never end. A request without a body may not be marked
  // complete yet when the router refuses it (Node sets it a tick later); under inject() `complete` is undefined.
  const raw = reply.request.raw;
  const hasBody = Number(raw.headers['content-length'] ?? 0) > 0 || raw.headers['transfer-encoding'] !== undefined;
  if (raw.complete === false && hasBody) {
    reply.header('connection', 'close');
    // Not reset with the body unread: a client that sends it all before reading gets this answer.
    lingerOnClose(raw);
  }
  // A 503 is load shed, a start, a shutdown or a worker being replaced: each passes within seconds (RFC 9110 §10.2.3).
  if (err.httpStatus === 503) reply.header('retry-after', String(RETRY_AFTER_S));
  // Serialised here, as bytes: an object or a string would go out as 'application/json; charset=utf-8', and KServe's
  // client reads the error text only from exactly 'application/json', the type of every infer answer.
  return reply.code(err.httpStatus).header('content-type', 'application/json').send(Buffer.from(JSON.stringify({ error: err.message, code: err.code })));
}

/**
 * A request Node's HTTP parser refused (malformed request line or headers, headers too large,
 * a request that timed out while arriving): answered in the protocol's error shape, then the
 * connection is closed, as Node itself does; after the answer to a request that arrived whole before it, when that
 * answer is still being made (Node loses it).
 */
export function answerClientError(err: Error & { code?: string }, socket: Duplex): void {
  if (err.code === 'ECONNRESET' || socket.destroyed) return;
  const e = err.code === 'ERR_HTTP_REQUEST_TIMEOUT'
    ? new LayercacheError('REQUEST_INCOMPLETE', 'the request did not arrive completely within the request timeout (--timeout-ms)')
    : err.code === 'HPE_HEADER_OVERFLOW'
      ? new LayercacheError('HEADERS_TOO_LARGE', 'the request headers are over Node\'s limit of 16 KiB; send shorter headers')
      : new LayercacheError('INFER_REQUEST_INVALID', `the request is not valid HTTP (${err.code ?? err.message})`);
  const status = e.httpStatus;
  const body = JSON.stringify({ error: e.message, code: e.code });
  const answering = (socket as Duplex & { _httpMessage?: AnswerUnderWay })._httpMessage;
  const refuse = (idLine: string): void => {
    if (socket.writable) socket.write(`HTTP/1.1 ${status} ${STATUS_CODES[status]}\r\ncontent-type: application/json\r\ncontent-length: ${Buffer.byteLength(body)}\r\n${idLine}connection: close\r\n\r\n${body}`);
    socket.destroy(err);
  };
  // Bytes after requests that arrived whole (pipelined, or a Content-Length that undercounted its body) are no
  // request: the answers still being made go first, in order, then this refusal, then the close. Further bytes
  // raise this again: they are dropped while the socket waits (once).
  if (refusing.has(socket)) return;
  if (answering && awaited(answering)) {
    refusing.add(socket);
    const waitFor = (res: AnswerUnderWay): void => {
      // Node hands the connection to the next queued answer after this one's finish: looked up a tick later.
      res.once('finish', () => process.nextTick(() => {
        const next = (socket as Duplex & { _httpMessage?: AnswerUnderWay })._httpMessage;
        if (next && next !== res && awaited(next)) waitFor(next);
        else refuse('');
      }));
      res.once('close', () => {
        if (!res.writableFinished) socket.destroy(err);
      });
    };
    waitFor(answering);
    return;
  }
  // A request routed before it stalled has its id on its response already (app.ts; a printable token, header-safe).
  const id = answering?.getHeader?.('x-request-id');
  // As Node does: no answer while the stalled request's own answer is under way, only the close.
  if (answering?.headersSent) socket.destroy(err);
  else refuse(typeof id === 'string' ? `x-request-id: ${id}\r\n` : '');
}

/** Connections whose refusal waits for the answers under way. */
const refusing = new WeakSet<Duplex>();

/** An answer to wait for: one still being made, to a request that arrived whole. */
function awaited(res: AnswerUnderWay): boolean {
  return !res.writableFinished && res.req?.complete === true;
}

/** The response a connection is making when its next bytes fail to parse (Node's `socket._httpMessage`). */
interface AnswerUnderWay {
  readonly headersSent?: boolean;
  readonly writableFinished?: boolean;
  /** The request it answers; `complete` once its body arrived whole. */
  readonly req?: { readonly complete?: boolean };
  getHeader?(name: string): unknown;
  once(event: 'finish' | 'close', listener: () => void): unknown;
}
