/**
 * The server's composition root: from a bundle directory or a bare MODEL.onnx to a running
 * service (engine workers, dynamic batcher, online learner, HTTP app).
 * Startup: if the state directory holds a valid bundle version, the newest one the engine
 * can open is served (a restart resumes where it stopped), provided it was built for the same backbone as the
 * given model or bundle (else STATE_MISMATCH) and the given bundle is the one it grew from (else that bundle is
 * saved as a new version and served: start-version.ts); otherwise the given bundle, or the bare
 * backbone with no exits, is served as version 0. Ready means started, not shutting
 * down, and at least one engine worker running.
 * Shutdown: readiness goes false, the HTTP server stops accepting connections, queued and
 * in-flight requests finish, a running retrain is abandoned, then the workers stop.
 */
import { promises as fs } from 'node:fs';
import { createRequire } from 'node:module';
import os from 'node:os';
import path from 'node:path';
import type { FastifyInstance } from 'fastify';
import { pino, type Logger } from 'pino';
import { checkLatencyProfileFile, readLatencyProfile } from '../builder/index.ts';
import { hasManifest, loadBundle, MANIFEST_FILE, type LoadedBundle } from '../bundle/index.ts';
import { validConfig, type Config } from '../config/index.ts';
import { runtimeVersion } from '../engine/index.ts';
import { augmentProblem, checkAugmentable, colourImageSizeOf, validatePreprocess, type Preprocess } from '../data/index.ts';
import { LayercacheError, isRecord, requireArgument } from '../errors/index.ts';
import { isWithin, nonRegularKind, realPath, sha256 } from '../files/index.ts';
import { setPercent, targetAgreementPct } from '../tensor/index.ts';
import { analyzeClassifier, checkClassifier, describeReading, scoresName } from '../inspect/index.ts';
import { loadModelFile } from '../onnx/index.ts';
import { AcceptedRequests } from './accepted-requests.ts';
import { pathOf } from './request-body.ts';
import { buildApp, type ModelInfo } from './app.ts';
import { DynamicBatcher } from './batcher.ts';
import { EnginePool } from './engine-pool.ts';
import type { EngineSource } from './messages.ts';
import { ServerMetrics } from './metrics.ts';
import { BUFFER_FILE } from './buffer-file.ts';
import { OnlineLearner } from './online.ts';
import { headsLearntOnline } from './bundle-revision.ts';
import { StartVersions } from './start-version.ts';
import { retrainBuild } from './retrain-build.ts';
import type { OnlineStatus } from './online-status.ts';
import { VersionStore } from './version-store.ts';
import { servingTolerance } from './serving-tolerance.ts';
import { checkStateDirAccess, makeStateDir } from './state-dir.ts';
import { adoptStateDir, makeTemporaryStateDir, removeAbandonedStateDirs } from './abandoned-state.ts';

const pkg = createRequire(import.meta.url)('../../package.json') as { version: string };

/**
 * Of the shutdown timeout, what is kept for the steps after the drain (queued batches, the buffer's save, the
 * workers, the lock): an upload that stalls must not use it all, or the process is stopped with its buffer unsaved.
 */
const SHUTDOWN_RESERVE_MS = 3000;

/** Whether `promise` settles within `ms` (the timer is cleared either way). */
async function settlesWithin(promise: Promise<unknown>, ms: number): Promise<boolean> {
  let timer: NodeJS.Timeout | undefined;
  const expired = new Promise<false>((resolve) => { timer = setTimeout(() => resolve(false), ms); });
  try {
    return await Promise.race([promise.then(() => true), expired]);
  } finally {
    clearTimeout(timer);
  }
}

/** What a running server's online learning shows its owner. */
export interface OnlineControl {
  /** Versions, retrains, buffer and the accuracy guard's state. */
  status(): OnlineStatus;
  /** Resolves when no retrain or guard action is running. */
  idle(): Promise<void>;
}

export interface RunningServer {
  readonly app: FastifyInstance;
  readonly online: OnlineControl;
  readonly model: ModelInfo;
  readonly stateDir: string;
  /** Listens on config.serve.host:port; returns the address. */
  listen(): Promise<string>;
  /** Requests accepted (headers arrived while ready) and not yet answered. */
  inFlight(): number;
  /** Graceful shutdown (idempotent). */
  close(): Promise<void>;
}

interface Start {
  readonly source: EngineSource;
  readonly version: number;
  readonly bundle: LoadedBundle | null;
  readonly modelFile: string;
  readonly preprocess: Preprocess | null;
  readonly inputName: string;
  readonly sampleDims: readonly number[];
  readonly classes: number;
}

async function isBundleDir(p: string): Promise<boolean> {
  const st = await fs.stat(p).catch(() => null);
  if (!st) throw new LayercacheError('FILE_NOT_FOUND', `${p} does not exist; give a MODEL.onnx file or a bundle directory built by 'layercache build'`);
  // The engine workers and retrains read the model again: a pipe (`<(…)`) would be empty for them, a FIFO hang.
  const kind = nonRegularKind(st);
  if (kind !== null && kind !== 'a directory') throw new LayercacheError('FILE_UNREADABLE', `${p} is ${kind}, not a model file; serve reads the model more than once (engine workers, retrains): save it to a file and serve that`);
  if (!st.isDirectory()) return false;
  if (!(await hasManifest(p))) {
    throw new LayercacheError('BUNDLE_NOT_FOUND', `${p} is a directory without ${MANIFEST_FILE}; give a bundle directory built by 'layercache build', or a MODEL.onnx file`);
  }
  return true;
}

function fromBundle(bundle: LoadedBundle, version: number): Start {
  const m = bundle.manifest;
  const input = m.source.inputs[0]!;
  return {
    source: { kind: 'bundle', dir: bundle.dir, manifestSha256: bundle.manifestSha256 },
    version,
    bundle,
    modelFile: path.join(bundle.dir, m.source.backbone.file),
    preprocess: m.preprocess,
    inputName: input.name,
    sampleDims: input.shape.slice(1).map(Number),
    classes: m.source.classes,
  };
}

/**
 * logSink: where pino writes JSON log lines (default stdout). Without serve.stateDir the
 * versions go to a temporary directory, removed at close or when startup fails.
 */
export async function startServer(sourcePath: string, given: Config, logSink?: { write(line: string): void }): Promise<RunningServer> {
  const call = 'startServer(sourcePath, config, logSink)';
  requireArgument(call, 'sourcePath', sourcePath, 'path', "a MODEL.onnx file or a bundle directory, e.g. startServer('bundle/', loadConfig({ serve: { port: 8080 } }))");
  requireArgument(call, 'config', given, 'object', 'a configuration from loadConfig, e.g. loadConfig({ serve: { port: 8080 } })');
  // Perhaps made in code, not by loadConfig: checked as loadConfig checks it (CONFIG_INVALID naming the setting).
  const config = validConfig(given);
  if (logSink !== undefined) requireArgument(call, 'logSink', logSink, (v) => isRecord(v) && typeof v.write === 'function', 'a stream to write log lines to (an object with write(line)), or nothing for stdout');
  if (config.serve.stateDir !== null) return start(sourcePath, config, config.serve.stateDir, null, logSink);
  const temporary = await makeTemporaryStateDir();
  try {
    return await start(sourcePath, config, temporary, temporary, logSink);
  } catch (err) {
    // Why the start failed is what the caller needs; a temporary directory left in /tmp is not worth hiding it.
    await fs.rm(temporary, { recursive: true, force: true }).catch(() => undefined);
    throw err;
  }
}

/** temporary: stateDir again when it is the server's own, to remove at close; else null. */
async function start(sourcePath: string, config: Config, stateDir: string, temporary: string | null, logSink?: { write(line: string): void }): Promise<RunningServer> {
  const created = await makeStateDir(stateDir).catch((err: NodeJS.ErrnoException) => {
    const file = err.code === 'EEXIST' || err.code === 'ENOTDIR';
    const why = file ? 'it, or a directory above it, is a file' : err.message;
    throw new LayercacheError('CONFIG_INVALID', `state directory ${stateDir} cannot be created: ${why}; give ${file ? 'a directory path' : 'a directory this user may create and write'} for --state`, { cause: err });
  });
  const s = config.serve;
  const log: Logger = pino({
    // pino's default base (pid, hostname) too: which replica wrote a line.
    level: s.log, base: { model: s.name, pid: process.pid, hostname: os.hostname() },
    // Request lines carry the path without its query: a client may put a token there, and nothing else is read from it.
    serializers: { req: (req: { method?: string; url?: string; host?: string; ip?: string }) => ({ method: req.method, url: req.url === undefined ? undefined : pathOf(req.url), host: req.host, remoteAddress: req.ip }) },
  }, logSink ?? process.stdout);
  // One it made now is its own, whatever owner the file system reports (an NFS export squashing users says nobody).
  if (!created) await checkStateDirAccess(stateDir, (text) => log.warn({ stateDir }, text));
  const store = new VersionStore(stateDir);
  const unlock = await store.lock((text, level) => log[level]({ stateDir }, text));
  try {
    // Once locked: a temporary directory given as --state is this server's now, and no sweep may remove it.
    await (temporary === null ? adoptStateDir(stateDir) : removeAbandonedStateDirs(path.dirname(temporary), temporary, (text, level) => log[level](text)));
    return await startLocked(sourcePath, config, store, temporary, unlock, log);
  } catch (err) {
    // A lock that cannot be removed now is stale once this process is gone (state-lock.ts): the start's error comes first.
    await unlock().catch((e: unknown) => log.warn({ err: e, stateDir }, `state: the lock could not be released after a failed start: ${(e as Error).message}`));
    throw err;
  }
}

/** With the state directory locked; `unlock` runs at close. */
async function startLocked(sourcePath: string, config: Config, store: VersionStore, temporary: string | null, unlock: () => Promise<void>, log: Logger): Promise<RunningServer> {
  const s = config.serve;
  const stateDir = store.stateDir;
  const given = (await isBundleDir(sourcePath)) ? await loadBundle(sourcePath) : null;
  if (isWithin(await realPath(sourcePath), await realPath(store.versionsDir))) {
    throw new LayercacheError('USAGE', `${sourcePath} is inside the state directory's versions (${store.versionsDir}), which are pruned and replaced (retrains would lose the backbone they read); copy it out (cp -r ${sourcePath} ${given ? 'bundle/' : 'model.onnx'}) and serve the copy`);
  }
  // A bare model is read once: for its hash here and its graph below (clear errors when unreadable).
  const givenModel = given ? null : await loadModelFile(sourcePath);
  const givenSha = given ? given.manifest.source.sha256 : sha256(givenModel!.bytes);
  // The scores output wanted: a bundle's own; for a model, --scores-output unless it names the first output.
  const asked = config.build.scoresOutput;
  const wantedScores = given ? given.manifest.source.reading?.scoresOutput ?? null : asked !== null && givenModel!.model.graph?.output[0]?.name !== asked ? asked : null;
  // A flag naming the output the bundle reads anyway (for a plain bundle, its first) agrees with it.
  const bundleScores = given ? wantedScores ?? given.manifest.source.outputs[0]!.name : null;
  if (given && asked !== null && asked !== bundleScores) {
    throw new LayercacheError('USAGE', `--scores-output '${asked}' applies when serving a model; bundle ${sourcePath} reads its class scores from ${wantedScores === null ? `its first output '${bundleScores}'` : `'${wantedScores}'`}, as built: drop the flag, or build a bundle with it`);
  }
  await store.removeLeftovers((dir) => log.warn({ dir }, `state: removed ${dir}, left by a save that did not finish (a retrain stopped at shutdown or a crash)`));
  const onSkip = (version: number, err: Error): void => log.error({ version }, `state: version ${version} cannot be served and was skipped: ${err.message}`);
  const expected = { sha256: givenSha, preprocess: given ? given.manifest.preprocess : config.preprocess, scoresOutput: wantedScores, sourcePath, given: given !== null };
  /** What is served: a resumed version, else the given bundle, else the bare backbone as version 0. */
  const startOf = async (resumed: { version: number; bundle: LoadedBundle } | null): Promise<Start> => {
    if (resumed) {
      // Retrains read the backbone from the given source, which pruning never deletes: latestResumable checked
      // that it holds the same bytes (its sha256 is the version's source, and a bundle's backbone is its source).
      return { ...fromBundle(resumed.bundle, resumed.version), modelFile: given ? path.join(given.dir, given.manifest.source.backbone.file) : sourcePath };
    }
    if (given) return fromBundle(given, given.manifest.version);
    const { model } = givenModel!;
    const { analysis: a, reading } = await analyzeClassifier(model, { source: sourcePath, engine: config.engine, scoresOutput: asked });
    checkClassifier(a, sourcePath, scoresName(model, reading));
    const out = a.outputs[0]!;
    for (const line of describeReading(reading, model)) log.info(line);
    for (const caution of a.cautions) log.warn(caution);
    return {
      source: { kind: 'model', file: sourcePath, classes: out.dims[1]!, reading, sha256: givenSha },
      version: 0,
      bundle: null,
      modelFile: sourcePath,
      preprocess: config.preprocess,
      inputName: a.inputs[0]!.name,
      sampleDims: a.inputs[0]!.dims.slice(1),
      classes: out.dims[1]!,
    };
  };
  const versions = await StartVersions.open(store, given, expected, log, onSkip);
  let start = await startOf(versions.current);

  const metrics = new ServerMetrics();
  metrics.start(s.name, { version: pkg.version, onnxruntime: runtimeVersion() });
  let learner: OnlineLearner | null = null;
  let pool: EnginePool;
  for (;;) {
    try {
      pool = await EnginePool.start(s.workers, start.source, start.version, {
        engine: config.engine,
        sampleDims: start.sampleDims,
        onVerified: (v) => learner?.onVerified(v),
        onWorkerError: (err) => {
          metrics.workerFailures.inc({ model: s.name });
          log.error({ err }, `engine worker failed: ${err.message}`);
        },
        onVerifyFailed: (err) => {
          metrics.verifyFailures.inc({ model: s.name });
          log.warn({ err }, err.message);
        },
        verifyHoldMs: s.online.verifyHoldMs,
        onWorkerReplaced: () => log.info({ workers: pool.size }, `engine worker replaced; ${pool.size} of ${s.workers} running`),
      });
      break;
    } catch (err) {
      // A saved version whose files are intact but which the engine cannot open: an older one of the given bundle's
      // lineage is served, if any (start-version.ts).
      start = await startOf(await versions.fallBack(err));
    }
  }
  const resumed = versions.current;
  await versions.record().catch(async (err: unknown) => {
    await pool.close();
    await versions.abandon();
    throw err;
  });
  const layout = start.preprocess?.layout ?? 'nchw';
  // How retrains lay out their augmented copies: the preprocessing's layout, else --layout (tensor samples).
  const samplesLayout = start.preprocess?.layout ?? config.preprocess.layout;
  const model: ModelInfo = {
    name: s.name, inputName: start.inputName, sampleDims: start.sampleDims, classes: start.classes,
    preprocess: start.preprocess, imageSize: colourImageSizeOf([1, ...start.sampleDims], layout) ?? null, labels: s.labels,
  };
  // A bundle is held to the tolerance it was built for, unless serve.tolerance (--tolerance) says otherwise; the given
  // bundle's, not a resumed version's: a restart runs at the same tolerance whatever the newest version is.
  const held = servingTolerance(s.tolerance, given, config.build.tolerance);
  let ready = false;
  const accepted = new AcceptedRequests();
  // Everything that can still fail after the workers started: on failure the workers stop, so no thread outlives it.
  const wire = async () => {
    // Settings that cannot fit this model are refused at start, not at every request.
    if (s.labels.length > 0 && s.labels.length !== start.classes) {
      throw new LayercacheError('CONFIG_INVALID', `--labels names ${s.labels.length} classes but the model has ${start.classes}; give one class name per line, in class order`);
    }
    if (model.imageSize && model.preprocess) validatePreprocess(model.preprocess, model.imageSize.channels);
    // Every retrain would fail on it, as build does.
    if (s.online.enabled) checkAugmentable(config.build.augment, start.sampleDims, samplesLayout, 'the model\'s input');

    // Retrains save their latency profile there (only retrains read it: without learning it is not looked at). A
    // --latency-profile file of another kind (the model, given by mistake) is refused now; the state directory's own,
    // if unreadable as a profile, is the server's to replace.
    const latencyProfile = config.build.latencyProfile ?? path.join(stateDir, 'latency-profile.json');
    if (s.online.enabled && config.build.latencyProfile !== null) {
      await checkLatencyProfileFile(latencyProfile);
    } else if (s.online.enabled) {
      const profileReading = await readLatencyProfile(latencyProfile);
      if (!profileReading.replaceable) {
        await fs.rm(latencyProfile, { force: true });
        log.warn({ file: latencyProfile }, `state: removed ${profileReading.problem ?? latencyProfile}; retrains measure latencies again`);
      }
    }
    const online = new OnlineLearner({
      config: s.online, build: retrainBuild(config, s.online.enabled ? given : null, { tolerance: held.tolerance, scoresOutput: wantedScores, augmentProblem: (a) => augmentProblem(a, start.sampleDims, samplesLayout, 'the model\'s input'), info: (text) => log.info(text), warn: (text) => log.warn(text) }), preprocess: start.preprocess, layout: samplesLayout, engine: s.online.retrainThreads === null ? config.engine : { ...config.engine, intraOpThreads: s.online.retrainThreads },
      modelFile: start.modelFile, latencyProfile, sampleDims: start.sampleDims, pool, store, metrics, model: s.name, log,
      modelSha256: givenSha, bufferFile: temporary === null && s.online.persistBuffer ? path.join(stateDir, BUFFER_FILE) : null,
    }, { version: start.version, bundle: start.bundle, learntOnline: resumed !== null && headsLearntOnline(resumed.bundle, given) });
    learner = online;
    const batcher = new DynamicBatcher({
      maxBatchSize: s.maxBatchSize, maxQueueDelayUs: s.maxQueueDelayUs, maxQueueRows: s.maxQueueRows,
      requestTimeoutMs: s.requestTimeoutMs, rowSize: start.sampleDims.reduce((a, b) => a * b, 1), engines: s.workers,
    }, (input, rows, draws, more) => pool.run(input, rows, draws, online.verifyRule(), more), (b) => metrics.batchRows.observe({ model: s.name }, b.rows));
    metrics.watch(metrics.queueRows, s.name, () => batcher.pendingRows);
    metrics.watch(metrics.engineWorkers, s.name, () => pool.size);
    // A request larger than the whole queue could never be queued: it is a 400 naming the limit, not a 503 forever.
    const app = await buildApp({
      model, batcher, metrics, online, serverVersion: pkg.version, isReady: () => ready, engineRunning: () => pool.size > 0, accepted, logger: log, token: s.token, listenHost: s.host, allowedHosts: s.allowedHosts,
      limits: { bodyLimitBytes: s.bodyLimitBytes, maxRequestRows: Math.min(s.maxRequestRows, s.maxQueueRows), requestTimeoutMs: s.requestTimeoutMs, topK: s.topK },
    });
    return { batcher, online, app };
  };
  let wired: Awaited<ReturnType<typeof wire>>;
  try {
    wired = await wire();
  } catch (err) {
    await pool.close();
    await versions.abandon();
    throw err;
  }
  const { batcher, online, app } = wired;
  // Last, when nothing else can fail: restoring consumes the saved buffer, which a failed start would lose.
  await online.restoreBuffer();
  if (resumed && !resumed.adopted) log.info({ version: resumed.version, stateDir }, `resumed version ${resumed.version} from ${stateDir}`);
  const exitsServed = start.bundle?.manifest.exits.filter((x) => x.threshold !== null).length ?? 0;
  log.info({ version: start.version, exits: exitsServed }, `serving version ${start.version} of ${given ? `bundle ${sourcePath}` : `model ${sourcePath}`}: ${exitsServed === 0 ? 'no exit (every request runs the full backbone)' : `${exitsServed} exit${exitsServed === 1 ? '' : 's'}`}`);
  log.info({ tolerance: held.tolerance, from: held.from }, `the accuracy guard${s.online.enabled ? ' and retrains hold' : ' holds'} agreement with the backbone at ${targetAgreementPct(held.tolerance)} or more (tolerance ${setPercent(held.tolerance)}: ${held.from})`);
  if (temporary) log.info({ stateDir }, `bundle versions go to the temporary directory ${stateDir}, removed at shutdown (\`layercache serve --state DIR\` keeps them across restarts)`);
  metrics.bundleVersion.set({ model: s.name }, start.version);
  metrics.bufferSamples.set({ model: s.name }, online.status().bufferSamples);
  ready = true;

  let closing: Promise<void> | null = null;
  return {
    app, online, model, stateDir,
    inFlight: () => accepted.size,
    async listen() {
      // Its engine workers and state lock are gone: Fastify's refusal read as a port to change.
      if (closing) throw new LayercacheError('RELEASED', 'this server was closed, so it cannot listen again; start a new one with startServer');
      try {
        return await app.listen({ host: s.host, port: s.port });
      } catch (err) {
        const code = (err as NodeJS.ErrnoException).code;
        throw new LayercacheError('CONFIG_INVALID', `cannot listen on ${s.host}:${s.port} (${code ?? (err as Error).message}); choose another --port or --host (serve.port, serve.host)`, { cause: err });
      }
    },
    close() {
      closing ??= (async () => {
        ready = false;
        // Queued requests run now rather than after --max-queue-delay-us.
        batcher.hurry();
        // A running retrain stops at its next step (and nothing retrained is swapped in from now on).
        const learning = online.close();
        // Requests accepted before (bodies still arriving included) are served; requests arriving now
        // get 503 NOT_READY and their connection closed. The listener closes after the drain: closing it
        // first would reset connections whose request had not arrived yet instead of answering them.
        // A request whose body stalls would hold the drain past the shutdown timeout, and the process would stop with its
        // buffer unsaved and the state locked: after its share of the timeout the drain closes such connections.
        const drainMs = Math.max(s.shutdownTimeoutMs / 2, s.shutdownTimeoutMs - SHUTDOWN_RESERVE_MS);
        if (!(await settlesWithin(accepted.idle(), drainMs))) {
          log.warn({ requests: accepted.size, drainMs }, `shutdown: ${accepted.size} request(s) still unanswered after ${drainMs} ms (their bodies still arriving, or their rows still queued); closing their connections so that the buffer is saved and the state unlocked`);
          app.server.closeAllConnections();
          await accepted.idle();
        }
        await batcher.drain();
        const closed = app.close();
        // Every accepted request is answered: connections still open carry late requests (answered 503, or
        // a body still trickling in), which must not hold the shutdown until Node's request timeout.
        app.server.closeAllConnections();
        await closed;
        await learning;
        // Every answered row is in the buffer now (the batcher drained, the listener closed). Each last step runs
        // whatever the one before did (the lock is released even if the buffer could not be saved); the shutdown then
        // fails with the first error, every one logged.
        const failures: unknown[] = [];
        for (const step of [() => online.saveBuffer(), () => pool.close(), unlock, async () => { if (temporary) await fs.rm(temporary, { recursive: true, force: true }); }]) {
          await step().catch((err: unknown) => void failures.push(err));
        }
        for (const err of failures) log.error({ err }, `shutdown: ${(err as Error).message}`);
        if (failures.length > 0) throw failures[0];
      })();
      return closing;
    },
  };
}
