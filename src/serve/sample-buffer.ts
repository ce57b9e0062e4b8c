/**
 * The online training buffer: a sliding window over the most recent admitted samples
 * (preprocessed inputs), with a memory cap known up front.
 * Invariants: it never holds more than `capacity` samples or allocates more than
 * capacity × rowSize float32 values; `snapshot` returns samples oldest first.
 */
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

  /** A copy of the held samples [size, rowSize], oldest first. */
  snapshot(): Float32Array {
    const out = new Float32Array(this.held * this.rowSize);
    const start = this.held < this.capacity ? 0 : this.next;
    for (let k = 0; k < this.held; k++) {
      const r = (start + k) % this.capacity;
      out.set(this.data.subarray(r * this.rowSize, (r + 1) * this.rowSize), k * this.rowSize);
    }
    return out;
  }
}
