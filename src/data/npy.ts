/**
 * The .npy format (numpy's np.save): the header parsed, and samples read as float32.
 * Invariants: only C-order arrays of little-endian float32 or float64 are read (float64, numpy's default, is
 * converted to float32 as it is read), in chunks, so memory holds the float32 samples and one chunk; a header
 * that is anything else is refused naming what it holds and how to save it instead. Integer arrays are refused
 * rather than converted: tensor data reaches the model as stored, and integer pixels would arrive unnormalised.
 */

/** The element types read, by numpy descr. */
const DTYPES = new Map([
  ['<f4', { name: 'float32', bytes: 4, view: (b: Uint8Array) => new Float32Array(b.buffer, b.byteOffset, b.byteLength / 4) }],
  ['<f8', { name: 'float64', bytes: 8, view: (b: Uint8Array) => new Float64Array(b.buffer, b.byteOffset, b.byteLength / 8) }],
]);

export interface NpyHeader {
  /** The array's shape, e.g. [N, 3, 32, 32]. */
  readonly shape: number[];
  /** Where the data starts, in bytes from the file's start. */
  readonly offset: number;
  /** The numpy descr, e.g. '<f4'. */
  readonly descr: string;
  /** The element type's name, e.g. 'float32'. */
  readonly dtype: string;
  /** Bytes per element in the file. */
  readonly itemBytes: number;
}

/** Largest .npy header read first: version 1 headers hold at most 65,535 bytes; longer ones are read in full. */
export const NPY_HEAD = 65_536 + 12;

/** Parses a .npy header from the file's first bytes; `fail(why)` makes the error (the file named by the caller). */
export function parseNpy(head: Uint8Array, fail: (why: string) => Error): NpyHeader {
  const magic = String.fromCharCode(...head.subarray(0, 6));
  if (magic !== '\x93NUMPY') throw fail('is not a .npy file');
  const major = head[6]!;
  if (head.length < 12) throw fail('is truncated within its header; save it again with np.save');
  const headerLen = major === 1 ? head[8]! | (head[9]! << 8) : new DataView(head.buffer, head.byteOffset + 8, 4).getUint32(0, true);
  const start = major === 1 ? 10 : 12;
  if (head.length < start + headerLen) throw fail('is truncated within its header; save it again with np.save');
  const header = new TextDecoder().decode(head.subarray(start, start + headerLen));
  const descr = /'descr':\s*'([^']+)'/.exec(header)?.[1];
  const order = /'fortran_order':\s*(True|False)/.exec(header)?.[1];
  const shape = /'shape':\s*\(([^)]*)\)/.exec(header)?.[1];
  const save = "np.save(path, np.ascontiguousarray(x, dtype='<f4'))";
  // A structured dtype's descr is a list of fields, e.g. [('a', '<f4'), ('b', '<f4')].
  if (descr === undefined && /'descr':\s*\[/.test(header)) throw fail(`holds a structured array (named fields: '${header.trim().slice(0, 80)}'); save a plain float32 array, ${save}`);
  if (descr === undefined || order === undefined || shape === undefined) throw fail(`has a header without descr, fortran_order and shape ('${header.trim().slice(0, 80)}'); save it with np.save`);
  const dtype = DTYPES.get(descr);
  if (/^[<>|=][iub]\d+$/.test(descr)) {
    throw fail(`holds integers (${descr}), which would reach the model unnormalised: tensor data is fed as stored; save the preprocessed float32 tensors, ${save}, or give images as folder: or cifar10: data, which --scale, --mean and --std apply to`);
  }
  if (dtype === undefined || order !== 'False') {
    throw fail(`holds ${descr} data${order === 'True' ? ' in Fortran order' : ''}; save it as little-endian float32 or float64 in C order, ${save}`);
  }
  const axes = shape.split(',').map((x) => x.trim()).filter(Boolean);
  // Whole numbers of at least 1 (np.save writes no other); Number() would read '2.5', '1e3' or '0x10' as numbers.
  if (!axes.every((x) => /^[1-9]\d*$/.test(x))) throw fail(`has shape (${shape.trim()}); every axis must be a whole number, at least 1`);
  return { shape: axes.map(Number), offset: start + headerLen, descr, dtype: dtype.name, itemBytes: dtype.bytes };
}

/** Bytes read per chunk: bounds the memory beyond the float32 samples. */
const CHUNK_BYTES = 64 * 2 ** 20;

/**
 * Elements [first, first + count) of the array as float32, read through `read(start, length)` (bytes of the file),
 * in chunks copied (float64: converted) by typed-array assignment (native, no per-element JS).
 */
export async function readNpyElements(header: NpyHeader, first: number, count: number, read: (start: number, length: number) => Promise<Uint8Array>, chunkBytes = CHUNK_BYTES): Promise<Float32Array> {
  const { bytes, view } = DTYPES.get(header.descr)!;
  const at = (i: number): number => header.offset + (first + i) * bytes;
  const out = new Float32Array(count);
  const step = Math.max(1, Math.floor(chunkBytes / bytes));
  for (let i = 0; i < count; i += step) {
    const n = Math.min(step, count - i);
    out.set(view(await read(at(i), n * bytes)), i);
  }
  return out;
}
