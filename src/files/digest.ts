/**
 * Content digests: the sha256 of bytes, as lowercase hex. Bundles record their files' digests, splits their source's,
 * builds key latency profiles and find repeated samples by them.
 * Invariant: equal bytes, equal digest; the digest depends on the bytes alone (not on the view's offset).
 */
import { createHash } from 'node:crypto';

/** sha256 of `bytes` (any typed array's bytes, from its view's offset), 64 hex digits. */
export function sha256(bytes: ArrayBufferView): string {
  return createHash('sha256').update(new Uint8Array(bytes.buffer, bytes.byteOffset, bytes.byteLength)).digest('hex');
}
