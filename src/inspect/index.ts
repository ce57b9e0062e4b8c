/** Public surface of the inspect module: model analysis (shapes, cut points, MACs, exits, how to read logits). */
export { analyzeModel, analyzeClassifier, batchAxisOf, type ModelAnalysis, type ExitCandidate, type TensorSummary, type AnalyzeOptions } from './analyze.ts';
export { applyLogitsPlan, describeLogitsPlan, holdsProbabilities, type LogitsPlan } from './classifier-output.ts';
