import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { loadBundle } from '../bundle/index.ts';
import { loadConfig } from '../config/index.ts';
import { createHash } from 'node:crypto';
import { LayercacheError } from '../errors/index.ts';
import { GraphBuilder, saveModel, serializeModel } from '../onnx/index.ts';
import { randomNormal, seededRng } from '../tensor/index.ts';
import { cli } from '../../test/support/cli.ts';
import { saveWithForcedExit } from '../../test/support/forced-exit.ts';
import { residualNet } from '../../test/support/models.ts';
import { startServer } from './server.ts';
import { ORIGIN_FILE, recordOrigin } from './start-version.ts';
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

  it('resumes a state directory that has no record of its origin (written before there was one), warns when its heads are not the given bundle\'s, and records it', async () => {
    const state = path.join(dir, 'legacy');
    await new VersionStore(state).saveRevision(await loadBundle(a), 2, [3], [1]);
    // a and b share their head: version 2 may have grown from either, and is resumed without a word.
    const r = await served(b, state);
    assert.deepEqual([r.version, r.thresholds], [2, [3]]);
    assert.ok(!r.said.some((m) => m.includes('has no record')), r.said.join('\n'));
    assert.deepEqual(JSON.parse(await fs.readFile(path.join(state, ORIGIN_FILE), 'utf8')), { bundle: (await loadBundle(b)).manifestSha256 });
    // A version with a head the given bundle does not have (learnt from traffic, or another bundle's): resumed, with a warning.
    const other = path.join(dir, 'legacy-other');
    await saveWithForcedExit(await loadBundle(path.join(dir, 'built')), 1, 0, path.join(dir, 'c'));
    await new VersionStore(other).saveRevision(await loadBundle(path.join(dir, 'c')), 2, [0], [0]);
    for (let k = 0; k < 2; k++) {
      const w = await served(b, other);
      assert.equal(w.version, 2);
      const warning = `state: ${other} has no record of the bundle its versions grew from (it was written before layercache kept one), and version 2 has heads bundle ${b} does not; it is resumed. If ${b} is a new build to serve instead, move ${path.join(other, 'versions')} aside, or start with another --state`;
      assert.ok(w.said.includes(warning), `start ${k + 1}: ${w.said.join('\n')}`);
    }
    await assert.rejects(fs.readFile(path.join(other, ORIGIN_FILE)), 'nothing recorded: every start warns');
  });

  it('a start from the bare model keeps the record of the bundle the resumed versions grew from; with nothing resumed, it records none', async () => {
    const state = path.join(dir, 'bare');
    await served(a, state);
    const store = new VersionStore(state);
    const resumed = { version: 2, bundle: await loadBundle(await store.saveRevision(await loadBundle(a), 2, [3], [1])) };
    await recordOrigin(store, null, resumed);
    assert.deepEqual(JSON.parse(await fs.readFile(path.join(state, ORIGIN_FILE), 'utf8')), { bundle: (await loadBundle(a)).manifestSha256 });
    await recordOrigin(store, null, null);
    assert.deepEqual(JSON.parse(await fs.readFile(path.join(state, ORIGIN_FILE), 'utf8')), { bundle: null });
  });

  it('refuses an adopted bundle the engine cannot load, leaves no version of it, and does not record it (the old versions are not served under its name)', async () => {
    const state = path.join(dir, 'broken');
    await served(a, state);
    await new VersionStore(state).saveRevision(await loadBundle(a), 2, [3], [1]);
    // b's files intact (hashes match), but its first segment uses an operator onnxruntime does not have.
    const broken = path.join(dir, 'b-broken');
    await fs.cp(b, broken, { recursive: true });
    const m = JSON.parse(await fs.readFile(path.join(broken, 'manifest.json'), 'utf8'));
    const g = new GraphBuilder();
    g.output(g.op('NoSuchOperator', [g.input('image', 'float32', ['N', 3, 8, 8])]), 'float32', ['N', 5]);
    const foreign = serializeModel(g.build());
    await fs.writeFile(path.join(broken, m.segments[0].file), foreign);
    m.segments[0].sha256 = createHash('sha256').update(foreign).digest('hex');
    await fs.writeFile(path.join(broken, 'manifest.json'), JSON.stringify(m));
    for (let k = 0; k < 2; k++) await assert.rejects(served(broken, state), (e: unknown) => !(e instanceof LayercacheError) || e.code !== 'STATE_MISMATCH');
    assert.deepEqual(await new VersionStore(state).list(), [2]);
    assert.deepEqual(JSON.parse(await fs.readFile(path.join(state, ORIGIN_FILE), 'utf8')), { bundle: (await loadBundle(a)).manifestSha256 });
  });

  it('refuses a bundle inside the state directory, whose versions are pruned', async () => {
    const state = path.join(dir, 'inside');
    await served(a, state);
    const store = new VersionStore(state);
    await store.saveRevision(await loadBundle(a), 2, [3], [1]);
    await assert.rejects(served(store.dirOf(2), state), (e: unknown) => e instanceof LayercacheError && e.code === 'USAGE' && e.message.includes('is inside the state directory') && e.message.includes('copy it out'));
  });
});
