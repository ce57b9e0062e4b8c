/** Public surface of the onnx module: model I/O, graph indexing, the graph builder and proto helpers. */
export { type ModelProto, requireModel, parseModel, serializeModel, encodesModel, cloneModel, loadModel, loadModelFile, readModelFile, saveModel, hasExternalData } from './model-io.ts';
export { type GraphIndex, indexGraph, outerScopeReads } from './graph-index.ts';
export { GraphBuilder, float, extendModel, modelOpset, type AttrValue, type FloatAttr } from './builder.ts';
export { appendGraph } from './merge.ts';
export { type Dim, tensorToProto, protoToTensor, protoDims, makeValueInfo, readValueInfo } from './tensor-proto.ts';
export { dtypeOfElemType, elemTypeOfDtype, elemTypeName } from './dtypes.ts';
export type { GraphProto, NodeProto, TensorProto, ValueInfoProto } from 'onnx-buf';
