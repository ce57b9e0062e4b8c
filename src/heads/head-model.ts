/**
 * A head as a standalone ONNX model: exit tensor [batch, ...dims] → pooling → head →
 * log-probabilities [batch, classes], at the backbone's opset so it can be fused into the
 * segment before it. Its parameters are initializers named head_<param>.
 */
import { GraphBuilder, type ModelProto } from '../onnx/index.ts';
import { addParamInitializers, appendHeadLogits } from './head-graph.ts';
import type { HeadParam, HeadSpec } from './head-spec.ts';
import { poolFeatures } from './pooling.ts';

export const HEAD_INPUT = 'exit';
export const HEAD_OUTPUT = 'logprobs';

export function buildHeadModel(spec: HeadSpec, params: readonly HeadParam[], exitDims: readonly number[], classes: number, opset: number): ModelProto {
  const g = new GraphBuilder({ opset, name: 'head' });
  const x = g.input(HEAD_INPUT, 'float32', ['batch', ...exitDims]);
  const feat = poolFeatures(g, x, exitDims, spec.pool, 'pool');
  const names = addParamInitializers(g, params, 'head');
  g.op('LogSoftmax', [appendHeadLogits(g, spec, feat, names, 'head')], { axis: 1 }, HEAD_OUTPUT);
  g.output(HEAD_OUTPUT, 'float32', ['batch', classes]);
  return g.build();
}
