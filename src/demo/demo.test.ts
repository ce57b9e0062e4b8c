import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import { tempDir } from '../../test/support/temp-dir.ts';
import { loadConfig } from '../config/index.ts';
import { checkDemoDir, demoBuildConfig } from './demo.ts';
import { DIGITS_RECIPE_FILE } from './digits-backbone.ts';

describe('the demo\'s output directory', () => {
  it('may be new, empty or an earlier demo\'s; a directory of other files or a file is refused, untouched', async () => {
    const root = await tempDir('demo-dir');
    await checkDemoDir(path.join(root, 'new'));
    await checkDemoDir(root);
    const earlier = path.join(root, 'earlier');
    await fs.mkdir(earlier);
    await fs.writeFile(path.join(earlier, DIGITS_RECIPE_FILE), JSON.stringify({ spec: {}, training: {}, data: 'mnist:#0-5999', augment: 'shift2' }));
    await fs.mkdir(path.join(earlier, 'bundle'));
    await checkDemoDir(earlier);
    // A real bundle and report beside each other, as `layercache build` and `report` leave them (`demo --out .`).
    const work = path.join(root, 'work');
    await fs.mkdir(path.join(work, 'bundle'), { recursive: true });
    await fs.writeFile(path.join(work, 'report.html'), 'mine');
    await assert.rejects(checkDemoDir(work), { code: 'OUTPUT_EXISTS', message: /holds files but is not an earlier demo's directory \(no backbone\.json\); the demo writes backbone\.onnx, bundle\/ and report\.html there/ });
    assert.deepEqual((await fs.readdir(work)).sort(), ['bundle', 'report.html']);
    // Another program's backbone.json does not make it the demo's; nor do a user's files beside a real recipe.
    await fs.writeFile(path.join(work, DIGITS_RECIPE_FILE), '{"layers": 3}');
    await assert.rejects(checkDemoDir(work), { code: 'OUTPUT_EXISTS', message: /its backbone\.json is not the demo's/ });
    await fs.copyFile(path.join(earlier, DIGITS_RECIPE_FILE), path.join(work, DIGITS_RECIPE_FILE));
    await fs.writeFile(path.join(work, 'notes.md'), 'mine');
    await assert.rejects(checkDemoDir(work), { code: 'OUTPUT_EXISTS', message: /is an earlier demo's directory but also holds 'notes\.md'; move them out/ });
    await fs.rm(path.join(work, 'notes.md'));
    await fs.writeFile(path.join(work, '.DS_Store'), 'finder');
    // The request `demo --serve` wrote is the demo's own (a later demo refused the directory for it).
    await fs.writeFile(path.join(work, 'request.json'), '{"inputs": []}');
    await checkDemoDir(work);
    // Its bundle/ holding a file a bundle does not: refused now, before the training, not when the bundle is saved.
    await fs.writeFile(path.join(work, 'bundle', 'notes.md'), 'mine');
    await assert.rejects(checkDemoDir(work), { code: 'OUTPUT_EXISTS', message: /bundle.* is not a layercache bundle/ });
    await fs.rm(path.join(work, 'bundle', 'notes.md'));
    await assert.rejects(checkDemoDir(path.join(work, 'report.html')), { code: 'OUTPUT_EXISTS', message: /is a file, not a directory/ });
    // A new directory that cannot be made is refused before the training (it was INTERNAL ENOTDIR at the end of it).
    await assert.rejects(checkDemoDir(path.join(work, 'report.html', 'demo')), { code: 'OUTPUT_EXISTS', message: /report\.html is a file, not a directory; choose another output directory/ });
    // The demo writes into its directory, never replaces it: the (empty) working directory is fine.
    const empty = path.join(root, 'empty-cwd');
    await fs.mkdir(empty);
    const cwd = process.cwd();
    process.chdir(empty);
    try {
      await checkDemoDir('.');
    } finally {
      process.chdir(cwd);
    }
    await assert.rejects(checkDemoDir(''), { code: 'OUTPUT_EXISTS', message: /empty path/ });
  });
});

describe('the demo\'s settings', () => {
  it('run its small network on one onnxruntime thread where the configuration leaves the number to onnxruntime, else as given', () => {
    const threads = (env: Record<string, string>): number => demoBuildConfig(loadConfig({}, env, { serving: false })).engine.intraOpThreads;
    assert.equal(loadConfig({}, {}, { serving: false }).engine.intraOpThreads, 0);
    assert.deepEqual([threads({}), threads({ LAYERCACHE_THREADS: '0' }), threads({ LAYERCACHE_THREADS: '2' })], [1, 1, 2]);
    assert.equal(demoBuildConfig(loadConfig({}, {}, { serving: false })).build.tolerance, 0.01);
  });
});
