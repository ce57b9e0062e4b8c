/** Public surface of the heads module: the head family, pooling, and head graphs for inference and training. */
export { type HeadSpec, type HeadParam, paramShapes, initParams, headMacs, headLabel } from './head-spec.ts';
export { poolFeatures, pooledDim } from './pooling.ts';
export { appendHeadLogits, addParamInitializers, appendLossAndGrads, appendAdamW, scalar, type FloatType, type LossAndGrads } from './head-graph.ts';
export { buildLossGradModel, outputLossAndGrads, buildTrainLoopModel, trainStepNames, type TrainHead, type TrainOptions } from './train-graph.ts';
export { buildHeadModel, HEAD_INPUT, HEAD_OUTPUT } from './head-model.ts';
export { fitFeatureScaling, applyFeatureScaling, foldScaling, type FeatureScaling } from './feature-scaling.ts';
