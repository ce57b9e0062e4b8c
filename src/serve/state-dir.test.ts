import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { after, describe, it } from 'node:test';
import { tempDir } from '../../test/support/temp-dir.ts';
import { checkStateDirAccess } from './state-dir.ts';

describe('checkStateDirAccess', async () => {
  const root = await tempDir('state-dir');
  after(() => fs.rm(root, { recursive: true, force: true }));

  it("refuses another user's directory (its versions and inputs could have been planted), naming both uids", async () => {
    const dir = path.join(root, 'theirs');
    await fs.mkdir(dir, { mode: 0o700 });
    const owner = (await fs.stat(dir)).uid;
    // Tests run as root here: the server's uid is given, as another user's would be.
    await assert.rejects(checkStateDirAccess(dir, () => {}, owner + 1), { code: 'CONFIG_INVALID', message: new RegExp(`belongs to another user \\(uid ${owner}; this server runs as uid ${owner + 1}\\).*give a directory of your own for --state`) });
    await checkStateDirAccess(dir, () => {}, owner);
    await checkStateDirAccess(dir, () => {}, 0);
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
