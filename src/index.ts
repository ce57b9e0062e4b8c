/**
 * The library surface of layercache: load a model, inspect it, build a bundle, load a
 * bundle, run a cascade, evaluate, serve. Internal modules stay private.
 *
 * Example:
 *   import { loadModel, analyzeModel } from 'layercache';
 *   const analysis = await analyzeModel(await loadModel('model.onnx'));
 *   console.log(analysis.exits.map((e) => e.tensor));
 */
export { LayercacheError, ERROR_CODES, type ErrorCode } from './errors/index.ts';
export { loadConfig, type Config, type BuildConfig } from './config/index.ts';
export { loadModel, parseModel, saveModel, serializeModel, readModelFile, GraphBuilder, type ModelProto } from './onnx/index.ts';
export { analyzeModel, type ModelAnalysis, type ExitCandidate, type AnalyzeOptions } from './inspect/index.ts';
export { extractSegments, addOutputs, writeSegments, type Segment } from './surgery/index.ts';
export { openDataSource, type DataSource, type Preprocess } from './data/index.ts';
export { buildCascade, type BuildInput, type BuildResult, type BuildReport } from './builder/index.ts';
export { saveBundle, loadBundle, type LoadedBundle, type Manifest } from './bundle/index.ts';
export { Cascade, type CascadeRow } from './cascade/index.ts';
export { evaluateBundle, type EvalReport } from './evaluate/index.ts';
export { SILENT, type Progress } from './progress/index.ts';
export { Session, type EngineOptions } from './engine/index.ts';
export { startServer, type RunningServer, type OnlineStatus } from './serve/index.ts';
export type { Tensor, DType } from './tensor/index.ts';
