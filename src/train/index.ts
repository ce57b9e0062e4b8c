/** Public surface of the train module: the demo backbone (a deep MLP) trained in onnxruntime. */
export { type MlpSpec, mlpParamShapes, initMlpParams, mlpMacs, buildMlpLossGrad, buildMlpTrainStep, buildMlpModel } from './mlp-graph.ts';
export { trainMlp, type MlpTrainSettings, type MlpTrainResult } from './train-mlp.ts';
