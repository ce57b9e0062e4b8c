/**
 * Requests a browser may send on a web page's behalf, refused: from a page on another site or on a sibling of this
 * server's origin (Fetch Metadata), and, while the server listens on loopback only and has no token, under a host
 * name that is neither a loopback name nor one it was told to answer (`--allowed-host`: the name a reverse proxy on
 * this machine forwards): a page whose name was rebound to 127.0.0.1 (DNS rebinding). With a token such a page gets
 * nowhere anyway. Servers, curl and SDKs send neither a Sec-Fetch-Site header nor a foreign Host.
 * Invariant: health and metrics stay open to anything that can reach the port (probes and scrapers).
 */
import { BlockList, isIP } from 'node:net';
import { LayercacheError } from '../errors/index.ts';
import { clip } from './protocol.ts';

/**
 * A host name or address as compared: trimmed, lower-cased, without IPv6 brackets or a final dot; an IPv6 address in
 * its canonical spelling (0::1 and ::1 compare equal), except with a zone id (fe80::1%eth0), which URLs do not take.
 */
function normalHost(host: string): string {
  const n = host.trim().toLowerCase().replace(/^\[(.*)\]$/, '$1').replace(/\.$/, '');
  return isIP(n) === 6 && !n.includes('%') ? new URL(`http://[${n}]`).hostname.slice(1, -1) : n;
}

/** Loopback addresses; node's BlockList also matches IPv4-mapped IPv6 spellings (::ffff:7f00:1) and every spelling of ::1. */
const loopback = new BlockList();
loopback.addSubnet('127.0.0.0', 8, 'ipv4');
loopback.addAddress('::1', 'ipv6');

/** Whether a --host value listens on loopback only, or a Host names this machine's loopback: 127.0.0.0/8, ::1, localhost. */
export function isLoopbackHost(host: string): boolean {
  return isLoopbackName(normalHost(host));
}

/** isLoopbackHost of a name normalHost gave. */
function isLoopbackName(n: string): boolean {
  if (n === 'localhost' || n.endsWith('.localhost')) return true;
  const family = isIP(n);
  return family !== 0 && loopback.check(n, family === 4 ? 'ipv4' : 'ipv6');
}

/**
 * The names a server answers besides loopback ones, or null when it checks no Host: it listens beyond loopback (it
 * cannot know its names), or it has a token (a page cannot send it). allowed: --allowed-host's names.
 */
export function hostCheckOf(listenHost: string, token: string | null, allowed: readonly string[]): ReadonlySet<string> | null {
  if (token !== null || !isLoopbackHost(listenHost)) return null;
  return new Set(allowed.map(normalHost));
}

/** The warning for --allowed-host names given to a server that checks no Host (hostCheckOf is null), or null. */
export function unusedAllowedHostsWarning(listenHost: string, token: string | null, allowed: readonly string[]): string | null {
  if (allowed.length === 0 || hostCheckOf(listenHost, token, allowed) !== null) return null;
  const why = token !== null ? 'a token is set (a web page cannot send it)' : `--host ${listenHost} is not loopback only (the server cannot know its names)`;
  return `--allowed-host ${allowed.join(',')} (serve.allowedHosts) has no effect: the Host header is checked only while the server listens on loopback without a token, and ${why}; drop --allowed-host`;
}

/** The host name of a Host header value (`name:port`, `[v6]:port`), as compared; null when it is malformed. */
function hostNameOf(header: string): string | null {
  const m = /^(?:\[([0-9a-f:.]+)\]|([^:[\]]+))(?::\d{1,5})?$/i.exec(header.trim());
  return m ? normalHost(m[1] ?? m[2]!) : null;
}

/**
 * Why a request must not run here, or null. site: its Sec-Fetch-Site header; host: its Host header; hostCheck: the
 * names answered besides loopback ones, or null when no Host is checked (the server listens beyond loopback, or has
 * a token); request: how to name it ("POST /v2/…"), made only for a refusal (this runs for every request).
 */
export function siteProblem(site: string | undefined, host: string | undefined, hostCheck: ReadonlySet<string> | null, request: () => string): LayercacheError | null {
  if (site === 'cross-site' || site === 'same-site') {
    return new LayercacheError('CROSS_SITE_REFUSED', `a browser sent ${request()} from a page on ${site === 'cross-site' ? 'another site' : 'another origin of this site'} (Sec-Fetch-Site: ${site}); the server takes no requests from other origins' pages: call it from a backend or a page of its own origin`);
  }
  // HTTP/1.0 may send no Host; a browser always does.
  if (hostCheck !== null && host !== undefined) {
    const name = hostNameOf(host);
    if (name === null || !(isLoopbackName(name) || hostCheck.has(name))) {
      return new LayercacheError('HOST_NOT_SERVED', `${request()} names host '${clip(host)}', but this server listens on loopback only, has no token, and answers loopback names (localhost, 127.0.0.1, [::1])${hostCheck.size > 0 ? ` and ${[...hostCheck].join(', ')}` : ''}; a web page whose name points here (DNS rebinding) is refused. Behind a reverse proxy on this machine, add --allowed-host with the name it forwards (or have it send Host: localhost), or set --token`);
    }
  }
  return null;
}

