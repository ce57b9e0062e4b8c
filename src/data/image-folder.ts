/**
 * A folder of images (JPEG, PNG, WebP, …) decoded with sharp. With class subfolders
 * (root/cat/1.jpg, root/dog/a/2.jpg) the sorted subfolder names are the labels; with images
 * directly in the folder there are none. Symbolic links are followed (one that cannot be is refused when it could be
 * an image or a class folder, as is an image reached from two class folders); hidden entries are skipped. A BMP is
 * listed and refused (sharp cannot decode it), as is an image file that cannot be read. Every image is decoded once, resized to the model's input size (stretched to
 * fill; EXIF orientation is not applied, as PIL-based loaders do not; an alpha channel is
 * dropped, as PIL's convert('RGB') drops it, so a transparent pixel keeps its colour) and kept
 * as planar bytes; batches are preprocessed on demand.
 * Invariant: sample order is the sorted relative path within each class, classes in sorted
 * order; label k is the k-th class folder.
 */
import { promises as fs, type Dirent } from 'node:fs';
import path from 'node:path';
import sharp from 'sharp';
import { LayercacheError } from '../errors/index.ts';
import { preprocessPlanar, type Preprocess } from './preprocess.ts';
import { checkArrayBytes, type DataSource } from './source.ts';
import type { Tensor } from '../tensor/index.ts';
import { SILENT, withPhase, type Progress } from '../progress/index.ts';

const IMAGE = /\.(jpe?g|png|webp|gif|tiff?|avif|bmp)$/i;

/** Images decoded at once (libuv's thread pool has four threads by default). */
const DECODES_IN_FLIGHT = 4;

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

/**
 * The size of the grey or colour images (1 or 3 channels) a model input takes, else undefined: the inputs that
 * image preprocessing and the classify route apply to. One rule for the server's check at start and a bundle's at load.
 */
export function colourImageSizeOf(shape: readonly (number | string)[] | null | undefined, layout: 'nchw' | 'nhwc'): ImageSize | undefined {
  const size = imageSizeOf(shape, layout);
  return size && (size.channels === 1 || size.channels === 3) ? size : undefined;
}

/** Entries that may be an image or a class folder: an image's extension, or none (a folder's name usually has none). */
const mayMatter = (name: string): boolean => IMAGE.test(name) || path.extname(name) === '';

/**
 * What a directory entry is, following symbolic links (`link` says whether it is one); null for anything else (a
 * socket, a device). A link that cannot be followed (its target is gone, or it loops) is refused when its name could
 * be an image's or a class folder's: skipping it would shift every later index or label silently. Others (a dangling
 * `labels.csv`) are skipped, as any file of another kind is.
 */
async function kindOf(dir: string, e: Dirent): Promise<{ kind: 'dir' | 'file'; link: boolean } | null> {
  if (e.isDirectory()) return { kind: 'dir', link: false };
  if (e.isFile()) return { kind: 'file', link: false };
  if (!e.isSymbolicLink()) return null;
  const link = path.join(dir, e.name);
  let st;
  try {
    st = await fs.stat(link);
  } catch (err) {
    if (!mayMatter(e.name)) return null;
    const target = await fs.readlink(link).catch(() => '?');
    throw new LayercacheError('DATA_SPEC_INVALID', `${link} is a link to ${target}, which cannot be followed (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); fix or remove the link (skipping it would shift the index of every later image, or the label of every later class)`, { cause: err });
  }
  return st.isDirectory() ? { kind: 'dir', link: true } : st.isFile() ? { kind: 'file', link: true } : null;
}

interface Entry { readonly name: string; readonly kind: 'dir' | 'file'; readonly link: boolean }

/** The non-hidden entries of `dir` that are directories or files, links followed; names sorted. */
async function entriesOf(dir: string): Promise<Entry[]> {
  let entries: Dirent[];
  try {
    entries = await fs.readdir(dir, { withFileTypes: true });
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    throw code === 'ENOENT' || code === 'ENOTDIR'
      ? new LayercacheError('FILE_NOT_FOUND', `image folder ${dir} cannot be read (${code}); check the path`, { cause: err })
      : new LayercacheError('FILE_UNREADABLE', `image folder ${dir} cannot be read (${code ?? (err as Error).message}); fix its permissions, or give another folder`, { cause: err });
  }
  // Hidden entries (.git, .ipynb_checkpoints, macOS's ._photo.jpg companions) are not data.
  const kinds = await Promise.all(entries.filter((e) => !e.name.startsWith('.')).map(async (e) => {
    const k = await kindOf(dir, e);
    return k && { name: e.name, ...k };
  }));
  return kinds.filter((k): k is Entry => k !== null).sort((a, b) => (a.name < b.name ? -1 : a.name > b.name ? 1 : 0));
}

/** An image file that could not be read or resolved after the folder was listed: its path, the cause and the fix. */
function imageFileError(file: string, err: unknown): LayercacheError {
  const code = (err as NodeJS.ErrnoException).code ?? (err as Error).message;
  if (code === 'ENOENT') return new LayercacheError('FILE_NOT_FOUND', `image ${file} was removed after its folder was listed; run again once the folder has stopped changing`, { cause: err });
  const fix = code === 'EACCES' || code === 'EPERM' ? 'fix its permissions, or remove it' : 'check the file, or remove it';
  return new LayercacheError('FILE_UNREADABLE', `image ${file} cannot be read (${code}); ${fix}`, { cause: err });
}

const byCodeUnits = (a: string, b: string): number => (a < b ? -1 : a > b ? 1 : 0);

/** An image as listed (`file`, the path through the folder given) and the file it is (`real`, links resolved). */
interface ListedImage { readonly file: string; readonly real: string }

/** Every image under `dir`, at any depth (links followed, each real directory once). */
async function imagesUnder(dir: string, seen: Set<string>): Promise<ListedImage[]> {
  const real = await fs.realpath(dir).catch((err: unknown) => {
    throw new LayercacheError('FILE_UNREADABLE', `image folder ${dir} cannot be resolved (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); fix the link or its permissions, or give another folder`, { cause: err });
  });
  if (seen.has(real)) return [];
  seen.add(real);
  const out: ListedImage[] = [];
  for (const e of await entriesOf(dir)) {
    const file = path.join(dir, e.name);
    if (e.kind === 'file' && IMAGE.test(e.name)) {
      // Only a link needs resolving (one call per link, not per image).
      out.push({ file, real: e.link ? await fs.realpath(file).catch((err: unknown) => { throw imageFileError(file, err); }) : path.join(real, e.name) });
    } else if (e.kind === 'dir') out.push(...(await imagesUnder(file, seen)));
  }
  return out;
}

/** Refuses an image file reached from two class folders (through a link), which would carry two labels. */
function refuseSharedImages(classes: readonly { name: string; images: readonly ListedImage[] }[]): void {
  const owner = new Map<string, { name: string; file: string }>();
  for (const c of classes) {
    for (const { file, real } of c.images) {
      const first = owner.get(real);
      if (first && first.name !== c.name) {
        throw new LayercacheError('DATA_SPEC_INVALID', `image ${first.file} (class '${first.name}') and ${file} (class '${c.name}') are the same file, ${real}, so it would carry two labels; each image must sit in one class folder: remove the link that brings it into the other`);
      }
      if (!first) owner.set(real, { name: c.name, file });
    }
  }
}

/**
 * The images of `root`: directly in it (no labels), or in class subfolders at any depth (labels numbered in the
 * sorted order of the class folders' names, as torchvision's ImageFolder numbers them). A class folder without
 * images is refused, since skipping it would shift every later label.
 */
async function listImages(root: string): Promise<{ files: string[]; labels: Int32Array | null; classes: string[] }> {
  const entries = await entriesOf(root);
  const direct = entries.filter((e) => e.kind === 'file' && IMAGE.test(e.name)).map((e) => path.join(root, e.name));
  const named = entries.filter((e) => e.kind === 'dir').map((e) => e.name);
  // Each class's images in the sorted order of their whole relative paths (cat/a-1.png before cat/a/0.png).
  const classes = await Promise.all(named.map(async (name) => ({ name, images: (await imagesUnder(path.join(root, name), new Set())).sort((x, y) => byCodeUnits(x.file, y.file)) })));
  refuseSharedImages(classes);
  const holding = classes.filter((c) => c.images.length > 0);
  if (holding.length > 0 && direct.length > 0) {
    throw new LayercacheError('DATA_SPEC_INVALID', `image folder ${root} holds both images (${path.basename(direct[0]!)}, …) and subfolders with images (${holding[0]!.name}, …); put every image in a class subfolder, or none in any, so that labels are unambiguous`);
  }
  if (holding.length === 0) return { files: direct, labels: null, classes: [] };
  const empty = classes.find((c) => c.images.length === 0);
  if (empty) {
    throw new LayercacheError('DATA_SPEC_INVALID', `class folder ${path.join(root, empty.name)} holds no images, while ${holding.length} other subfolders do; labels are numbered by the sorted class folder names, so skipping it would shift every later label: add its images, or move it out of ${root} (or hide it: names starting with '.' are ignored)`);
  }
  const files: string[] = [];
  const labels: number[] = [];
  for (const [k, c] of classes.entries()) {
    files.push(...c.images.map((x) => x.file));
    for (let i = 0; i < c.images.length; i++) labels.push(k);
  }
  return { files, labels: Int32Array.from(labels), classes: classes.map((c) => c.name) };
}

/**
 * Decodes an image (path or bytes) to planar bytes [channels, height, width], stretched to `size`. An image of more
 * than `maxPixels` pixels is refused before it is decoded (sharp's own limit, 268 megapixels, when not given).
 */
async function decodePlanar(image: string | Uint8Array, size: ImageSize, maxPixels?: number): Promise<Uint8Array> {
  const { channels, height, width } = size;
  const plane = height * width;
  let img = sharp(image, maxPixels === undefined ? {} : { limitInputPixels: maxPixels }).resize(width, height, { fit: 'fill' });
  img = channels === 1 ? img.greyscale() : img.removeAlpha().toColourspace('srgb');
  const raw = await img.raw().toBuffer();
  if (raw.length !== plane * channels) throw new Error(`decoded to ${raw.length} bytes, expected ${plane * channels}`);
  const out = new Uint8Array(channels * plane);
  for (let c = 0; c < channels; c++) for (let j = 0; j < plane; j++) out[c * plane + j] = raw[j * channels + c]!;
  return out;
}

/** Bytes per channel value of sharp's pixel depths. */
const DEPTH_BYTES: Readonly<Record<string, number>> = { uchar: 1, char: 1, ushort: 2, short: 2, uint: 4, int: 4, float: 4, complex: 8, double: 8, dpcomplex: 16 };

/**
 * Decodes one encoded image (JPEG, PNG, …) into a model input [1, ...] preprocessed like the
 * bundle's build data. `what` names the image in the error. An image over `limits.maxPixels`, or one that decodes to
 * more than `limits.maxDecodedBytes` (a 16-bit PNG takes twice an 8-bit one's), is refused from its header, undecoded.
 */
export async function decodeImage(bytes: Uint8Array, size: ImageSize, p: Preprocess, what: string, limits: { maxPixels?: number; maxDecodedBytes?: number } = {}): Promise<Tensor<'float32'>> {
  const { maxPixels, maxDecodedBytes } = limits;
  const tooManyPixels = (cause?: unknown): LayercacheError => new LayercacheError('INFER_REQUEST_INVALID', `${what} is an image of more than ${((maxPixels ?? 0) / 2 ** 20).toFixed(0)} megapixels, which is not decoded here; scale it down first (the model takes ${size.width}×${size.height})`, cause === undefined ? undefined : { cause });
  let planar: Uint8Array;
  try {
    if (maxDecodedBytes !== undefined) {
      const m = await sharp(bytes).metadata();
      if (maxPixels !== undefined && (m.width ?? 0) * (m.height ?? 0) > maxPixels) throw tooManyPixels();
      // A progressive JPEG holds its DCT coefficients, 2 bytes a sample, until the last scan: twice its pixels' bytes.
      const progressive = m.format === 'jpeg' && m.isProgressive === true ? 2 : 1;
      const decoded = (m.width ?? 0) * (m.height ?? 0) * (m.channels ?? 4) * (DEPTH_BYTES[m.depth ?? 'uchar'] ?? 8) * progressive;
      if (decoded > maxDecodedBytes) {
        const amount = (b: number): string => (b >= 2 ** 20 ? `${(b / 2 ** 20).toFixed(0)} MiB` : `${(b / 1024).toFixed(0)} KiB`);
        throw new LayercacheError('INFER_REQUEST_INVALID', `${what} would decode to ${amount(decoded)} (${m.width}×${m.height}, ${m.channels} channels of ${m.depth}${progressive > 1 ? ', progressive' : ''}), more than the ${amount(maxDecodedBytes)} decoded here; send an 8-bit image scaled down (the model takes ${size.width}×${size.height})`);
      }
    }
    planar = await decodePlanar(bytes, size, maxPixels);
  } catch (err) {
    if (err instanceof LayercacheError) throw err;
    const message = (err as Error).message;
    if (maxPixels !== undefined && /pixel limit/i.test(message)) throw tooManyPixels(err);
    throw new LayercacheError('INFER_REQUEST_INVALID', `${what} cannot be decoded as an image (${message}); send a JPEG or PNG file`, { cause: err });
  }
  return preprocessPlanar(planar, 1, size.channels, size.height, size.width, p);
}

/** The bytes of image file `file`; one that cannot be read is an error naming it, its error code and the fix. */
async function readImage(file: string): Promise<Uint8Array> {
  try {
    return await fs.readFile(file);
  } catch (err) {
    throw imageFileError(file, err);
  }
}

/** Opens `root` as a data source of images resized to `size`; `range` selects [start, end) of the sorted files. */
export async function openImageFolder(spec: string, root: string, range: (total: number) => [number, number], size: ImageSize, p: Preprocess, progress: Progress = SILENT): Promise<DataSource> {
  const all = await listImages(root);
  if (all.files.length === 0) throw new LayercacheError('DATA_SPEC_INVALID', `data spec '${spec}': ${root} holds no images (.jpg, .png, .webp, …)`);
  const [a, b] = range(all.files.length);
  const files = all.files.slice(a, b);
  // Listed (so that no image is skipped silently), but sharp's prebuilt libvips has no BMP decoder: say so at once.
  const bmp = files.find((f) => /\.bmp$/i.test(f));
  if (bmp) throw new LayercacheError('DATA_SPEC_INVALID', `image ${bmp} is a BMP, which the image decoder (sharp) cannot read; convert the BMP images to PNG (e.g. ImageMagick's mogrify -format png *.bmp) and remove the .bmp files`);
  const { channels, height, width } = size;
  const plane = height * width;
  // Decoded pixels are held in one array (and the float inputs of a batch are 4× its share).
  checkArrayBytes(spec, `${files.length} images decoded at ${height}×${width}`, files.length, channels * plane, ', or a smaller size');
  const pixels = new Uint8Array(files.length * channels * plane);
  // sharp decodes on libuv's thread pool: a few images in flight keep it busy; each lands at its own index.
  let next = 0;
  /** The first image (in order) that failed, once any has: the others in flight finish, none starts. */
  const state: { failed: { index: number; err: unknown } | null } = { failed: null };
  await withPhase(progress, 'decode images', files.length, async (phase) => {
    const worker = async (): Promise<void> => {
      for (let i = next++; i < files.length && !state.failed; i = next++) {
        try {
          // Read here, then decoded from its bytes (as a classify request's): a file that cannot be read says so.
          pixels.set(await decodePlanar(await readImage(files[i]!), size), i * channels * plane);
        } catch (err) {
          // Another worker may have failed meanwhile (the loop's test narrowed this to null).
          const other = state.failed as { index: number } | null;
          if (!other || i < other.index) state.failed = { index: i, err };
          continue;
        }
        if (!state.failed) phase.tick();
      }
    };
    await Promise.all(Array.from({ length: DECODES_IN_FLIGHT }, worker));
  });
  if (state.failed) {
    const { index, err } = state.failed;
    if (err instanceof LayercacheError) throw err; // unreadable
    throw new LayercacheError('DATA_SPEC_INVALID', `image ${files[index]} cannot be decoded (${(err as Error).message}); remove it or replace it with a valid JPEG/PNG`, { cause: err });
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
