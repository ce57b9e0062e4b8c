import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { before, describe, it } from 'node:test';
import { loadBundle, type LoadedBundle } from '../bundle/index.ts';
import { IDENTITY_PREPROCESS, openDataSource } from '../data/index.ts';
import { saveModel } from '../onnx/index.ts';
import { SILENT } from '../progress/index.ts';
import { percentile, randomNormal, seededRng, type Tensor } from '../tensor/index.ts';
import { Cascade } from '../cascade/index.ts';
import { evaluateBundle, type EvalReport } from './evaluate.ts';
import { MAX_THROUGHPUT_PASSES } from './side-by-side.ts';
import { cli } from '../../test/support/cli.ts';
import { saveWithForcedExit } from '../../test/support/forced-exit.ts';
import { heavyTail } from '../../test/support/models.ts';
import { tempDir } from '../../test/support/temp-dir.ts';

/**
 * eval's figures against identities they must meet, on a one-exit bundle whose threshold is set by hand: MACs per
 * sample from the exit rates and the costs in the manifest, agreement from the per-exit agreements, the latency
 * statistics from the trace, and the oracle the same over any split of the samples into batches.
 */
/** A log-odds threshold that some of these rows' scores at the exit reach and some do not (seeded data). */
const MID = 1;

describe('evaluateBundle figures', () => {
  let dir: string;
  let data: string;
  let built: LoadedBundle;
  const evaluate = async (bundleDir: string, range: string): Promise<EvalReport> => {
    const source = await openDataSource(`raw:${data}:8#${range}`, IDENTITY_PREPROCESS);
    return evaluateBundle(await loadBundle(bundleDir), source, { engine: { intraOpThreads: 1, graphOptimization: 'all' }, progress: SILENT, latencySamples: 20, paper: false, timingInstances: 1 });
  };
  const forced = async (name: string, threshold: number): Promise<string> => {
    const out = path.join(dir, name);
    await saveWithForcedExit(built, 0, threshold, out);
    return out;
  };

  before(async () => {
    dir = await tempDir('eval-figures');
    const model = path.join(dir, 'tiny.onnx');
    // Its classes vary over random inputs (test/support/models.test.ts), so agreement below 1 is possible.
    await saveModel(heavyTail().model, model);
    data = path.join(dir, 'samples.f32');
    await fs.writeFile(data, randomNormal(seededRng(21), 200 * 8));
    const b = await cli('build', model, '--data', `raw:${data}:8#0-99`, '--out', path.join(dir, 'built'), '--folds', '2', '--epochs', '2', '--tolerance', '0.2', '--threads', '1');
    assert.equal(b.code, 0, b.stderr);
    built = await loadBundle(path.join(dir, 'built'));
  });

  it('refuses labels that are not one class index per sample (they scored accuracy 0), and a paper option of another value', async () => {
    const source = await openDataSource(`raw:${data}:8#100-119`, IDENTITY_PREPROCESS);
    const opts = { engine: { intraOpThreads: 1, graphOptimization: 'all' as const }, progress: SILENT, latencySamples: 5, paper: false as const, timingInstances: 1 };
    await assert.rejects(evaluateBundle(built, { ...source, labels: new Uint8Array(3) }, opts), { code: 'DATA_SPEC_INVALID', message: /has 3 labels for 20 samples; give one class index per sample, or labels: null/ });
    await assert.rejects(evaluateBundle(built, { ...source, labels: new Int32Array(20).fill(-1) }, opts), { code: 'DATA_SPEC_INVALID', message: /labels sample 0 as -1; labels are class indices from 0/ });
    // From code, a paper option of another value was read as 'match'.
    await assert.rejects(evaluateBundle(built, source, { ...opts, paper: 'nope' as never }), { code: 'CONFIG_INVALID', message: /paper "nope" must be false, 'build' .* or 'match'/ });
  });

  it('charges MACs by exit rate, head included, and agreement by exit, at thresholds 0, never, and in between', { timeout: 120_000 }, async () => {
    const cand = built.manifest.candidates[0]!;
    const total = built.manifest.source.totalMacs;
    const [cum, head] = [cand.cumulativeMacs, cand.head.macs];
    const close = (a: number, b: number, what: string): void => assert.ok(Math.abs(a - b) <= 1e-9 * Math.max(1, Math.abs(b)), `${what}: ${a} vs ${b}`);

    const all = (await evaluate(await forced('all', 0), '100-199')).cached;
    assert.deepEqual([all.exitRates, all.fullRate], [[1], 0]);
    close(all.macsPerSample, cum + head, 'every row at the exit');
    close(all.exitAgreement[0]!, all.agreement, 'agreement is the exit\'s');
    assert.ok(all.agreement > 0 && all.agreement < 1, `a head that disagrees on some rows (${all.agreement}): the identities below are not trivial`);

    const none = (await evaluate(await forced('none', 1e30), '100-199')).cached;
    assert.deepEqual([none.exitRates, none.fullRate, none.agreement, none.exitAgreement], [[0], 1, 1, [null]]);
    close(none.macsPerSample, total + head, 'every row past the head to the end');

    // A threshold between the rows' scores: some exit, some go on.
    const mid = await evaluate(await forced('mid', MID), '100-199');
    const c = mid.cached;
    assert.ok(c.exitRates[0]! > 0 && c.fullRate > 0, `threshold 2 splits the rows: ${c.exitRates[0]} exit`);
    close(c.exitRates[0]! + c.fullRate, 1, 'every row once');
    close(c.macsPerSample, c.exitRates[0]! * (cum + head) + c.fullRate * (total + head), 'MACs by exit rate');
    close(1 - c.agreement, c.exitRates[0]! * (1 - c.exitAgreement[0]!), 'disagreement only where rows exit');
    close(mid.backbone.macsPerSample, total, 'the backbone');

    // Latency statistics are the trace's: nearest-rank percentiles and the mean.
    for (const [stats, trace] of [[c.latencyMs, mid.latencyTrace.cached], [mid.backbone.latencyMs, mid.latencyTrace.backbone]] as const) {
      assert.equal(trace.length, 20);
      assert.deepEqual([stats.p50, stats.p95, stats.p99], [percentile(trace, 0.5), percentile(trace, 0.95), percentile(trace, 0.99)]);
      close(stats.mean, trace.reduce((a, b) => a + b, 0) / trace.length, 'mean latency');
    }
  });

  it('times batch 64 over repeated passes (at most MAX_THROUGHPUT_PASSES), each with the input scan outside the clock', { timeout: 120_000 }, async (t) => {
    const source = await openDataSource(`raw:${data}:8#100-119`, IDENTITY_PREPROCESS);
    const calls: { rows: number; finiteChecked: boolean }[] = [];
    const run = Cascade.prototype.run;
    t.mock.method(Cascade.prototype, 'run', function (this: Cascade, x: Tensor, o: { finiteChecked?: boolean } = {}) {
      calls.push({ rows: x.dims[0]!, finiteChecked: o.finiteChecked ?? false });
      return run.call(this, x, o);
    });
    const opts = { engine: { intraOpThreads: 1, graphOptimization: 'all' as const }, progress: SILENT, latencySamples: 5, paper: false as const, timingInstances: 1 };
    // 20 samples: one batch of 20 rows per pass, after one untimed warm-up run per instance.
    for (const [throughputMs, passes] of [[0, 1], [1e9, MAX_THROUGHPUT_PASSES]] as const) {
      calls.length = 0;
      const r = await evaluateBundle(built, source, { ...opts, throughputMs });
      const batch64 = calls.filter((c) => c.rows === 20);
      assert.equal(batch64.length, 1 + passes, `throughputMs ${throughputMs}`);
      // The backbone side runs no such scan: every timed run of the bundle, batch 1 too, leaves it out.
      assert.ok(calls.slice(1).every((c) => c.finiteChecked), JSON.stringify(calls.slice(0, 8)));
      assert.equal(calls.filter((c) => c.rows === 1).length, 5 + Math.ceil(5 / 50));
      assert.ok(r.cached.throughputBatch64 > 0 && Number.isFinite(r.cached.throughputBatch64));
    }
    await assert.rejects(evaluateBundle(built, source, { ...opts, throughputMs: -1 }), { code: 'CONFIG_INVALID', message: /throughputMs -1 must be a number of milliseconds ≥ 0/ });
  });

  it('gives the same oracle and headroom over any split of the samples (rows are matched to their own reference)', { timeout: 120_000 }, async () => {
    const bundle = await forced('split', MID);
    const whole = await evaluate(bundle, '100-199');
    const first = await evaluate(bundle, '100-163');
    const rest = await evaluate(bundle, '164-199');
    const close = (a: number, b: number, what: string): void => assert.ok(Math.abs(a - b) <= 1e-6 * Math.max(1, Math.abs(b)), `${what}: ${a} vs ${b}`);
    // 100 rows run as batches of 64 and 36: a row compared with another batch's reference would show here.
    close(100 * whole.oracle.macsPerSample, 64 * first.oracle.macsPerSample + 36 * rest.oracle.macsPerSample, 'oracle');
    whole.headroom!.exits.forEach((x, e) => {
      close(100 * x.agreement, 64 * first.headroom!.exits[e]!.agreement + 36 * rest.headroom!.exits[e]!.agreement, `candidate ${e} agreement`);
    });
    close(100 * whole.cached.agreement, 64 * first.cached.agreement + 36 * rest.cached.agreement, 'agreement');
  });
});
