/**
 * The library surface of layercache. Everything a program needs to inspect and cut a
 * model; internal modules stay private.
 *
 * Example:
 *   import { loadModel, analyzeModel } from 'layercache';
 *   const analysis = await analyzeModel(await loadModel('model.onnx'));
 *   console.log(analysis.exits.map((e) => e.tensor));
 */
export { LayercacheError, ERROR_CODES, type ErrorCode } from './errors/index.ts';
export { loadConfig, type Config } from './config/index.ts';
export { loadModel, parseModel, saveModel, serializeModel, GraphBuilder, type ModelProto } from './onnx/index.ts';
export { analyzeModel, type ModelAnalysis, type ExitCandidate, type AnalyzeOptions } from './inspect/index.ts';
export { extractSegments, addOutputs, writeSegments, type Segment } from './surgery/index.ts';
export { Session, type EngineOptions } from './engine/index.ts';
export type { Tensor, DType } from './tensor/index.ts';
