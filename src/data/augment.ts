/**
 * Label-free augmentation for head training: each variant is a transformed copy of every
 * sample, whose distillation target is the backbone's own answer on that copy.
 * Invariant: variants never change the sample count or order; 'flip' mirrors images
 * left–right (the last spatial axis), valid for natural images, not for text or digits.
 */
import { LayercacheError } from '../errors/index.ts';
import type { DataSource } from './source.ts';

export type Augmentation = 'flip';

/** A data source whose samples are the horizontal mirror images of `source`'s. */
export function flipped(source: DataSource, layout: 'nchw' | 'nhwc'): DataSource {
  const dims = source.sampleDims;
  if (dims.length !== 3) {
    throw new LayercacheError('DATA_SHAPE_MISMATCH', `--augment flip needs image samples [C, H, W] or [H, W, C], but '${source.description}' has [${dims.join(', ')}]`);
  }
  return {
    ...source,
    description: `${source.description} (flipped)`,
    batch: (s, e) => {
      const t = source.batch(s, e);
      const src = t.data;
      const out = new Float32Array(src.length);
      // Rows of the last spatial axis: W for NCHW (length W), H·W rows of C for NHWC.
      if (layout === 'nchw') {
        const w = dims[2]!;
        for (let r = 0; r < src.length; r += w) for (let c = 0; c < w; c++) out[r + c] = src[r + w - 1 - c]!;
      } else {
        const [, w, ch] = [dims[0]!, dims[1]!, dims[2]!];
        const row = w * ch;
        for (let r = 0; r < src.length; r += row) {
          for (let c = 0; c < w; c++) out.set(src.subarray(r + (w - 1 - c) * ch, r + (w - c) * ch), r + c * ch);
        }
      }
      return { ...t, data: out };
    },
  };
}
