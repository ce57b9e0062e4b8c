/**
 * The online training buffer: a sliding window over the most recent admitted samples
 * (preprocessed inputs), with a memory cap known up front.
 * Invariants: it never holds more than `capacity` samples or allocates more than
 * capacity × rowSize float32 values; `snapshot` and `chunks` give samples oldest first.
 */
import { LayercacheError } from '../errors/index.ts';

export class SampleBuffer {
  readonly capacity: number;
  private readonly data: Float32Array;
  private next = 0;
  private held = 0;
  /** Samples ever admitted. */
  total = 0;

  /** rowSize: values per sample. At most maxSamples and maxBytes. */
  constructor(readonly rowSize: number, maxSamples: number, maxBytes: number) {
    this.capacity = Math.max(1, Math.min(maxSamples, Math.floor(maxBytes / (4 * rowSize))));
    this.data = new Float32Array(this.capacity * rowSize);
  }

  get size(): number {
    return this.held;
  }

  get bytes(): number {
    return this.data.byteLength;
  }

  /** rows: [count, rowSize]; only rows with keep[i] (all when keep is null) are admitted. */
  add(rows: Float32Array, count: number, keep: Uint8Array | null = null): number {
    let added = 0;
    for (let i = 0; i < count; i++) {
      if (keep && !keep[i]) continue;
      this.data.set(rows.subarray(i * this.rowSize, (i + 1) * this.rowSize), this.next * this.rowSize);
      this.next = (this.next + 1) % this.capacity;
      this.held = Math.min(this.capacity, this.held + 1);
      added++;
    }
    this.total += added;
    return added;
  }

  /**
   * Restoring samples saved by an earlier buffer, into this empty one: returns the storage [count, rowSize] of its
   * first `count` rows (at most capacity), which the caller fills with the newest saved samples, oldest first; the
   * buffer then holds them, and `total` (the earlier buffer's samples ever admitted) goes on from there. If the
   * filling fails, `reset` empties the buffer again.
   */
  restoreInto(count: number, total: number): Float32Array {
    if (this.total !== 0 || !(Number.isInteger(count) && count >= 0 && count <= this.capacity)) throw new LayercacheError('INTERNAL', `SampleBuffer.restoreInto: the buffer is not empty, or ${count} rows do not fit its ${this.capacity}`);
    this.held = count;
    this.next = count % this.capacity;
    this.total = Math.max(total, count);
    return this.data.subarray(0, count * this.rowSize);
  }

  /** Empties the buffer (after a restore whose filling failed). */
  reset(): void {
    this.held = 0;
    this.next = 0;
    this.total = 0;
  }

  /** The held samples as at most two views [k, rowSize] into the buffer, oldest first (no copy; valid until the next add). */
  chunks(): Float32Array[] {
    if (this.held < this.capacity) return this.held === 0 ? [] : [this.data.subarray(0, this.held * this.rowSize)];
    const parts = [this.data.subarray(this.next * this.rowSize), this.data.subarray(0, this.next * this.rowSize)];
    return parts.filter((p) => p.length > 0);
  }

  /** A copy of the held samples [size, rowSize], oldest first. */
  snapshot(): Float32Array {
    const out = new Float32Array(this.held * this.rowSize);
    let at = 0;
    for (const c of this.chunks()) {
      out.set(c, at);
      at += c.length;
    }
    return out;
  }
}
