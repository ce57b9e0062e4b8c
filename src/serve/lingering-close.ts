/**
 * Lingering close, as nginx's `lingering_close`: after an answer given before the request's body was all read (an
 * oversized upload refused early), the server closes its side once the answer is out, and reads and drops what the
 * client still sends until the client closes its side, goes quiet for LINGER_IDLE_MS, or LINGER_TOTAL_MS pass.
 * Closing at once with data unread makes the kernel reset the connection, and a client that sends its whole body
 * before it reads (Python's http.client and requests) then sees a broken pipe instead of the answer.
 * Invariants: a lingering connection answers nothing more (its side is closed) and is destroyed within
 * LINGER_TOTAL_MS; the server's closeAllConnections (a shutdown) still destroys it at once.
 * How: Node's HTTP server ends a `connection: close` response's socket with `socket.destroySoon()` (or `end()` when a
 * socket has none); that socket's destroySoon is replaced by the lingering one.
 */
import type { IncomingMessage } from 'node:http';
import type { Socket } from 'node:net';

/** The client's silence after which a lingering connection is closed. */
export const LINGER_IDLE_MS = 5_000;
/** The longest a connection lingers. */
export const LINGER_TOTAL_MS = 30_000;

const lingering = new WeakSet<Socket>();

/** Makes the close that follows the answer to `req` a lingering one (nothing without a socket, as under inject()). */
export function lingerOnClose(req: IncomingMessage): void {
  const socket = req.socket as (Socket & { destroySoon?: () => void }) | null;
  if (!socket || socket.destroyed || typeof socket.destroySoon !== 'function' || lingering.has(socket)) return;
  lingering.add(socket);
  socket.destroySoon = () => {
    if (socket.destroyed) return;
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
