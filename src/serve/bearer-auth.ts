/**
 * Optional bearer-token auth (`--token` or LAYERCACHE_TOKEN): every route but health and metrics needs
 * `Authorization: Bearer TOKEN`.
 * Invariants: the token is compared as a SHA-256 digest (equal length, constant time); the scheme name is
 * case-insensitive (RFC 7235); a refusal's message never quotes the header, which may be the token itself sent
 * without its scheme (the message is logged).
 */
import { createHash, timingSafeEqual } from 'node:crypto';

/**
 * Routes open to anyone: without the bearer token, and from other sites' pages (app.ts). Health (for orchestrators)
 * and metrics (for scrapers) change nothing and tell nothing private.
 */
export const PUBLIC_ROUTES = new Set(['/v2/health/live', '/v2/health/ready', '/metrics']);

/** Authorization schemes a message may name: never a word of the header beyond these. */
const KNOWN_SCHEMES = new Set(['basic', 'digest', 'negotiate', 'ntlm', 'hoba', 'mutual', 'token', 'apikey']);

function digest(s: string): Buffer {
  return createHash('sha256').update(s).digest();
}

/**
 * The check for a server started with `token`: given a request's route pattern, its Authorization header and how to
 * name it ("POST /v2/…"), null when it may pass, else why not.
 */
export function bearerCheck(token: string): (route: string | undefined, given: string | undefined, request: string) => string | null {
  const expected = digest(token);
  return (route, given, request) => {
    if (PUBLIC_ROUTES.has(route ?? '')) return null;
    if (given === undefined) return `${request} needs an Authorization: Bearer TOKEN header (the server's --token or LAYERCACHE_TOKEN)`;
    const sent = /^bearer +(\S+) *$/i.exec(given)?.[1];
    if (sent !== undefined && timingSafeEqual(digest(sent), expected)) return null;
    const words = given.trim().split(/\s+/).filter((w) => w !== '');
    const scheme = (words[0] ?? '').toLowerCase();
    if (scheme === 'bearer') {
      if (words.length < 2) return 'the Authorization header has no token after Bearer; send Authorization: Bearer TOKEN';
      // Malformed, not wrong: the token may well be right (RFC 6750: the scheme, spaces, then the token alone).
      if (words.length > 2) return 'the Authorization header has more than one word after Bearer; send Authorization: Bearer TOKEN, the token alone';
      if (!/^bearer +\S/i.test(given.trim())) return 'the Authorization header separates Bearer from the token by other white space than spaces; send Authorization: Bearer TOKEN, with one space';
      return 'the bearer token is not the server\'s; send the token the server was started with';
    }
    return `the Authorization header uses ${KNOWN_SCHEMES.has(scheme) ? `the '${words[0]}' scheme` : 'no Bearer scheme'}; send Authorization: Bearer TOKEN`;
  };
}
