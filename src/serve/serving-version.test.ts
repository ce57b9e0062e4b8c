import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { ServingVersion } from './serving-version.ts';

type Deps = ConstructorParameters<typeof ServingVersion>[0];

describe('ServingVersion numbering', () => {
  it('numbers a version served from memory above every version on disk at start, also one the start skipped', async () => {
    // Version 5 is on disk but was skipped (corrupted); version 4 serves; then the directory cannot be listed.
    let listable = true;
    const store = { nextVersion: async (current: number) => (listable ? Math.max(current, 5) + 1 : Promise.reject(new Error('EIO (injected)'))) };
    const serving = new ServingVersion({ store } as unknown as Deps, { version: 4, bundle: null });
    // It lists the versions on disk once it has started (a tick later).
    await new Promise((resolve) => setImmediate(resolve));
    listable = false;
    await assert.rejects(serving.allocate(), /EIO/);
    // It took 5, the skipped version's number: pins and logs would name two bundles.
    assert.equal(await serving.allocateUnsaved(), 6);
    assert.equal(await serving.allocateUnsaved(), 7);
    // Unlistable from the start: still above the serving version and every number handed out.
    const blind = new ServingVersion({ store } as unknown as Deps, { version: 4, bundle: null });
    assert.equal(await blind.allocateUnsaved(), 5);
    assert.equal(await blind.allocateUnsaved(), 6);
  });
});
