/** Public surface of the inspect module: model analysis (shapes, cut points, MACs, exits). */
export { analyzeModel, batchAxisOf, type ModelAnalysis, type ExitCandidate, type TensorSummary, type AnalyzeOptions } from './analyze.ts';
