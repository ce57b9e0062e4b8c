/**
 * Label-free augmentation for head training: each variant is a transformed copy of every
 * sample, whose distillation target is the backbone's own answer on that copy.
 * Invariant: variants never change the sample count or order; 'flip' mirrors images
 * left–right (the last spatial axis), valid for natural images, not for text or digits;
 * 'crop' shifts each image by up to `max` pixels in each direction (a padded random crop;
 * the uncovered border is 0 after normalisation), the shift drawn from a seeded RNG.
 */
import { LayercacheError } from '../errors/index.ts';
import { seededRng } from '../tensor/index.ts';
import type { DataSource } from './source.ts';

export type Augmentation = 'flip' | 'crop';

function imageDims(source: DataSource, kind: Augmentation): readonly number[] {
  const dims = source.sampleDims;
  if (dims.length !== 3) {
    throw new LayercacheError('DATA_SHAPE_MISMATCH', `--augment ${kind} needs image samples [C, H, W] or [H, W, C], but '${source.description}' has [${dims.join(', ')}]`);
  }
  return dims;
}

/** `source` with every batch rewritten by `transform(src, out, start, end)` into a fresh array. */
function transformed(source: DataSource, label: string, transform: (src: Float32Array, out: Float32Array, start: number, end: number) => void): DataSource {
  return {
    ...source,
    description: `${source.description} (${label})`,
    batch: (s, e) => {
      const t = source.batch(s, e);
      const out = new Float32Array(t.data.length);
      transform(t.data, out, s, e);
      return { ...t, data: out };
    },
  };
}

/** A data source whose samples are the horizontal mirror images of `source`'s. */
export function flipped(source: DataSource, layout: 'nchw' | 'nhwc'): DataSource {
  const dims = imageDims(source, 'flip');
  return transformed(source, 'flipped', (src, out) => {
    // Rows of the last spatial axis: W for NCHW (length W), H·W rows of C for NHWC.
    if (layout === 'nchw') {
      const w = dims[2]!;
      for (let r = 0; r < src.length; r += w) for (let c = 0; c < w; c++) out[r + c] = src[r + w - 1 - c]!;
    } else {
      const [w, ch] = [dims[1]!, dims[2]!];
      const row = w * ch;
      for (let r = 0; r < src.length; r += row) {
        for (let c = 0; c < w; c++) out.set(src.subarray(r + (w - 1 - c) * ch, r + (w - c) * ch), r + c * ch);
      }
    }
  });
}

/** A data source whose samples are randomly shifted copies (padded random crops) of `source`'s. */
export function cropped(source: DataSource, layout: 'nchw' | 'nhwc', seed: number, max = 4): DataSource {
  const dims = imageDims(source, 'crop');
  const rng = seededRng(seed);
  const shifts = Array.from({ length: source.count }, () => [Math.floor(rng.uniform() * (2 * max + 1)) - max, Math.floor(rng.uniform() * (2 * max + 1)) - max] as const);
  const [c, h, w] = layout === 'nchw' ? [dims[0]!, dims[1]!, dims[2]!] : [dims[2]!, dims[0]!, dims[1]!];
  return transformed(source, 'cropped', (src, out, s, e) => {
    const per = c * h * w;
    for (let n = 0; n < e - s; n++) {
      const [dy, dx] = shifts[s + n]!;
      for (let y = 0; y < h; y++) {
        const sy = y + dy;
        if (sy < 0 || sy >= h) continue;
        for (let x = 0; x < w; x++) {
          const sx = x + dx;
          if (sx < 0 || sx >= w) continue;
          for (let k = 0; k < c; k++) {
            const at = layout === 'nchw' ? (k * h + y) * w + x : (y * w + x) * c + k;
            const from = layout === 'nchw' ? (k * h + sy) * w + sx : (sy * w + sx) * c + k;
            out[n * per + at] = src[n * per + from]!;
          }
        }
      }
    }
  });
}
