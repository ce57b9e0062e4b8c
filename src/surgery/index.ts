/** Public surface of the surgery module: dataflow analysis, cut points, exits, MACs, segments and probes. */
export { type Dataflow, analyzeDataflow } from './dataflow.ts';
export { collapseCuts } from './exits.ts';
export { nodeMacs, HEAVY_OPS } from './macs.ts';
export { type Segment, type TensorType, orderCuts, extractSegments, addOutputs } from './segments.ts';
export { type SegmentsIndex, type BoundaryDescription, writeSegments } from './segment-files.ts';
export { rebuildableCuts } from './shape-rewrite.ts';
