/**
 * What is refused from a request's head, before any route reads its body: a declared body over --body-limit (the
 * limit does not cover multipart streams, and a client that sends `Expect: 100-continue` must not be invited to
 * upload it), an `Expect` other than 100-continue, and an HTTP/1.1 request without a Host header. Node answers the
 * last two itself with an empty body; here they are answered in the protocol's error shape like every other error.
 * Invariant: every refusal is a LayercacheError answered as `{ error, code }` with the code's status.
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { FastifyInstance } from 'fastify';
import { LayercacheError } from '../errors/index.ts';

/** Why a request head is refused, or null. */
export function headRefusal(headers: IncomingMessage['headers'], httpVersion: string, bodyLimitBytes: number): LayercacheError | null {
  const declared = Number(headers['content-length']);
  if (declared > bodyLimitBytes) {
    return new LayercacheError('BODY_TOO_LARGE', `the request body is ${declared} bytes, over the limit of ${bodyLimitBytes} bytes; send fewer rows per request or raise --body-limit`);
  }
  if (httpVersion === '1.1' && headers.host === undefined) {
    return new LayercacheError('INFER_REQUEST_INVALID', 'the request has no Host header, which HTTP/1.1 requires; send one (HTTP clients and curl do)');
  }
  return null;
}

/** Answers `err` on a raw response (no route has seen the request) and closes the connection after it. */
function answerRaw(res: ServerResponse, err: LayercacheError): void {
  const body = JSON.stringify({ error: err.message, code: err.code });
  res.writeHead(err.httpStatus, { 'content-type': 'application/json', 'content-length': Buffer.byteLength(body), connection: 'close' }).end(body);
}

/**
 * Registers the head checks on `app` (routed requests, after the hooks registered before it: authentication) and on
 * its HTTP server (100-continue and other expectations, which come before any hook). `authorised(path, header)`:
 * whether the request may pass authentication; one that may not is handed on without 100 Continue, to be refused there.
 */
export function guardRequestHeads(app: FastifyInstance, bodyLimitBytes: number, authorised: (urlPath: string, authorization: string | undefined) => boolean): void {
  app.addHook('onRequest', async (req, reply) => {
    const refused = headRefusal(req.headers, req.raw.httpVersion, bodyLimitBytes);
    if (!refused) return;
    // The connection closes after the refusal: a declared body left unread would otherwise be read as the next request.
    reply.header('connection', 'close');
    throw refused;
  });
  const server = app.server as Server;
  // With a listener, Node no longer sends 100 Continue by itself: only a body the server would read is asked for.
  server.on('checkContinue', (req: IncomingMessage, res: ServerResponse) => {
    if (!authorised((req.url ?? '').split('?')[0]!, req.headers.authorization)) {
      server.emit('request', req, res);
      return;
    }
    const refused = headRefusal(req.headers, req.httpVersion, bodyLimitBytes);
    if (refused) return answerRaw(res, refused);
    res.writeContinue();
    server.emit('request', req, res);
  });
  server.on('checkExpectation', (req: IncomingMessage, res: ServerResponse) => {
    answerRaw(res, new LayercacheError('EXPECTATION_FAILED', `the request expects '${String(req.headers.expect).slice(0, 64)}', which this server does not meet; send no Expect header, or Expect: 100-continue`));
  });
}
