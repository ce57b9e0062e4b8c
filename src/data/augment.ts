/**
 * Label-free augmentation for head training: each variant is a transformed copy of every
 * sample, whose distillation target is the backbone's own answer on that copy.
 * Invariant: variants never change the sample count or order; 'flip' mirrors images
 * left–right (the last spatial axis), valid for natural images, not for text or digits;
 * 'crop' shifts each image by up to `max` pixels in each direction (a padded random crop;
 * the uncovered border is 0 after normalisation), the shift drawn from a seeded RNG;
 * 'random' mirrors each image with probability 1/2 and then shifts it (a fresh draw per copy).
 * Samples whose layout looks the other way (channels where the layout puts a spatial axis) are refused rather than
 * mirrored along their channels (checkAugmentable).
 * parseAugmentList reads the list form the CLI and the benchmarks share ("flip,random:10").
 */
import { MAX_AUGMENTED_COPIES } from '../config/index.ts';
import { LayercacheError } from '../errors/index.ts';
import { seededRng } from '../tensor/index.ts';
import type { DataSource } from './source.ts';

export type Augmentation = 'flip' | 'crop' | 'random';

const KINDS: readonly Augmentation[] = ['flip', 'crop', 'random'];

/** Refuses augmentations for samples that are not images [C, H, W] or [H, W, C]; `what` names the samples. */
export function checkAugmentable(augment: readonly Augmentation[], sampleDims: readonly number[], layout: 'nchw' | 'nhwc', what: string): void {
  const problem = augmentProblem(augment, sampleDims, layout, what);
  if (problem !== null) throw new LayercacheError('DATA_SHAPE_MISMATCH', problem);
}

/** Why these augmentations do not fit such samples (checkAugmentable's message), or null when they do. */
export function augmentProblem(augment: readonly Augmentation[], sampleDims: readonly number[], layout: 'nchw' | 'nhwc', what: string): string | null {
  if (augment.length === 0) return null;
  if (sampleDims.length !== 3) return `--augment ${augment.join(',')} needs image samples [C, H, W] or [H, W, C], but ${what} has [${sampleDims.join(', ')}]; drop --augment`;
  // An image in the other layout (a few channels, fewer than its height and width) where this one puts a spatial
  // axis: mirroring would swap colour channels (R and B), not pixels. Feature maps ([64, 4, 4]) pass.
  const [d0, d1, d2] = sampleDims as [number, number, number];
  const [channels, other, otherH, otherW] = layout === 'nchw' ? [d0, d2, d0, d1] : [d2, d0, d1, d2];
  if (channels > 4 && other <= 4 && other < Math.min(otherH, otherW)) {
    const fix = layout === 'nchw' ? 'nhwc' : 'nchw';
    return `--augment ${augment.join(',')} mirrors and shifts the spatial axes of ${layout} samples, but ${what} has [${sampleDims.join(', ')}], which looks ${fix} (${other} channels); give --layout ${fix}, or drop --augment`;
  }
  return null;
}

function imageDims(source: DataSource, kind: Augmentation, layout: 'nchw' | 'nhwc'): readonly number[] {
  checkAugmentable([kind], source.sampleDims, layout, `'${source.description}'`);
  return source.sampleDims;
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
  const dims = imageDims(source, 'flip', layout);
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
  return shifted(source, layout, 'cropped', imageDims(source, 'crop', layout), draws(source.count, seed, max, 0));
}

/** A data source whose samples are mirrored with probability 1/2, then randomly shifted: the usual CIFAR augmentation. */
export function randomized(source: DataSource, layout: 'nchw' | 'nhwc', seed: number, max = 4): DataSource {
  return shifted(source, layout, 'randomly mirrored and cropped', imageDims(source, 'random', layout), draws(source.count, seed, max, 0.5));
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

/**
 * Parses an --augment list: NAME or NAME:COUNT entries, e.g. "flip,random:10" for a mirrored
 * copy and ten random ones; COUNT is a positive integer. A second 'flip' would only repeat the
 * first mirrored copy, and more than MAX_AUGMENTED_COPIES copies are refused here, naming the option.
 */
export function parseAugmentList(value: string, option: string): Augmentation[] {
  const entries = value.split(',').map((e) => e.trim()).filter((e) => e.length > 0).map((entry) => {
    const [name, count = '1', ...rest] = entry.split(':');
    if (!(KINDS as readonly string[]).includes(name!)) throw new LayercacheError('USAGE', `${option} '${name}' is not one of ${KINDS.join(', ')}`);
    const kind = name as Augmentation;
    if (rest.length > 0 || !/^[1-9]\d*$/.test(count)) {
      throw new LayercacheError('USAGE', `${option} entry '${entry}' is not NAME or NAME:COUNT with a positive integer COUNT, e.g. random:10`);
    }
    return { kind, count: Number(count) };
  });
  if (entries.length === 0) throw new LayercacheError('USAGE', `${option} '${value}' names no augmentation; pass e.g. ${option} flip,random:4`);
  const total = entries.reduce((sum, e) => sum + e.count, 0);
  if (total > MAX_AUGMENTED_COPIES) {
    throw new LayercacheError('USAGE', `${option} '${value}' asks for ${total} copies; at most ${MAX_AUGMENTED_COPIES} (each costs a backbone pass per sample and memory for its features)`);
  }
  const kinds = entries.flatMap((e) => Array.from({ length: e.count }, () => e.kind));
  if (kinds.filter((k) => k === 'flip').length > 1) {
    throw new LayercacheError('USAGE', `${option} '${value}' asks for more than one flip, but every mirrored copy is the same; for more copies use random:N (mirrored at random and shifted)`);
  }
  return kinds;
}
