import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { tempDir } from '../../test/support/temp-dir.ts';
import { checkStateDirAccess, makeStateDir } from './state-dir.ts';

describe('checkStateDirAccess', async () => {
  const root = await tempDir('state-dir');
  after(() => fs.rm(root, { recursive: true, force: true }));

  it("refuses another user's directory (its versions and inputs could have been planted), naming both uids; root's and one's own pass", async () => {
    const dir = path.join(root, 'theirs');
    await fs.mkdir(dir, { mode: 0o700 });
    // Tests may run as root: the directory is then given to another user, and the server's uid is passed in.
    if (process.getuid?.() === 0) await fs.chown(dir, 1234, 1234);
    const owner = (await fs.stat(dir)).uid;
    assert.notEqual(owner, 0);
    await assert.rejects(checkStateDirAccess(dir, () => {}, owner + 1), { code: 'CONFIG_INVALID', message: new RegExp(`is another user's \\(uid ${owner}; this server runs as uid ${owner + 1}\\): .*give a directory of your own for --state`) });
    await checkStateDirAccess(dir, () => {}, owner);
    await checkStateDirAccess(dir, () => {}, 0);
    // Root's directory that only root may write (a container's volume) passes for any user; one others may write
    // (a shared /tmp) does not.
    const roots = path.join(root, 'roots');
    await fs.mkdir(roots, { mode: 0o755 });
    if ((await fs.stat(roots)).uid === 0) {
      await fs.chmod(roots, 0o755);
      await checkStateDirAccess(roots, () => {}, 1000);
      await fs.chmod(roots, 0o1777);
      await assert.rejects(checkStateDirAccess(roots, () => {}, 1000), { code: 'CONFIG_INVALID', message: /is root's and writable by others \(mode 1777\)/ });
    }
  });

  it('makes a missing state directory private, not its parents, and says whether it made it', async () => {
    const dir = path.join(root, 'a', 'b', 'state');
    assert.equal(await makeStateDir(dir), true);
    assert.equal((await fs.stat(dir)).mode & 0o777, 0o700);
    assert.notEqual((await fs.stat(path.join(root, 'a', 'b'))).mode & 0o077, 0, 'a parent keeps the umask\'s mode');
    assert.equal(await makeStateDir(dir), false);
    await fs.writeFile(path.join(root, 'file'), 'x');
    await assert.rejects(makeStateDir(path.join(root, 'file')), { code: 'EEXIST' });
  });

  it('warns about a directory other users may read or enter; a private one passes quietly', async () => {
    const open = path.join(root, 'open');
    await fs.mkdir(open);
    await fs.chmod(open, 0o755);
    const warned: string[] = [];
    await checkStateDirAccess(open, (t) => void warned.push(t));
    assert.equal(warned.length, 1);
    assert.match(warned[0]!, /is open to other users \(mode 755\); it holds .*inputs clients sent \(buffer\.bin\): chmod 700 it/);
    await fs.chmod(open, 0o700);
    await checkStateDirAccess(open, (t) => void warned.push(t));
    assert.equal(warned.length, 1);
  });
});
