/**
 * End-to-end on a tiny model: build a bundle from raw unlabeled samples, load it back,
 * evaluate it, and check the bad inputs of the build and eval commands.
 */
import { createHash } from 'node:crypto';
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { before, describe, it } from 'node:test';
import sharp from 'sharp';
import { loadBundle, saveBundle } from '../bundle/index.ts';
import { Cascade } from '../cascade/index.ts';
import { DEFAULT_ENGINE_OPTIONS } from '../engine/index.ts';
import { IDENTITY_PREPROCESS, memorySource, openDataSource } from '../data/index.ts';
import { evaluateBundle, type EvalReport } from '../evaluate/index.ts';
import { SILENT } from '../progress/index.ts';
import { saveModel, serializeModel } from '../onnx/index.ts';
import { randomNormal, seededRng, tensor } from '../tensor/index.ts';
import { cli } from '../../test/support/cli.ts';
import { saveWithForcedExit } from '../../test/support/forced-exit.ts';
import { heavyTail, mlp, nanAbove100, residualNet, withEmbeddingFirst, withFixedBatch, withIoTypes, withNormalisedOutput, withOpenSize } from '../../test/support/models.ts';
import { runModel } from '../../test/support/chain.ts';
import { saveWithExternalData } from '../../test/support/external-data.ts';
import { tempDir } from '../../test/support/temp-dir.ts';

let dir: string;
let model: string;
let data: string;
const fast = ['--folds', '2', '--epochs', '3', '--tolerance', '0.2', '--threads', '1'];

before(async () => {
  dir = await tempDir('build');
  model = path.join(dir, 'net.onnx');
  await saveModel(residualNet().model, model);
  data = path.join(dir, 'samples.f32');
  await fs.writeFile(data, randomNormal(seededRng(9), 300 * 3 * 8 * 8));
});

describe('build → bundle → eval on a tiny model', () => {
  it('a sample that repeats is built from once: data with every sample twice builds the bundle the samples once build', async () => {
    const once = new Float32Array((await fs.readFile(data)).buffer.slice(0, 200 * 192 * 4));
    const twice = new Float32Array(400 * 192);
    // Interleaved (s0, s0, s1, s1, …): the kept copies are never adjacent in the file.
    for (let i = 0; i < 200; i++) for (const k of [0, 1]) twice.set(once.subarray(i * 192, (i + 1) * 192), (2 * i + k) * 192);
    const dup = path.join(dir, 'twice.f32');
    await fs.writeFile(dup, twice);
    const builds = [];
    for (const [spec, out] of [[`raw:${data}:3x8x8#0-199`, 'once'], [`raw:${dup}:3x8x8#0-399`, 'twice']] as const) {
      const b = await cli('build', model, '--data', spec, '--out', path.join(dir, out), ...fast, '--objective', 'macs', '--json');
      assert.equal(b.code, 0, b.stderr);
      builds.push({ report: JSON.parse(b.stdout).report, stderr: b.stderr });
    }
    assert.match(builds[1]!.stderr, /200 of 400 samples repeat earlier ones and are left out: the build learns from and calibrates on the 200 distinct samples/);
    assert.doesNotMatch(builds[0]!.stderr, /repeat earlier ones/);
    const [a, b] = builds.map((x) => x.report);
    assert.equal(b.samples, 200);
    assert.deepEqual(b.candidates.map((c: { outOfFoldAgreement: number }) => c.outOfFoldAgreement), a.candidates.map((c: { outOfFoldAgreement: number }) => c.outOfFoldAgreement));
    for (const key of ['exits', 'exitRates', 'agreement', 'macsPerSample', 'estimatedAgreement'] as const) assert.deepEqual(b.selected[key], a.selected[key], key);
    const thresholds = async (out: string): Promise<(number | null)[]> => (await loadBundle(path.join(dir, out))).manifest.exits.map((e) => e.threshold);
    assert.deepEqual(await thresholds('twice'), await thresholds('once'));
  });

  it('two-phase training: with --refine-exits 1 only the most promising candidate is fully trained, and only it can be kept', async () => {
    const out = path.join(dir, 'two-phase');
    const b = await cli('build', model, '--data', `raw:${data}:3x8x8#0-199`, '--out', out, ...fast, '--refine-exits', '1', '--screen-epochs', '1', '--json');
    assert.equal(b.code, 0, b.stderr);
    const report = JSON.parse(b.stdout).report;
    const refined = report.candidates.flatMap((c: { refined: boolean }, i: number) => (c.refined ? [i] : []));
    assert.equal(refined.length, 1);
    for (const e of report.selected.exits) assert.ok(refined.includes(e), `kept exit ${e} was not refined`);
    const m = (await loadBundle(out)).manifest;
    assert.deepEqual(m.candidates.map((c) => c.refined), report.candidates.map((c: { refined: boolean }) => c.refined));
    assert.equal(m.build.refineExits, 1);
    assert.equal(m.build.screenEpochs, 1);
    for (const e of m.exits) assert.ok(refined.includes(e.candidate));
  });

  it('a model that ends in Softmax: the bundle reads its logits, so rows that run the whole backbone get the model\'s own probabilities', async () => {
    const net = withNormalisedOutput(residualNet().model, 'softmax');
    const file = path.join(dir, 'softmax-net.onnx');
    await saveModel(net, file);
    const out = path.join(dir, 'softmax-bundle');
    const b = await cli('build', file, '--data', `raw:${data}:3x8x8#0-199`, '--out', out, ...fast);
    assert.equal(b.code, 0, b.stderr);
    assert.match(b.stderr, /output 'probs' is a softmax .* layercache reads the logits before it/);
    const bundle = await loadBundle(out);
    const never = await Cascade.fromBundle(bundle, DEFAULT_ENGINE_OPTIONS, bundle.manifest.exits.map(() => Number.POSITIVE_INFINITY));
    try {
      const x = tensor('float32', [4, 3, 8, 8], randomNormal(seededRng(31), 4 * 3 * 8 * 8));
      const rows = await never.run(x);
      const own = Object.values(await runModel(net, { image: x }))[0]!.data as Float32Array;
      rows.forEach((r, i) => r.probs.forEach((p, k) => assert.ok(Math.abs(p - own[i * 5 + k]!) < 1e-5, `row ${i} class ${k}: ${p} vs the model's ${own[i * 5 + k]}`)));
    } finally {
      await never.release();
    }
    // eval traces every candidate head on segments it cuts from the bundle's backbone: read the same way.
    const e = await cli('eval', out, '--data', `raw:${data}:3x8x8#200-299`, '--json', '--baseline', 'paper', '--latency-samples', '20', '--threads', '1');
    assert.equal(e.code, 0, e.stderr);
    assert.equal(JSON.parse(e.stdout).samples, 100);
  });

  it('a model with its weights in an external data file: the bundle holds the whole backbone, and eval works without that file', async () => {
    const extDir = path.join(dir, 'ext');
    await fs.mkdir(extDir);
    const file = await saveWithExternalData(residualNet().model, extDir, 'net.onnx');
    const out = path.join(dir, 'ext-bundle');
    const b = await cli('build', file, '--data', `raw:${data}:3x8x8#0-199`, '--out', out, ...fast);
    assert.equal(b.code, 0, b.stderr);
    const args = ['--data', `raw:${data}:3x8x8#200-299`, '--json', '--latency-samples', '20', '--threads', '1'];
    const same = await cli('eval', out, ...args, '--model', file);
    assert.equal(same.code, 0, 'the source hash covers the weights the build read');
    assert.doesNotMatch(same.stderr, /overlaps/);
    // Records the bundle was built from: the figures are optimistic there, and eval says so.
    const own = await cli('eval', out, '--data', `raw:${data}:3x8x8#150-249`, '--json', '--latency-samples', '4', '--threads', '1');
    assert.equal(own.code, 0, own.stderr);
    assert.match(own.stderr, /warning: --data raw:.*#150-249 overlaps the records the bundle was built from \(raw:.*#0-199\)/);
    await fs.rename(`${file}.data`, `${file}.away`);
    const e = await cli('eval', out, ...args);
    assert.equal(e.code, 0, e.stderr);
    assert.equal(JSON.parse(e.stdout).backbone.accuracy, null);
    // From code, a header-only backbone (the file's own bytes) is refused rather than saved without its weights.
    const built = await loadBundle(out);
    await assert.rejects(saveBundle(path.join(dir, 'ext-header'), built.manifest, { backbone: new Uint8Array(await fs.readFile(file)), segments: built.segments, heads: built.heads, candidateHeads: built.candidateHeads }), {
      code: 'BUNDLE_INVALID', message: /keep their weights in external data files.*loadModelFile\(path\)\.bytes/,
    });
    await assert.rejects(fs.access(path.join(dir, 'ext-header')), 'nothing is written');
    // So is another model's bytes: the bundle would cut segments from one model and carry another.
    await assert.rejects(saveBundle(path.join(dir, 'mixed'), built.manifest, { backbone: serializeModel(mlp().model), segments: built.segments, heads: built.heads, candidateHeads: built.candidateHeads }), {
      code: 'BUNDLE_MODEL_MISMATCH', message: /the backbone bytes \(sha256 [0-9a-f]{12}…\) are not the model this bundle was built from/,
    });
    await assert.rejects(fs.access(path.join(dir, 'mixed')), 'nothing is written');
    // Other weights under the same names are another model.
    await fs.writeFile(`${file}.data`, new Uint8Array((await fs.readFile(`${file}.away`)).length));
    const other = await cli('eval', out, ...args, '--model', file);
    assert.equal(other.code, 2);
    assert.match(other.stderr, /BUNDLE_MODEL_MISMATCH/);
  });

  it('a model whose batch is fixed at 1: build reads it with a free batch, records that, and eval runs it at batch 64', async () => {
    const file = path.join(dir, 'batch1.onnx');
    await saveModel(withFixedBatch(residualNet().model, 1), file);
    const out = path.join(dir, 'batch1-bundle');
    const b = await cli('build', file, '--data', `raw:${data}:3x8x8#0-199`, '--out', out, ...fast);
    assert.equal(b.code, 0, b.stderr);
    assert.match(b.stderr, /input 'image' fixes the batch at 1; layercache runs the model with a free batch dimension/);
    const m = (await loadBundle(out)).manifest;
    assert.deepEqual(m.source.reading, { scoresOutput: null, flattenScores: false, logits: { kind: 'logits' }, dynamicBatch: true, inputDtype: null, outputDtype: null, sampleDims: null });
    assert.deepEqual(m.source.inputs[0]!.shape, ['batch', 3, 8, 8]);
    // A bundle from before the scores output was recorded reads its first output, as it is.
    const older = path.join(dir, 'batch1-older');
    await fs.cp(out, older, { recursive: true });
    const raw = JSON.parse(await fs.readFile(path.join(older, 'manifest.json'), 'utf8'));
    delete raw.source.reading.scoresOutput;
    delete raw.source.reading.flattenScores;
    await fs.writeFile(path.join(older, 'manifest.json'), JSON.stringify(raw));
    assert.deepEqual((await loadBundle(older)).manifest.source.reading, m.source.reading);
    const e = await cli('eval', out, '--data', `raw:${data}:3x8x8#200-299`, '--json', '--latency-samples', '20', '--threads', '1', '--timing-instances', '1');
    assert.equal(e.code, 0, e.stderr);
    assert.ok(JSON.parse(e.stdout).backbone.throughputBatch64 > 0);
    const zero = await cli('eval', out, '--data', `raw:${data}:3x8x8#200-299`, '--timing-instances', '0');
    assert.match(zero.stderr, /USAGE: --timing-instances '0' is not a positive integer/);
  });

  it('--scores-output: scores second and shaped [N, 5, 1, 1] are read flattened; the bundle records it, and full-backbone rows get their softmax', async () => {
    const file = path.join(dir, 'embedding-first.onnx');
    await saveModel(withEmbeddingFirst(residualNet().model), file);
    const wrong = await cli('build', file, '--data', `raw:${data}:3x8x8#0-199`, '--out', path.join(dir, 'no-scores'), ...fast, '--scores-output', 'score');
    assert.equal(wrong.code, 2);
    assert.match(wrong.stderr, /--scores-output \(build\.scoresOutput\) names 'score', but the model has no such output; its outputs are 'embedding', 'scores'/);
    await assert.rejects(fs.access(path.join(dir, 'no-scores')), 'nothing is written');
    const out = path.join(dir, 'scores-bundle');
    const b = await cli('build', file, '--data', `raw:${data}:3x8x8#0-199`, '--out', out, ...fast, '--scores-output', 'scores');
    assert.equal(b.code, 0, b.stderr);
    assert.match(b.stderr, /layercache reads output 'scores' as the class scores \(--scores-output\), not the first, 'embedding'/);
    assert.match(b.stderr, /output 'scores' \[N, classes, 1, 1\] has unit dimensions besides the classes; layercache reads it flattened to \[batch, classes\]/);
    const bundle = await loadBundle(out);
    assert.deepEqual(bundle.manifest.source.reading, { scoresOutput: 'scores', flattenScores: true, logits: { kind: 'logits' }, dynamicBatch: false, inputDtype: null, outputDtype: null, sampleDims: null });
    assert.equal(bundle.manifest.source.classes, 5);
    const e = await cli('eval', out, '--data', `raw:${data}:3x8x8#200-299`, '--json', '--latency-samples', '20', '--threads', '1');
    assert.equal(e.code, 0, e.stderr);
    const never = await Cascade.fromBundle(bundle, DEFAULT_ENGINE_OPTIONS, bundle.manifest.exits.map(() => Number.POSITIVE_INFINITY));
    try {
      const x = tensor('float32', [3, 3, 8, 8], randomNormal(seededRng(4), 3 * 3 * 8 * 8));
      const rows = await never.run(x);
      const z = (await runModel(residualNet().model, { image: x })).logits!.data as Float32Array;
      rows.forEach((r, i) => {
        const logits = Array.from(z.subarray(i * 5, i * 5 + 5));
        const m = Math.max(...logits);
        const ex = logits.map((v) => Math.exp(v - m));
        const sum = ex.reduce((a, c) => a + c, 0);
        ex.forEach((v, c) => assert.ok(Math.abs(r.probs[c]! - v / sum) < 1e-5, `row ${i} class ${c}`));
      });
    } finally {
      await never.release();
    }
  });

  it('a model with uint8 input and float16 scores: build feeds it float32 cast to uint8 and reads float32 scores; eval runs', async () => {
    const file = path.join(dir, 'typed.onnx');
    await saveModel(withIoTypes(residualNet().model, 'uint8', 'float16'), file);
    const pixels = path.join(dir, 'pixels.f32');
    // Whole pixel values 0–255, every sample distinct.
    await fs.writeFile(pixels, Float32Array.from(randomNormal(seededRng(17), 300 * 3 * 8 * 8), (v) => Math.min(255, Math.max(0, Math.round(128 + 40 * v)))));
    const out = path.join(dir, 'typed-bundle');
    const b = await cli('build', file, '--data', `raw:${pixels}:3x8x8#0-199`, '--out', out, ...fast);
    assert.equal(b.code, 0, b.stderr);
    assert.match(b.stderr, /takes uint8 input; layercache feeds it float32 values cast to uint8/);
    assert.match(b.stderr, /class scores are float16; layercache reads them as float32/);
    const e = await cli('eval', out, '--data', `raw:${pixels}:3x8x8#200-299`, '--json', '--latency-samples', '20', '--threads', '1');
    assert.equal(e.code, 0, e.stderr);
    // Rows that run the whole backbone get the model's probabilities (its scores rounded to float16 by the model itself).
    const bundle = await loadBundle(out);
    const never = await Cascade.fromBundle(bundle, DEFAULT_ENGINE_OPTIONS, bundle.manifest.exits.map(() => Number.POSITIVE_INFINITY));
    try {
      const x = tensor('float32', [4, 3, 8, 8], Float32Array.from({ length: 4 * 3 * 8 * 8 }, (_, i) => (i * 131) % 256));
      const rows = await never.run(x);
      const z = Object.values(await runModel(residualNet().model, { image: x }))[0]!.data as Float32Array;
      rows.forEach((r, i) => {
        const logits = Array.from(z.subarray(i * 5, i * 5 + 5));
        const m = Math.max(...logits);
        const e = logits.map((v) => Math.exp(v - m));
        const sum = e.reduce((a, b) => a + b, 0);
        r.probs.forEach((p, k) => assert.ok(Math.abs(p - e[k]! / sum) < 2e-3, `row ${i} class ${k}: ${p} vs ${e[k]! / sum}`));
      });
    } finally {
      await never.release();
    }
  });

  it('a model that leaves its input size open: build fixes it at the data\'s, the bundle serves that size, a bare serve says how to fix it', async () => {
    const file = path.join(dir, 'open.onnx');
    await saveModel(withOpenSize(residualNet().model), file);
    const out = path.join(dir, 'open-bundle');
    const b = await cli('build', file, '--data', `raw:${data}:3x8x8#0-199`, '--out', out, ...fast);
    assert.equal(b.code, 0, b.stderr);
    assert.match(b.stderr, /leaves its input size open; layercache fixes it at \[3, 8, 8\] per sample/);
    const m = (await loadBundle(out)).manifest;
    assert.deepEqual(m.source.inputs[0]!.shape, ['N', 3, 8, 8]);
    assert.deepEqual(m.source.reading?.sampleDims, [3, 8, 8]);
    const e = await cli('eval', out, '--data', `raw:${data}:3x8x8#200-299`, '--json', '--latency-samples', '20', '--threads', '1');
    assert.equal(e.code, 0, e.stderr);
    // Timings of one size are not another's: a latency profile measured at 8×8 is not reused at 16×16.
    const profile = path.join(dir, 'open-profile.json');
    const big = path.join(dir, 'big.f32');
    await fs.writeFile(big, randomNormal(seededRng(10), 200 * 3 * 16 * 16));
    const sized = async (spec: string, name: string) => JSON.parse((await cli('build', file, '--data', spec, '--out', path.join(dir, name), ...fast, '--latency-profile', profile, '--json')).stdout).report.latencyReused.exits;
    assert.equal(await sized(`raw:${data}:3x8x8#0-199`, 'open-8'), false);
    assert.equal(await sized(`raw:${big}:3x16x16#0-199`, 'open-16'), false, 'another input size measures again');
    const serve = await cli('serve', file, '--no-online', '--port', '0');
    assert.equal(serve.code, 2);
    assert.match(serve.stderr, /INPUT_SHAPE_UNKNOWN: .*input 'image' has symbolic dimension 2 \('H'\) .*build a bundle from data of the size you serve/);
    // Images need a size to be resized to: --image-size gives it, and the bundle fixes it.
    const images = path.join(dir, 'open-images');
    await fs.mkdir(images, { recursive: true });
    const rng = seededRng(12);
    for (let i = 0; i < 40; i++) {
      const pixels = Buffer.from(Array.from({ length: 12 * 10 * 3 }, () => Math.floor(rng.uniform() * 256)));
      await sharp(pixels, { raw: { width: 10, height: 12, channels: 3 } }).png().toFile(path.join(images, `${String(i).padStart(2, '0')}.png`));
    }
    const unsized = await cli('build', file, '--data', `folder:${images}`, '--out', path.join(dir, 'open-images-bundle'), ...fast);
    assert.equal(unsized.code, 2);
    assert.match(unsized.stderr, /the model leaves its input size open: give one \(build --image-size HxW, which the bundle then fixes; from code, openDataSource's imageSize/);
    const sizedBuild = await cli('build', file, '--data', `folder:${images}`, '--out', path.join(dir, 'open-images-bundle'), ...fast, '--image-size', '8x8', '--scale', '255');
    assert.equal(sizedBuild.code, 0, sizedBuild.stderr);
    assert.deepEqual((await loadBundle(path.join(dir, 'open-images-bundle'))).manifest.source.reading?.sampleDims, [3, 8, 8]);
    const clash = await cli('build', model, '--data', `folder:${images}`, '--out', path.join(dir, 'clash'), ...fast, '--image-size', '4x4');
    assert.equal(clash.code, 2);
    assert.match(clash.stderr, /--image-size 4x4 differs from the model's input size 8x8; leave it out/);
  });

  it('a bundle file this user may not read is FILE_UNREADABLE (fix its permissions), not missing (rebuild)', async (t) => {
    const out = path.join(dir, 'perm-bundle');
    assert.equal((await cli('build', model, '--data', `raw:${data}:3x8x8#0-99`, '--out', out, ...fast)).code, 0);
    // Tests run as root here, which chmod does not stop: the file system's refusal is faked.
    const readFile = fs.readFile.bind(fs);
    let locked = 'backbone.onnx';
    t.mock.method(fs, 'readFile', (async (file: string, ...rest: unknown[]) => {
      if (String(file) === path.join(out, locked)) throw Object.assign(new Error('EACCES: permission denied'), { code: 'EACCES' });
      return (readFile as (...a: unknown[]) => Promise<unknown>)(file, ...rest);
    }) as typeof fs.readFile);
    await assert.rejects(loadBundle(out), { code: 'FILE_UNREADABLE', message: /perm-bundle: backbone backbone\.onnx cannot be read \(EACCES\); fix its permissions$/ });
    locked = 'manifest.json';
    await assert.rejects(loadBundle(out), { code: 'FILE_UNREADABLE', message: /perm-bundle: manifest\.json cannot be read \(EACCES\); fix its permissions$/ });
  });

  it('builds a valid bundle, round-trips it, and eval reports the contract fields', async () => {
    const out = path.join(dir, 'bundle');
    const b = await cli('build', model, '--data', `raw:${data}:3x8x8#0-199`, '--out', out, ...fast, '--json');
    assert.equal(b.code, 0, b.stderr);
    const report = JSON.parse(b.stdout);
    assert.equal(report.report.samples, 200);
    const bundle = await loadBundle(out);
    assert.equal(bundle.manifest.format, 'layercache.bundle/1');
    assert.equal(bundle.manifest.candidates.length, 3);
    assert.equal(bundle.segments.length, bundle.manifest.exits.length + 1);
    // --cv-folds left open resolves by the build's size (200 samples: 2), and the manifest records the number used.
    assert.equal(bundle.manifest.build.cvFolds, 2);

    // Round trip: saving the loaded bundle again and loading it gives the same manifest and answers.
    const copy = path.join(dir, 'copy');
    await saveBundle(copy, bundle.manifest, bundle);
    const again = await loadBundle(copy);
    assert.deepEqual(again.manifest, bundle.manifest);
    const x = { dtype: 'float32' as const, dims: [5, 3, 8, 8], data: randomNormal(seededRng(4), 5 * 192) };
    const c1 = await Cascade.fromBundle(bundle, { intraOpThreads: 1, graphOptimization: 'all' });
    const c2 = await Cascade.fromBundle(again, { intraOpThreads: 1, graphOptimization: 'all' });
    assert.deepEqual((await c1.run(x)).map((r) => [r.classIndex, r.exit]), (await c2.run(x)).map((r) => [r.classIndex, r.exit]));
    await c1.release();
    await c2.release();
    // From code: an edited manifest the schema refuses, or files that do not match it, name the problem; nothing is written.
    const bad = { ...bundle.manifest, format: 'layercache.bundle/2' as unknown as typeof bundle.manifest.format };
    await assert.rejects(saveBundle(path.join(dir, 'bad'), bad, bundle), { code: 'BUNDLE_INVALID', message: /^refusing to save an invalid manifest: format: .*; pass the manifest of a build/ });
    await assert.rejects(saveBundle(path.join(dir, 'bad'), bundle.manifest, { ...bundle, segments: bundle.segments.slice(1) }), {
      code: 'ARGUMENT_INVALID', message: new RegExp(`files\\.segments is an array of ${bundle.segments.length - 1}; give the ${bundle.segments.length} models of the manifest's segments`),
    });
    await assert.rejects(fs.access(path.join(dir, 'bad')), 'nothing is written');

    const e = await cli('eval', out, '--data', `raw:${data}:3x8x8#200-299`, '--json', '--baseline', 'paper', '--latency-samples', '20', '--threads', '1');
    assert.equal(e.code, 0, e.stderr);
    const j = JSON.parse(e.stdout);
    assert.equal(j.samples, 100);
    for (const key of ['accuracy', 'macsPerSample', 'latencyMs', 'throughputBatch64']) assert.ok(key in j.backbone, key);
    for (const key of ['agreement', 'accuracy', 'macsPerSample', 'latencyMs', 'throughputBatch64', 'exitRates']) assert.ok(key in j.cached, key);
    for (const key of ['p50', 'p95', 'p99', 'mean']) assert.equal(typeof j.cached.latencyMs[key], 'number');
    // The latency saving is that of the means; 20 timed samples make one block, too few for an interval.
    assert.ok(Math.abs(j.latencySaved.saved - (1 - j.cached.latencyMs.mean / j.backbone.latencyMs.mean)) < 1e-9, JSON.stringify(j.latencySaved));
    assert.equal(j.latencySaved.blocks, 1);
    assert.equal(j.latencySaved.ci95, null);
    assert.equal(j.backbone.accuracy, null, 'raw data has no labels');
    assert.ok(j.cached.agreement >= 0 && j.cached.agreement <= 1);
    assert.ok(j.oracle.macsPerSample <= j.backbone.macsPerSample);
    assert.ok('paperBaseline' in j && j.paperBaseline.exitRates.length === 3);
    // At the threshold the build chose for it, and it says so.
    assert.equal(j.paperBaseline.thresholdFrom, 'build');
    assert.equal(j.paperBaseline.threshold, (bundle.manifest.metrics.paperRule as { threshold: number }).threshold);
    // The paper rule is timed against its own run of the backbone, not the bundle's.
    assert.ok(j.paperBaseline.pairedBackbone.latencyMs.mean > 0 && j.paperBaseline.pairedBackbone.throughputBatch64 > 0);
    assert.equal(j.cached.exitRates.length, bundle.manifest.exits.length);
    // As text, the table shows that run of the backbone beside the rule; more --latency-samples than the data holds
    // asks for more data, not for more --latency-samples.
    const text = await cli('eval', out, '--data', `raw:${data}:3x8x8#200-299`, '--baseline', 'paper', '--latency-samples', '500', '--threads', '1', '--timing-instances', '1');
    assert.equal(text.code, 0, text.stderr);
    assert.match(text.stdout, /│ backbone, timed beside the paper rule +│ 100\.0% /);
    assert.match(text.stdout, /│ paper rule \(p ≥ (0\.\d{5}|1 − \d\.\de-\d+)\) +│/);
    assert.match(text.stdout, /no interval: \d+ paired blocks? of \d+ samples; evaluate on more data \(all 100 samples were timed\)/);
    // Headroom: every candidate head on these samples, and the in-sample best at the build tolerance.
    assert.equal(j.headroom.tolerance, bundle.manifest.build.tolerance);
    assert.deepEqual(j.headroom.exits.map((x: { candidate: number }) => x.candidate), bundle.manifest.candidates.map((c) => c.candidate));
    // A head cannot answer more agreeing samples than it has: answerable · (1 − tolerance) ≤ agreement.
    for (const x of j.headroom.exits) assert.ok(x.answerable >= 0 && x.answerable * (1 - j.headroom.tolerance) <= x.agreement + 1e-9, JSON.stringify(x));
    assert.ok(j.headroom.inSampleBest.agreement >= 1 - j.headroom.tolerance - 1e-9);
    assert.ok(j.headroom.inSampleBest.macsPerSample <= j.backbone.macsPerSample + 1e-9);

    // Timing rotates over equivalent instances of each side; the answers do not depend on how many.
    const held = await openDataSource(`raw:${data}:3x8x8#200-299`, IDENTITY_PREPROCESS);
    const opts = { engine: { intraOpThreads: 1, graphOptimization: 'all' } as const, progress: SILENT, latencySamples: 100, paper: false } as const;
    const answers = (r: EvalReport) => [r.cached.agreement, r.cached.exitRates, r.cached.macsPerSample, r.latencySamples, r.latencyTrace.cached.length];
    assert.deepEqual(answers(await evaluateBundle(bundle, held, { ...opts, timingInstances: 3 })), answers(await evaluateBundle(bundle, held, { ...opts, timingInstances: 1 })));
    // From code too, samples of another shape are refused before anything runs.
    const otherShape = await openDataSource(`raw:${data}:3x16x4#0-99`, IDENTITY_PREPROCESS);
    await assert.rejects(evaluateBundle(bundle, otherShape, opts), { code: 'DATA_SHAPE_MISMATCH', message: /gives samples of shape \[3, 16, 4\] but the bundle's model expects \[3, 8, 8\]/ });
    await assert.rejects(evaluateBundle(bundle, memorySource(new Float32Array(0), [3, 8, 8], 'no rows'), opts), { code: 'DATA_SPEC_INVALID', message: /data 'no rows' gives no samples/ });
    // No batch-1 samples to time is refused at once, not found out after the whole evaluation.
    await assert.rejects(evaluateBundle(bundle, held, { ...opts, latencySamples: 0 }), { code: 'CONFIG_INVALID', message: /latencySamples 0 must be a positive integer/ });
    const empty = path.join(dir, 'empty.f32');
    await fs.writeFile(empty, new Uint8Array(0));
    await assert.rejects(openDataSource(`raw:${empty}:3x8x8`, IDENTITY_PREPROCESS), { code: 'DATA_SPEC_INVALID', message: /is an empty file: it holds no samples/ });

    // The report command writes the HTML report and, with --json, the same evaluation plus its path.
    const html = path.join(dir, 'report.html');
    const r = await cli('report', out, '--data', `raw:${data}:3x8x8#200-299`, '--out', html, '--json', '--latency-samples', '20', '--threads', '1');
    assert.equal(r.code, 0, r.stderr);
    const rj = JSON.parse(r.stdout);
    assert.equal(rj.report, html);
    assert.equal(rj.samples, 100);
    assert.match(await fs.readFile(html, 'utf8'), /<figure id="pareto-macs" class="chart"><h2>[^<]+<\/h2><svg/);

    // An existing report is replaced only with --force, a directory or a path under a file never; all refused before any evaluation.
    const reportArgs = ['--data', `raw:${data}:3x8x8#200-209`, '--latency-samples', '2', '--threads', '1'];
    const existing = await cli('report', out, ...reportArgs, '--out', html);
    assert.match(existing.stderr, /^layercache: error OUTPUT_EXISTS: --out .*report\.html already exists; choose another path or pass --force/);
    assert.equal(existing.code, 2);
    const forced = await cli('report', out, ...reportArgs, '--out', html, '--force');
    assert.equal(forced.code, 0, forced.stderr);
    assert.match(forced.stdout, /agreement[\s\S]*MACs saved[\s\S]*wrote .*report\.html/, 'report prints the figures it wrote');
    assert.match((await cli('report', out, ...reportArgs, '--out', dir)).stderr, /OUTPUT_EXISTS: --out .* is a directory; give a file path/);
    assert.match((await cli('report', out, ...reportArgs, '--out', path.join(html, 'x.html'))).stderr, /OUTPUT_EXISTS: --out .*x\.html cannot be created: .*report\.html is a file/);
    assert.match((await cli('eval', out, ...reportArgs, '--html', dir)).stderr, /OUTPUT_EXISTS: --html .* is a directory/);
    // Not even with --force over a file that is no report: the data file given by mistake stays as it was.
    const dataBefore = await fs.readFile(data);
    assert.match((await cli('report', out, ...reportArgs, '--out', data, '--force')).stderr, /^layercache: error OUTPUT_EXISTS: --out .* exists and is not a layercache report, so it is not replaced even with --force/);
    assert.ok((await fs.readFile(data)).equals(dataBefore));
  });

  it('eval --html that cannot be written fails after printing the figures (a full disk does not lose the evaluation)', async (t) => {
    const out = path.join(dir, 'bundle');
    const html = path.join(dir, 'full-disk.html');
    const open = fs.open.bind(fs);
    t.mock.method(fs, 'open', (async (file: string, ...rest: unknown[]) => {
      if (String(file).startsWith(`${html}.tmp-`)) throw Object.assign(new Error('ENOSPC: no space left on device'), { code: 'ENOSPC' });
      return (open as (...a: unknown[]) => Promise<unknown>)(file, ...rest);
    }) as typeof fs.open);
    const args = ['--data', `raw:${data}:3x8x8#200-209`, '--latency-samples', '2', '--threads', '1', '--html', html];
    const text = await cli('eval', out, ...args);
    assert.equal(text.code, 1);
    assert.match(text.stdout, /agreement[\s\S]*MACs saved/);
    assert.doesNotMatch(text.stdout, /wrote /);
    assert.match(text.stderr, /\nlayercache: error FILE_WRITE_FAILED: could not write .*full-disk\.html \(ENOSPC\): the disk is full; free space there, or write elsewhere; nothing was written\n$/);
    const json = await cli('eval', out, ...args, '--json');
    assert.equal(json.code, 1);
    const figures = JSON.parse(json.stdout) as Record<string, unknown>;
    assert.equal(figures.samples, 10);
    assert.equal(figures.report, undefined, 'no report named that was not written');
    await assert.rejects(fs.access(html));
  });

  it('--latency-profile: a second build reuses every latency and runtime check of the first, and chooses the same bundle', async (t) => {
    // A model whose one exit pays, so the selection keeps it and checks the cascade on the runtime.
    const heavy = path.join(dir, 'heavy.onnx');
    await saveModel(heavyTail().model, heavy);
    const rows = path.join(dir, 'rows.f32');
    await fs.writeFile(rows, randomNormal(seededRng(9), 200 * 8));
    const profile = path.join(dir, 'profiles', 'latency.json');
    await fs.mkdir(path.dirname(profile));
    const args = (out: string) => ['build', heavy, '--data', `raw:${rows}:8#0-199`, '--out', path.join(dir, out), ...fast, '--epochs', '40', '--latency-profile', profile, '--json'];
    const run = async (out: string) => {
      const b = await cli(...args(out));
      assert.equal(b.code, 0, b.stderr);
      return { report: JSON.parse(b.stdout).report, manifest: (await loadBundle(path.join(dir, out))).manifest, stderr: b.stderr };
    };
    const first = await run('profiled-1');
    assert.equal(first.report.latencyReused.exits, false);
    const stored = JSON.parse(await fs.readFile(profile, 'utf8'));
    assert.equal(stored.format, 'layercache.latency-profile/1');
    assert.equal(stored.key.batch, 1);
    assert.deepEqual(Object.keys(stored.toExitMs), ['stem']);
    assert.deepEqual(first.manifest.exits.map((e) => e.tensor), ['stem']);
    // Read where it cannot be saved (a shared, read-only profile): used, not refused.
    const access = fs.access;
    const readOnly = t.mock.method(fs, 'access', async (p: string, mode?: number) => {
      if (p === path.dirname(profile)) throw Object.assign(new Error(`EACCES: permission denied, access '${p}'`), { code: 'EACCES' });
      return access(p, mode);
    });
    const second = await run('profiled-2');
    readOnly.mock.restore();
    assert.deepEqual(second.report.latencyReused, { exits: true, heads: first.report.latencyReused.of, of: first.report.latencyReused.of });
    assert.ok(first.report.checks.length > 0 && second.report.checks.every((c: { reused: boolean }) => c.reused));
    assert.deepEqual(second.report.checks.map((c: { ratio: number }) => c.ratio), first.report.checks.map((c: { ratio: number }) => c.ratio));
    const choice = (m: typeof first.manifest) => m.exits.map((e) => [e.candidate, e.threshold, e.costMs]);
    assert.deepEqual(choice(second.manifest), choice(first.manifest));
    assert.deepEqual(second.report.candidates.map((c: { latencyMs: number }) => c.latencyMs), first.report.candidates.map((c: { latencyMs: number }) => c.latencyMs));
    // A profile of other conditions (here another batch size) is not used: the build measures again and says why.
    const other = await cli(...args('profiled-3'), '--batch', '4');
    assert.equal(other.code, 0, other.stderr);
    assert.equal(JSON.parse(other.stdout).report.latencyReused.exits, false);
    assert.match(other.stderr, /measured under other conditions \(batch: 1 ≠ 4\)/);
    assert.equal(JSON.parse(await fs.readFile(profile, 'utf8')).key.batch, 4, 'the profile of the latest conditions replaces it');
  });

  it('tensor data records no preprocessing but its --layout still steers the augmented copies (and refuses a layout they do not fit)', async () => {
    // One latency profile for all three builds, so that timing noise cannot change their choices (see --latency-profile below).
    const profile = path.join(dir, 'layout-profile.json');
    let k = 0;
    const heads = async (layout: string): Promise<string> => {
      const out = path.join(dir, `layout-${k++}`);
      const b = await cli('build', model, '--data', `raw:${data}:3x8x8#0-63`, '--out', out, ...fast, '--augment', 'flip', '--layout', layout, '--latency-profile', profile);
      assert.equal(b.code, 0, b.stderr);
      assert.equal((await loadBundle(out)).manifest.preprocess, null);
      // Every candidate's head is saved, kept or not.
      const files = (await fs.readdir(path.join(out, 'candidates'))).sort();
      assert.ok(files.length > 0);
      return (await Promise.all(files.map((f) => fs.readFile(path.join(out, 'candidates', f))))).map((x) => x.toString('base64')).join();
    };
    const nchw = await heads('nchw');
    assert.equal(await heads('nchw'), nchw, 'with a shared profile a build is repeatable');
    // As nhwc, these [3, 8, 8] tensors would be mirrored along their 8 "channels": the copies follow --layout, which
    // refuses what it cannot mirror rather than swapping channels.
    const wrong = await cli('build', model, '--data', `raw:${data}:3x8x8#0-63`, '--out', path.join(dir, 'layout-nhwc'), ...fast, '--augment', 'flip', '--layout', 'nhwc', '--latency-profile', profile);
    assert.equal(wrong.code, 2, wrong.stderr);
    assert.match(wrong.stderr, /^layercache: error DATA_SHAPE_MISMATCH: --augment flip mirrors and shifts the spatial axes of nhwc samples, but .* has \[3, 8, 8\], which looks nchw \(3 channels\); give --layout nchw/m);
  });

  it('a bundle that keeps no exit expects 100% agreement, and says so', async () => {
    const out = path.join(dir, 'none-kept');
    const b = await cli('build', model, '--data', `raw:${data}:3x8x8#0-63`, '--out', out, ...fast, '--tolerance', '0.0001', '--json');
    assert.equal(b.code, 0, b.stderr);
    const selected = JSON.parse(b.stdout).report.selected;
    assert.deepEqual(selected.exits, [], 'the fixture keeps no exit at this tolerance');
    assert.equal(selected.estimatedAgreement, 1);
    assert.equal(selected.crossValidatedAgreement, 1);
    // 64 samples of 5 classes: the build says the data is thin for that many classes.
    assert.match(b.stderr, /64 samples for 5 classes \(12\.8 per class\): the heads see few answers of each class, so expect few or no exits; give at least 100 samples/);
  });

  it('bad build inputs: clear errors and no partial bundle', async () => {
    const out = path.join(dir, 'bad');
    const cases: [string[], string, RegExp][] = [
      [['--data', `raw:${data}:3x4x4#0-99`], 'DATA_SHAPE_MISMATCH', /\[3, 4, 4\].*\[3, 8, 8\]/],
      [['--data', `raw:${data}:3x8x8#50-40`], 'DATA_SPEC_INVALID', /empty range/],
      [['--data', `raw:${data}:3x8x8#0-5000`], 'DATA_SPEC_INVALID', /holds 300/],
      [['--data', `raw:${data}:3x8x8#0-99`, '--tolerance', '1.5'], 'USAGE', /--tolerance 1\.5 is outside \(0, 1\)/],
      [['--data', `raw:${data}:3x8x8#0-99`, '--tolerance', '0'], 'USAGE', /outside \(0, 1\)/],
      [['--data', `nope:${data}`], 'DATA_SPEC_INVALID', /unknown kind 'nope'/],
      [['--data', `raw:${data}:3x8x8#0-99`, '--score', 'entropy'], 'USAGE', /--score 'entropy' is not one of max, margin, temperature/],
      [['--data', `raw:${data}:3x8x8#0-99`, '--augment', 'rotate'], 'USAGE', /--augment 'rotate'/],
      [['--data', `raw:${data}:3x8x8#0-99`, '--augment', 'flip,random:0'], 'USAGE', /--augment entry 'random:0' is not NAME or NAME:COUNT/],
      [['--data', `raw:${data}:3x8x8#5-5`], 'DATA_SPEC_INVALID', /gives 1 samples; a build with 3 folds needs at least 32/],
      [['--data', `raw:${data}:3x8x8#0-99`, '--epochs', '0'], 'USAGE', /--epochs '0' is not a positive integer/],
      [['--data', `raw:${data}:3x8x8#0-99`, '--image-size', '16x16'], 'USAGE', /--image-size applies to folder: data, which is resized to it; 'raw:.*' has its own size: drop the flag/],
      // Written before the bundle, inside --out it would make the save fail after the whole build.
      [['--data', `raw:${data}:3x8x8#0-99`, '--latency-profile', path.join(out, 'latency.json')], 'USAGE', /--latency-profile .*latency\.json lies inside --out/],
      // One that cannot be written would only be a warning after the build.
      [['--data', `raw:${data}:3x8x8#0-99`, '--latency-profile', dir], 'OUTPUT_EXISTS', /--latency-profile .* is a directory; give a file path/],
      // A stream is refused before it is read (a profile read from it once could be neither read again nor saved).
      [['--data', `raw:${data}:3x8x8#0-99`, '--latency-profile', '/dev/stdin'], 'OUTPUT_EXISTS', /--latency-profile \/dev\/stdin leads into \/dev or \/proc/],
      [['--data', `raw:${data}:3x8x8#0-99`, '--latency-profile', path.join(data, 'latency.json')], 'OUTPUT_EXISTS', /--latency-profile .*latency\.json cannot be created: .* is a file, not a directory/],
    ];
    for (const [args, code, pattern] of cases) {
      const r = await cli('build', model, '--out', out, ...args);
      assert.equal(r.code, 2, `${args.join(' ')}: ${r.stderr}`);
      assert.match(r.stderr, new RegExp(`^layercache: error ${code}: `));
      assert.match(r.stderr, pattern);
      await assert.rejects(fs.stat(out), { code: 'ENOENT' });
    }
    // CIFAR images with no normalisation given: a warning (here before the shape error of this 8×8 model).
    const cifar = path.join(dir, 'fake.cifar.bin');
    await fs.writeFile(cifar, Buffer.alloc(40 * 3073));
    const raw = await cli('build', model, '--out', out, '--data', `cifar10:${cifar}#0-39`);
    assert.match(raw.stderr, /^layercache: warning: no --scale, --mean or --std: images reach the model as raw 0–255 pixel values/);
    assert.match(raw.stderr, /error DATA_SHAPE_MISMATCH/);
    const normalised = await cli('build', model, '--out', out, '--data', `cifar10:${cifar}#0-39`, '--scale', '255');
    assert.doesNotMatch(normalised.stderr, /warning/);
    // An occupied --out is refused before any work.
    const occupied = path.join(dir, 'occupied');
    await fs.mkdir(occupied);
    await fs.writeFile(path.join(occupied, 'keep'), 'x');
    const busy = await cli('build', model, '--out', `${occupied}/`, '--data', `raw:${data}:3x8x8#0-99`, ...fast);
    assert.match(busy.stderr, /^layercache: error OUTPUT_EXISTS: .*--force/);
    assert.deepEqual(await fs.readdir(occupied), ['keep']);
    // With --force, a directory of other files is refused even when it holds a manifest.json (a web app's), or a
    // bundle's manifest beside files a bundle never holds: replacing it would delete them.
    await fs.writeFile(path.join(occupied, 'manifest.json'), '{"name": "My PWA"}');
    assert.match((await cli('build', model, '--out', occupied, '--force', '--data', `raw:${data}:3x8x8#0-99`, ...fast)).stderr, /^layercache: error OUTPUT_EXISTS: output directory .* is not a layercache bundle \(its manifest\.json is not a layercache bundle's\)/);
    await fs.writeFile(path.join(occupied, 'manifest.json'), '{"format": "layercache.bundle/1"}');
    assert.match((await cli('build', model, '--out', occupied, '--force', '--data', `raw:${data}:3x8x8#0-99`, ...fast)).stderr, /^layercache: error OUTPUT_EXISTS: output directory .* holds 'keep', which a layercache bundle does not/);
    assert.deepEqual((await fs.readdir(occupied)).sort(), ['keep', 'manifest.json']);
    await fs.rm(path.join(occupied, 'manifest.json'));
    // So is an --out that is a file.
    const file = path.join(occupied, 'keep');
    const onFile = await cli('build', model, '--out', file, '--data', `raw:${data}:3x8x8#0-99`, ...fast);
    assert.match(onFile.stderr, /^layercache: error OUTPUT_EXISTS: output .*keep is a file, not a directory/);
    assert.equal(await fs.readFile(file, 'utf8'), 'x');
    // Under a file: the file in the way is named, not the path asked for.
    const underFile = await cli('build', model, '--out', path.join(file, 'sub'), '--data', `raw:${data}:3x8x8#0-99`, ...fast);
    assert.match(underFile.stderr, /^layercache: error OUTPUT_EXISTS: output .*keep\/sub cannot be created: .*keep is a file, not a directory/);
    // A model whose class scores are NaN on some samples: refused, naming the first (it built, then eval said 100%).
    const nanModel = path.join(dir, 'nan-above-100.onnx');
    await saveModel(nanAbove100().model, nanModel);
    const nanData = path.join(dir, 'nan-samples.f32');
    await fs.writeFile(nanData, Buffer.from(Float32Array.from({ length: 60 * 6 }, (_, i) => (i === 37 * 6 ? 1000 : ((i * 7919) % 1000) / 1000)).buffer));
    const nan = await cli('build', nanModel, '--out', out, '--data', `raw:${nanData}:6#0-59`, ...fast);
    assert.equal(nan.code, 2, nan.stderr);
    assert.match(nan.stderr, /^layercache: error MODEL_OUTPUT_INVALID: the backbone's class scores for sample 37 of .* are not finite numbers/m);
    await assert.rejects(fs.stat(out), { code: 'ENOENT' });
    // Built on samples it answers, evaluated on one it cannot: eval refuses too (it reported 100% agreement).
    const nanBundle = path.join(dir, 'nan-bundle');
    assert.equal((await cli('build', nanModel, '--out', nanBundle, '--data', `raw:${nanData}:6#0-36`, ...fast)).code, 0);
    const nanEval = await cli('eval', nanBundle, '--data', `raw:${nanData}:6#30-45`, '--latency-samples', '2', '--threads', '1');
    assert.equal(nanEval.code, 2, nanEval.stderr);
    assert.match(nanEval.stderr, /^layercache: error MODEL_OUTPUT_INVALID: the backbone's class scores for sample 7 of .*#30-45' are not finite numbers/m);
    const leftovers = (await fs.readdir(dir)).filter((f) => f.includes('.tmp-'));
    assert.deepEqual(leftovers, []);
  });

  it('bad eval inputs: missing bundle, corrupted file, bundle built for another model', async () => {
    const out = path.join(dir, 'bundle2');
    assert.equal((await cli('build', model, '--data', `raw:${data}:3x8x8#0-149`, '--out', out, ...fast)).code, 0);
    const evalArgs = ['--data', `raw:${data}:3x8x8#150-159`, '--latency-samples', '2', '--threads', '1'];

    // Built from tensors: no preprocessing recorded, and images are refused rather than fed as raw pixels.
    assert.equal((await loadBundle(out)).manifest.preprocess, null);
    const images = await cli('eval', out, '--data', `cifar10:${path.join(dir, 'images.bin')}#0-9`, '--latency-samples', '2');
    assert.match(images.stderr, /^layercache: error DATA_SPEC_INVALID: bundle .* was built from tensors .*records no image preprocessing.*npy: or raw:/);
    assert.equal(images.code, 2);

    const none = await cli('eval', out, '--data', `raw:${data}:3x8x8#0-9`, '--latency-samples', '0');
    assert.match(none.stderr, /^layercache: error USAGE: --latency-samples '0' is not a positive integer/);

    // A report inside the bundle would replace its manifest (with --force): refused, the bundle intact.
    const manifestFile = path.join(out, 'manifest.json');
    const manifestBefore = await fs.readFile(manifestFile, 'utf8');
    const inside = await cli('report', out, ...evalArgs, '--out', manifestFile, '--force');
    assert.match(inside.stderr, /^layercache: error USAGE: --out .*manifest\.json lies inside the bundle .*; write the report beside it/);
    assert.equal(await fs.readFile(manifestFile, 'utf8'), manifestBefore);
    // Serving a bundle, preprocessing flags would do nothing: refused, as --scores-output is.
    const flags = await cli('serve', out, '--scale', '255', '--layout', 'nhwc', '--state', path.join(dir, 'flags-state'));
    assert.match(flags.stderr, /^layercache: error USAGE: --scale, --layout apply when serving a model; bundle .* preprocesses inputs as recorded in its manifest\.json/);

    const missing = await cli('eval', path.join(dir, 'nowhere'), ...evalArgs);
    assert.match(missing.stderr, /^layercache: error BUNDLE_NOT_FOUND: .*nowhere/);

    const other = path.join(dir, 'other.onnx');
    await saveModel(mlp().model, other);
    // The model given where the bundle goes: said so, not an errno.
    const file = await cli('eval', other, ...evalArgs);
    assert.match(file.stderr, /^layercache: error BUNDLE_NOT_FOUND: .*other\.onnx is a file, not a bundle directory; pass the directory `layercache build --out` wrote/);
    const mismatch = await cli('eval', out, ...evalArgs, '--model', other);
    assert.match(mismatch.stderr, /^layercache: error BUNDLE_MODEL_MISMATCH: .*other\.onnx/);
    assert.equal((await cli('eval', out, ...evalArgs, '--model', model)).code, 0);

    // Labels with more classes than the model answers (class folders): accuracy would compare the wrong classes, so
    // it is not reported; agreement still is.
    const samples = new Float32Array((await fs.readFile(data)).buffer.slice(0, 24 * 3 * 8 * 8 * 4));
    const twelve = { ...memorySource(samples, [3, 8, 8], 'twelve class folders'), labels: Int32Array.from({ length: 24 }, (_, i) => i % 12) };
    const notes: string[] = [];
    const progress = { ...SILENT, note: (text: string) => void notes.push(text) };
    const twelveReport = await evaluateBundle(await loadBundle(out), twelve, { engine: DEFAULT_ENGINE_OPTIONS, progress, latencySamples: 2, paper: false, timingInstances: 1 });
    assert.deepEqual([twelveReport.backbone.accuracy, twelveReport.cached.accuracy], [null, null]);
    assert.ok(twelveReport.cached.agreement > 0, 'agreement is still measured');
    assert.ok(notes.some((n) => /labels its samples with up to 12 classes, but the model answers 5: accuracy against those labels is not reported/.test(n)), notes.join('\n'));

    // A kept exit that is not one of the listed candidates (every file intact).
    const forced = path.join(dir, 'forced2');
    await saveWithForcedExit(await loadBundle(out), 0, 0, forced);
    const forcedManifest = JSON.parse(await fs.readFile(path.join(forced, 'manifest.json'), 'utf8'));
    forcedManifest.exits[0].candidate = 99;
    await fs.writeFile(path.join(forced, 'manifest.json'), JSON.stringify(forcedManifest));
    assert.match((await cli('eval', forced, ...evalArgs)).stderr, /^layercache: error BUNDLE_INVALID: .*exit 0 names candidate 99/);
    // A backbone that is not the model the bundle was built from (its own hash updated to match).
    forcedManifest.exits[0].candidate = 0;
    forcedManifest.source.sha256 = 'f'.repeat(64);
    await fs.writeFile(path.join(forced, 'manifest.json'), JSON.stringify(forcedManifest));
    assert.match((await cli('eval', forced, ...evalArgs)).stderr, /^layercache: error BUNDLE_INVALID: .*backbone file's sha256 .* is not the source model's ffffffffffff/);
    forcedManifest.source.sha256 = forcedManifest.source.backbone.sha256;
    // A class count that disagrees with the heads (the server answered 500 to every request, eval failed INTERNAL).
    forcedManifest.source.classes = 3;
    await fs.writeFile(path.join(forced, 'manifest.json'), JSON.stringify(forcedManifest));
    assert.match((await cli('eval', forced, ...evalArgs)).stderr, /^layercache: error BUNDLE_INVALID: .*answers 5 classes but the manifest says the model has 3/);
    forcedManifest.source.classes = 5;
    // A reading that does not fit the backbone (a Softmax node it does not have): the bundle's fault, not INTERNAL.
    const reading = forcedManifest.source.reading;
    forcedManifest.source.reading = { ...reading, logits: { kind: 'softmax', node: 'nope' } };
    await fs.writeFile(path.join(forced, 'manifest.json'), JSON.stringify(forcedManifest));
    assert.match((await cli('eval', forced, ...evalArgs)).stderr, /^layercache: error BUNDLE_INVALID: .*the manifest's source\.reading does not fit its backbone .*rebuild it/);
    forcedManifest.source.reading = reading;
    // Preprocessing that does not fit the model's 3-channel images: the manifest's fault (eval has no --mean to blame).
    forcedManifest.preprocess = { scale: 255, mean: [0.5, 0.5], std: [0.25], layout: 'nchw' };
    await fs.writeFile(path.join(forced, 'manifest.json'), JSON.stringify(forcedManifest));
    assert.match((await cli('eval', forced, ...evalArgs)).stderr, /^layercache: error BUNDLE_INVALID: .*its manifest's preprocessing mean 0\.5,0\.5 has 2 values but the images have 3 channels.*rebuild it/);
    forcedManifest.preprocess = null;
    // A file reference outside the bundle directory.
    const headFile = forcedManifest.exits[0].head.file;
    forcedManifest.exits[0].head.file = `../${path.basename(out)}/${headFile}`;
    await fs.writeFile(path.join(forced, 'manifest.json'), JSON.stringify(forcedManifest));
    assert.match((await cli('eval', forced, ...evalArgs)).stderr, /^layercache: error BUNDLE_INVALID: .*exits\.0\.head\.file must be a path inside the bundle directory/);
    // A head that is not ONNX, its hash updated to match: the bundle's fault, not an ONNX parse error of the user's model.
    forcedManifest.exits[0].head.file = headFile;
    const junk = Buffer.from('not an onnx model');
    await fs.writeFile(path.join(forced, headFile), junk);
    forcedManifest.exits[0].head.sha256 = createHash('sha256').update(junk).digest('hex');
    await fs.writeFile(path.join(forced, 'manifest.json'), JSON.stringify(forcedManifest));
    assert.match((await cli('eval', forced, ...evalArgs)).stderr, /^layercache: error BUNDLE_INVALID: .*head .* is not an ONNX model .*rebuild the bundle/);

    const manifest = JSON.parse(await fs.readFile(path.join(out, 'manifest.json'), 'utf8'));
    const seg = path.join(out, manifest.segments[0].file);
    const bytes = await fs.readFile(seg);
    bytes[bytes.length - 1] = bytes[bytes.length - 1]! ^ 0xff;
    await fs.writeFile(seg, bytes);
    const corrupted = await cli('eval', out, ...evalArgs);
    assert.match(corrupted.stderr, /^layercache: error BUNDLE_INVALID: .*segment_00\.onnx is corrupted/);

    await fs.writeFile(path.join(out, 'manifest.json'), '{ "format": "layercache.bundle/1", ');
    assert.match((await cli('eval', out, ...evalArgs)).stderr, /^layercache: error BUNDLE_INVALID: .*not valid JSON/);
  });
});
