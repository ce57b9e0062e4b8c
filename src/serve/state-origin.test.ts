import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { loadBundle } from '../bundle/index.ts';
import { loadConfig } from '../config/index.ts';
import { saveModel } from '../onnx/index.ts';
import { randomNormal, seededRng } from '../tensor/index.ts';
import { cli } from '../../test/support/cli.ts';
import { saveWithForcedExit } from '../../test/support/forced-exit.ts';
import { residualNet } from '../../test/support/models.ts';
import { startServer } from './server.ts';
import { ORIGIN_FILE } from './state-origin.ts';
import { VersionStore } from './version-store.ts';

let dir: string;
/** Two bundles of one backbone: the same exit at thresholds 0 (a) and 5 (b). */
let a: string;
let b: string;

before(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'layercache-origin-'));
  const model = path.join(dir, 'tiny.onnx');
  await saveModel(residualNet().model, model);
  const data = path.join(dir, 'samples.f32');
  await fs.writeFile(data, randomNormal(seededRng(3), 100 * 3 * 8 * 8));
  const built = path.join(dir, 'built');
  const r = await cli('build', model, '--data', `raw:${data}:3x8x8#0-99`, '--out', built, '--folds', '2', '--epochs', '1', '--tolerance', '0.2', '--threads', '1');
  assert.equal(r.code, 0, r.stderr);
  a = path.join(dir, 'a');
  b = path.join(dir, 'b');
  await saveWithForcedExit(await loadBundle(built), 0, 0, a);
  await saveWithForcedExit(await loadBundle(built), 0, 5, b);
});

after(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

/** Starts and stops a server on `bundle` with `state`: the version it served, its thresholds, and what it logged. */
async function served(bundle: string, state: string): Promise<{ version: number; thresholds: (number | null)[]; said: string[] }> {
  const lines: string[] = [];
  const s = await startServer(bundle, loadConfig({ engine: { intraOpThreads: 1 }, serve: { name: 'tiny', log: 'info', stateDir: state, online: { enabled: false } } }, {}), { write: (l) => void lines.push(l) });
  const status = s.online.status();
  await s.close();
  return { version: status.version, thresholds: status.perExit.map((x) => x.threshold), said: lines.map((l) => (JSON.parse(l) as { msg: string }).msg) };
}

describe('the bundle a state directory grew from', () => {
  it('serves a given bundle other than the one the state grew from as a new version, and resumes it after', async () => {
    const state = path.join(dir, 'state');
    const first = await served(a, state);
    assert.deepEqual([first.version, first.thresholds], [1, [0]]);
    assert.deepEqual(JSON.parse(await fs.readFile(path.join(state, ORIGIN_FILE), 'utf8')), { bundle: (await loadBundle(a)).manifestSha256 });
    // A version that grew from a (a guard's revision of it, say).
    const store = new VersionStore(state);
    await store.saveRevision(await loadBundle(a), 2, [3], [1]);
    assert.deepEqual((await served(a, state)).thresholds, [3], 'the same bundle again: the state resumes');
    const other = await served(b, state);
    assert.deepEqual([other.version, other.thresholds], [3, [5]], 'another bundle: it serves, as a version above the newest');
    assert.ok(other.said.some((m) => m === `state: bundle ${b} is not the bundle version 2 grew from; it serves as version 3 (the older versions stay until keepVersions prunes them)`), other.said.join('\n'));
    assert.ok(!other.said.some((m) => m.startsWith('resumed version')), other.said.join('\n'));
    assert.deepEqual(await store.list(), [3, 2]);
    const again = await served(b, state);
    assert.deepEqual([again.version, again.thresholds], [3, [5]], 'a restart with it resumes it');
    assert.deepEqual(await store.list(), [3, 2]);
  });

  it('resumes a state directory that has no record of its origin (written before there was one), and records it', async () => {
    const state = path.join(dir, 'legacy');
    await new VersionStore(state).saveRevision(await loadBundle(a), 2, [3], [1]);
    const r = await served(b, state);
    assert.deepEqual([r.version, r.thresholds], [2, [3]]);
    assert.deepEqual(JSON.parse(await fs.readFile(path.join(state, ORIGIN_FILE), 'utf8')), { bundle: (await loadBundle(b)).manifestSha256 });
  });
});
