/**
 * What is refused from a request's head, before any route reads its body: a declared body over --body-limit (the
 * limit does not cover multipart streams, and a client that sends `Expect: 100-continue` must not be invited to
 * upload it), an `Expect` other than 100-continue, and an HTTP/1.1 request without a Host header. Node answers the
 * last two itself with an empty body; here they are answered in the protocol's error shape like every other error.
 * Invariant: every refusal is a LayercacheError answered through Fastify as `{ error, code }` with the code's status
 * (so with x-request-id, logged and counted), and the connection is closed after it.
 */
import type { IncomingMessage, Server, ServerResponse } from 'node:http';
import type { FastifyInstance } from 'fastify';
import { LayercacheError } from '../errors/index.ts';

/** Whether a request speaks HTTP/1.1 or later, where Expect means something (HTTP/1.0 ignores it). */
function atLeastHttp11(req: IncomingMessage): boolean {
  return req.httpVersionMajor > 1 || (req.httpVersionMajor === 1 && req.httpVersionMinor >= 1);
}

/** Why a request head is refused, or null. */
export function headRefusal(headers: IncomingMessage['headers'], httpVersion: string, bodyLimitBytes: number): LayercacheError | null {
  const expect = headers.expect;
  if (expect !== undefined && httpVersion !== '1.0' && expect.trim().toLowerCase() !== '100-continue') {
    return new LayercacheError('EXPECTATION_FAILED', `the request expects '${expect.slice(0, 64)}', which this server does not meet; send no Expect header, or Expect: 100-continue`);
  }
  const declared = Number(headers['content-length']);
  if (declared > bodyLimitBytes) {
    return new LayercacheError('BODY_TOO_LARGE', `the request body is ${declared} bytes, over the limit of ${bodyLimitBytes} bytes; send fewer rows per request or raise --body-limit`);
  }
  if (httpVersion === '1.1' && headers.host === undefined) {
    return new LayercacheError('INFER_REQUEST_INVALID', 'the request has no Host header, which HTTP/1.1 requires; send one (HTTP clients and curl do)');
  }
  return null;
}

/**
 * Registers the head checks: as a hook on `app` (after the hooks registered before it: authentication), so that a
 * refusal is answered, logged and counted like any other; and on every HTTP server `app` listens with (a host that
 * resolves to several addresses has one per address), which then leave Expect headers to Fastify instead of answering
 * them themselves. `100 Continue` is sent from a preParsing hook, which runs only for a request whose body is about
 * to be read: one that every onRequest hook passed and a route (or the not-found handler) takes.
 */
export function guardRequestHeads(app: FastifyInstance, bodyLimitBytes: number): void {
  app.addHook('onRequest', async (req, reply) => {
    const refused = headRefusal(req.headers, req.raw.httpVersion, bodyLimitBytes);
    if (!refused) return;
    // The connection closes after the refusal: a declared body left unread would otherwise be read as the next request.
    reply.header('connection', 'close');
    throw refused;
  });
  app.addHook('preParsing', async (req, reply, payload) => {
    // HTTP/1.1 and later only: an HTTP/1.0 client takes any status line for its answer (RFC 9110 §15.2).
    if (atLeastHttp11(req.raw) && req.headers.expect?.trim().toLowerCase() === '100-continue' && !reply.raw.headersSent) reply.raw.writeContinue();
    return payload;
  });
  const guarded = new WeakSet<Server>();
  const guard = (server: Server): void => {
    if (guarded.has(server)) return;
    guarded.add(server);
    // With listeners, Node neither sends 100 Continue nor answers other expectations by itself.
    server.on('checkContinue', (req: IncomingMessage, res: ServerResponse) => void server.emit('request', req, res));
    server.on('checkExpectation', (req: IncomingMessage, res: ServerResponse) => void server.emit('request', req, res));
  };
  guard(app.server as Server);
  app.addHook('onListen', async function () {
    for (const s of secondaryServers(this)) guard(s);
  });
}

/**
 * The servers Fastify binds besides `app.server` (for 'localhost', one per address it resolves to). Fastify keeps them
 * under a symbol of its own; fastify is pinned, and a version without it yields none.
 */
function secondaryServers(app: FastifyInstance): Server[] {
  const key = Object.getOwnPropertySymbols(app).find((k) => k.description === 'fastify.serverBindings');
  const bindings = key === undefined ? undefined : (app as unknown as Record<symbol, unknown>)[key];
  return Array.isArray(bindings) ? bindings as Server[] : [];
}
