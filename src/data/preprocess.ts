/**
 * Image preprocessing: x = (pixel / scale − mean[c]) / std[c], laid out NCHW or NHWC.
 * Invariant: the same Preprocess value gives the same tensor in every command, so a
 * bundle stores it once and `eval`/`serve` need no flags.
 */
import { LayercacheError } from '../errors/index.ts';
import { tensor, type Tensor } from '../tensor/index.ts';

export interface Preprocess {
  readonly scale: number;
  readonly mean: readonly number[];
  readonly std: readonly number[];
  readonly layout: 'nchw' | 'nhwc';
}

export const IDENTITY_PREPROCESS: Preprocess = Object.freeze({ scale: 1, mean: [0], std: [1], layout: 'nchw' as const });

/** The flags that give `p` ("none" for null: tensors fed as they are). */
export function preprocessFlags(p: Preprocess | null): string {
  return p === null ? 'none (tensors fed as they are)' : `--scale ${p.scale} --mean ${p.mean.join(',')} --std ${p.std.join(',')} --layout ${p.layout}`;
}

/** Whether two preprocessing specs (or their absence) are the same. */
export function samePreprocess(a: Preprocess | null, b: Preprocess | null): boolean {
  return preprocessFlags(a) === preprocessFlags(b);
}

/**
 * Checks a preprocessing spec against a channel count; `channels` null (the input is not an image, so the spec
 * normalises nothing) checks the values alone, not the lists' lengths.
 */
export function validatePreprocess(p: Preprocess, channels: number | null): void {
  // The setting names the value, so the CLI reports it as a usage error of its flag (--scale, --mean, --std).
  const bad = (key: 'scale' | 'mean' | 'std', value: unknown, problem: string): never => {
    const shown = Array.isArray(value) ? value.join(',') : String(value);
    throw new LayercacheError('CONFIG_INVALID', `preprocessing ${key} ${shown} ${problem}`, { setting: { path: `preprocess.${key}`, value, problem } });
  };
  if (!(p.scale > 0)) bad('scale', p.scale, 'must be more than 0');
  for (const [key, v] of [['mean', p.mean], ['std', p.std]] as const) {
    if (channels !== null && v.length !== 1 && v.length !== channels) {
      bad(key, v, `has ${v.length} values but the images have ${channels} channel${channels === 1 ? '' : 's'}: give ${channels === 1 ? 'one value' : `one value per channel (${channels}) or one for all`}`);
    }
    if (v.some((x) => !Number.isFinite(x))) bad(key, v, 'must be numbers');
  }
  // A negative std flips the sign of every input: a slip, never a normalisation anyone means.
  if (p.std.some((s) => s <= 0)) bad('std', p.std, 'must be more than 0 (a standard deviation)');
  // Pixels 0 and 255 must stay finite float32 values once scaled and normalised (--scale 1e-320 made them infinite).
  for (let c = 0; c < (channels ?? Math.max(p.mean.length, p.std.length)); c++) {
    // One value for all channels, else channel c's (lists of other lengths, for an input that is not an image: the last).
    const m = p.mean[Math.min(c, p.mean.length - 1)]!;
    const sd = p.std[Math.min(c, p.std.length - 1)]!;
    for (const pixel of [0, 255]) {
      if (!Number.isFinite(Math.fround((pixel / p.scale - m) / sd))) {
        // Named by the value that is out of scale: a tiny scale, a huge mean, else a tiny std.
        const key = p.scale < 1e-30 ? 'scale' : Math.abs(m) > 1e30 ? 'mean' : 'std';
        bad(key, p[key], `maps pixel value ${pixel} to ${(pixel / p.scale - m) / sd}, beyond float32's range; give a scale such as 255 (pixels to 0–1), means within 0–1 and stds such as 0.2`);
      }
    }
  }
}

/**
 * pixels: [count, channels, height, width] bytes (planar, as CIFAR stores them).
 * Returns float32 [count, C, H, W] (nchw) or [count, H, W, C] (nhwc).
 */
export function preprocessPlanar(pixels: Uint8Array, count: number, channels: number, height: number, width: number, p: Preprocess): Tensor<'float32'> {
  validatePreprocess(p, channels);
  const plane = height * width;
  const out = new Float32Array(count * channels * plane);
  for (let c = 0; c < channels; c++) {
    const m = p.mean.length === 1 ? p.mean[0]! : p.mean[c]!;
    const s = p.std.length === 1 ? p.std[0]! : p.std[c]!;
    const a = 1 / (p.scale * s);
    const b = -m / s;
    for (let n = 0; n < count; n++) {
      const src = (n * channels + c) * plane;
      if (p.layout === 'nchw') {
        for (let i = 0; i < plane; i++) out[src + i] = pixels[src + i]! * a + b;
      } else {
        const dst = n * channels * plane;
        for (let i = 0; i < plane; i++) out[dst + i * channels + c] = pixels[src + i]! * a + b;
      }
    }
  }
  const dims = p.layout === 'nchw' ? [count, channels, height, width] : [count, height, width, channels];
  return tensor('float32', dims, out);
}
