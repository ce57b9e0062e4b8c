/**
 * The requests a server has accepted and not yet answered. A request is accepted when its
 * headers arrive while the server is ready; from then on it is in flight and a shutdown
 * serves it, even if its body is still arriving when the shutdown begins. Requests that
 * arrive after the shutdown began are not accepted (they get 503 NOT_READY).
 * A request is released when it is answered, and with every other request of its connection when the
 * connection closes, or our side of it does (a lingering one): a pipelined request whose answer never got
 * the connection could otherwise hold a shutdown.
 * Invariant: `idle()` resolves once every accepted request has been answered or abandoned
 * by its client; each request is released at most once; one pair of listeners per connection,
 * however many requests are pipelined on it (one each passed Node's limit of 10).
 */

/** A connection, as far as this needs it: it says when it closes, or its writing side finishes. */
export interface Connection {
  once(event: 'close' | 'finish', listener: () => void): unknown;
}

export class AcceptedRequests {
  /** Open requests and the connection each came on (null when there is none, as with inject). */
  private readonly open = new Map<object, Connection | null>();
  private readonly watched = new WeakSet<Connection>();
  private waiters: (() => void)[] = [];

  get size(): number {
    return this.open.size;
  }

  accept(req: object, connection: Connection | null): void {
    this.open.set(req, connection);
    if (connection === null || this.watched.has(connection)) return;
    this.watched.add(connection);
    const releaseAll = (): void => {
      for (const [r, c] of [...this.open]) if (c === connection) this.release(r);
    };
    connection.once('close', releaseAll);
    connection.once('finish', releaseAll);
  }

  /** Whether another open request came on the same connection as `req` (pipelined behind it). */
  othersOnConnection(req: object): boolean {
    const connection = this.open.get(req) ?? null;
    if (connection === null) return false;
    for (const [other, c] of this.open) if (other !== req && c === connection) return true;
    return false;
  }

  has(req: object): boolean {
    return this.open.has(req);
  }

  /** The request was answered (or its client went away). */
  release(req: object): void {
    if (!this.open.delete(req) || this.open.size > 0) return;
    for (const w of this.waiters.splice(0)) w();
  }

  /** Resolves when no accepted request is open. */
  idle(): Promise<void> {
    if (this.open.size === 0) return Promise.resolve();
    return new Promise((resolve) => this.waiters.push(resolve));
  }
}
