/**
 * The error for a server source that changed on disk while it serves: a model file re-exported over, a bundle rebuilt
 * in place. Invariant: the server never loads such content under the version it started with (an engine worker's
 * replacement, a retrain); what it loaded serves on where it is still loaded, and the error says how to take up the new content.
 */
import { LayercacheError } from '../errors/index.ts';

/** what: 'model PATH' or 'bundle DIR'; part: what was hashed ('it', 'its manifest'); expected, found: sha256 hex. */
export function sourceChanged(what: string, part: string, expected: string, found: string): LayercacheError {
  return new LayercacheError('SOURCE_CHANGED', `${what} changed since the server loaded it (${part}: sha256 ${found.slice(0, 12)}…, loaded ${expected.slice(0, 12)}…); it is not loaded under the version the server serves (a replacement engine worker or a retrain refuses it): restart the server to serve the new content, or put the old file back`);
}
