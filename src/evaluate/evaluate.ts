/**
 * `layercache eval`: the backbone and the bundle measured in the same run on the same
 * inputs. Accuracy figures come from full passes at batch 64; latency from batch-1 runs in
 * alternating blocks (backbone and bundle on the same samples, each first in every other
 * block) so machine noise hits both alike; throughput from alternating batch-64 passes (side-by-side.ts). No session lets its idle
 * onnxruntime threads spin (see engine/session.ts), the backbone's included, so both
 * sides run under the same settings.
 * Invariants: agreement compares the bundle's class with the backbone's on every sample;
 * MACs per sample count the backbone up to the exit plus every kept head evaluated.
 */
import { Cascade } from '../cascade/index.ts';
import { requireLoadedBundle, type LoadedBundle } from '../bundle/index.ts';
import { argmaxRows, maxScore, paperRule, scoreOfMaxProbability } from '../calibrate/index.ts';
import { requireDataSource, requireSampleDims, type DataSource } from '../data/index.ts';
import { checkEngineOptions, Session, type EngineOptions } from '../engine/index.ts';
import { LayercacheError, requireArgument } from '../errors/index.ts';
import { analyzeModel, readBackbone } from '../inspect/index.ts';
import { requireProgress, type Progress } from '../progress/index.ts';
import { extractSegments } from '../surgery/index.ts';
import { unusableScoresRow } from '../tensor/index.ts';
import { headroomOf, type Headroom } from './headroom.ts';
import { pairedSaving, type PairedSaving } from './paired-saving.ts';
import { accuracyOf, batchesOf, LATENCY_BLOCK, sideBySide, stats, THROUGHPUT_MS, type CachedFigures, type LatencyStats, type SystemFigures } from './side-by-side.ts';

export interface EvalReport {
  readonly samples: number;
  readonly data: string;
  readonly bundle: string;
  readonly backbone: SystemFigures;
  readonly cached: CachedFigures;
  readonly oracle: { readonly macsPerSample: number };
  /**
   * What the heads' confidence leaves on the table, on these samples, with the bundle's score
   * kind: per candidate exit, its head's agreement with the backbone and the largest share of
   * samples it could answer (most confident first) at agreement ≥ 1 − tolerance; and the
   * in-sample best, the cheapest policy in MACs found on these very samples (no cross-validation,
   * no margin) at that tolerance: optimistic, and found by search, not proven optimal.
   * Null when the manifest records no build tolerance in (0, 1).
   */
  readonly headroom: Headroom | null;
  /**
   * The paper's rule on the same samples. Its latency and throughput were timed in alternation
   * with the backbone again (`pairedBackbone`); compare them with that, not with `backbone`,
   * which was timed beside the bundle, earlier.
   */
  readonly paperBaseline?: CachedFigures & {
    readonly threshold: number;
    /**
     * Where the threshold came from: the build's calibration ('build'), the paper's 0.5 for a bundle that records
     * none ('default'), or tuned on these samples to the bundle's agreement ('matched', which favours the rule).
     */
    readonly thresholdFrom: 'build' | 'default' | 'matched';
    readonly pairedBackbone: { readonly latencyMs: LatencyStats; readonly throughputBatch64: number };
  };
  readonly latencySamples: number;
  /** The bundle's batch-1 latency saving over the backbone timed beside it, with its 95% interval within this run. */
  readonly latencySaved: PairedSaving;
  /** Batch-1 latencies in ms, for plots. */
  readonly latencyTrace: { readonly backbone: number[]; readonly cached: number[] };
}

export interface EvalOptions {
  readonly engine: EngineOptions;
  readonly progress: Progress;
  /** Samples timed at batch 1 (the first ones). */
  readonly latencySamples: number;
  /**
   * Paper-rule baseline: 'build' uses the threshold chosen at build time (equal agreement
   * on calibration samples); 'match' picks the global threshold whose agreement on these
   * very samples equals the bundle's (this tunes the baseline on the test data, in its
   * favour); false skips it.
   */
  readonly paper: false | 'build' | 'match';
  /** Equivalent session instances of each side, timed in rotation (default TIMING_INSTANCES). */
  readonly timingInstances?: number;
  /**
   * Least time in ms the slower side spends in timed batch-64 runs: passes over the data repeat until then, at most
   * 100 of them in 4 × throughputMs of wall time (default 500; 0 times one pass).
   */
  readonly throughputMs?: number;
}

/**
 * Identical sessions of ResNet-56 in one process differed by up to 3% in batch-1 latency
 * (DEVELOPERS.md, session 7); rotating three instances per side averages that offset.
 */
const TIMING_INSTANCES = 3;

/**
 * Measures a bundle against its backbone on the same samples in one run: agreement (and accuracy when the data
 * has labels), exit rates, MACs per sample, batch-1 latency and batch-64 throughput for both, the oracle bound,
 * the headroom of the candidate heads and, when asked, the paper's rule.
 */
export async function evaluateBundle(bundle: LoadedBundle, data: DataSource, opts: EvalOptions): Promise<EvalReport> {
  const call = 'evaluateBundle(bundle, data, opts)';
  requireLoadedBundle(call, 'bundle', bundle);
  requireDataSource(call, 'data', data);
  requireArgument(call, 'opts', opts, 'object', "options: { engine: config.engine, progress: SILENT, latencySamples: 1000, paper: false }");
  checkEngineOptions(call, opts.engine);
  requireProgress(call, opts.progress);
  const m = bundle.manifest;
  const K = m.source.classes;
  requireSampleDims(data, m.source.inputs[0]!.shape.slice(1), "the bundle's model", "check the layout (the manifest's preprocessing) and the data");
  if (data.count === 0) {
    throw new LayercacheError('DATA_SPEC_INVALID', `data '${data.description}' gives no samples; evaluate on a non-empty range or file`);
  }
  if (!Number.isInteger(opts.latencySamples) || opts.latencySamples < 1) {
    throw new LayercacheError('CONFIG_INVALID', `latencySamples ${opts.latencySamples} must be a positive integer: the number of samples timed at batch 1 (the CLI's default is 2000)`);
  }
  // From code: any other value was read as 'match' (truthy, not 'build').
  if (!([false, 'build', 'match'] as unknown[]).includes(opts.paper)) {
    throw new LayercacheError('CONFIG_INVALID', `paper ${JSON.stringify(opts.paper) ?? String(opts.paper)} must be false, 'build' (the threshold the build recorded) or 'match' (the threshold that matches the bundle's agreement)`);
  }
  const instances = opts.timingInstances ?? TIMING_INSTANCES;
  if (!(Number.isInteger(instances) && instances >= 1)) {
    throw new LayercacheError('CONFIG_INVALID', `timingInstances ${instances} must be a positive integer (the default is ${TIMING_INSTANCES})`);
  }
  const throughputMs = opts.throughputMs ?? THROUGHPUT_MS;
  if (!(Number.isFinite(throughputMs) && throughputMs >= 0)) {
    throw new LayercacheError('CONFIG_INVALID', `throughputMs ${throughputMs} must be a number of milliseconds ≥ 0 (the default is ${THROUGHPUT_MS}; 0 times one pass over the data)`);
  }
  const timing = { progress: opts.progress, latencySamples: opts.latencySamples, throughputMs };
  // Labels are class indices of this model. Data labelled with more classes (CIFAR-10 for a two-class model, or
  // folders of images split into more subfolders than the model has classes) still measures agreement, the main
  // figure, but its accuracy would compare the wrong classes: it is reported as unavailable, with a note.
  let labels = data.labels;
  if (labels) {
    // A DataSource built in code may carry labels that are not one class index per sample: refused, not scored 0.
    if (labels.length !== data.count) {
      throw new LayercacheError('DATA_SPEC_INVALID', `'${data.description}' has ${labels.length} labels for ${data.count} samples; give one class index per sample, or labels: null`);
    }
    const negative = labels.findIndex((l) => !(Number.isInteger(l) && l >= 0));
    if (negative >= 0) throw new LayercacheError('DATA_SPEC_INVALID', `'${data.description}' labels sample ${negative} as ${labels[negative]}; labels are class indices from 0, or give labels: null`);
    let top = -1;
    for (let i = 0; i < labels.length; i++) top = Math.max(top, labels[i]!);
    if (top >= m.source.classes) {
      opts.progress.note(`'${data.description}' labels its samples with up to ${top + 1} classes, but the model answers ${m.source.classes}: accuracy against those labels is not reported (agreement with the backbone is); labels are read as the model's class indices (class folders in sorted order)`);
      labels = null;
    }
  }
  // The backbone as the build read it (its logits, a free batch): bundle segments were cut from it.
  const { model: backboneModel, bytes: backboneBytes } = readBackbone(bundle);
  const backbones: Session[] = [];
  const cascades: Cascade[] = [];
  const release = (): Promise<unknown> => Promise.all([...cascades.map((c) => c.release()), ...backbones.map((b) => b.release())]);
  try {
    for (let k = 0; k < instances; k++) {
      backbones.push(await Session.create(backboneBytes, `backbone ${k + 1}`, opts.engine));
      cascades.push(await Cascade.fromBundle(bundle, opts.engine));
    }
  } catch (err) {
    await release();
    throw err;
  }
  const backbone = backbones[0]!;
  // Batches are made when used, not held: at 224×224 a batch of 64 is 38 MB, 10,000 samples 6 GB.
  const batches = batchesOf(data, 64);
  try {
    // Reference answers: the backbone on every sample.
    const logits = new Float32Array(data.count * K);
    const inputName = backbone.inputs[0]!.name;
    let off = 0;
    for (const b of batches()) {
      const out = Object.values(await backbone.run({ [inputName]: b }))[0]!.data as Float32Array;
      const bad = unusableScoresRow(out, K);
      if (bad >= 0) {
        throw new LayercacheError('MODEL_OUTPUT_INVALID', `the backbone's class scores for sample ${off / K + bad} of '${data.description}' are not finite numbers (NaN or infinity), so agreement with it means nothing; check the model on that input, and the bundle's preprocessing`);
      }
      logits.set(out, off);
      off += out.length;
    }
    const reference = argmaxRows(logits, K);
    const judged = { data, batches, reference, labels };
    const costs = { exitMacs: m.exits.map((e) => e.cumulativeMacs), headMacs: m.exits.map((e) => e.head.macs), totalMacs: m.source.totalMacs };
    const main = await sideBySide('bundle', cascades, backbones, costs, judged, timing);
    // The bundle's cascades are done with: their memory goes before the trace's and the paper rule's.
    await Promise.all(cascades.splice(0).map((c) => c.release()));

    // Oracle: every candidate head traced on every sample.
    const analysis = await analyzeModel(backboneModel, { engine: opts.engine });
    const candidateSegments = extractSegments(backboneModel, analysis.flow, m.candidates.map((c) => c.tensor), analysis.typeOf).map((s) => s.model);
    const allExits = m.candidates.map((c) => ({ tensor: c.tensor, threshold: scoreOfMaxProbability(1), temperature: c.temperature }));
    const traceCascade = await Cascade.create({ segments: candidateSegments, heads: bundle.candidateHeads, exits: allExits, classes: K, score: 'max' }, opts.engine, 'trace');
    let oracleMacs = 0;
    const traced = m.candidates.map(() => new Float32Array(data.count * K));
    try {
      let base = 0;
      for (const b of batches()) {
        const { heads } = await traceCascade.trace(b);
        heads.forEach((h, e) => traced[e]!.set(h, base * K));
        const rowsInBatch = b.dims[0]!;
        const classesByHead = heads.map((h) => argmaxRows(h, K));
        for (let r = 0; r < rowsInBatch; r++) {
          const e = classesByHead.findIndex((c) => c[r] === reference[base + r]);
          oracleMacs += e < 0 ? m.source.totalMacs : m.candidates[e]!.cumulativeMacs + m.candidates[e]!.head.macs;
        }
        base += rowsInBatch;
      }
    } finally {
      await traceCascade.release();
    }

    const headroom = headroomOf({ tolerance: (m.build as { tolerance?: unknown }).tolerance, kind: m.score.kind, classes: K, totalMacs: m.source.totalMacs, candidates: m.candidates }, traced, reference);

    let paperBaseline: EvalReport['paperBaseline'];
    if (opts.paper) {
      const recorded = (m.metrics.paperRule as { threshold?: number } | undefined)?.threshold;
      const thresholdFrom = opts.paper !== 'build' ? 'matched' : recorded === undefined ? 'default' : 'build';
      const threshold = opts.paper === 'build' ? recorded ?? 0.5 : paperRule({
        n: data.count, fullCost: m.source.totalMacs,
        exits: m.candidates.map((c, e) => ({
          cost: c.cumulativeMacs, headCost: c.head.macs, score: maxScore(traced[e]!, K),
          correct: Uint8Array.from(argmaxRows(traced[e]!, K), (k, i) => (k === reference[i] ? 1 : 0)),
        })),
      }, main.figures.agreement).threshold;
      const paperCascades: Cascade[] = [];
      try {
        for (let k = 0; k < instances; k++) {
          paperCascades.push(await Cascade.create({
            segments: candidateSegments, heads: bundle.candidateHeads,
            exits: m.candidates.map((c) => ({ tensor: c.tensor, threshold: scoreOfMaxProbability(threshold), temperature: 1 })), classes: K, score: 'max',
          }, opts.engine));
        }
        const paperCosts = { exitMacs: m.candidates.map((c) => c.cumulativeMacs), headMacs: m.candidates.map((c) => c.head.macs), totalMacs: m.source.totalMacs };
        const p = await sideBySide('paper rule', paperCascades, backbones, paperCosts, judged, timing);
        paperBaseline = { ...p.figures, threshold, thresholdFrom, pairedBackbone: { latencyMs: stats(p.backboneTrace), throughputBatch64: p.backboneThroughput } };
      } finally {
        await Promise.all(paperCascades.map((c) => c.release()));
      }
    }
    return {
      samples: data.count,
      data: data.description,
      bundle: bundle.dir,
      backbone: {
        accuracy: accuracyOf(reference, labels),
        macsPerSample: m.source.totalMacs,
        latencyMs: stats(main.backboneTrace),
        throughputBatch64: main.backboneThroughput,
      },
      cached: main.figures,
      oracle: { macsPerSample: oracleMacs / data.count },
      headroom,
      ...(paperBaseline ? { paperBaseline } : {}),
      latencySamples: main.trace.length,
      latencySaved: pairedSaving(main.backboneTrace, main.trace, LATENCY_BLOCK),
      latencyTrace: { backbone: main.backboneTrace, cached: main.trace },
    };
  } finally {
    await release();
  }
}
