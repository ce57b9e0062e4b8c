/** `layercache eval`: backbone vs bundle, same run, same inputs. */
import path from 'node:path';
import Table from 'cli-table3';
import { loadBundle } from '../../bundle/index.ts';
import type { Config } from '../../config/index.ts';
import { IDENTITY_PREPROCESS, imageSizeOf, isImageSpec, openDataSource, specsOverlap } from '../../data/index.ts';
import { LayercacheError } from '../../errors/index.ts';
import { checkOutputFile, isWithin, realPath, sha256 } from '../../files/index.ts';
import { evaluateBundle, type EvalReport, type SystemFigures } from '../../evaluate/index.ts';
import { loadModelFile } from '../../onnx/index.ts';
import { REPORT_OUTPUT, writeReport } from '../../report/index.ts';
import { formatCount, formatMacsSaving, formatPercent, formatProbability, plural } from '../format.ts';
import type { CliIo } from '../io.ts';
import { terminalProgress } from '../progress-bars.ts';
import { lowerOrHigher, setPercent } from '../../tensor/index.ts';

export interface EvalCommandOptions {
  readonly data: string;
  readonly json: boolean;
  readonly baseline?: string;
  readonly model?: string;
  readonly latencySamples: number;
  /** Equivalent sessions of each side timed in rotation (default 3). */
  readonly timingInstances?: number;
  /** Also write the HTML report here. */
  readonly html?: string;
  /** Replace an existing `html` file. */
  readonly force?: boolean;
  /** The flag that named `html`, for errors (`--out` for the report command). */
  readonly htmlFlag?: string;
}

/**
 * The latency saving's interval in words: it covers this run only, and is absent over too few blocks. timed: the
 * samples timed at batch 1; samples: the data's (when all were timed, the data is what to enlarge).
 */
function savingInterval(p: EvalReport['latencySaved'], timed: number, samples: number): string {
  const blocks = `${plural(p.blocks, 'paired block')} of ${plural(Math.min(p.blockSize, timed), 'sample')}`;
  const more = timed >= samples ? `evaluate on more data (all ${timed} samples were timed)` : 'time more samples with --latency-samples';
  return p.ci95 === null
    ? `no interval: ${blocks}; ${more}`
    : `the saving's 95% interval in this run, over ${blocks}: ${formatPercent(p.ci95[0])} to ${formatPercent(p.ci95[1])}; separate runs can differ more`;
}

/** The `eval --json` contract (latency traces left out). */
export function evalJson(r: EvalReport): object {
  const { latencyTrace: _trace, ...rest } = r;
  void _trace;
  return rest;
}

export async function runEval(dir: string, opts: EvalCommandOptions, config: Config, io: CliIo): Promise<EvalReport> {
  if (opts.baseline !== undefined && opts.baseline !== 'paper') {
    throw new LayercacheError('USAGE', `--baseline '${opts.baseline}' is unknown; the only baseline is 'paper'`);
  }
  // A report path that cannot be written is refused before minutes of evaluation, not after; one inside the bundle
  // would replace one of its files (its manifest, with --force) or add a file it does not list.
  if (opts.html && isWithin(await realPath(opts.html), await realPath(dir))) {
    const beside = path.relative(process.cwd(), path.join(path.dirname(path.resolve(dir)), 'report.html'));
    throw new LayercacheError('USAGE', `${opts.htmlFlag ?? '--html'} ${opts.html} lies inside the bundle ${dir}; write the report beside it, e.g. ${opts.htmlFlag ?? '--html'} ${beside}`);
  }
  if (opts.html) await checkOutputFile(opts.html, opts.force ?? false, opts.htmlFlag ?? '--html', REPORT_OUTPUT);
  const bundle = await loadBundle(dir);
  if (opts.model) {
    const digest = sha256((await loadModelFile(opts.model)).bytes);
    if (digest !== bundle.manifest.source.sha256) {
      throw new LayercacheError('BUNDLE_MODEL_MISMATCH', `bundle ${dir} was built for ${bundle.manifest.source.file} (sha256 ${bundle.manifest.source.sha256.slice(0, 12)}…), not for ${opts.model} (sha256 ${digest.slice(0, 12)}…); rebuild the bundle for this model`);
    }
  }
  if (bundle.manifest.preprocess === null && isImageSpec(opts.data)) {
    throw new LayercacheError('DATA_SPEC_INVALID', `bundle ${dir} was built from tensors fed as they are, so it records no image preprocessing, and '${opts.data}' holds images; evaluate it on tensors preprocessed the same way (npy: or raw:), or rebuild it from images with --scale, --mean and --std`);
  }
  const built = bundle.manifest.build.data;
  if (typeof built === 'string' && await specsOverlap(opts.data, built) === true) {
    io.err(`layercache: warning: --data ${opts.data} overlaps the records the bundle was built from (${built}): its heads were trained and its thresholds chosen on them, so agreement and savings read higher there than on new inputs; evaluate on other records\n`);
  }
  const pre = bundle.manifest.preprocess ?? IDENTITY_PREPROCESS;
  const progress = terminalProgress(io, config);
  const data = await openDataSource(opts.data, pre, imageSizeOf(bundle.manifest.source.inputs[0]!.shape, pre.layout), progress);
  const report = await evaluateBundle(bundle, data, {
    engine: config.engine, progress, latencySamples: opts.latencySamples, paper: opts.baseline === 'paper' ? 'build' : false,
    ...(opts.timingInstances !== undefined ? { timingInstances: opts.timingInstances } : {}),
  });
  // A report that cannot be written (a full disk) fails the command, after the figures are printed: the evaluation
  // took minutes and is not lost with it.
  let htmlFailed: unknown = null;
  if (opts.html) {
    await writeReport(opts.html, { manifest: bundle.manifest, evaluation: report, title: `layercache report: ${bundle.manifest.source.file}` }).catch((err: unknown) => {
      htmlFailed = err;
    });
  }
  const wrote = opts.html !== undefined && htmlFailed === null;
  if (opts.json) {
    io.out(`${JSON.stringify({ ...evalJson(report), ...(wrote ? { report: opts.html } : {}) }, null, 2)}\n`);
    if (htmlFailed !== null) throw htmlFailed;
    return report;
  }
  const t = new Table({ head: ['', 'agreement', 'accuracy', 'MACs/sample', 'p50 ms', 'p95 ms', 'p99 ms', 'mean ms', 'batch-64 samples/s'], style: { head: [], border: [] } });
  const row = (name: string, agreement: number, f: SystemFigures) => t.push([
    name, formatPercent(agreement), f.accuracy === null ? '—' : formatPercent(f.accuracy), formatCount(f.macsPerSample),
    f.latencyMs.p50.toFixed(3), f.latencyMs.p95.toFixed(3), f.latencyMs.p99.toFixed(3), f.latencyMs.mean.toFixed(3), f.throughputBatch64.toFixed(0),
  ]);
  row('backbone', 1, report.backbone);
  row('bundle', report.cached.agreement, report.cached);
  if (report.paperBaseline) {
    // The paper rule was timed in its own alternation with the backbone: that run of the backbone is its yardstick.
    const p = report.paperBaseline;
    row('backbone, timed beside the paper rule', 1, { ...report.backbone, latencyMs: p.pairedBackbone.latencyMs, throughputBatch64: p.pairedBackbone.throughputBatch64 });
    row(`paper rule (p ≥ ${formatProbability(p.threshold)})`, p.agreement, p);
  }
  io.out(`${report.samples} samples from ${report.data}; latency over the first ${report.latencySamples} at batch 1\n${t.toString()}\n`);
  const b = report.backbone;
  const c = report.cached;
  io.out(`MACs ${formatMacsSaving(1 - c.macsPerSample / b.macsPerSample)} (oracle bound ${formatPercent(1 - report.oracle.macsPerSample / b.macsPerSample)}), `
    + `mean batch-1 latency ${lowerOrHigher(report.latencySaved.saved)} (${savingInterval(report.latencySaved, report.latencySamples, report.samples)}), `
    + `batch-64 throughput ×${(c.throughputBatch64 / b.throughputBatch64).toFixed(2)}\n`);
  if (report.samples < 64) io.out(`note: with ${report.samples} samples, the batch-64 throughput ran batches of ${report.samples}; evaluate on 64 or more for the batch-64 figure\n`);
  io.out(`exit hit rates: ${c.exitRates.map((r, i) => `#${i} (candidate ${bundle.manifest.exits[i]!.candidate}) ${formatPercent(r)}`).join(', ') || 'none'}; full backbone ${formatPercent(c.fullRate)}\n`);
  const h = report.headroom;
  if (h) {
    const n = h.inSampleBest.exits;
    const screened = h.exits.filter((e) => !e.refined).length;
    io.out(`headroom: at ${setPercent(h.tolerance)} tolerance, the best choice of exits and thresholds found on these very samples (optimistic) `
      + `saves ${formatPercent(1 - h.inSampleBest.macsPerSample / b.macsPerSample)} of MACs with these heads (${n} exit${n === 1 ? '' : 's'})`
      + (screened > 0 ? `; ${screened} of ${h.exits.length} candidates were only screened (briefly trained heads)\n` : '\n'));
  }
  const p = report.paperBaseline;
  if (p) {
    io.out(`paper rule (every exit, p ≥ ${formatProbability(p.threshold)}): MACs ${formatMacsSaving(1 - p.macsPerSample / b.macsPerSample)}, `
      + `mean batch-1 latency ${lowerOrHigher(1 - p.latencyMs.mean / p.pairedBackbone.latencyMs.mean)} and batch-64 throughput ×${(p.throughputBatch64 / p.pairedBackbone.throughputBatch64).toFixed(2)} against the backbone timed beside it\n`);
  }
  if (htmlFailed !== null) throw htmlFailed;
  if (wrote) io.out(`wrote ${opts.html}\n`);
  return report;
}
