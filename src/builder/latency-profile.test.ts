import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { describe, it } from 'node:test';
import type { Progress } from '../progress/index.ts';
import {
  keyMismatch, latencyProfileKey, LATENCY_PROFILE_FORMAT, newestChecks, readLatencyProfile, withLatencyProfileFile, writeLatencyProfile, type LatencyProfile,
} from './latency-profile.ts';
import { tempDir } from '../../test/support/temp-dir.ts';

const engine = { intraOpThreads: 1, graphOptimization: 'all' } as const;
const sha = 'a'.repeat(64);

function profile(fullMs: number): LatencyProfile {
  return {
    format: LATENCY_PROFILE_FORMAT, key: latencyProfileKey(sha, 1, engine), measuredAt: '2026-11-27T00:00:00.000Z',
    fullMs, callOverheadMs: 0.05, toExitMs: { t1: 1, t2: 2 }, headMs: { h: 0.1 }, checks: { c: { backboneMs: 3, cascadeMs: 2, ratio: 0.7 } },
  };
}

function notes(): Progress & { texts: string[] } {
  const texts: string[] = [];
  return { texts, phase: () => ({ tick: () => {}, end: () => {} }), note: (t) => texts.push(t) };
}

describe('latency profile', () => {
  it('keys timings by backbone, batch, engine and machine', () => {
    const k = latencyProfileKey(sha, 1, engine);
    assert.equal(keyMismatch(k, latencyProfileKey(sha, 1, engine)), null);
    assert.equal(keyMismatch(k, latencyProfileKey(sha, 64, engine)), 'batch: 1 ≠ 64');
    assert.equal(keyMismatch(k, latencyProfileKey(sha, 1, { ...engine, intraOpThreads: 2 })), 'intraOpThreads: 1 ≠ 2');
    assert.match(keyMismatch(k, latencyProfileKey('b'.repeat(64), 1, engine))!, /^backboneSha256/);
  });

  it('round-trips through a file; a missing file is no problem, an invalid profile is reported, a foreign file is not replaceable', async () => {
    const dir = await tempDir('profile');
    const file = path.join(dir, 'p.json');
    assert.deepEqual(await readLatencyProfile(file), { profile: null, problem: null, replaceable: true });
    await writeLatencyProfile(file, profile(3));
    assert.deepEqual(await readLatencyProfile(file), { profile: profile(3), problem: null, replaceable: true });
    await fs.writeFile(file, JSON.stringify({ ...profile(3), fullMs: -1 }));
    const invalid = await readLatencyProfile(file);
    assert.equal(invalid.profile, null);
    assert.match(invalid.problem!, /fullMs/);
    assert.equal(invalid.replaceable, true, 'a profile of this format, however broken, is ours to replace');
    // A profile cut short, and an empty file (mktemp, touch): nothing to lose, so replaceable.
    await fs.writeFile(file, '{\n  "format": "layercache.latency-profile/1",');
    const truncated = await readLatencyProfile(file);
    assert.deepEqual([truncated.profile, truncated.replaceable], [null, true]);
    assert.match(truncated.problem!, /p\.json is cut short \(not valid JSON\); it will be measured again and replaced/);
    await fs.writeFile(file, '');
    assert.deepEqual(await readLatencyProfile(file), { profile: null, problem: `latency profile ${file} is empty; it will be measured again and replaced`, replaceable: true });
    // Text that is not JSON, or JSON of another kind: not ours.
    await fs.writeFile(file, 'name,ms\nresnet,2.5\n');
    const csv = await readLatencyProfile(file);
    assert.deepEqual([csv.profile, csv.replaceable], [null, false]);
    assert.match(csv.problem!, /p\.json is not a latency profile \(not JSON\)$/);
    await fs.writeFile(file, '{"format": "layercache.manifest/1"}');
    assert.match((await readLatencyProfile(file)).problem!, /its "format" is "layercache\.manifest\/1", not "layercache\.latency-profile\/1"/);
  });

  it('withLatencyProfileFile hands the stored profile to the build and stores the build\'s; an invalid profile is replaced, a foreign file refused untouched', async () => {
    const dir = await tempDir('profile');
    const file = path.join(dir, 'p.json');
    await fs.writeFile(file, JSON.stringify({ ...profile(3), fullMs: -1 }));
    const p1 = notes();
    const seen: (LatencyProfile | null)[] = [];
    await withLatencyProfileFile(file, p1, async (prior) => { seen.push(prior); return { latencyProfile: profile(4) }; });
    assert.match(p1.texts[0]!, /fullMs/);
    await withLatencyProfileFile(file, notes(), async (prior) => { seen.push(prior); return { latencyProfile: profile(5) }; });
    assert.deepEqual(seen, [null, profile(4)]);
    assert.equal((await readLatencyProfile(file)).profile!.fullMs, 5);
    // No file: nothing read, nothing written.
    await withLatencyProfileFile(null, notes(), async (prior) => { seen.push(prior); return { latencyProfile: profile(6) }; });
    assert.equal(seen[2], null);
    assert.deepEqual(await fs.readdir(dir), ['p.json']);
    // The model given as the profile by mistake: refused before the build, and left as it was.
    const model = path.join(dir, 'model.onnx');
    const bytes = Uint8Array.from([8, 7, 18, 4, 0x6f, 0x6e, 0x6e, 0x78]);
    await fs.writeFile(model, bytes);
    await assert.rejects(withLatencyProfileFile(model, notes(), async () => {
      throw new Error('the build must not run');
    }), { code: 'OUTPUT_EXISTS', message: /^--latency-profile .*model\.onnx is not a latency profile .*saving the profile would replace it; give a path of its own/ });
    assert.deepEqual(new Uint8Array(await fs.readFile(model)), bytes);
  });

  it('a device or a FIFO as the profile is neither read nor replaced (/dev/zero never ends): refused before the build', async () => {
    await assert.rejects(withLatencyProfileFile('/dev/zero', notes(), async () => {
      throw new Error('the build must not run');
    }), { code: 'OUTPUT_EXISTS', message: /^--latency-profile \/dev\/zero is a device, not a file, and saving the profile would replace it/ });
  });

  it('a profile path that can be neither read nor written is a warning; the build result stands', async () => {
    const dir = await tempDir('profile');
    const warnings: string[] = [];
    const built = await withLatencyProfileFile(dir, notes(), async (prior) => {
      assert.equal(prior, null);
      return { latencyProfile: profile(4), answer: 42 };
    }, (w) => warnings.push(w));
    assert.equal(built.answer, 42);
    assert.equal(warnings.length, 2);
    assert.match(warnings[0]!, /cannot read latency profile/);
    assert.match(warnings[1]!, /could not save the latency profile/);
  });

  it('keeps the newest check verdicts, in insertion order', () => {
    const v = (ratio: number) => ({ backboneMs: 1, cascadeMs: ratio, ratio });
    const checks: Record<string, ReturnType<typeof v>> = { a: v(0.1), b: v(0.2), c: v(0.3) };
    // Re-inserting a verdict makes it the newest.
    delete checks.a;
    checks.a = v(0.1);
    assert.deepEqual(Object.keys(newestChecks(checks, 2)), ['c', 'a']);
    assert.deepEqual(Object.keys(newestChecks(checks, 5)), ['b', 'c', 'a']);
  });
});
