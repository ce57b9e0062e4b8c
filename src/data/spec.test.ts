/**
 * Data specs on files written here: a valid .npy and raw file read back exactly, and the
 * broken ones (truncated, non-finite values, zero-sized shapes, directories, a CIFAR file
 * with labels outside 0–9) refused with a code and a message that names the problem.
 */
import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { IDENTITY_PREPROCESS } from './preprocess.ts';
import { memorySource, requireSampleDims } from './source.ts';
import { openDataSource, specsOverlap } from './spec.ts';

let dir: string;

/** A version-1 .npy file of little-endian float32 in C order. */
function npy(shape: number[], data: Float32Array): Buffer {
  return npyWith(`{'descr': '<f4', 'fortran_order': False, 'shape': (${shape.join(', ')}${shape.length === 1 ? ',' : ''}), }`, data);
}

/** A version-1 .npy file with the header dictionary `header`, as given. */
function npyWith(header: string, data: ArrayBufferView): Buffer {
  while ((10 + header.length + 1) % 64 !== 0) header += ' ';
  header += '\n';
  const head = Buffer.alloc(10);
  head.write('\x93NUMPY', 0, 'latin1');
  head[6] = 1;
  head[7] = 0;
  head.writeUInt16LE(header.length, 8);
  return Buffer.concat([head, Buffer.from(header, 'latin1'), Buffer.from(data.buffer, data.byteOffset, data.byteLength)]);
}

const values = Float32Array.from({ length: 4 * 6 }, (_, i) => i / 7 - 1);

before(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'layercache-spec-'));
});
after(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

describe('data specs', () => {
  it('reads a .npy and a raw file back exactly, range included', async () => {
    await fs.writeFile(path.join(dir, 'ok.npy'), npy([4, 2, 3], values));
    const n = await openDataSource(`npy:${path.join(dir, 'ok.npy')}#1-2`, IDENTITY_PREPROCESS);
    assert.deepEqual([n.count, ...n.sampleDims], [2, 2, 3]);
    assert.deepEqual(Array.from(n.batch(0, 2).data as Float32Array), Array.from(values.subarray(6, 18)));
    await fs.writeFile(path.join(dir, 'ok.raw'), values);
    const r = await openDataSource(`raw:${path.join(dir, 'ok.raw')}:6#3-3`, IDENTITY_PREPROCESS);
    assert.deepEqual(Array.from(r.batch(0, 1).data as Float32Array), Array.from(values.subarray(18, 24)));
  });

  it('reads a float64 .npy (numpy\'s default) as float32, range included; integers and big-endian are refused, saying why', async () => {
    const f64 = Float64Array.from(values, (v) => v + 1e-9);
    await fs.writeFile(path.join(dir, 'f64.npy'), npyWith(`{'descr': '<f8', 'fortran_order': False, 'shape': (4, 2, 3), }`, f64));
    const n = await openDataSource(`npy:${path.join(dir, 'f64.npy')}#1-2`, IDENTITY_PREPROCESS);
    assert.deepEqual([n.count, n.sampleDims], [2, [2, 3]]);
    assert.deepEqual(Array.from(n.batch(0, 2).data as Float32Array), Array.from(f64.subarray(6, 18), Math.fround));
    // Truncation is measured in the file's own element size.
    await fs.writeFile(path.join(dir, 'f64-cut.npy'), npyWith(`{'descr': '<f8', 'fortran_order': False, 'shape': (4, 2, 3), }`, f64).subarray(0, -8));
    await assert.rejects(openDataSource(`npy:${path.join(dir, 'f64-cut.npy')}`, IDENTITY_PREPROCESS), { code: 'DATA_SPEC_INVALID', message: /shape \(4, 2, 3\) of float64 needs 320: the file is truncated/ });
    // A finite float64 past float32's range is said as the file holds it, not as the infinity it would become.
    const big = Float64Array.from(f64);
    big[9] = -1e39;
    await fs.writeFile(path.join(dir, 'f64-big.npy'), npyWith(`{'descr': '<f8', 'fortran_order': False, 'shape': (4, 2, 3), }`, big));
    await assert.rejects(openDataSource(`npy:${path.join(dir, 'f64-big.npy')}#1-3`, IDENTITY_PREPROCESS), { code: 'DATA_SPEC_INVALID', message: /holds -1e\+39 at sample 1 \(value 3\), beyond the range of float32 \(±3\.4e38\), which the model takes; scale the data into it/ });
    big[9] = Number.NaN;
    await fs.writeFile(path.join(dir, 'f64-nan.npy'), npyWith(`{'descr': '<f8', 'fortran_order': False, 'shape': (4, 2, 3), }`, big));
    await assert.rejects(openDataSource(`npy:${path.join(dir, 'f64-nan.npy')}`, IDENTITY_PREPROCESS), { code: 'DATA_SPEC_INVALID', message: /holds NaN at sample 1 \(value 3\); inputs must be finite numbers/ });
    await fs.writeFile(path.join(dir, 'u8.npy'), npyWith(`{'descr': '|u1', 'fortran_order': False, 'shape': (4, 6), }`, new Uint8Array(24)));
    await assert.rejects(openDataSource(`npy:${path.join(dir, 'u8.npy')}`, IDENTITY_PREPROCESS), { code: 'DATA_SPEC_INVALID', message: /holds integers \(\|u1\), which would reach the model unnormalised: tensor data is fed as stored; save the preprocessed float32 tensors, .*or give images as folder: or cifar10: data/ });
    await fs.writeFile(path.join(dir, 'be.npy'), npyWith(`{'descr': '>f8', 'fortran_order': False, 'shape': (4, 6), }`, f64));
    await assert.rejects(openDataSource(`npy:${path.join(dir, 'be.npy')}`, IDENTITY_PREPROCESS), { code: 'DATA_SPEC_INVALID', message: /holds >f8 data; save it as little-endian float32 or float64 in C order/ });
  });

  it('a truncated .npy is named as truncated, not an internal error', async () => {
    const whole = npy([4, 2, 3], values);
    await fs.writeFile(path.join(dir, 'trunc.npy'), whole.subarray(0, whole.length - 10));
    await assert.rejects(openDataSource(`npy:${path.join(dir, 'trunc.npy')}`, IDENTITY_PREPROCESS),
      { code: 'DATA_SPEC_INVALID', message: /trunc\.npy' is 214 bytes, but its header's shape \(4, 2, 3\) of float32 needs 224: the file is truncated/ });
  });

  it('NaN and infinities are refused, naming the sample', async () => {
    const bad = values.slice();
    bad[13] = Number.NaN;
    await fs.writeFile(path.join(dir, 'nan.npy'), npy([4, 2, 3], bad));
    await assert.rejects(openDataSource(`npy:${path.join(dir, 'nan.npy')}`, IDENTITY_PREPROCESS),
      { code: 'DATA_SPEC_INVALID', message: /holds NaN at sample 2 \(value 1\); inputs must be finite/ });
    // Outside the range asked for, it does not matter.
    assert.equal((await openDataSource(`npy:${path.join(dir, 'nan.npy')}#0-1`, IDENTITY_PREPROCESS)).count, 2);
    bad[13] = Number.NEGATIVE_INFINITY;
    await fs.writeFile(path.join(dir, 'inf.raw'), bad);
    await assert.rejects(openDataSource(`raw:${path.join(dir, 'inf.raw')}:2x3`, IDENTITY_PREPROCESS),
      { code: 'DATA_SPEC_INVALID', message: /holds -Infinity at sample 2/ });
  });

  it('zero-sized shapes are refused', async () => {
    await fs.writeFile(path.join(dir, 'ok.raw'), values);
    await assert.rejects(openDataSource(`raw:${path.join(dir, 'ok.raw')}:3x0`, IDENTITY_PREPROCESS),
      { code: 'DATA_SPEC_INVALID', message: /per-sample shape 3x0 with a 0 in it/ });
    await fs.writeFile(path.join(dir, 'zero.npy'), npy([4, 0], new Float32Array(0)));
    await assert.rejects(openDataSource(`npy:${path.join(dir, 'zero.npy')}`, IDENTITY_PREPROCESS),
      { code: 'DATA_SPEC_INVALID', message: /shape \(4, 0\); every axis must be a whole number, at least 1/ });
  });

  it('a spec that names no file says so, with an example (it read as a file named \'\')', async () => {
    for (const [spec, what] of [['cifar10:', /names no file; give its path, e\.g\. cifar10:data\/test_batch\.bin#0-999/], ['cifar10:#0-9', /names no file/], ['npy:', /names no file; give its path, e\.g\. npy:inputs\.npy/], ['raw::3x8x8#0-1', /names no file; give its path, e\.g\. raw:inputs\.f32:3x32x32#0-999/], ['folder:', /names no folder; give its path, e\.g\. folder:images\/#0-999/], ['folder: ', /names no folder/], ['toString:x', /has unknown kind 'toString'/]] as const) {
      await assert.rejects(openDataSource(spec, IDENTITY_PREPROCESS, { channels: 3, height: 8, width: 8 }), { code: 'DATA_SPEC_INVALID', message: what }, spec);
    }
  });

  it('a .npy header that is not a plain float32 array says what it holds: a structured array, a shape that is not whole numbers', async () => {
    // np.save(f, np.zeros((4,), dtype=[('a', '<f4'), ('b', '<f4')])): it said the header had no descr, and to use np.save.
    await fs.writeFile(path.join(dir, 'fields.npy'), npyWith(`{'descr': [('a', '<f4'), ('b', '<f4')], 'fortran_order': False, 'shape': (4,), }`, new Float32Array(8)));
    await assert.rejects(openDataSource(`npy:${path.join(dir, 'fields.npy')}`, IDENTITY_PREPROCESS),
      { code: 'DATA_SPEC_INVALID', message: /holds a structured array \(named fields: .*\); save a plain float32 array, np\.save\(path, np\.ascontiguousarray\(x, dtype='<f4'\)\)/ });
    // Not shapes np.save writes: '2.5' was read as 2.5 and refused as if below 1; '0x2' was read as 2 and accepted.
    for (const shape of ['2.5, 3', '0x2, 12', '2, NaN']) {
      await fs.writeFile(path.join(dir, 'odd.npy'), npyWith(`{'descr': '<f4', 'fortran_order': False, 'shape': (${shape}), }`, values));
      await assert.rejects(openDataSource(`npy:${path.join(dir, 'odd.npy')}`, IDENTITY_PREPROCESS),
        { code: 'DATA_SPEC_INVALID', message: new RegExp(`has shape \\(${shape.replace('.', '\\.')}\\); every axis must be a whole number, at least 1`) });
    }
  });

  it('reads only the asked range, so files over 2 GiB open (a sparse raw file and .npy just over 2 GiB)', async () => {
    const big = path.join(dir, 'big.raw');
    const per = 3 * 8 * 8 * 4;
    const size = per * Math.ceil(2 ** 31 / per); // just over 2 GiB
    const tail = Float32Array.from({ length: 2 * per / 4 }, (_, i) => i + 0.5);
    const fh = await fs.open(big, 'w');
    await fh.truncate(size);
    await fh.write(new Uint8Array(tail.buffer), 0, tail.byteLength, size - tail.byteLength);
    await fh.close();
    const last = size / per - 1;
    const r = await openDataSource(`raw:${big}:3x8x8#${last - 1}-${last}`, IDENTITY_PREPROCESS);
    assert.equal(r.count, 2);
    assert.deepEqual(Array.from(r.batch(0, 2).data as Float32Array), Array.from(tail));
    const bigNpy = path.join(dir, 'big.npy');
    const header = npy([size / per, 3, 8, 8], new Float32Array(0));
    const nfh = await fs.open(bigNpy, 'w');
    await nfh.write(header, 0, header.length, 0);
    await nfh.truncate(header.length + size);
    await nfh.write(new Uint8Array(tail.buffer), 0, tail.byteLength, header.length + size - tail.byteLength);
    await nfh.close();
    const n = await openDataSource(`npy:${bigNpy}#${last - 1}-${last}`, IDENTITY_PREPROCESS);
    assert.deepEqual(Array.from(n.batch(0, 2).data as Float32Array), Array.from(tail));
    await Promise.all([fs.rm(big), fs.rm(bigNpy)]);
  });

  it('a range too large for one array is refused before anything is read, naming the range and how much fits (raw, npy, cifar10)', async () => {
    // Sparse files: the sizes are real, the disk holds almost nothing. A range over 4 GiB was a RangeError (INTERNAL).
    const per = 3 * 32 * 32 * 4;
    const samples = 400_000; // 4.9 GB of float32
    const raw = path.join(dir, 'huge.raw');
    await fs.writeFile(raw, '');
    await fs.truncate(raw, samples * per);
    await assert.rejects(openDataSource(`raw:${raw}:3x32x32`, IDENTITY_PREPROCESS),
      { code: 'DATA_SPEC_INVALID', message: /samples 0-399999 would take 4\.6 GiB in memory, over the 4\.0 GiB one array holds; take at most 349525 at once \(a range, #0-349524\)/ });
    assert.equal((await openDataSource(`raw:${raw}:3x32x32#0-9`, IDENTITY_PREPROCESS)).count, 10, 'a range that fits still opens');
    const bigNpy = path.join(dir, 'huge.npy');
    const header = npy([samples, 3, 32, 32], new Float32Array(0));
    await fs.writeFile(bigNpy, header);
    await fs.truncate(bigNpy, header.length + samples * per);
    await assert.rejects(openDataSource(`npy:${bigNpy}#0-399999`, IDENTITY_PREPROCESS), { code: 'DATA_SPEC_INVALID', message: /samples 0-399999 would take 4\.6 GiB/ });
    const cifar = path.join(dir, 'huge.bin');
    await fs.writeFile(cifar, '');
    await fs.truncate(cifar, 1_500_000 * 3073);
    await assert.rejects(openDataSource(`cifar10:${cifar}`, IDENTITY_PREPROCESS), { code: 'DATA_SPEC_INVALID', message: /records 0-1499999 would take 4\.3 GiB in memory.*take at most 1397646 at once/ });
    // One sample too large for an array: 'take at most 1' would repeat the range given.
    const one = path.join(dir, 'one.raw');
    await fs.writeFile(one, '');
    await fs.truncate(one, 33_000 * 33_000 * 4);
    await assert.rejects(openDataSource(`raw:${one}:1x33000x33000#0-0`, IDENTITY_PREPROCESS), { code: 'DATA_SPEC_INVALID', message: /one sample would take 4\.1 GiB in memory, over the 4\.0 GiB one array holds; give smaller samples/ });
    await Promise.all([fs.rm(raw), fs.rm(bigNpy), fs.rm(cifar), fs.rm(one)]);
  });

  it('a .npy cut within its header, and a reversed range, say so', async () => {
    await fs.writeFile(path.join(dir, 'head.npy'), npy([4, 2, 3], values).subarray(0, 30));
    await assert.rejects(openDataSource(`npy:${path.join(dir, 'head.npy')}`, IDENTITY_PREPROCESS), { code: 'DATA_SPEC_INVALID', message: /is truncated within its header; save it again with np\.save/ });
    await assert.rejects(openDataSource(`npy:${path.join(dir, 'ok.npy')}#3-1`, IDENTITY_PREPROCESS), { code: 'DATA_SPEC_INVALID', message: /has an empty range #3-1: it is reversed; ranges are inclusive, first record first \(#1-3\)/ });
  });

  it('a device or a FIFO given as a data file is refused before it is opened (opening a FIFO waits for a writer)', async () => {
    const fifo = path.join(dir, 'fifo');
    execFileSync('mkfifo', [fifo]);
    try {
      await assert.rejects(openDataSource(`raw:${fifo}:3`, IDENTITY_PREPROCESS), { code: 'FILE_UNREADABLE', message: /fifo \(from data spec 'raw:.*'\) is a FIFO \(named pipe\); give the file itself$/ });
      await assert.rejects(openDataSource(`npy:/dev/zero`, IDENTITY_PREPROCESS), { code: 'FILE_UNREADABLE', message: /\/dev\/zero .* is a device; give the file itself$/ });
      await assert.rejects(openDataSource(`cifar10:${fifo}#0-1`, IDENTITY_PREPROCESS), { code: 'FILE_UNREADABLE', message: /is a FIFO \(named pipe\), not a CIFAR-10 binary file/ });
    } finally {
      await fs.rm(fifo);
    }
  });

  it('a directory given as a data file is named as a directory', async () => {
    await assert.rejects(openDataSource(`npy:${dir}`, IDENTITY_PREPROCESS), { code: 'FILE_UNREADABLE', message: /is a directory; give the file itself/ });
    await assert.rejects(openDataSource(`raw:${dir}:3`, IDENTITY_PREPROCESS), { code: 'FILE_UNREADABLE', message: /is a directory/ });
    await assert.rejects(openDataSource(`cifar10:${dir}#0-1`, IDENTITY_PREPROCESS), { code: 'FILE_UNREADABLE', message: /is a directory; give the binary file itself/ });
  });

  it('a CIFAR-10 file whose labels are outside 0-9 is refused', async () => {
    const records = Buffer.alloc(3 * 3073);
    records[3073] = 7;
    records[2 * 3073] = 42;
    await fs.writeFile(path.join(dir, 'odd.bin'), records);
    assert.deepEqual(Array.from((await openDataSource(`cifar10:${path.join(dir, 'odd.bin')}#0-1`, IDENTITY_PREPROCESS)).labels!), [0, 7]);
    await assert.rejects(openDataSource(`cifar10:${path.join(dir, 'odd.bin')}`, IDENTITY_PREPROCESS),
      { code: 'DATA_SPEC_INVALID', message: /record 2 of .*odd\.bin has label 42, but CIFAR-10 labels are 0-9/ });
  });

  it('an empty CIFAR-10 file is named as empty (it said "record range 0--1 is empty", with no fix)', async () => {
    await fs.writeFile(path.join(dir, 'empty.bin'), '');
    await assert.rejects(openDataSource(`cifar10:${path.join(dir, 'empty.bin')}`, IDENTITY_PREPROCESS),
      { code: 'DATA_SPEC_INVALID', message: /empty\.bin is empty \(0 bytes\), so it holds no CIFAR-10 records; give the path of a CIFAR-10 binary file/ });
  });
});

describe('memorySource', () => {
  it('refuses a sample shape with an axis under 1 (it gave count -2) and samples that are not float32', () => {
    for (const dims of [[-2], [0, 3], [1.5]]) {
      assert.throws(() => memorySource(new Float32Array(4), dims, 'm'), { code: 'DATA_SHAPE_MISMATCH', message: /m: sample shape \[.*\] has an axis that is not a whole number of at least 1/ }, JSON.stringify(dims));
    }
    assert.throws(() => memorySource(new Float64Array(4) as never, [2], 'm'), { code: 'DATA_SHAPE_MISMATCH', message: /m: the samples are a Float64Array; give a Float32Array/ });
  });
});

describe('batch bounds', () => {
  it('refuses a batch outside the source with DATA_SPEC_INVALID, not NaN rows or a RangeError', async () => {
    const x = memorySource(new Float32Array(4 * 3).fill(1), [3], 'four rows');
    const n = await openDataSource(`npy:${path.join(dir, 'ok.npy')}#1-2`, IDENTITY_PREPROCESS);
    for (const source of [x, n]) {
      assert.equal(source.batch(0, source.count).dims[0], source.count);
      for (const [s, e] of [[1, source.count + 1], [2, 1], [-1, 1], [0, 0], [0.5, 1]] as const) {
        assert.throws(() => source.batch(s, e), (err: Error & { code?: string }) => err.code === 'DATA_SPEC_INVALID' && err.message.includes(`batch(${s}, ${e})`), `${source.description} batch(${s}, ${e})`);
      }
    }
  });
});

describe('specsOverlap', () => {
  it('tells eval data that shares records with the build data: same kind, same file, overlapping ranges', async () => {
    const root = await fs.mkdtemp(path.join(os.tmpdir(), 'layercache-overlap-'));
    for (const d of ['train', 'test']) {
      await fs.mkdir(path.join(root, d));
      await fs.writeFile(path.join(root, d, 'cifar.bin'), 'x');
    }
    const train = path.join(root, 'train', 'cifar.bin');
    const viaDots = path.join(root, 'test', '..', 'train', 'cifar.bin');
    assert.equal(await specsOverlap(`cifar10:${viaDots}#0-999`, `cifar10:${train}#500-4999`), true, 'the same file by another path');
    assert.equal(await specsOverlap(`cifar10:${train}#5000-9999`, `cifar10:${train}#0-4999`), false);
    assert.equal(await specsOverlap(`cifar10:${train}`, `cifar10:${train}#0-4999`), true, 'no range is every record');
    assert.equal(await specsOverlap(`cifar10:${train}#0-99`, `cifar10:${train}#0-99 (90 distinct of 100 samples)`), true, 'a build that left out repeats');
    assert.equal(await specsOverlap(`cifar10:${path.join(root, 'test', 'cifar.bin')}#0-99`, `cifar10:${train}#0-99`), false, 'another file of the same name');
    // A build spec that does not resolve here (it ran elsewhere): its file name is all there is to go by.
    assert.equal(await specsOverlap(`cifar10:${train}#0-99`, 'cifar10:/elsewhere/cifar.bin#0-99'), true);
    assert.equal(await specsOverlap(`npy:${train}#0-99`, `cifar10:${train}#0-99`), false);
    // Not a spec (a retrained bundle's build data): nothing to compare.
    assert.equal(await specsOverlap('nonsense', `cifar10:${train}#0-99`), null);
    assert.equal(await specsOverlap(`cifar10:${train}#0-99`, 'live traffic (5000 buffered samples)'), null);
    // A description made in code splits like a spec, but names no kind layercache reads.
    assert.equal(await specsOverlap('held rows: set B', `cifar10:${train}#0-99`), null);
    // raw: names its file before the dims: the same file with other dims, and another file of the same name.
    assert.equal(await specsOverlap(`raw:${train}:3072#0-9`, `raw:${viaDots}:3x32x32#5-20`), true);
    assert.equal(await specsOverlap(`raw:${path.join(root, 'test', 'cifar.bin')}:3x32x32#0-9`, `raw:${train}:3x32x32#0-9`), false);
  });

  it("refuses a '#' that does not start a range before reading anything (folder:runs/#2 was cut silently)", async () => {
    await assert.rejects(openDataSource('folder:/nowhere/run#2', { scale: 1, mean: [0], std: [1], layout: 'nchw' }, { channels: 3, height: 2, width: 2 }),
      { code: 'DATA_SPEC_INVALID', message: /malformed range '#2' \(expected #A-B, both inclusive\); everything after the last '#' is the range/ });
  });
});

describe('requireSampleDims', () => {
  it('tells tensor data in another order to be stored in the model\'s (not --layout, which lays out images)', () => {
    const nhwc = memorySource(new Float32Array(2 * 48), [4, 4, 3], 'npy:x.npy#0-1');
    assert.throws(() => requireSampleDims(nhwc, [3, 4, 4], "the model input 'x'", 'check the layout (--layout) or the data spec'), {
      code: 'DATA_SHAPE_MISMATCH', message: /\[4, 4, 3\] but the model input 'x' expects \[3, 4, 4\] per sample; tensor data \(npy:, raw:\) is fed as stored, whatever --layout says .*store the tensors in the model's order/,
    });
    // Other dims, or images: the caller's advice.
    assert.throws(() => requireSampleDims(nhwc, [3, 8, 8], 'm', 'check the layout (--layout) or the data spec'), { message: /per sample; check the layout \(--layout\) or the data spec$/ });
    const images = memorySource(new Float32Array(2 * 48), [4, 4, 3], 'folder:imgs#0-1');
    assert.throws(() => requireSampleDims(images, [3, 4, 4], 'm', 'check the layout (--layout) or the data spec'), { message: /check the layout \(--layout\)/ });
  });
});
