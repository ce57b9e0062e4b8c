/**
 * Lingering close, as nginx's `lingering_close`: after an answer given before the request's body was all read (an
 * oversized upload refused early), the server closes its side once the answer is out, and reads and drops what the
 * client still sends until the client closes its side, goes quiet for LINGER_IDLE_MS, or LINGER_TOTAL_MS pass.
 * Closing at once with data unread makes the kernel reset the connection, and a client that sends its whole body
 * before it reads (Python's http.client and requests) then sees a broken pipe instead of the answer.
 * Invariants: a lingering connection answers nothing more (its side is closed), and a request the client still sends
 * on it is not served (refuseLingeringRequests: the connection is destroyed instead, as one closed at once was); it is
 * destroyed within LINGER_TOTAL_MS, or sooner by Node's --timeout-ms check of a request still arriving; the
 * server's closeAllConnections (a shutdown) still destroys it at once.
 * How: Node's HTTP server ends a `connection: close` response's socket with `socket.destroySoon()` (or `end()` when a
 * socket has none); that socket's destroySoon is replaced by the lingering one.
 */
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';
import type { FastifyInstance } from 'fastify';

/** The client's silence after which a lingering connection is closed. */
export const LINGER_IDLE_MS = 5_000;
/** The longest a connection lingers. */
export const LINGER_TOTAL_MS = 30_000;

/** Sockets whose close was made a lingering one; `lingering`, those lingering now (their last answer is out). */
const patched = new WeakSet<Socket>();
const lingering = new WeakSet<Socket>();

/** Makes the close that follows the answer to `req` a lingering one (nothing without a socket, as under inject()). */
export function lingerOnClose(req: IncomingMessage): void {
  const socket = req.socket as (Socket & { destroySoon?: () => void }) | null;
  if (!socket || socket.destroyed || typeof socket.destroySoon !== 'function' || patched.has(socket)) return;
  patched.add(socket);
  socket.destroySoon = () => {
    if (socket.destroyed) return;
    // From now on, not before: answers to requests pipelined ahead of this one are out, and must not be cut short.
    lingering.add(socket);
    const stop = (): void => {
      socket.destroy();
    };
    const total = setTimeout(stop, LINGER_TOTAL_MS);
    total.unref();
    socket.once('close', () => clearTimeout(total));
    socket.setTimeout(LINGER_IDLE_MS, stop);
    socket.once('end', stop);
    // The answer goes out first, then the server's FIN.
    socket.end();
    // The rest of the body is dropped: nothing reads the request any more, and a paused one would stop the socket.
    req.resume();
    socket.resume();
  };
}

/**
 * A request that arrives on a lingering connection (sent after the answer that closed it) is not routed, parsed or
 * run: its answer could not be sent. The connection is destroyed. Register before every other onRequest hook.
 */
export function refuseLingeringRequests(app: FastifyInstance): void {
  app.addHook('onRequest', async (req, reply) => {
    const socket = req.raw.socket as Socket | null;
    if (!socket || !lingering.has(socket)) return;
    socket.destroy();
    return reply.hijack();
  });
}
