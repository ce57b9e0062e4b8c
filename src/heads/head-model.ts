/**
 * A head as a standalone ONNX model: exit tensor [batch, ...dims] → pooling → head →
 * log-probabilities [batch, classes], at the backbone's opset so it can be fused into the
 * segment before it. Reading the parameters back from the file gives the same head.
 */
import { GraphBuilder, protoToTensor, type ModelProto } from '../onnx/index.ts';
import { LayercacheError } from '../errors/index.ts';
import { addParamInitializers, appendHeadLogits } from './head-graph.ts';
import { paramShapes, type HeadParam, type HeadSpec } from './head-spec.ts';
import { poolFeatures, pooledDim } from './pooling.ts';

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

/** Reads a head's parameters back from its model (named head_<param>). */
export function headParamsOf(model: ModelProto, spec: HeadSpec, exitDims: readonly number[], classes: number): HeadParam[] {
  const inits = new Map(model.graph!.initializer.map((t) => [t.name, t]));
  return paramShapes(spec, pooledDim(exitDims, spec.pool), classes).map((s) => {
    const t = inits.get(`head_${s.name}`);
    if (!t) throw new LayercacheError('BUNDLE_INVALID', `head model lacks parameter head_${s.name}`);
    const value = protoToTensor(t);
    if (value.dims.join() !== s.dims.join()) throw new LayercacheError('BUNDLE_INVALID', `head parameter head_${s.name} has shape [${value.dims}] but [${s.dims}] was expected`);
    return { name: s.name, dims: s.dims, data: value.data as Float32Array };
  });
}
