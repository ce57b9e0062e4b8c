/**
 * The requests a server has accepted and not yet answered. A request is accepted when its
 * headers arrive while the server is ready; from then on it is in flight and a shutdown
 * serves it, even if its body is still arriving when the shutdown begins. Requests that
 * arrive after the shutdown began are not accepted (they get 503 NOT_READY).
 * Invariant: `idle()` resolves once every accepted request has been answered or abandoned
 * by its client; each request is released at most once.
 */
export class AcceptedRequests {
  /** Open requests and the connection each came on (null when there is none, as with inject). */
  private readonly open = new Map<object, object | null>();
  private waiters: (() => void)[] = [];

  get size(): number {
    return this.open.size;
  }

  accept(req: object, connection: object | null): void {
    this.open.set(req, connection);
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
