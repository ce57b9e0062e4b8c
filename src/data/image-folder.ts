/**
 * A folder of images (JPEG, PNG, WebP, …) decoded with sharp. With class subfolders
 * (root/cat/1.jpg, root/dog/2.jpg) the sorted subfolder names are the labels; with images
 * directly in the folder there are none. Every image is decoded once, resized to the
 * model's input size (stretched to fill) and kept as planar bytes; batches are
 * preprocessed on demand. Invariant: sample order is the sorted relative path.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { LayercacheError } from '../errors/index.ts';
import { preprocessPlanar, type Preprocess } from './preprocess.ts';
import type { DataSource } from './source.ts';
import type { Tensor } from '../tensor/index.ts';

const IMAGE = /\.(jpe?g|png|webp|gif|tiff?|avif|bmp)$/i;

export interface ImageSize {
  readonly channels: number;
  readonly height: number;
  readonly width: number;
}

/** The image size a model input [batch, C, H, W] (nchw) or [batch, H, W, C] (nhwc) expects, when fixed. */
export function imageSizeOf(shape: readonly (number | string)[] | null | undefined, layout: 'nchw' | 'nhwc'): ImageSize | undefined {
  if (!shape || shape.length !== 4) return undefined;
  const [c, h, w] = layout === 'nchw' ? [shape[1], shape[2], shape[3]] : [shape[3], shape[1], shape[2]];
  return typeof c === 'number' && typeof h === 'number' && typeof w === 'number' ? { channels: c, height: h, width: w } : undefined;
}

async function listImages(root: string): Promise<{ files: string[]; labels: Int32Array | null; classes: string[] }> {
  let entries;
  try {
    entries = await fs.readdir(root, { withFileTypes: true });
  } catch (err) {
    throw new LayercacheError('FILE_NOT_FOUND', `image folder ${root} cannot be read (${(err as NodeJS.ErrnoException).code ?? 'error'}); check the path`, { cause: err });
  }
  // Class folders: hidden ones (.ipynb_checkpoints, .git) and ones without images (__MACOSX, thumbs) are no class.
  const named = entries.filter((e) => e.isDirectory() && !e.name.startsWith('.')).map((e) => e.name).sort();
  const classes = (await Promise.all(named.map(async (name) => ({ name, images: (await fs.readdir(path.join(root, name))).filter((f) => IMAGE.test(f)).sort() }))))
    .filter((c) => c.images.length > 0);
  const dirs = classes.map((c) => c.name);
  const direct = entries.filter((e) => e.isFile() && IMAGE.test(e.name)).map((e) => e.name).sort();
  if (dirs.length > 0 && direct.length > 0) {
    throw new LayercacheError('DATA_SPEC_INVALID', `image folder ${root} holds both images (${direct[0]}, …) and subfolders (${dirs[0]}, …); put every image in a class subfolder, or none in any, so that labels are unambiguous`);
  }
  if (dirs.length > 0) {
    const files: string[] = [];
    const labels: number[] = [];
    for (const [k, c] of classes.entries()) {
      for (const f of c.images) {
        files.push(path.join(root, c.name, f));
        labels.push(k);
      }
    }
    return { files, labels: Int32Array.from(labels), classes: dirs };
  }
  return { files: direct.map((f) => path.join(root, f)), labels: null, classes: [] };
}

/** Decodes an image (path or bytes) to planar bytes [channels, height, width], stretched to `size`. */
async function decodePlanar(image: string | Uint8Array, size: ImageSize): Promise<Uint8Array> {
  const { channels, height, width } = size;
  const plane = height * width;
  let img = sharp(image).resize(width, height, { fit: 'fill' });
  img = channels === 1 ? img.greyscale() : img.removeAlpha().toColourspace('srgb');
  const raw = await img.raw().toBuffer();
  if (raw.length !== plane * channels) throw new Error(`decoded to ${raw.length} bytes, expected ${plane * channels}`);
  const out = new Uint8Array(channels * plane);
  for (let c = 0; c < channels; c++) for (let j = 0; j < plane; j++) out[c * plane + j] = raw[j * channels + c]!;
  return out;
}

/**
 * Decodes one encoded image (JPEG, PNG, …) into a model input [1, ...] preprocessed like the
 * bundle's build data. `what` names the image in the error.
 */
export async function decodeImage(bytes: Uint8Array, size: ImageSize, p: Preprocess, what: string): Promise<Tensor<'float32'>> {
  let planar: Uint8Array;
  try {
    planar = await decodePlanar(bytes, size);
  } catch (err) {
    throw new LayercacheError('INFER_REQUEST_INVALID', `${what} cannot be decoded as an image (${(err as Error).message}); send a JPEG or PNG file`, { cause: err });
  }
  return preprocessPlanar(planar, 1, size.channels, size.height, size.width, p);
}

/** Opens `root` as a data source of images resized to `size`; `range` selects [start, end) of the sorted files. */
export async function openImageFolder(spec: string, root: string, range: (total: number) => [number, number], size: ImageSize, p: Preprocess): Promise<DataSource> {
  const all = await listImages(root);
  if (all.files.length === 0) throw new LayercacheError('DATA_SPEC_INVALID', `data spec '${spec}': ${root} holds no images (.jpg, .png, .webp, …)`);
  const [a, b] = range(all.files.length);
  const files = all.files.slice(a, b);
  const { channels, height, width } = size;
  const plane = height * width;
  const pixels = new Uint8Array(files.length * channels * plane);
  for (const [i, file] of files.entries()) {
    let planar: Uint8Array;
    try {
      planar = await decodePlanar(file, size);
    } catch (err) {
      throw new LayercacheError('DATA_SPEC_INVALID', `image ${file} cannot be decoded (${(err as Error).message}); remove it or replace it with a valid JPEG/PNG`, { cause: err });
    }
    pixels.set(planar, i * channels * plane);
  }
  const sampleDims = p.layout === 'nchw' ? [channels, height, width] : [height, width, channels];
  return {
    description: spec,
    count: files.length,
    sampleDims,
    labels: all.labels ? all.labels.slice(a, b) : null,
    batch: (s, e) => preprocessPlanar(pixels.subarray(s * channels * plane, e * channels * plane), e - s, channels, height, width, p),
  };
}
