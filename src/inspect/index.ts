/** Public surface of the inspect module: model analysis (shapes, cut points, MACs, exits, how to read a classifier). */
export { analyzeModel, analyzeClassifier, analyzeAsRead, readingOf, batchAxisOf, batchIsFirst, type ModelAnalysis, type ExitCandidate, type TensorSummary, type AnalyzeOptions } from './analyze.ts';
export { applyReading, checkClassifier, fixSampleDims, readBackbone, describeReading, isPlainReading, scoresName, type ClassifierReading } from './classifier-reading.ts';
export { type LogitsPlan } from './logits-plan.ts';
