/**
 * `layercache build`: from a model and unlabeled data to a bundle.
 *   collect  one backbone pass per sample: pooled features at every candidate exit + logits
 *   measure  latency of every candidate segment and head at the batch size optimised (or the
 *            latency profile's, measured before on this machine: latency-profile.ts)
 *   train    cross-fitted heads (out-of-fold predictions for calibration), then final heads;
 *            with many candidates, a short screening first and full training for the best (train-phases.ts)
 *   select   exits and thresholds among the fully trained exits: lowest expected latency with
 *            agreement ≥ 1 − tolerance; checked on the deployed heads (deployed-check.ts), then on the runtime
 * Invariants: thresholds are chosen only from out-of-fold predictions (no sample is scored
 * by a head trained on it); nothing is written here (the caller saves the bundle and the
 * latency profile); with the same data, settings and latency profile, two builds choose the
 * same exits and thresholds (training is seeded; every timing comes from the profile).
 */
import { createRequire } from 'node:module';
import type { Manifest, ScoreSpec } from '../bundle/index.ts';
import {
  argmaxRows, fitTemperature, oracleCost, paperRule, paretoFront, scoresFor, selectPolicy, simulate,
  type CalibrationTable, type Policy, type Selection,
} from '../calibrate/index.ts';
import { parseConfig, type BuildConfig, type ConfigInput } from '../config/index.ts';
import { colourImageSizeOf, distinctSamples, requireDataSource, validatePreprocess, withAugmentedCopies, type DataSource, type Preprocess } from '../data/index.ts';
import { checkEngineOptions, type EngineOptions } from '../engine/index.ts';
import { sha256 } from '../files/index.ts';
import { LayercacheError, isRecord, requireArgument } from '../errors/index.ts';
import { applyFeatureScaling, buildHeadModel, fitFeatureScaling, foldScaling, headLabel, headMacs, initParams, type HeadSpec } from '../heads/index.ts';
import { analyzeClassifier, describeReading, isPlainReading, scoresName } from '../inspect/index.ts';
import { encodesModel, modelOpset, requireModel, serializeModel, type ModelProto } from '../onnx/index.ts';
import { requireProgress, withPhase, type Progress } from '../progress/index.ts';
import { seededRng } from '../tensor/index.ts';
import { extractSegments } from '../surgery/index.ts';
import { settingsOf } from './build-settings.ts';
import { collectFeatures, type ExitInfo, type FeatureSet } from './collect.ts';
import { keyMismatch, latencyProfileKey, LATENCY_PROFILE_FORMAT, newestChecks, shortId, type CascadeCheck, type LatencyProfile } from './latency-profile.ts';
import { measureCascade, measureLatency, type LatencyCosts } from './measure.ts';
import { predictHeads } from './train-heads.ts';
import { selectDeployed, type DeployedDrop } from './deployed-check.ts';
import { summarize, type BuildReport } from './build-report.ts';
import { checkBuildable } from './buildable.ts';
import { trainCandidates, type CandidateTraining } from './train-phases.ts';

const pkg = createRequire(import.meta.url)('../../package.json') as { version: string };

/**
 * Latency differences under this share of the backbone's latency are within the cost model's
 * noise (prefix costs differ by up to 3.5 points between processes, identical sessions by up to
 * 3; DEVELOPERS.md): among such near-ties the selection takes the policy that saves the most
 * MACs, the second objective, which is exact, so builds of the same data agree more often.
 */
const LATENCY_TIE = 0.03;

/** Runtime check verdicts a latency profile keeps (the newest), bounding its size in a long-running server. */
const MAX_PROFILE_CHECKS = 256;

/** Runtime checks of a selection before the builder gives up on early exits (bounds build time). */
const MAX_RUNTIME_CHECKS = 6;

/** Fewer build samples per class than this draws a note: heads then learn little of each class. */
const FEW_SAMPLES_PER_CLASS = 20;

export interface BuildInput {
  readonly modelFile: string;
  readonly modelBytes: Uint8Array;
  readonly model: ModelProto;
  readonly data: DataSource;
  readonly preprocess: Preprocess | null;
  /**
   * How samples are laid out, for augmented copies (which mirror and shift the spatial axes). Default: the
   * preprocessing's layout, else nchw. Tensor data records no preprocessing but still has a layout.
   */
  readonly layout?: 'nchw' | 'nhwc';
  /** Latencies measured before on this machine (latency-profile.ts); used when its key matches, else measured again. */
  readonly latencyProfile?: LatencyProfile | null;
}

export interface BuildResult {
  readonly manifest: Manifest;
  readonly segments: ModelProto[];
  readonly heads: ModelProto[];
  readonly candidateHeads: ModelProto[];
  readonly report: BuildReport;
  /** The latency profile of this build (the given one, extended by what was timed now), for later builds. */
  readonly latencyProfile: LatencyProfile;
}

/**
 * Builds a bundle's parts from a backbone and unlabeled samples: collects pooled features at every candidate exit
 * in one backbone pass, trains the heads by self-distillation, chooses the exits and thresholds that cost least
 * while agreeing with the backbone on at least 1 − tolerance of new samples, and checks the choice on the runtime.
 * Writes nothing: save the result with saveBundle (its backbone is input.modelBytes).
 */
export async function buildCascade(input: BuildInput, given: BuildConfig, engineGiven: EngineOptions, progress: Progress): Promise<BuildResult> {
  const call = 'buildCascade(input, build, engine, progress)';
  requireArgument(call, 'input', input, 'object', "{ modelFile, modelBytes, model, data, preprocess } (model and modelBytes from loadModelFile(modelFile))");
  requireArgument(call, 'input.modelFile', input.modelFile, 'string', "the model's path or a name for it, e.g. 'model.onnx'");
  requireArgument(call, 'input.modelBytes', input.modelBytes, 'bytes', "the model's bytes: loadModelFile(modelFile).bytes");
  requireModel(call, input.model, 'input.model', "the model of input.modelBytes: (await loadModelFile(modelFile)).model");
  requireDataSource(call, 'input.data', input.data);
  requireArgument(call, 'input.preprocess', input.preprocess, (v) => v === null || isRecord(v), 'the preprocessing of image data (it goes into the manifest), or null for tensor data');
  requireArgument(call, 'build', given, 'object', 'build settings: loadConfig().build');
  checkEngineOptions(call, engineGiven);
  requireProgress(call, progress);
  // From code, the settings may come from anywhere: checked against the schema, as loadConfig checks them.
  const valid = parseConfig({ build: given as ConfigInput['build'], engine: { intraOpThreads: engineGiven.intraOpThreads, graphOptimization: engineGiven.graphOptimization } });
  const config = valid.build;
  const engine: EngineOptions = { ...valid.engine, ...(engineGiven.spinning !== undefined ? { spinning: engineGiven.spinning } : {}) };
  // The segments are cut from `model` and the bundle carries `modelBytes`: they must be one model.
  if (!encodesModel(input.modelBytes, input.model)) {
    throw new LayercacheError('CONFIG_INVALID', `the model and the model bytes given to buildCascade are not the same model (${input.modelFile}); pass loadModelFile(path)'s model and bytes together`);
  }
  // Heads are distilled from, and the cascade serves the softmax of, the scores output: it is read as logits.
  const { analysis: a, reading } = await analyzeClassifier(input.model, { source: input.modelFile, engine, sampleDims: input.data.sampleDims, scoresOutput: config.scoresOutput });
  for (const line of describeReading(reading, input.model, a.cautions)) progress.note(line);
  // The preprocessing goes into the manifest, which a load and the server's start check as this does (its lists'
  // lengths only when the input is an image): refused now, not after the build (from code it may come from anywhere).
  if (input.preprocess) validatePreprocess(input.preprocess, colourImageSizeOf(a.inputs[0]?.shape, input.preprocess.layout)?.channels ?? null);
  const model = a.model;
  const scores = scoresName(input.model, reading);
  // The data is checked as given first (its shape is the error to report, not how few distinct samples it holds).
  checkBuildable(a, scores, input.modelFile, input.data, config.folds);
  // A repeated sample could sit in two cross-fitting folds and flatter its own calibration: each is kept once.
  const { source: data, repeats } = distinctSamples(input.data);
  if (repeats > 0) {
    progress.note(`${repeats} of ${input.data.count} samples repeat earlier ones and are left out: the build learns from and calibrates on the ${data.count} distinct samples`);
    checkBuildable(a, scores, input.modelFile, data, config.folds);
  }
  const settings = settingsOf(config, data.count);
  const teacherOutput = a.outputs[0]!.name;
  const classes = a.outputs[0]!.dims[1]!;
  if (data.count < FEW_SAMPLES_PER_CLASS * classes) {
    progress.note(`${data.count} samples for ${classes} classes (${(data.count / classes).toFixed(1)} per class): the heads see few answers of each class, so expect few or no exits; give at least ${FEW_SAMPLES_PER_CLASS * classes} samples`);
  }
  const exits: ExitInfo[] = a.exits.map((e) => ({ index: e.index, tensor: e.tensor, dims: a.tensor(e.tensor)!.dims.slice(1), cumulativeMacs: e.cumulativeMacs }));
  const pools = [...new Set(settings.family.map((s) => s.pool))];
  const layout = input.layout ?? input.preprocess?.layout ?? 'nchw';
  const sources = withAugmentedCopies(data, settings.augment, layout, settings.train.seed);
  const set: FeatureSet = await collectFeatures(model, exits, pools, teacherOutput, classes, sources, { batchSize: settings.collectBatch, engine, progress });

  // Heads train on standardised features; the scaling is folded into each exported head (feature-scaling.ts).
  const scalings = new Map(set.features.map((f) => {
    const s = fitFeatureScaling(f.data, f.dim);
    applyFeatureScaling(f.data, f.dim, s);
    return [f, s] as const;
  }));
  const featureOf = (e: number, pool: number) => set.features.find((f) => f.exit === e && f.pool === pool)!;
  const n = set.samples;
  const reference = argmaxRows(set.teacher.subarray(0, n * classes), classes);

  // Latency to reach every candidate exit, and of every family member's head (one cost per head
  // shape, timed at a few exits), on real samples at the batch size optimised. Timing depends on
  // shapes, not weights, so the heads timed here carry their initial weights; the trained ones
  // have the same graphs.
  const opset = modelOpset(model);
  const chain = extractSegments(model, a.flow, exits.map((e) => e.tensor), a.typeOf).map((s) => s.model);
  const cuts = exits.map((e, i) => {
    const prefix = extractSegments(model, a.flow, [e.tensor], a.typeOf)[0]!.model;
    return { tensor: e.tensor, prefix, segment: chain[i]! };
  });
  const batchInput = data.batch(0, Math.min(settings.batch, data.count));
  const sourceSha = sha256(input.modelBytes);
  // Timings belong to the model as read (an open input size fixed at the data's times differently).
  const profileKey = latencyProfileKey(isPlainReading(reading) ? sourceSha : sha256(serializeModel(model)), batchInput.dims[0]!, engine);
  let prior = input.latencyProfile ?? null;
  const mismatch = prior && keyMismatch(prior.key, profileKey);
  if (mismatch) {
    progress.note(`the latency profile was measured under other conditions (${mismatch}); measuring again`);
    prior = null;
  }
  const rng = seededRng(settings.train.seed);
  const timedHeads = exits.flatMap((e) => settings.family.map((spec) => ({
    exit: e.index, model: buildHeadModel(spec, initParams(spec, featureOf(e.index, spec.pool).dim, classes, rng), e.dims, classes, opset),
  })));
  const lat: LatencyCosts = await measureLatency(model, cuts, timedHeads, batchInput, { engine, progress, reps: settings.measureReps, prior });
  const headLatency = (e: number, m: number): number => lat.head[e * settings.family.length + m]!;

  // Cross-fitted heads. Per exit, the member with the best estimated saving at a strict
  // precision (a looser one when ranking briefly trained screening heads), in the units of the
  // objective: a head that is cheap in MACs can still cost latency (each of its half-dozen
  // operators has a fixed cost at batch 1; `npm run bench:head-cost`).
  const headCostMacs = (e: number, spec: HeadSpec): number => headMacs(spec, featureOf(e, spec.pool).dim, classes) + a.exits[e]!.activationElements;
  const promise = (e: number, m: number, answerable: number): number => (settings.objective === 'macs'
    ? answerable * (a.totalMacs - exits[e]!.cumulativeMacs) - headCostMacs(e, settings.family[m]!)
    : answerable * (lat.full - lat.toExit[e]!) - headLatency(e, m));
  const trained: CandidateTraining = await trainCandidates(exits.map((e) => e.index), settings.family, featureOf, set, promise, {
    folds: settings.folds, train: settings.train, refineExits: settings.refineExits, screenEpochs: settings.screenEpochs,
    level: 1 - settings.tolerance / 3, screenLevel: Math.min(1 - settings.tolerance / 3, Math.max(0.9, 1 - 5 * settings.tolerance)),
    tie: settings.objective === 'latency' ? LATENCY_TIE * lat.full : 0,
  }, { engine, progress });
  const choice = trained.choice;
  const chosenJobs = exits.map((e, i) => ({ spec: settings.family[choice[i]!.member]!, features: featureOf(e.index, settings.family[choice[i]!.member]!.pool) }));
  const headModels = exits.map((e, i) => buildHeadModel(chosenJobs[i]!.spec, foldScaling(trained.params[i]!, scalings.get(chosenJobs[i]!.features)!), e.dims, classes, opset));

  // Calibration tables (latency and MACs) from out-of-fold predictions of the chosen heads.
  const oof = trained.outOfFold;
  const temperatures = oof.map((lp) => (settings.score === 'temperature' ? fitTemperature(lp, classes, reference) : 1));
  /** Per exit: the rows whose head class is the backbone's, from predictions lps [n, classes] (once per set of predictions). */
  const agreementOf = (lps: readonly Float32Array[]) => lps.map((lp) => Uint8Array.from(argmaxRows(lp, classes), (k, r) => (k === reference[r] ? 1 : 0)));
  const oofCorrect = agreementOf(oof);
  const table = (kind: ScoreSpec['kind'], cost: 'latency' | 'macs', lps: readonly Float32Array[] = oof, correct = oofCorrect): CalibrationTable => ({
    n, fullCost: cost === 'latency' ? lat.full : a.totalMacs,
    exits: exits.map((e, i) => ({
      cost: cost === 'latency' ? lat.toExit[i]! : e.cumulativeMacs,
      headCost: cost === 'latency' ? headLatency(i, choice[i]!.member) : headCostMacs(e.index, chosenJobs[i]!.spec),
      score: scoresFor(kind, lps[i]!, classes, temperatures[i]!),
      correct: correct[i]!,
    })),
  });
  const latencyTable = table(settings.score, 'latency');
  const macsTable = table(settings.score, 'macs');
  // The deployed heads of the refined exits (the only ones that can be kept) on the build rows they were trained
  // on, for the deployed check (deployed-check.ts); the others keep their out-of-fold columns, never consulted.
  const refinedAt = exits.flatMap((_, i) => (trained.refined[i] ? [i] : []));
  const deployedLp = await predictHeads(refinedAt.map((i) => chosenJobs[i]!), refinedAt.map((i) => trained.params[i]!), set, Int32Array.from({ length: n }, (_, r) => r), engine);
  const deployedLps = oof.map((lp, i) => (refinedAt.includes(i) ? deployedLp[refinedAt.indexOf(i)]! : lp));
  const deployedTable = table(settings.score, 'latency', deployedLps, agreementOf(deployedLps));
  const deployedDrops: DeployedDrop[] = [];
  const onDrop = (d: DeployedDrop): void => {
    deployedDrops.push(d);
    progress.note(`candidate ${d.exit} is not kept: with the deployed heads, trained on every build row, the selection agrees ${(100 * d.agreement).toFixed(1)}% on those very rows (it needs ${(100 * (1 - settings.tolerance)).toFixed(1)}%), so they do not answer as the cross-fitted heads it was calibrated on; longer training (--epochs) or more build samples steady them`);
  };
  const selectOpts = { tolerance: settings.tolerance, margin: settings.margin, cvSplits: settings.cvSplits, cvFolds: settings.cvFolds, ...(settings.delta !== null ? { delta: settings.delta } : {}) };
  // Select among the refined exits, then check the choice on the real runtime: while the cascade is not
  // faster than the backbone on calibration inputs (median block ratio ≥ 1), drop the kept exit that saves least.
  const allowed = [...trained.refined];
  const restrict = (t: CalibrationTable, mask: readonly boolean[] = allowed): CalibrationTable => ({ ...t, exits: t.exits.map((c, e) => (mask[e] ? c : { ...c, headCost: Number.POSITIVE_INFINITY })) });
  const verifyInputs = Array.from({ length: Math.max(1, Math.min(Math.floor(200 / settings.batch), Math.floor(n / settings.batch))) }, (_, k) => data.batch(k * settings.batch, Math.min(n, (k + 1) * settings.batch)));
  const checks: BuildReport['checks'] = [];
  // Verdicts of the profile hold only if its costs were used (else the whole profile is measured again).
  const checked: Record<string, CascadeCheck> = lat.reused.exits ? { ...prior!.checks } : {};
  // The select bar counts runtime checks, at most MAX_RUNTIME_CHECKS; a selection that needs fewer fills the rest when it is done.
  const selection = await withPhase(progress, 'select', MAX_RUNTIME_CHECKS, async (phase) => {
    const done = (s: Selection): Selection => {
      phase.tick(MAX_RUNTIME_CHECKS - checks.length);
      return s;
    };
    if (settings.objective === 'macs') {
      // MACs are exact, so there is nothing to check on the runtime; the outcome is reported in latency terms.
      const s = selectDeployed(() => selectPolicy(restrict(macsTable), selectOpts), deployedTable, settings.tolerance, allowed, onDrop);
      return done({ ...s, outcome: simulate(latencyTable, s.policy) });
    }
    for (;;) {
      const s = selectDeployed(() => selectPolicy(restrict(latencyTable), { ...selectOpts, secondary: { table: macsTable, within: LATENCY_TIE * lat.full } }), deployedTable, settings.tolerance, allowed, onDrop);
      const keptNow = s.policy.thresholds.flatMap((t, e) => (t === Number.POSITIVE_INFINITY ? [] : [e]));
      if (keptNow.length === 0) return done(s);
      const cascadeExits = keptNow.map((e) => ({ tensor: exits[e]!.tensor, threshold: s.policy.thresholds[e]!, temperature: temperatures[e]! }));
      // The same cascade (exits, thresholds, heads) checked before on this machine keeps its verdict.
      const id = shortId(JSON.stringify([settings.score, cascadeExits, keptNow.map((e) => shortId(serializeModel(headModels[e]!)))]));
      const known = Object.hasOwn(checked, id) ? checked[id] : undefined;
      const m = known ?? await measureCascade(model, {
        segments: extractSegments(model, a.flow, keptNow.map((e) => exits[e]!.tensor), a.typeOf).map((seg) => seg.model),
        heads: keptNow.map((e) => headModels[e]!), classes, score: settings.score, exits: cascadeExits,
      }, verifyInputs, { engine, reps: 3, onBlock: () => phase.tick(0, `runtime check of candidates ${keptNow.join(', ')}`) });
      delete checked[id];
      checked[id] = m; // last in insertion order: the newest, kept when the profile is trimmed
      checks.push({ exits: keptNow, ...m, reused: known !== undefined });
      phase.tick();
      if (m.ratio < 1) return done(s);
      if (checks.length >= MAX_RUNTIME_CHECKS) {
        // Still slower than the backbone after several tries: keep the backbone alone.
        const none: Policy = { thresholds: exits.map(() => Number.POSITIVE_INFINITY) };
        progress.note(`no cascade beat the backbone on the runtime check after ${checks.length} tries; the bundle runs the backbone alone`);
        return done({ policy: none, outcome: simulate(latencyTable, none), lambda: Number.POSITIVE_INFINITY, shift: 0 });
      }
      const worst = keptNow.reduce((w, e) => {
        const gain = (x: number): number => s.outcome.exitRates[x]! * (lat.full - lat.toExit[x]!);
        return gain(e) < gain(w) ? e : w;
      });
      allowed[worst] = false;
    }
  });
  const policy: Policy = selection.policy;
  const kept = policy.thresholds.flatMap((t, e) => (t === Number.POSITIVE_INFINITY ? [] : [e]));

  // Baselines on the same tables.
  const maxLatency = table('max', 'latency');
  const maxMacs = table('max', 'macs');
  const paper = paperRule(maxLatency, selection.outcome.agreement);
  const paperPolicy: Policy = { thresholds: exits.map(() => -Math.log(1 - paper.threshold)) };
  const oracleLatency = oracleCost(latencyTable);
  const oracleMacs = oracleCost(macsTable);
  // The front of what the selection could choose (the refined exits).
  const pareto = paretoFront(restrict(latencyTable, trained.refined)).map((p) => ({ latencyMs: p.meanCost / lat.batch, macsPerSample: simulate(macsTable, p.policy).meanCost, agreement: p.agreement }));

  // The bundle: segments cut at the kept exits, their heads, and the manifest.
  const segments = extractSegments(model, a.flow, kept.map((e) => exits[e]!.tensor), a.typeOf).map((s) => s.model);
  const heads = kept.map((e) => headModels[e]!);
  const io = (vs: readonly { name: string; dtype: string; shape: readonly (number | string)[] }[]) => vs.map((v) => ({ name: v.name, dtype: v.dtype, shape: [...v.shape] }));
  const outcome = summarize(selection.outcome, simulate(macsTable, policy), lat.batch);
  const report: BuildReport = {
    samples: n,
    candidates: exits.map((e, i) => ({
      tensor: e.tensor, fraction: a.exits[i]!.fraction, head: headLabel(chosenJobs[i]!.spec), outOfFoldAgreement: choice[i]!.agreement, latencyMs: lat.toExit[i]! / lat.batch,
      refined: trained.refined[i]!,
    })),
    // With no exit kept the bundle is the backbone: it agrees with itself on every input.
    selected: { ...outcome, exits: kept, crossValidatedAgreement: kept.length === 0 ? 1 : selection.crossValidated?.agreement ?? null, estimatedAgreement: kept.length === 0 ? 1 : selection.estimated?.agreement ?? null, thresholdShift: kept.length === 0 ? 0 : selection.shift },
    paperRule: { ...summarize(paper.outcome, simulate(maxMacs, paperPolicy), lat.batch), threshold: paper.threshold },
    oracle: { latencyMs: oracleLatency.meanCost / lat.batch, macsPerSample: oracleMacs.meanCost },
    backbone: { latencyMs: lat.full / lat.batch, macsPerSample: a.totalMacs },
    pareto,
    train: { seconds: trained.seconds, gflops: trained.gflops },
    latencyBatch: lat.batch,
    callOverheadMs: lat.callOverhead,
    checks,
    deployedChecks: deployedDrops,
    latencyReused: { ...lat.reused, of: lat.head.length },
  };
  const segmentMacs = [...kept.map((e) => exits[e]!.cumulativeMacs), a.totalMacs].map((c, i, arr) => c - (i > 0 ? arr[i - 1]! : 0));
  const manifest: Manifest = {
    format: 'layercache.bundle/1',
    version: 1,
    createdAt: new Date().toISOString(),
    layercacheVersion: pkg.version,
    source: {
      file: input.modelFile,
      sha256: sourceSha,
      backbone: { file: 'backbone.onnx', sha256: '0'.repeat(64) },
      reading: { ...reading, sampleDims: reading.sampleDims ? [...reading.sampleDims] : null },
      inputs: io(a.inputs),
      outputs: io(a.outputs),
      totalMacs: a.totalMacs,
      classes,
    },
    preprocess: input.preprocess ? { ...input.preprocess, mean: [...input.preprocess.mean], std: [...input.preprocess.std] } : null,
    score: { kind: settings.score },
    exits: kept.map((e) => ({
      candidate: e,
      tensor: exits[e]!.tensor,
      shape: [...a.exits[e]!.shape],
      head: { file: 'heads/x.onnx', sha256: '0'.repeat(64), spec: { ...chosenJobs[e]!.spec }, macs: headCostMacs(e, chosenJobs[e]!.spec) },
      threshold: policy.thresholds[e]!,
      temperature: temperatures[e]!,
      expectedHitRate: selection.outcome.exitRates[e]!,
      cumulativeMacs: exits[e]!.cumulativeMacs,
      costMs: lat.toExit[e]! / lat.batch,
    })),
    segments: segments.map((_, i) => ({ file: 'segments/x.onnx', sha256: '0'.repeat(64), macs: segmentMacs[i]! })),
    candidates: exits.map((e, i) => ({
      candidate: i,
      tensor: e.tensor,
      shape: [...a.exits[i]!.shape],
      head: { file: 'candidates/x.onnx', sha256: '0'.repeat(64), spec: { ...chosenJobs[i]!.spec }, macs: headCostMacs(i, chosenJobs[i]!.spec) },
      temperature: temperatures[i]!,
      cumulativeMacs: e.cumulativeMacs,
      costMs: lat.toExit[i]! / lat.batch,
      refined: trained.refined[i]!,
    })),
    build: {
      data: data.description,
      samples: n,
      tolerance: settings.tolerance,
      delta: settings.delta,
      margin: settings.margin,
      batch: settings.batch,
      objective: settings.objective,
      score: settings.score,
      folds: settings.folds,
      cvSplits: settings.cvSplits,
      cvFolds: settings.cvFolds,
      augment: [...settings.augment],
      family: settings.family.map((s) => ({ ...s })),
      train: { ...settings.train },
      refineExits: settings.refineExits,
      screenEpochs: settings.screenEpochs,
      engine: { ...engine },
    },
    metrics: { calibration: report.selected, paperRule: report.paperRule, oracle: report.oracle, backbone: report.backbone, pareto: report.pareto, candidates: report.candidates, train: report.train, callOverheadMs: report.callOverheadMs, checks: report.checks, deployedChecks: report.deployedChecks, latencyReused: report.latencyReused },
  };
  const latencyProfile: LatencyProfile = {
    format: LATENCY_PROFILE_FORMAT,
    key: profileKey,
    // A prior that did not cover every exit was not used: nothing of it carries over (its costs are on another scale).
    measuredAt: lat.reused.exits ? prior!.measuredAt : new Date().toISOString(),
    fullMs: lat.full,
    callOverheadMs: lat.callOverhead,
    toExitMs: Object.fromEntries(exits.map((e, i) => [e.tensor, lat.toExit[i]!])),
    headMs: { ...(lat.reused.exits ? prior!.headMs : {}), ...Object.fromEntries(lat.headShape.map((k, i) => [k, lat.head[i]!])) },
    checks: newestChecks(checked, MAX_PROFILE_CHECKS),
  };
  return { manifest, segments, heads, candidateHeads: headModels, report, latencyProfile };
}

