/**
 * Atomic file and directory writes. Invariant: a reader never sees a half-written
 * file or directory at the final path. Files are written to a sibling temporary path
 * and renamed; directories are assembled beside the target and renamed into place. A write
 * first removes the temporary siblings that interrupted writes of the same target left.
 */
import { constants as fsConstants, promises as fs, renameSync } from 'node:fs';
import path from 'node:path';
import { LayercacheError } from '../errors/index.ts';
import { asideSibling, finishedAside, finishedTemp, parseTempSibling, removeStaleTemps, unfinishedAside, unfinishedTemp } from './temp-siblings.ts';
import { isWithin, realPath } from './within.ts';
import { nonRegularKind } from './regular-file.ts';

/** The fix for a write that failed with a file system error code, when the code alone says what to do. */
const WRITE_FIXES: Readonly<Record<string, string>> = {
  ENOSPC: 'the disk is full; free space there, or write elsewhere',
  EDQUOT: 'the disk quota is used up; free space there, or write elsewhere',
  EROFS: 'the file system is read-only; write elsewhere',
  EACCES: 'this user may not write there; fix its permissions, or write elsewhere',
  EPERM: 'this user may not write there; fix its permissions, or write elsewhere',
};

/**
 * FILE_WRITE_FAILED for a write of `target` that failed with `err` (or a FILE_WRITE_FAILED of one of its files, whose
 * cause is the file system's error): named by the output the user asked for, not the temporary file that failed.
 */
function writeFailure(target: string, err: unknown, outcome: string): LayercacheError {
  const fsErr = (err instanceof LayercacheError && err.code === 'FILE_WRITE_FAILED' ? err.cause : err) as NodeJS.ErrnoException;
  const fix = fsErr?.code === undefined ? undefined : WRITE_FIXES[fsErr.code];
  return new LayercacheError('FILE_WRITE_FAILED', fix
    ? `could not write ${target} (${fsErr.code}): ${fix}; ${outcome}`
    : `could not write ${target}: ${(fsErr as Error | undefined)?.message ?? String(err)}; ${outcome}`, { cause: err });
}

/** Writes `data` (or its parts, one after another, without joining them) to `file` atomically (temp file + fsync + rename). */
export async function writeFileAtomic(file: string, data: Uint8Array | string | readonly Uint8Array[], options: { mode?: number } = {}): Promise<void> {
  // The rename would replace a device node or a FIFO (as root, /dev/null itself) with a regular file.
  const st = await fs.stat(file).catch(() => null);
  const kind = st === null ? null : nonRegularKind(st);
  if (kind !== null && kind !== 'a directory') throw new LayercacheError('OUTPUT_EXISTS', `${file} is ${kind}, which writing a file there would replace; give the path of a file`);
  const existed = st !== null;
  await removeStaleTemps(file);
  const tmp = unfinishedTemp(file);
  try {
    await fs.mkdir(path.dirname(file), { recursive: true });
    // Created with `mode` (less the umask), and so is the file it becomes: a private file is never readable by others.
    const handle = await fs.open(tmp, 'w', options.mode ?? 0o666);
    try {
      if (Array.isArray(data)) {
        for (const part of data as readonly Uint8Array[]) {
          // A write may take fewer bytes than given (and at most 2 GiB at once).
          for (let at = 0; at < part.byteLength;) at += (await handle.write(part, at, Math.min(part.byteLength - at, 1 << 30))).bytesWritten;
        }
      } else await handle.writeFile(data as Uint8Array | string);
      await handle.sync();
    } finally {
      await handle.close();
    }
    // In one tick with its bookkeeping: an interrupt's undo (a signal handler, between ticks) never races the rename.
    renameSync(tmp, file);
    finishedTemp(tmp);
  } catch (err) {
    // Best effort: a temporary file that cannot be removed either must not hide why the write failed.
    await fs.rm(tmp, { force: true }).catch(() => undefined);
    throw writeFailure(file, err, existed ? 'it is as it was' : 'nothing was written');
  } finally {
    finishedTemp(tmp);
  }
}

/** The nearest ancestor of `target` (itself excluded) that exists, if it is not a directory: outputs cannot be created under it. */
async function fileAncestor(target: string): Promise<string | null> {
  for (let dir = path.dirname(path.resolve(target)); ; dir = path.dirname(dir)) {
    const st = await fs.stat(dir).catch(() => null);
    if (st) return st.isDirectory() ? null : dir;
    if (path.dirname(dir) === dir) return null;
  }
}

/**
 * Whether `target` may become an output file, checked before long work: a directory, a path
 * under a file, or an existing file without `overwrite` is OUTPUT_EXISTS; and (`writable`) one this
 * user may not write is FILE_WRITE_FAILED.
 */
export async function checkOutputFile(target: string, overwrite: boolean, flag = '--out', kind?: OutputFileKind, writable = true): Promise<void> {
  if (target.trim() === '') throw new LayercacheError('OUTPUT_EXISTS', `${flag} is an empty path; give a file, e.g. ${flag} report.html`);
  const st = await fs.stat(target).catch(() => null);
  if (st?.isDirectory()) throw new LayercacheError('OUTPUT_EXISTS', `${flag} ${target} is a directory; give a file path, e.g. ${path.join(target, 'report.html')}`);
  // Only a regular file is replaced (a FIFO, a device, /dev/stdout are not outputs, --force or not). /dev/stdout
  // redirected to a file resolves to that file, so the path's links are followed one by one for /dev and /proc.
  if (await throughDevOrProc(target)) throw new LayercacheError('OUTPUT_EXISTS', `${flag} ${target} leads into /dev or /proc (a stream such as /dev/stdout, not a file); give a file path, e.g. report.html`);
  if (st && !st.isFile()) throw new LayercacheError('OUTPUT_EXISTS', `${flag} ${target} is not a regular file (a pipe, a device or a socket); give a file path, e.g. report.html`);
  if (st && !overwrite) throw new LayercacheError('OUTPUT_EXISTS', `${flag} ${target} already exists; choose another path or pass --force to replace it`);
  // An empty regular file (from mktemp) holds nothing to lose.
  if (st && st.size > 0 && kind && !kind.recognise(await readHead(target))) {
    throw new LayercacheError('OUTPUT_EXISTS', `${flag} ${target} exists and is not ${kind.what}, so it is not replaced even with --force (it may be one of your inputs); choose another path`);
  }
  const blocker = st ? null : await fileAncestor(target);
  if (blocker) throw new LayercacheError('OUTPUT_EXISTS', `${flag} ${target} cannot be created: ${blocker} is a file, not a directory; choose another path`);
  if (writable) await checkWritable(target, `${flag} ${target}`);
}

/**
 * Refuses, before long work, an output whose directory this process may not write in (the write renames into it):
 * the nearest existing directory above `target`. Root passes this check everywhere but on a read-only filesystem.
 */
async function checkWritable(target: string, what: string): Promise<void> {
  for (let dir = path.dirname(path.resolve(target)); ; dir = path.dirname(dir)) {
    const st = await fs.stat(dir).catch(() => null);
    if (st) {
      if (!st.isDirectory()) return;
      try {
        await fs.access(dir, fsConstants.W_OK);
      } catch (err) {
        throw new LayercacheError('FILE_WRITE_FAILED', `${what} cannot be written: this user may not write in ${dir} (${(err as NodeJS.ErrnoException).code ?? 'error'}); fix its permissions or choose another path`, { cause: err });
      }
      return;
    }
    if (path.dirname(dir) === dir) return;
  }
}

/** Whether `target`, or any symbolic link on the way from it (at most 8), lies in /dev or /proc. */
async function throughDevOrProc(target: string): Promise<boolean> {
  let at = path.resolve(target);
  for (let hop = 0; hop <= 8; hop++) {
    if (/^\/(dev|proc)(\/|$)/.test(at)) return true;
    const link = await fs.readlink(at).catch(() => null);
    if (link === null) return false;
    at = path.resolve(path.dirname(at), link);
  }
  return false;
}

/** The first 4 KiB of a file as text ('' when it cannot be read). */
async function readHead(file: string): Promise<string> {
  const handle = await fs.open(file, 'r').catch(() => null);
  if (!handle) return '';
  try {
    const { buffer, bytesRead } = await handle.read(Buffer.alloc(4096), 0, 4096, 0);
    return buffer.subarray(0, bytesRead).toString('utf8');
  } finally {
    await handle.close();
  }
}

/** An output file of one kind: with overwrite, only a file it recognises as an earlier such output is replaced. */
export interface OutputFileKind {
  /** What it is, for messages: 'a layercache report'. */
  readonly what: string;
  /** Whether a file's first 4 KiB are this kind's. */
  readonly recognise: (head: string) => boolean;
}

/**
 * An output directory of one kind. With overwrite, only a directory that is wholly an earlier such output is replaced:
 * its marker file (its index) is this kind's, and every path in it is one this kind writes.
 */
export interface OutputKind {
  /** What it is, for messages: 'a layercache bundle'. */
  readonly what: string;
  /** The file every such directory holds. */
  readonly marker: string;
  /** Whether the marker's text is this kind's. */
  readonly recognise: (markerText: string) => boolean;
  /** The paths such a directory holds, relative and '/'-separated, directories included (whole-path patterns). */
  readonly holds: readonly RegExp[];
}

/** What may be replaced: with `kind`, only an earlier output of that kind. */
export interface ReplaceOptions {
  readonly overwrite?: boolean;
  readonly kind?: OutputKind;
}

/** Whether `name` is a file an operating system's file browser leaves in any directory it shows: replacing it loses nothing. */
export function isOsLitter(name: string): boolean {
  return /^(\.DS_Store|\._.*|Thumbs\.db|desktop\.ini)$/.test(name);
}

/** Paths in `dir` (relative, '/'-separated) that `holds` does not allow; temporary files count as what they replace. */
async function strayPaths(dir: string, holds: readonly RegExp[]): Promise<string[]> {
  const stray: string[] = [];
  const walk = async (rel: string): Promise<void> => {
    const here = path.join(dir, rel);
    const entries = await fs.readdir(here, { withFileTypes: true }).catch((err: unknown) => {
      throw new LayercacheError('FILE_WRITE_FAILED', `cannot tell whether ${dir} may be replaced: ${here} cannot be read (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); fix its permissions, or give another output path`, { cause: err });
    });
    for (const e of entries) {
      const at = rel ? `${rel}/${e.name}` : e.name;
      const temp = parseTempSibling(e.name);
      const as = temp ? (rel ? `${rel}/${temp.target}` : temp.target) : at;
      if (e.isFile() && isOsLitter(e.name)) continue;
      if (!holds.some((r) => r.test(as))) stray.push(at);
      else if (e.isDirectory() && !temp) await walk(at);
    }
  };
  await walk('');
  return stray;
}

/**
 * Whether `target` may become an output directory: absent (null), or an existing directory
 * that is empty or may be replaced (its entries). A file, or a non-empty directory without
 * `overwrite`, is OUTPUT_EXISTS. Even with `overwrite`, a directory that is not wholly an earlier output of `kind`
 * (a foreign marker file, or any path the kind does not write), the working directory and its ancestors are never
 * replaced: a mistyped or empty path must not delete a user's files. Callers check this before
 * long work; writeDirAtomic again.
 */
export async function checkOutputDir(target: string, overwrite: boolean, kind?: OutputKind): Promise<string[] | null> {
  if (target.trim() === '') throw new LayercacheError('OUTPUT_EXISTS', 'the output directory is an empty path; give a directory, e.g. bundle/');
  const existing = await fs.readdir(path.resolve(target)).catch(async (err: NodeJS.ErrnoException) => {
    if (err.code === 'ENOENT') return null;
    if (err.code === 'ENOTDIR') {
      const blocker = await fileAncestor(target);
      throw new LayercacheError('OUTPUT_EXISTS', blocker
        ? `output ${target} cannot be created: ${blocker} is a file, not a directory; choose another output directory`
        : `output ${target} is a file, not a directory: choose another output directory`);
    }
    throw new LayercacheError('FILE_UNREADABLE', `cannot read output directory ${target}: ${err.message}; check its permissions or choose another output directory`, { cause: err });
  });
  if (!existing) {
    await checkWritable(target, `output directory ${target}`);
    return existing;
  }
  // Even empty: replacing it would leave the shell in a deleted directory. Compared as real paths: the working
  // directory is one, and a path through a symbolic link would otherwise slip past.
  const resolved = await realPath(target);
  const cwd = await realPath(process.cwd());
  if (isWithin(cwd, resolved)) {
    throw new LayercacheError('OUTPUT_EXISTS', `output directory ${target} is the working directory${cwd === resolved ? '' : ' or holds it'}, which is never replaced; give a new directory, e.g. ${path.join(target, 'out')}`);
  }
  if (existing.length === 0) {
    await checkWritable(target, `output directory ${target}`);
    return existing;
  }
  if (!overwrite) {
    throw new LayercacheError('OUTPUT_EXISTS', `output directory ${target} already exists and is not empty; choose another one, or replace it (--force; from code, overwrite: true)`);
  }
  if (kind) {
    const marker = existing.includes(kind.marker) ? await fs.readFile(path.join(target, kind.marker), 'utf8').catch(() => null) : null;
    if (marker === null || !kind.recognise(marker)) {
      throw new LayercacheError('OUTPUT_EXISTS', `output directory ${target} is not ${kind.what} (${existing.includes(kind.marker) ? `its ${kind.marker} is not ${kind.what}'s` : `it holds no ${kind.marker}`}), so it is not replaced even with --force; choose another directory, or empty it yourself`);
    }
    const stray = await strayPaths(path.resolve(target), kind.holds);
    if (stray.length > 0) {
      throw new LayercacheError('OUTPUT_EXISTS', `output directory ${target} holds ${stray.slice(0, 3).map((p) => `'${p}'`).join(', ')}${stray.length > 3 ? ` and ${stray.length - 3} more` : ''}, which ${kind.what} does not, so it is not replaced even with --force (replacing it would delete them); move them out, or choose another directory`);
    }
  }
  await checkWritable(target, `output directory ${target}`);
  await checkRemovable(path.resolve(target), target);
  return existing;
}

/**
 * Refuses, before long work, a directory tree this user could not delete when it is replaced: deleting needs write
 * and search permission on every directory in it.
 */
async function checkRemovable(dir: string, target: string): Promise<void> {
  const refuse = (err: unknown): never => {
    throw new LayercacheError('FILE_WRITE_FAILED', `output directory ${target} cannot be replaced: this user may not delete what is in ${dir} (${(err as NodeJS.ErrnoException).code ?? 'error'}); fix its permissions or choose another directory`, { cause: err });
  };
  await fs.access(dir, fsConstants.W_OK | fsConstants.X_OK).catch(refuse);
  const entries = await fs.readdir(dir, { withFileTypes: true }).catch(refuse);
  for (const e of entries) if (e.isDirectory()) await checkRemovable(path.join(dir, e.name), target);
}

/**
 * Builds a directory atomically: `fill` writes into a fresh temporary directory, which
 * then replaces `dir`. If `fill` throws, nothing is left behind and `dir` is untouched.
 * `dir` must not exist, or be empty, unless `overwrite` is set (and see checkOutputDir).
 */
export async function writeDirAtomic(
  target: string,
  fill: (tmpDir: string) => Promise<void>,
  options: ReplaceOptions = {},
): Promise<void> {
  // 'bundle/' and 'bundle' are the same directory; the temporary one must sit beside it.
  const existing = await checkOutputDir(target, options.overwrite ?? false, options.kind);
  const dir = path.resolve(target);
  await removeStaleTemps(dir);
  const tmp = unfinishedTemp(dir);
  let old: string | null = null;
  try {
    try {
      await fs.mkdir(path.dirname(dir), { recursive: true });
      await fs.mkdir(tmp);
    } catch (err) {
      throw new LayercacheError('FILE_WRITE_FAILED', `cannot create ${target}: ${(err as Error).message}; check the path and its permissions`, { cause: err });
    }
    try {
      await fill(tmp);
    } catch (err) {
      await fs.rm(tmp, { recursive: true, force: true });
      // A file of it that could not be written is named by the output (the temporary path means nothing to the user)
      // when its error code says what to do; any other error of the filling is the filling's to tell.
      const fsCode = ((err instanceof LayercacheError ? err.cause : err) as NodeJS.ErrnoException | undefined)?.code;
      if (err instanceof LayercacheError && !(err.code === 'FILE_WRITE_FAILED' && fsCode !== undefined && fsCode in WRITE_FIXES)) throw err;
      throw writeFailure(target, err, `nothing was written${existing ? ` (${target} is as it was)` : ''}`);
    }
    // Renames run synchronously, each in one tick with its bookkeeping: an interrupt's undo (a signal handler, between
    // ticks) must never remove a tree while a rename of it is under way in the thread pool (a half-deleted output).
    if (!existing) {
      try {
        renameSync(tmp, dir);
        finishedTemp(tmp);
      } catch (err) {
        await fs.rm(tmp, { recursive: true, force: true });
        const code = (err as NodeJS.ErrnoException).code;
        // Made by another process since it was checked (two builds into one new --out).
        if (code === 'ENOTEMPTY' || code === 'EEXIST') {
          throw new LayercacheError('OUTPUT_EXISTS', `output directory ${target} was made by another process while this one wrote it; nothing was written: choose another output directory, or replace it (--force; from code, overwrite: true)`, { cause: err });
        }
        throw writeFailure(target, err, 'nothing was written');
      }
      return;
    }
    // The old directory is set aside under a name no clean-up removes: if the process dies between the two renames,
    // it is what is left of the output, to be renamed back.
    old = asideSibling(dir);
    // An interrupt from here on puts it back unless its replacement landed (removeUnfinishedWritesSync).
    unfinishedAside(old, dir);
    try {
      renameSync(dir, old);
    } catch (err) {
      await fs.rm(tmp, { recursive: true, force: true });
      throw new LayercacheError('FILE_WRITE_FAILED', `could not replace ${target}: ${(err as Error).message}; check its permissions`, { cause: err });
    }
    try {
      renameSync(tmp, dir);
      finishedTemp(tmp);
    } catch (err) {
      const restored = (() => {
        try {
          renameSync(old, dir);
          return true;
        } catch {
          return false;
        }
      })();
      await fs.rm(tmp, { recursive: true, force: true });
      throw new LayercacheError('FILE_WRITE_FAILED', `could not replace ${target}: ${(err as Error).message}; ${restored ? 'it is as it was' : `the old output is at ${old}: rename it back to ${target}`}`, { cause: err });
    }
    try {
      await fs.rm(old, { recursive: true, force: true });
    } catch (err) {
      throw new LayercacheError('FILE_WRITE_FAILED', `${target} now holds the new output, but the old one, set aside at ${old}, could not be removed (${(err as NodeJS.ErrnoException).code ?? (err as Error).message}); remove it yourself`, { cause: err });
    }
  } finally {
    finishedTemp(tmp);
    if (old !== null) finishedAside(old);
  }
}
