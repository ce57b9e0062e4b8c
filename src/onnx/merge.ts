/**
 * Appends one model's graph to another's. Invariant: the appended graph's tensors and
 * node names are prefixed, so nothing collides; its inputs are bound to tensors of the
 * base graph; its outputs are added (prefixed) after the base outputs.
 */
import { clone } from '@bufbuild/protobuf';
import { ModelProtoSchema, NodeProtoSchema, TensorProtoSchema, ValueInfoProtoSchema } from 'onnx-buf';
import { LayercacheError } from '../errors/index.ts';
import type { ModelProto } from './model-io.ts';
import { modelOpset } from './builder.ts';

export function appendGraph(base: ModelProto, addition: ModelProto, bindings: Readonly<Record<string, string>>, prefix: string): ModelProto {
  if (modelOpset(base) !== modelOpset(addition)) {
    throw new LayercacheError('ONNX_BUILD_FAILED', `cannot merge graphs of opset ${modelOpset(addition)} into opset ${modelOpset(base)}`);
  }
  const out = clone(ModelProtoSchema, base);
  const g = out.graph!;
  const add = addition.graph!;
  const rename = (name: string): string => (name === '' ? '' : bindings[name] ?? `${prefix}${name}`);
  for (const input of add.input) {
    if (!(input.name in bindings)) throw new LayercacheError('ONNX_BUILD_FAILED', `input '${input.name}' of the appended graph is not bound to a base tensor`);
  }
  for (const t of add.initializer) {
    const c = clone(TensorProtoSchema, t);
    c.name = rename(t.name);
    g.initializer.push(c);
  }
  for (const n of add.node) {
    const c = clone(NodeProtoSchema, n);
    c.name = `${prefix}${n.name}`;
    c.input = n.input.map(rename);
    c.output = n.output.map(rename);
    g.node.push(c);
  }
  for (const o of add.output) {
    const c = clone(ValueInfoProtoSchema, o);
    c.name = rename(o.name);
    g.output.push(c);
  }
  return out;
}
