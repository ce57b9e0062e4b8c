/**
 * The library surface of layercache: load a model, inspect it, build a bundle, load a
 * bundle, run a cascade, evaluate, report, serve. Internal modules stay private; each group
 * of exports below has a short example (in this file: editors do not show JSDoc on re-exports).
 */

/**
 * The one error class, with a stable `code` (see docs/errors.md), an HTTP status and a CLI exit code.
 * @example
 *   try { await loadBundle('missing/'); } catch (e) { if (e instanceof LayercacheError) console.log(e.code); } // 'BUNDLE_NOT_FOUND'
 */
export { LayercacheError, ERROR_CODES, type ErrorCode, type ErrorCodeInfo } from './errors/index.ts';

/**
 * The one configuration schema: validated once, frozen, passed down. LAYERCACHE_TOKEN is read (and an empty or
 * malformed one refused) unless `{ serving: false }` says the configuration will not serve.
 * @example
 *   const config = loadConfig({ build: { tolerance: 0.01, augment: ['flip'] }, engine: { intraOpThreads: 2 } }, process.env, { serving: false });
 */
export { loadConfig, type Config, type ConfigInput, type BuildConfig, type ServeConfig, type PreprocessConfig, type LoadOptions } from './config/index.ts';

/**
 * ONNX models as protobuf messages (byte-for-byte round trips), and a graph builder.
 * @example
 *   const { model, bytes } = await loadModelFile('resnet56.onnx'); // bytes: the whole model, external data inlined
 *   const raw = await readModelFile('resnet56.onnx'); // the file's own bytes (a header only, for external data)
 */
export { loadModel, loadModelFile, parseModel, saveModel, serializeModel, readModelFile, GraphBuilder, float, type ModelProto, type GraphIndex, type Dim, type AttrValue, type FloatAttr } from './onnx/index.ts';

/**
 * Shapes, candidate exits (single-tensor cut points, one per block) and MACs of a model.
 * @example
 *   const a = await analyzeModel(await loadModel('resnet56.onnx'));
 *   console.log(a.totalMacs, a.exits.map((e) => `${e.tensor} ${(100 * e.fraction).toFixed(0)}%`));
 */
export { analyzeModel, type ModelAnalysis, type ExitCandidate, type AnalyzeOptions, type TensorSummary, type ClassifierReading, type LogitsPlan } from './inspect/index.ts';

/**
 * Cut a model into segments at cut tensors (each segment a standalone ONNX model).
 * @example
 *   const segments = extractSegments(model, a.flow, [a.exits[9]!.tensor], a.typeOf); // two segments
 */
export { extractSegments, addOutputs, writeSegments, type Segment, type Dataflow, type TensorType, type SegmentsIndex, type BoundaryDescription } from './surgery/index.ts';

/**
 * Data sources from a spec: `cifar10:PATH#A-B`, `folder:DIR`, `npy:PATH`, `raw:PATH:3x32x32`, `mnist:#A-B`.
 * The preprocessing applies to images (cifar10, folder); tensors (npy, raw, mnist) are read as they are.
 * @example
 *   const data = await openDataSource('mnist:#0-999', IDENTITY_PREPROCESS);
 *   const x = data.batch(0, 64); // float32 [64, 784]
 */
export { openDataSource, memorySource, IDENTITY_PREPROCESS, type DataSource, type Preprocess, type ImageSize } from './data/index.ts';

/**
 * From a model and unlabeled samples to a bundle: collect, train heads, measure, select.
 * @example
 *   const built = await buildCascade({ modelFile, modelBytes, model, data, preprocess: null }, config.build, config.engine, SILENT);
 *   console.log(built.report.selected.agreement, built.report.selected.exits);
 */
export { buildCascade, type BuildInput, type BuildResult, type BuildReport, type PolicySummary, type DeployedDrop } from './builder/index.ts';

/**
 * Latency profiles: a build reuses the latencies measured before on this machine (same backbone,
 * batch and engine), so builds of the same data choose the same bundle.
 * @example
 *   const built = await withLatencyProfileFile('latency.json', SILENT,
 *     (latencyProfile) => buildCascade({ modelFile, modelBytes, model, data, preprocess: null, latencyProfile }, config.build, config.engine, SILENT));
 */
export { withLatencyProfileFile, readLatencyProfile, writeLatencyProfile, type LatencyProfile, type ProfileReading } from './builder/index.ts';

/**
 * Bundles on disk: saved atomically, loaded with full validation (schema, sha256 of every file).
 * @example
 *   await saveBundle('bundle/', built.manifest, { backbone: modelBytes, segments: built.segments, heads: built.heads, candidateHeads: built.candidateHeads });
 *   const bundle = await loadBundle('bundle/');
 */
export { saveBundle, loadBundle, bundlePaths, type LoadedBundle, type BundleFiles, type SaveBundleOptions, type Manifest, type ScoreSpec } from './bundle/index.ts';

/**
 * The early-exit runtime: rows answered by a confident head skip the rest of the network.
 * @example
 *   const cascade = await Cascade.fromBundle(bundle, config.engine);
 *   const rows = await cascade.run(data.batch(0, 8)); // [{ probs, classIndex, exit (null = backbone), confidence }, …]
 */
export { Cascade, type CascadeRow, type CascadeExit, type CascadeUse } from './cascade/index.ts';

/**
 * Backbone vs bundle in the same run on the same inputs: agreement, accuracy, MACs, latency, throughput.
 * @example
 *   const report = await evaluateBundle(bundle, heldOut, { engine: config.engine, progress: SILENT, latencySamples: 1000, paper: 'build' });
 */
export { evaluateBundle, type EvalReport, type EvalOptions, type SystemFigures, type CachedFigures, type LatencyStats, type Headroom, type PairedSaving } from './evaluate/index.ts';

/**
 * The self-contained HTML report (inline SVG charts) of a bundle and its evaluation.
 * @example
 *   await writeReport('report.html', { manifest: bundle.manifest, evaluation: report, title: 'ResNet-56' });
 */
export { renderReport, writeReport, type ReportInput } from './report/index.ts';

/**
 * The KServe v2 server with dynamic batching, metrics and online caching.
 * @example
 *   const server = await startServer('bundle/', loadConfig({ serve: { port: 8080 } }));
 *   await server.listen();  // … later: await server.close() drains in-flight requests
 */
export { startServer, type RunningServer, type OnlineControl, type OnlineStatus, type ModelInfo } from './serve/index.ts';

/**
 * The built-in demo: a deep MLP on the mnist package's digits, built, evaluated and reported.
 * @example
 *   const demo = await runDemo('layercache-demo', loadConfig({}, process.env, { serving: false }), SILENT, { latencySamples: 1000 });
 *   console.log(demo.evaluation.cached.agreement, demo.reportFile);
 */
export { runDemo, type DemoResult } from './demo/index.ts';

/**
 * Progress reporting (`SILENT` for none), onnxruntime sessions and plain tensors.
 * @example
 *   const session = await Session.create(serializeModel(model), 'my model');
 *   const out = await session.run({ input: { dtype: 'float32', dims: [1, 784], data: new Float32Array(784) } });
 */
export { SILENT, type Progress, type ProgressPhase } from './progress/index.ts';
export { Session, type EngineOptions, type IoInfo } from './engine/index.ts';
export type { Tensor, DType, TypedArrayOf } from './tensor/index.ts';
