/**
 * Label-free augmentation for head training: each variant is a transformed copy of every
 * sample, whose distillation target is the backbone's own answer on that copy.
 * Invariant: variants never change the sample count or order; 'flip' mirrors images
 * left–right (the last spatial axis), valid for natural images, not for text or digits;
 * 'crop' shifts each image by up to `max` pixels in each direction (a padded random crop;
 * the uncovered border is 0 after normalisation), the shift drawn from a seeded RNG;
 * 'random' mirrors each image with probability 1/2 and then shifts it (a fresh draw per copy).
 */
import { LayercacheError } from '../errors/index.ts';
import { seededRng } from '../tensor/index.ts';
import type { DataSource } from './source.ts';

export type Augmentation = 'flip' | 'crop' | 'random';

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

/** Per-sample draw of a shifted copy: the shift in pixels and whether the image is mirrored first. */
interface Draw { readonly dy: number; readonly dx: number; readonly mirror: boolean }

/**
 * `source` with sample n replaced by its mirror image (when draws[n].mirror) shifted by
 * (draws[n].dy, draws[n].dx) pixels; the uncovered border is 0.
 */
function shifted(source: DataSource, layout: 'nchw' | 'nhwc', label: string, dims: readonly number[], draws: readonly Draw[]): DataSource {
  const [c, h, w] = layout === 'nchw' ? [dims[0]!, dims[1]!, dims[2]!] : [dims[2]!, dims[0]!, dims[1]!];
  return transformed(source, label, (src, out, s, e) => {
    const per = c * h * w;
    for (let n = 0; n < e - s; n++) {
      const { dy, dx, mirror } = draws[s + n]!;
      for (let y = 0; y < h; y++) {
        const sy = y + dy;
        if (sy < 0 || sy >= h) continue;
        for (let x = 0; x < w; x++) {
          const sx = x + dx;
          if (sx < 0 || sx >= w) continue;
          const col = mirror ? w - 1 - sx : sx;
          for (let k = 0; k < c; k++) {
            const at = layout === 'nchw' ? (k * h + y) * w + x : (y * w + x) * c + k;
            const from = layout === 'nchw' ? (k * h + sy) * w + col : (sy * w + col) * c + k;
            out[n * per + at] = src[n * per + from]!;
          }
        }
      }
    }
  });
}

function draws(count: number, seed: number, max: number, mirrorShare: number): Draw[] {
  const rng = seededRng(seed);
  const shift = (): number => Math.floor(rng.uniform() * (2 * max + 1)) - max;
  return Array.from({ length: count }, () => ({ dy: shift(), dx: shift(), mirror: mirrorShare > 0 && rng.uniform() < mirrorShare }));
}

/** A data source whose samples are randomly shifted copies (padded random crops) of `source`'s. */
export function cropped(source: DataSource, layout: 'nchw' | 'nhwc', seed: number, max = 4): DataSource {
  return shifted(source, layout, 'cropped', imageDims(source, 'crop'), draws(source.count, seed, max, 0));
}

/** A data source whose samples are mirrored with probability 1/2, then randomly shifted: the usual CIFAR augmentation. */
export function randomized(source: DataSource, layout: 'nchw' | 'nhwc', seed: number, max = 4): DataSource {
  return shifted(source, layout, 'randomly mirrored and cropped', imageDims(source, 'random'), draws(source.count, seed, max, 0.5));
}

/**
 * `source` followed by one augmented copy per entry of `augment`, in order; copy i of a
 * random kind draws from seed + 7·(i + 1), so every copy differs and the list is reproducible.
 */
export function withAugmentedCopies(source: DataSource, augment: readonly Augmentation[], layout: 'nchw' | 'nhwc', seed: number): DataSource[] {
  return [source, ...augment.map((a, i) => {
    const s = seed + 7 * (i + 1);
    return a === 'flip' ? flipped(source, layout) : a === 'crop' ? cropped(source, layout, s) : randomized(source, layout, s);
  })];
}
