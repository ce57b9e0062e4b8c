/**
 * Loading a server source by path only while it is what the server loaded, and the error when it is not (a model
 * file re-exported over, a bundle rebuilt in place). Invariant: the server never loads such content under the version
 * it started with (an engine worker's replacement, a retrain); what it loaded serves on where it is still loaded, and
 * the error says how to take up the new content.
 */
import { LayercacheError } from '../errors/index.ts';
import { sha256 } from '../files/index.ts';
import { loadModelFile } from '../onnx/index.ts';

/** what: 'model PATH' or 'bundle DIR'; part: what was hashed ('it', 'its manifest'); expected, found: sha256 hex. */
export function sourceChanged(what: string, part: string, expected: string, found: string): LayercacheError {
  return new LayercacheError('SOURCE_CHANGED', `${what} changed since the server loaded it (${part}: sha256 ${found.slice(0, 12)}…, loaded ${expected.slice(0, 12)}…); it is not loaded under the version the server serves (a replacement engine worker or a retrain refuses it): restart the server to serve the new content, or put the old file back`);
}

/** The model at `file` (external data inlined, as loadModelFile gives it), refused unless its bytes hash to `expected`. */
export async function loadUnchangedModel(file: string, expected: string): ReturnType<typeof loadModelFile> {
  const loaded = await loadModelFile(file);
  const found = sha256(loaded.bytes);
  if (found !== expected) throw sourceChanged(`model ${file}`, 'it', expected, found);
  return loaded;
}
