import assert from 'node:assert/strict';
import { execFileSync } from 'node:child_process';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { describe, it, mock } from 'node:test';
import { checkOutputDir, checkOutputFile, writeDirAtomic, writeFileAtomic } from './atomic-write.ts';
import { tempDir } from '../../test/support/temp-dir.ts';
import { LayercacheError } from '../errors/index.ts';

describe('atomic writes', () => {
  it('a failing fill leaves neither the directory nor temporary files behind', async () => {
    const root = await tempDir('atomic');
    const dir = path.join(root, 'out');
    await assert.rejects(writeDirAtomic(dir, async (tmp) => {
      await writeFileAtomic(path.join(tmp, 'a.txt'), 'a');
      throw new Error('boom');
    }), /boom/);
    assert.deepEqual(await fs.readdir(root), []);
  });

  it('replaces an existing directory only with overwrite', async () => {
    const root = await tempDir('atomic');
    const dir = path.join(root, 'out');
    await writeDirAtomic(dir, (tmp) => writeFileAtomic(path.join(tmp, 'v1'), '1'));
    await assert.rejects(writeDirAtomic(dir, (tmp) => writeFileAtomic(path.join(tmp, 'v2'), '2')), { code: 'OUTPUT_EXISTS', message: /already exists and is not empty; choose another one, or replace it \(--force; from code, overwrite: true\)/ });
    await writeDirAtomic(dir, (tmp) => writeFileAtomic(path.join(tmp, 'v2'), '2'), { overwrite: true });
    assert.deepEqual(await fs.readdir(dir), ['v2']);
    assert.deepEqual(await fs.readdir(root), ['out']);
  });

  it('with a kind, overwrite replaces only a directory that is wholly an earlier output of it, never a user\'s files', async () => {
    const kind = { what: 'an index output', marker: 'index.json', recognise: (t: string) => t.startsWith('{"format":"ix/'), holds: [/^index\.json$/, /^parts$/, /^parts\/p\d+$/] };
    const write = (dir: string) => writeDirAtomic(dir, (tmp) => writeFileAtomic(path.join(tmp, 'index.json'), '{"format":"ix/1"}'), { overwrite: true, kind });
    const root = await tempDir('atomic');
    const dir = path.join(root, 'out');
    await fs.mkdir(path.join(dir, 'parts'), { recursive: true });
    await fs.writeFile(path.join(dir, 'notes.txt'), 'mine');
    await assert.rejects(write(dir), { code: 'OUTPUT_EXISTS', message: /is not an index output \(it holds no index\.json\), so it is not replaced even with --force/ });
    // Another program's index.json (a web app's manifest.json) is not this kind's.
    await fs.writeFile(path.join(dir, 'index.json'), '{"name":"My PWA"}');
    await assert.rejects(write(dir), { code: 'OUTPUT_EXISTS', message: /its index\.json is not an index output's/ });
    // This kind's index, beside files it never writes, at the top or deeper: they would be deleted, so it is refused.
    await fs.writeFile(path.join(dir, 'index.json'), '{"format":"ix/0"}');
    await fs.writeFile(path.join(dir, 'parts', 'p1'), 'x');
    await fs.writeFile(path.join(dir, 'parts', 'mine.csv'), 'x');
    await assert.rejects(write(dir), { code: 'OUTPUT_EXISTS', message: /holds 'notes\.txt', 'parts\/mine\.csv', which an index output does not, so it is not replaced even with --force/ });
    assert.deepEqual((await fs.readdir(dir)).sort(), ['index.json', 'notes.txt', 'parts']);
    await fs.rm(path.join(dir, 'notes.txt'));
    await fs.rm(path.join(dir, 'parts', 'mine.csv'));
    // What is left is wholly an earlier output (a temporary file of an interrupted write counts as what it replaces;
    // a file browser's litter is nobody's work).
    await fs.writeFile(path.join(dir, 'parts', 'p2.tmp-123-abcd0123'), 'x');
    await fs.writeFile(path.join(dir, 'parts', '.DS_Store'), 'x');
    // A directory named like litter is no litter: what it holds would be deleted.
    await fs.mkdir(path.join(dir, '._backup'));
    await assert.rejects(write(dir), { code: 'OUTPUT_EXISTS', message: /holds '\._backup'/ });
    await fs.rm(path.join(dir, '._backup'), { recursive: true });
    // A subfolder that cannot be read: whether it holds a user's files is unknown (it failed INTERNAL).
    const readdir = fs.readdir.bind(fs);
    const refuse = mock.method(fs, 'readdir', (async (p: string, ...rest: unknown[]) => {
      if (p === path.join(dir, 'parts')) throw Object.assign(new Error('EACCES: permission denied'), { code: 'EACCES' });
      return (readdir as (...a: unknown[]) => Promise<unknown>)(p, ...rest);
    }) as typeof fs.readdir);
    try {
      await assert.rejects(write(dir), { code: 'FILE_WRITE_FAILED', message: /cannot tell whether .*out may be replaced: .*parts cannot be read \(EACCES\); fix its permissions/ });
    } finally {
      refuse.mock.restore();
    }
    await write(dir);
    assert.deepEqual(await fs.readdir(dir), ['index.json']);
  });

  it('reports why a write failed, also when its temporary file cannot be removed', async () => {
    const root = await tempDir('atomic');
    // A directory in the file's place: the final rename fails (EISDIR), after the file was written.
    await fs.mkdir(path.join(root, 'a.txt'));
    const rm = mock.method(fs, 'rm', async () => {
      throw Object.assign(new Error('EBUSY: resource busy'), { code: 'EBUSY' });
    });
    try {
      await assert.rejects(writeFileAtomic(path.join(root, 'a.txt'), 'a'), { code: 'FILE_WRITE_FAILED', message: /could not write .*a\.txt: EISDIR.*; it is as it was$/ });
      // A new file under a file: there was nothing to keep.
      await fs.writeFile(path.join(root, 'f'), 'f');
      await assert.rejects(writeFileAtomic(path.join(root, 'f', 'b.txt'), 'b'), { code: 'FILE_WRITE_FAILED', message: /could not write .*b\.txt: .*; nothing was written$/ });
    } finally {
      rm.mock.restore();
    }
  });

  it('a disk that fills up is named by the output asked for, with the fix (not the temporary file that failed)', async () => {
    const root = await tempDir('atomic-full');
    const target = path.join(root, 'bundle');
    const full = Object.assign(new Error(`ENOSPC: no space left on device, write '${target}.tmp-1-abcd0123/x'`), { code: 'ENOSPC' });
    await assert.rejects(writeDirAtomic(target, async () => {
      throw new LayercacheError('FILE_WRITE_FAILED', `could not write ${target}.tmp-1-abcd0123/x: ${full.message}`, { cause: full });
    }), { code: 'FILE_WRITE_FAILED', message: new RegExp(`^could not write ${target} \\(ENOSPC\\): the disk is full; free space there, or write elsewhere; nothing was written$`) });
    // Other errors of the filling are its own to tell.
    await assert.rejects(writeDirAtomic(target, async () => {
      throw new LayercacheError('BUNDLE_INVALID', 'mine');
    }), { code: 'BUNDLE_INVALID', message: 'mine' });
    assert.deepEqual(await fs.readdir(root), []);
  });

  it('never replaces a FIFO or a device with a file (as root the rename would replace /dev/null itself)', async () => {
    const root = await tempDir('atomic-fifo');
    const fifo = path.join(root, 'pipe');
    execFileSync('mkfifo', [fifo]);
    await assert.rejects(writeFileAtomic(fifo, 'x'), { code: 'OUTPUT_EXISTS', message: /pipe is a FIFO \(named pipe\), which writing a file there would replace; give the path of a file$/ });
    assert.ok((await fs.lstat(fifo)).isFIFO());
    assert.deepEqual(await fs.readdir(root), ['pipe']);
  });

  it('a new output another process made meanwhile is OUTPUT_EXISTS, and this one writes nothing', async () => {
    const root = await tempDir('atomic-race');
    const target = path.join(root, 'out');
    await assert.rejects(writeDirAtomic(target, async (tmp) => {
      await fs.writeFile(path.join(tmp, 'mine'), 'a');
      // The other build's rename lands while this one fills.
      await fs.mkdir(target);
      await fs.writeFile(path.join(target, 'theirs'), 'b');
    }), { code: 'OUTPUT_EXISTS', message: /out was made by another process while this one wrote it; nothing was written: choose another output directory, or replace it/ });
    assert.deepEqual(await fs.readdir(root), ['out']);
    assert.deepEqual(await fs.readdir(target), ['theirs']);
  });

  it('with a kind, overwrite replaces only a file it recognises', async () => {
    const root = await tempDir('atomic');
    const file = path.join(root, 'data.bin');
    await fs.writeFile(file, Buffer.from([1, 2, 3]));
    const kind = { what: 'a report', recognise: (head: string) => head.startsWith('<!doctype html>') };
    await assert.rejects(checkOutputFile(file, true, '--html', kind), { code: 'OUTPUT_EXISTS', message: /--html .*data\.bin exists and is not a report, so it is not replaced even with --force/ });
    await fs.writeFile(file, '<!doctype html><p>old');
    await checkOutputFile(file, true, '--html', kind);
    // An empty file (mktemp's) holds nothing to lose; a device is no output, empty or not.
    await fs.writeFile(file, '');
    await checkOutputFile(file, true, '--html', kind);
    for (const overwrite of [true, false]) await assert.rejects(checkOutputFile('/dev/null', overwrite, '--html', kind), { code: 'OUTPUT_EXISTS', message: /--html \/dev\/null leads into \/dev or \/proc/ });
    // A link to this process's stdout resolves to wherever stdout goes (a regular file when redirected): still refused.
    const toStdout = path.join(root, 'stdout-link');
    await fs.symlink('/proc/self/fd/1', toStdout);
    for (const overwrite of [true, false]) await assert.rejects(checkOutputFile(toStdout, overwrite, '--html', kind), { code: 'OUTPUT_EXISTS', message: /leads into \/dev or \/proc \(a stream such as \/dev\/stdout, not a file\)/ });
  });

  it('never replaces the working directory or one holding it, and refuses an empty path', async (t) => {
    const root = await tempDir('atomic');
    const inner = path.join(root, 'a', 'b');
    await fs.mkdir(inner, { recursive: true });
    await fs.writeFile(path.join(inner, 'index.json'), '0');
    const cwd = process.cwd();
    process.chdir(inner);
    t.after(() => process.chdir(cwd));
    // Checks only (nothing is written): the working directory, '.', and an ancestor, each with overwrite and its marker.
    for (const target of [inner, '.', path.join(root, 'a')]) {
      await assert.rejects(checkOutputDir(target, true), { code: 'OUTPUT_EXISTS', message: /is the working directory( or holds it)?, which is never replaced/ }, target);
    }
    // Through a symbolic link (`--out "$PWD"` in a directory reached through one).
    await fs.symlink(root, path.join(root, '..', `${path.basename(root)}-link`));
    const linked = path.join(root, '..', `${path.basename(root)}-link`, 'a', 'b');
    t.after(() => fs.rm(path.join(root, '..', `${path.basename(root)}-link`), { force: true }));
    await assert.rejects(checkOutputDir(linked, true), { code: 'OUTPUT_EXISTS', message: /is the working directory, which is never replaced/ });
    // An empty working directory too (`mkdir out && cd out && layercache build … --out .`).
    const empty = path.join(root, 'empty');
    await fs.mkdir(empty);
    process.chdir(empty);
    await assert.rejects(checkOutputDir('.', false), { code: 'OUTPUT_EXISTS', message: /is the working directory, which is never replaced/ });
    await assert.rejects(checkOutputDir('', true), { code: 'OUTPUT_EXISTS', message: /empty path/ });
    await assert.rejects(checkOutputFile(' ', true, '--html'), { code: 'OUTPUT_EXISTS', message: /--html is an empty path/ });
  });

  it('removes what interrupted writes of the same target left, but not a running process\'s, a recent one, or a look-alike', async () => {
    const root = await tempDir('atomic');
    const dir = path.join(root, 'out');
    // pid 4194303 is at Linux's largest pid_max: no process has it here; the parent of this process runs.
    const stale = `${dir}.tmp-4194303-abcd0123`;
    const running = `${dir}.tmp-${process.ppid}-beefbeef`;
    const recent = `${dir}.tmp-4194303-feedfeed`;
    const backup = `${dir}.tmp-2023-12`;
    const other = `${path.join(root, 'other')}.tmp-4194303-abcd0123`;
    const half = `${path.join(root, 'report.html')}.tmp-4194303-cafecafe`;
    for (const d of [stale, running, recent, backup, other]) await fs.mkdir(d);
    await fs.writeFile(half, 'half');
    // Interrupted two hours ago, but for `recent` (a writer in another container may still be at it).
    const past = new Date(Date.now() - 2 * 3600_000);
    for (const p of [stale, running, backup, other, half]) await fs.utimes(p, past, past);
    await writeDirAtomic(dir, (tmp) => writeFileAtomic(path.join(tmp, 'a'), 'a'));
    await writeFileAtomic(path.join(root, 'report.html'), 'whole');
    assert.deepEqual((await fs.readdir(root)).sort(), ['other.tmp-4194303-abcd0123', 'out', 'out.tmp-2023-12', `out.tmp-${process.ppid}-beefbeef`, 'out.tmp-4194303-feedfeed', 'report.html'].sort());
  });

  it('sets a replaced output aside under a name clean-ups leave alone, and says so when it cannot remove it', async () => {
    const root = await tempDir('atomic');
    const dir = path.join(root, 'out');
    await writeDirAtomic(dir, (tmp) => writeFileAtomic(path.join(tmp, 'v1'), '1'));
    const realRm = fs.rm.bind(fs);
    const rm = mock.method(fs, 'rm', async (p: string, o: Parameters<typeof fs.rm>[1]) => {
      if (path.basename(String(p)).startsWith('out.old-')) throw Object.assign(new Error('EACCES: permission denied'), { code: 'EACCES' });
      return realRm(p, o);
    });
    try {
      await assert.rejects(writeDirAtomic(dir, (tmp) => writeFileAtomic(path.join(tmp, 'v2'), '2'), { overwrite: true }),
        { code: 'FILE_WRITE_FAILED', message: /out now holds the new output, but the old one, set aside at .*out\.old-\d+-[0-9a-f]{8}, could not be removed \(EACCES\); remove it yourself/ });
    } finally {
      rm.mock.restore();
    }
    assert.deepEqual(await fs.readdir(dir), ['v2']);
  });

  it('refuses, before any work, an output in a directory this user may not write in, or one it could not replace', async () => {
    const root = await tempDir('atomic');
    const locked = path.join(root, 'locked');
    await fs.mkdir(path.join(locked, 'bundle', 'heads'), { recursive: true });
    await fs.writeFile(path.join(locked, 'bundle', 'heads', 'h'), 'x');
    // Root may write anywhere, so the permission answer is faked: `locked` and what is under `locked/bundle/heads`.
    const realAccess = fs.access.bind(fs);
    const access = mock.method(fs, 'access', async (p: string, mode?: number) => {
      if (p === locked || p === path.join(locked, 'bundle', 'heads')) throw Object.assign(new Error('EACCES: permission denied'), { code: 'EACCES' });
      return realAccess(p, mode);
    });
    try {
      await assert.rejects(checkOutputDir(path.join(locked, 'new'), false), { code: 'FILE_WRITE_FAILED', message: /this user may not write in .*locked \(EACCES\)/ });
      await assert.rejects(checkOutputFile(path.join(locked, 'report.html'), false), { code: 'FILE_WRITE_FAILED', message: /may not write in/ });
      await assert.rejects(checkOutputDir(path.join(locked, 'bundle'), true), { code: 'FILE_WRITE_FAILED', message: /may not write in .*locked/ });
    } finally {
      access.mock.restore();
    }
    const heads = mock.method(fs, 'access', async (p: string, mode?: number) => {
      if (p === path.join(locked, 'bundle', 'heads')) throw Object.assign(new Error('EACCES: permission denied'), { code: 'EACCES' });
      return realAccess(p, mode);
    });
    try {
      await assert.rejects(checkOutputDir(path.join(locked, 'bundle'), true), { code: 'FILE_WRITE_FAILED', message: /cannot be replaced: this user may not delete what is in .*heads \(EACCES\)/ });
    } finally {
      heads.mock.restore();
    }
  });

  it('accepts a directory given with a trailing slash', async () => {
    const root = await tempDir('atomic');
    await writeDirAtomic(`${path.join(root, 'bundle')}/`, (tmp) => writeFileAtomic(path.join(tmp, 'a'), 'a'));
    assert.deepEqual(await fs.readdir(root), ['bundle']);
    assert.deepEqual(await fs.readdir(path.join(root, 'bundle')), ['a']);
  });
});
