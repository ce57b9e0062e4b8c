import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { after, before, describe, it } from 'node:test';
import { createHash } from 'node:crypto';
import { loadBundle } from '../bundle/index.ts';
import { loadConfig } from '../config/index.ts';
import { LayercacheError } from '../errors/index.ts';
import { GraphBuilder, serializeModel } from '../onnx/index.ts';
import { saveWithForcedExit } from '../../test/support/forced-exit.ts';
import { buildTinyBundle } from '../../test/support/tiny-bundle.ts';
import { startServer } from './server.ts';
import { ORIGIN_FILE, StartVersions, type ResumeExpectation } from './start-version.ts';
import { VersionStore } from './version-store.ts';

let dir: string;
/** Two bundles of one backbone: the same exit at thresholds 0 (a) and 5 (b); dir/c has another exit. */
let a: string;
let b: string;

before(async () => {
  dir = await fs.mkdtemp(path.join(os.tmpdir(), 'layercache-origin-'));
  const { built } = await buildTinyBundle(dir);
  a = path.join(dir, 'a');
  b = path.join(dir, 'b');
  await saveWithForcedExit(await loadBundle(built), 0, 0, a);
  await saveWithForcedExit(await loadBundle(built), 0, 5, b);
  // Another exit (candidate 1), so another head: a bundle whose versions are not a's or b's.
  await saveWithForcedExit(await loadBundle(built), 1, 0, path.join(dir, 'c'));
});

after(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

/** Starts and stops a server on `bundle` with `state`: the version it served, its thresholds, and what it logged. */
async function served(bundle: string, state: string): Promise<{ version: number; thresholds: (number | null)[]; said: string[] }> {
  const r = await attempt(bundle, state);
  if (r.error !== null) throw r.error;
  return r;
}

/** As served, also when the start fails (`error`), with what it logged until then. */
async function attempt(bundle: string, state: string): Promise<{ version: number; thresholds: (number | null)[]; said: string[]; error: unknown }> {
  const lines: string[] = [];
  const said = (): string[] => lines.map((l) => (JSON.parse(l) as { msg: string }).msg);
  try {
    const s = await startServer(bundle, loadConfig({ engine: { intraOpThreads: 1 }, serve: { name: 'tiny', log: 'info', stateDir: state, online: { enabled: false } } }, {}), { write: (l) => void lines.push(l) });
    const status = s.online.status();
    await s.close();
    return { version: status.version, thresholds: status.perExit.map((x) => x.threshold), said: said(), error: null };
  } catch (error) {
    return { version: -1, thresholds: [], said: said(), error };
  }
}

/** The record in `state`. */
async function origin(state: string): Promise<unknown> {
  return JSON.parse(await fs.readFile(path.join(state, ORIGIN_FILE), 'utf8'));
}

/** Makes the bundle in `d` one the engine cannot load, with intact files: its first segment uses an operator onnxruntime does not have. */
async function breakEngine(d: string): Promise<void> {
  const m = JSON.parse(await fs.readFile(path.join(d, 'manifest.json'), 'utf8'));
  const g = new GraphBuilder();
  g.output(g.op('NoSuchOperator', [g.input('image', 'float32', ['N', 3, 8, 8])]), 'float32', ['N', 5]);
  const foreign = serializeModel(g.build());
  await fs.rm(path.join(d, m.segments[0].file));
  await fs.writeFile(path.join(d, m.segments[0].file), foreign);
  m.segments[0].sha256 = createHash('sha256').update(foreign).digest('hex');
  await fs.writeFile(path.join(d, 'manifest.json'), JSON.stringify(m));
}

/** What a start from bundle `source` (null: the bare model, tiny.onnx) asks a resumed version to match. */
async function expectation(source: string | null): Promise<ResumeExpectation> {
  const m = (await loadBundle(source ?? a)).manifest;
  return { sha256: m.source.sha256, preprocess: m.preprocess, scoresOutput: null, sourcePath: source ?? 'tiny.onnx', given: source !== null };
}

/** A state directory `name` that a served, with a guard's revision of it as version 2 (threshold 3, one raise). */
async function grownFromA(name: string): Promise<{ state: string; store: VersionStore }> {
  const state = path.join(dir, name);
  await served(a, state);
  const store = new VersionStore(state);
  await store.saveRevision(await loadBundle(a), 2, [3], [1]);
  return { state, store };
}

/** A start's log that says nothing. */
const QUIET = { info() {}, warn() {}, error() {} };

/** The engine's refusal of a broken bundle. */
const engineRefusal = (e: unknown): boolean => e instanceof LayercacheError && /onnxruntime cannot load/.test(e.message);

describe('the bundle a state directory grew from', () => {
  it('serves a given bundle other than the one the state grew from as a new version, and resumes it after', async () => {
    const state = path.join(dir, 'state');
    const first = await served(a, state);
    assert.deepEqual([first.version, first.thresholds], [1, [0]]);
    assert.deepEqual(await origin(state), { bundle: (await loadBundle(a)).manifestSha256, since: 0 });
    // A version that grew from a (a guard's revision of it, say).
    const store = new VersionStore(state);
    await store.saveRevision(await loadBundle(a), 2, [3], [1]);
    assert.deepEqual((await served(a, state)).thresholds, [3], 'the same bundle again: the state resumes');
    const other = await served(b, state);
    assert.deepEqual([other.version, other.thresholds], [3, [5]], 'another bundle: it serves, as a version above the newest');
    assert.ok(other.said.some((m) => m === `state: bundle ${b} serves as version 3: it is not the bundle version 2 grew from (the older versions stay until keepVersions prunes them)`), other.said.join('\n'));
    assert.ok(!other.said.some((m) => m.startsWith('resumed version')), other.said.join('\n'));
    assert.deepEqual(await store.list(), [3, 2]);
    assert.deepEqual(await origin(state), { bundle: (await loadBundle(b)).manifestSha256, since: 3 });
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
    assert.deepEqual(await origin(state), { bundle: (await loadBundle(b)).manifestSha256, since: 0 });
    // A version with a head the given bundle does not have (learnt from traffic, or another bundle's): resumed, with a warning.
    const other = path.join(dir, 'legacy-other');
    await new VersionStore(other).saveRevision(await loadBundle(path.join(dir, 'c')), 2, [0], [0]);
    for (let k = 0; k < 2; k++) {
      const w = await served(b, other);
      assert.equal(w.version, 2);
      const sha = (await loadBundle(b)).manifestSha256;
      const warning = `state: ${other} has no record of the bundle its versions grew from (it was written before layercache kept one), and version 2 has heads bundle ${b} does not; it is resumed. To keep serving these versions and stop this warning, write {"bundle":"${sha}"} to ${path.join(other, ORIGIN_FILE)}; to serve ${b} instead, move ${path.join(other, 'versions')} aside, or start with another --state`;
      assert.ok(w.said.includes(warning), `start ${k + 1}: ${w.said.join('\n')}`);
    }
    await assert.rejects(fs.readFile(path.join(other, ORIGIN_FILE)), 'nothing recorded: every start warns');
  });

  it('a start from the bare model keeps the record of the bundle the resumed versions grew from; with nothing resumed, it records none', async () => {
    const { state, store } = await grownFromA('bare');
    const bundleA = await loadBundle(a);
    const expect = await expectation(null);
    const bare = await StartVersions.open(store, null, expect, QUIET, () => {});
    assert.equal(bare.current?.version, 2);
    await bare.record();
    assert.deepEqual(await origin(state), { bundle: bundleA.manifestSha256, since: 0 });
    const fresh = path.join(dir, 'bare-fresh');
    await fs.mkdir(fresh);
    const none = await StartVersions.open(new VersionStore(fresh), null, expect, QUIET, () => {});
    await none.record();
    assert.deepEqual(await origin(fresh), { bundle: null, since: 0 });
  });

  it('refuses an adopted bundle the engine cannot load, leaves no version of it, and does not record it (the old versions are not served under its name)', async () => {
    const { state } = await grownFromA('broken');
    const broken = path.join(dir, 'b-broken');
    await fs.cp(b, broken, { recursive: true });
    await breakEngine(broken);
    for (let k = 0; k < 2; k++) assert.ok(engineRefusal((await attempt(broken, state)).error));
    assert.deepEqual(await new VersionStore(state).list(), [2]);
    assert.deepEqual(await origin(state), { bundle: (await loadBundle(a)).manifestSha256, since: 0 });
  });

  it('falls back, when the engine cannot load a version, only within the given bundle\'s lineage', async () => {
    const { state, store } = await grownFromA('lineage');
    assert.equal((await served(b, state)).version, 3, 'b adopted at version 3');
    // A later version of b's lineage the engine cannot load: version 3 serves.
    await store.saveRevision(await loadBundle(store.dirOf(3)), 4, [5], [1]);
    await breakEngine(store.dirOf(4));
    const fell = await served(b, state);
    assert.equal(fell.version, 3);
    assert.ok(fell.said.some((m) => m.startsWith('state: version 4 cannot be served and was skipped: its files are intact but the engine cannot load it')), fell.said.join('\n'));
    // Version 3 too: version 2 grew from a, and is not served in b's name; b is adopted again, above the newest.
    await breakEngine(store.dirOf(3));
    const again = await served(b, state);
    assert.deepEqual([again.version, again.thresholds], [5, [5]]);
    assert.ok(again.said.includes(`state: bundle ${b} serves as version 5: version 2 grew from another bundle (this one was adopted at version 3) (the older versions stay until keepVersions prunes them)`), again.said.join('\n'));
    assert.ok(!again.said.some((m) => m.startsWith('serving version 2')), again.said.join('\n'));
  });

  it('adopts the given bundle above the newest version when none on disk can be served (numbers only grow), and puts the record back when the copy cannot be saved', async () => {
    const { state, store } = await grownFromA('none-loads');
    await fs.writeFile(path.join(store.dirOf(2), 'manifest.json'), '{"truncated');
    const r = await served(a, state);
    assert.deepEqual([r.version, r.thresholds], [3, [0]], 'not served as built at version 1, below version 2 on disk');
    assert.deepEqual(await origin(state), { bundle: (await loadBundle(a)).manifestSha256, since: 3 });
    const before = await fs.readFile(path.join(state, ORIGIN_FILE), 'utf8');
    const full = new (class extends VersionStore {
      override async saveRevision(): Promise<string> {
        throw new Error('ENOSPC: no space left on device');
      }
    })(state);
    const bundleB = await loadBundle(b);
    await assert.rejects(StartVersions.open(full, bundleB, await expectation(b), QUIET, () => {}), /ENOSPC/);
    assert.equal(await fs.readFile(path.join(state, ORIGIN_FILE), 'utf8'), before, 'the record as it was');
  });

  it('adopts the given bundle again when the versions since its adoption are gone, and records an adoption before saving it (a start cut short)', async () => {
    const { state, store } = await grownFromA('gone');
    assert.equal((await served(b, state)).version, 3);
    await store.remove(3);
    const again = await served(b, state);
    assert.deepEqual([again.version, again.thresholds], [3, [5]], 'not version 2, a\'s, in b\'s name');
    assert.ok(again.said.some((m) => m.startsWith(`state: bundle ${b} serves as version 3: version 2 grew from another bundle (this one was adopted at version 3, which is gone)`)), again.said.join('\n'));
    // A start with a, cut short after its adoption was saved (before the engine loaded it): the record already names a,
    // so b's copy (version 3) is not resumed as a's; a start with b adopts b again, above it.
    const cut = await StartVersions.open(store, await loadBundle(a), await expectation(a), QUIET, () => {});
    assert.deepEqual([cut.current?.version, cut.current?.adopted], [4, true]);
    assert.deepEqual(await origin(state), { bundle: (await loadBundle(a)).manifestSha256, since: 4 });
    const b5 = await served(b, state);
    assert.deepEqual([b5.version, b5.thresholds], [5, [5]]);
  });

  it('keeps the engine\'s error, and the record of the adoption, when the copy it cannot load cannot be removed', async () => {
    const state = path.join(dir, 'unremovable');
    await served(a, state);
    const store = new (class extends VersionStore {
      override async remove(): Promise<void> {
        throw new Error('EBUSY: the copy is held');
      }
    })(state);
    await store.saveRevision(await loadBundle(a), 2, [3], [1]);
    const bundleB = await loadBundle(b);
    const errors: string[] = [];
    const v = await StartVersions.open(store, bundleB, await expectation(b), { info() {}, warn() {}, error: (t) => void errors.push(t) }, () => {});
    const engine = new Error('onnxruntime cannot load it');
    await assert.rejects(v.fallBack(engine), (e: unknown) => e === engine);
    assert.deepEqual(errors, [`state: version 3, the copy of bundle ${b} this start made, could not be deleted: EBUSY: the copy is held`]);
    // The record still names b from version 3: no start serves that copy in a's name.
    assert.deepEqual(await origin(state), { bundle: bundleB.manifestSha256, since: 3 });
  });

  it('a bare model serves the bare backbone rather than a version below the recorded bundle\'s adoption', async () => {
    const { state, store } = await grownFromA('bare-below');
    await fs.writeFile(path.join(state, ORIGIN_FILE), JSON.stringify({ bundle: (await loadBundle(b)).manifestSha256, since: 3 }));
    const bare = await StartVersions.open(store, null, await expectation(null), QUIET, () => {});
    assert.equal(bare.current, null);
  });

  it('without a record, checks each version a start falls back to: an unsure one is resumed with a warning and nothing is recorded', async () => {
    const state = path.join(dir, 'unsure-fallback');
    const store = new VersionStore(state);
    await store.saveRevision(await loadBundle(path.join(dir, 'c')), 2, [0], [0]);
    await store.saveRevision(await loadBundle(a), 3, [3], [1]);
    await breakEngine(store.dirOf(3));
    for (let k = 0; k < 2; k++) {
      const r = await served(b, state);
      assert.equal(r.version, 2);
      assert.ok(r.said.some((m) => m.includes('and version 2 has heads bundle')), `start ${k + 1}: ${r.said.join('\n')}`);
    }
    await assert.rejects(fs.readFile(path.join(state, ORIGIN_FILE)));
  });

  it('with a record it cannot read, serves no version on disk as the given source\'s: a bundle is adopted above them, a bare model serves the bare backbone', async () => {
    const state = path.join(dir, 'unreadable');
    await served(a, state);
    const store = new VersionStore(state);
    await store.saveRevision(await loadBundle(b), 2, [5], [0]);
    const file = path.join(state, ORIGIN_FILE);
    await fs.writeFile(file, '{"bundle": 7}');
    const warned: string[] = [];
    const bare = await StartVersions.open(store, null, await expectation(null), { info() {}, warn: (t) => void warned.push(t), error() {} }, () => {});
    assert.equal(bare.current, null);
    assert.ok(warned.some((m) => m.startsWith(`state: ${file} cannot be read (not a record of the form`)), warned.join('\n'));
    const r = await served(a, state);
    assert.deepEqual([r.version, r.thresholds], [3, [0]], 'not b\'s version 2, whose heads are a\'s');
    assert.deepEqual(await origin(state), { bundle: (await loadBundle(a)).manifestSha256, since: 3 });
  });

  it('refuses a bundle or model inside the state directory\'s versions, which are pruned; elsewhere in it is fine', async () => {
    const { state, store } = await grownFromA('inside');
    const inside = (e: unknown): boolean => e instanceof LayercacheError && e.code === 'USAGE' && e.message.includes("is inside the state directory's versions") && e.message.includes('copy it out');
    await assert.rejects(served(store.dirOf(2), state), inside);
    await assert.rejects(served(path.join(store.dirOf(2), 'backbone.onnx'), state), inside);
    await fs.cp(a, path.join(state, 'a-copy'), { recursive: true });
    assert.equal((await served(path.join(state, 'a-copy'), state)).version, 2);
  });
});
