/**
 * Who may touch the state directory. It holds the bundle versions a restart serves and, in buffer.bin, inputs
 * clients sent. Invariants: a directory the server creates is private (0700), its parents are not made so; an
 * existing one that another user owns, or that root owns and others may write (/tmp), is refused (they could have
 * planted the versions or the buffer it would load); one other users may read or enter is served with a warning.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { LayercacheError } from '../errors/index.ts';

/** Mode of a state directory the server creates. */
export const STATE_DIR_MODE = 0o700;

/** Mode of the files in it that hold clients' inputs. */
export const PRIVATE_FILE_MODE = 0o600;

/**
 * Creates the state directory if it is missing: its parents as any directory (the umask's mode), itself private.
 * Whether it was created now.
 */
export async function makeStateDir(dir: string): Promise<boolean> {
  await fs.mkdir(path.dirname(path.resolve(dir)), { recursive: true });
  try {
    await fs.mkdir(dir, { mode: STATE_DIR_MODE });
    return true;
  } catch (err) {
    if ((err as NodeJS.ErrnoException).code === 'EEXIST' && (await fs.stat(dir)).isDirectory()) return false;
    throw err;
  }
}

/**
 * An existing state directory: refuses one owned by another user than this one or root; warns about one open to
 * other users. uid: this process's (none on Windows).
 */
export async function checkStateDirAccess(dir: string, warn: (text: string) => void, uid = process.getuid?.()): Promise<void> {
  const st = await fs.stat(dir);
  // Root may serve from a service account's directory; any other user from its own, or from root's that only root
  // may write (a container's volume): root is trusted already, but not those a shared /tmp lets write.
  const rootsAlone = st.uid === 0 && (st.mode & 0o022) === 0;
  if (uid !== undefined && uid !== 0 && st.uid !== uid && !rootsAlone) {
    const whose = st.uid === 0 ? `root's and writable by others (mode ${(st.mode & 0o7777).toString(8)})` : `another user's (uid ${st.uid}; this server runs as uid ${uid})`;
    throw new LayercacheError('CONFIG_INVALID', `state directory ${dir} is ${whose}: they could have put the versions and inputs it would load there; give a directory of your own for --state`);
  }
  if ((st.mode & 0o077) !== 0) {
    warn(`state directory ${dir} is open to other users (mode ${(st.mode & 0o777).toString(8)}); it holds the bundle versions a restart serves and inputs clients sent (buffer.bin): chmod 700 it`);
  }
}
