/**
 * Requests a browser may send on a web page's behalf, refused: from a page on another site or on a sibling of this
 * server's origin (Fetch Metadata), and, while the server listens on loopback only, under a host name that is not a
 * loopback name (a page whose name was rebound to 127.0.0.1: DNS rebinding). Servers, curl and SDKs send neither
 * a Sec-Fetch-Site header nor a foreign Host.
 * Invariant: health and metrics stay open to anything that can reach the port (probes and scrapers).
 */
import { isIP } from 'node:net';
import { LayercacheError } from '../errors/index.ts';

/** Whether the server's --host listens on loopback only (127.0.0.0/8, ::1, localhost). */
export function listensOnLoopbackOnly(host: string): boolean {
  return isLoopbackName(host.replace(/^\[(.*)\]$/, '$1'));
}

function isLoopbackName(name: string): boolean {
  const n = name.toLowerCase().replace(/\.$/, '');
  if (n === 'localhost' || n.endsWith('.localhost')) return true;
  if (isIP(n) === 4) return n.startsWith('127.');
  return n === '::1' || n === '0:0:0:0:0:0:0:1';
}

/** The host name of a Host header value (`name:port`, `[v6]:port`), lower-cased; null when it is malformed. */
function hostNameOf(header: string): string | null {
  const m = /^(?:\[([0-9a-f:.]+)\]|([^:[\]]+))(?::\d{1,5})?$/i.exec(header.trim());
  return m ? (m[1] ?? m[2]!).toLowerCase() : null;
}

/**
 * Why a request must not run here, or null. site: its Sec-Fetch-Site header; host: its Host header; loopbackOnly:
 * the server listens on loopback only; request: how to name it ("POST /v2/…").
 */
export function siteProblem(site: string | undefined, host: string | undefined, loopbackOnly: boolean, request: string): LayercacheError | null {
  if (site === 'cross-site' || site === 'same-site') {
    return new LayercacheError('CROSS_SITE_REFUSED', `a browser sent ${request} from a page on ${site === 'cross-site' ? 'another site' : 'another origin of this site'} (Sec-Fetch-Site: ${site}); the server takes no requests from other origins' pages: call it from a backend or a page of its own origin`);
  }
  // HTTP/1.0 may send no Host; a browser always does.
  if (loopbackOnly && host !== undefined) {
    const name = hostNameOf(host);
    if (name === null || !isLoopbackName(name)) {
      return new LayercacheError('HOST_NOT_SERVED', `${request} names host '${clipHost(host)}', but this server listens on loopback only and answers loopback names (localhost, 127.0.0.1, [::1]); a page whose name points here (DNS rebinding) is refused. Connect through localhost, or start the server with --host for the name clients use`);
    }
  }
  return null;
}

function clipHost(host: string): string {
  return host.length > 64 ? `${host.slice(0, 64)}…` : host;
}
