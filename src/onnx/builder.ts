/**
 * A small, readable ONNX graph builder, used by tests and by layercache itself to
 * generate graphs (probes, heads, trainers). Invariants: tensor names are unique; the
 * built model declares the opset it was given; `build()` may be called once per graph.
 *
 * Example:
 *   const g = new GraphBuilder({ opset: 17 });
 *   const x = g.input('x', 'float32', ['batch', 4]);
 *   const y = g.op('Relu', [g.op('Gemm', [x, g.weight('w', w), g.weight('b', b)], { transB: 1 })]);
 *   g.output(y, 'float32', ['batch', 8]);
 *   const model = g.build();
 */
import { clone, create } from '@bufbuild/protobuf';
import {
  AttributeProtoSchema, AttributeProto_AttributeType as A, GraphProtoSchema, ModelProtoSchema, NodeProtoSchema,
  OperatorSetIdProtoSchema, type AttributeProto, type GraphProto, type ModelProto, type NodeProto, type TensorProto, type ValueInfoProto,
} from 'onnx-buf';
import { LayercacheError, requireArgument } from '../errors/index.ts';
import type { DType, Tensor } from '../tensor/index.ts';
import { makeValueInfo, tensorToProto, type Dim } from './tensor-proto.ts';

/** An explicitly float attribute (a bare integer number is written as INT). */
export interface FloatAttr { readonly float: number }
export type AttrValue = number | FloatAttr | string | readonly number[] | Tensor | GraphProto;

export function float(value: number): FloatAttr {
  return { float: value };
}

function isTensor(v: unknown): v is Tensor {
  return typeof v === 'object' && v !== null && 'dtype' in v && 'data' in v;
}

function makeAttr(name: string, v: AttrValue): AttributeProto {
  if (typeof v === 'number') {
    return Number.isInteger(v)
      ? create(AttributeProtoSchema, { name, type: A.INT, i: BigInt(v) })
      : create(AttributeProtoSchema, { name, type: A.FLOAT, f: v });
  }
  if (typeof v === 'string') return create(AttributeProtoSchema, { name, type: A.STRING, s: new TextEncoder().encode(v) });
  if (Array.isArray(v)) {
    const nums = v as readonly number[];
    return nums.every(Number.isInteger)
      ? create(AttributeProtoSchema, { name, type: A.INTS, ints: nums.map((x) => BigInt(x)) })
      : create(AttributeProtoSchema, { name, type: A.FLOATS, floats: [...nums] });
  }
  if (isTensor(v)) return create(AttributeProtoSchema, { name, type: A.TENSOR, t: tensorToProto('', v) });
  if ('float' in (v as FloatAttr)) return create(AttributeProtoSchema, { name, type: A.FLOAT, f: (v as FloatAttr).float });
  return create(AttributeProtoSchema, { name, type: A.GRAPH, g: v as GraphProto });
}

export class GraphBuilder {
  private readonly nodes: NodeProto[] = [];
  private readonly inputs: ValueInfoProto[] = [];
  private readonly outputs: ValueInfoProto[] = [];
  private readonly initializers = new Map<string, Tensor>();
  private readonly names = new Set<string>();
  private counter = 0;
  private readonly opset: number;
  private readonly irVersion: number;
  private readonly graphName: string;

  constructor(options: { opset?: number; irVersion?: number; name?: string } = {}) {
    requireArgument('new GraphBuilder(options)', 'options', options, 'object', 'options such as { opset: 17 }, or nothing');
    this.opset = options.opset ?? 17;
    this.irVersion = options.irVersion ?? 8;
    this.graphName = options.name ?? 'graph';
  }

  /** The default-domain opset the graph targets; generated nodes must be valid at it. */
  get opsetVersion(): number {
    return this.opset;
  }

  /** Reserves names already used elsewhere (e.g. by the model being extended). */
  reserve(names: Iterable<string>): void {
    for (const n of names) this.names.add(n);
  }

  private claim(name: string): string {
    if (this.names.has(name)) throw new LayercacheError('ONNX_BUILD_FAILED', `tensor name '${name}' is used twice; pick a unique name`);
    this.names.add(name);
    return name;
  }

  /** A fresh unique name with the given prefix. */
  fresh(prefix: string): string {
    let name: string;
    do name = `${prefix}_${this.counter++}`;
    while (this.names.has(name));
    return name;
  }

  /** Declares a graph input. shape: dims, numbers or symbolic names. */
  input(name: string, dtype: DType, shape: readonly Dim[]): string {
    this.inputs.push(makeValueInfo(this.claim(name), dtype, shape));
    return name;
  }

  /** Adds an initializer (a constant weight). */
  weight(name: string, value: Tensor): string {
    this.initializers.set(this.claim(name), value);
    return name;
  }

  /** Adds a node and returns its output names. */
  node(opType: string, inputs: readonly string[], attrs: Record<string, AttrValue> = {}, options: { outputs?: number | readonly string[]; name?: string; domain?: string } = {}): string[] {
    const outs = typeof options.outputs === 'object'
      ? options.outputs.map((o) => this.claim(o))
      : Array.from({ length: options.outputs ?? 1 }, () => this.claim(this.fresh(opType.toLowerCase())));
    this.nodes.push(create(NodeProtoSchema, {
      name: options.name ?? this.fresh(`${opType}_node`),
      opType,
      domain: options.domain ?? '',
      input: [...inputs],
      output: outs,
      attribute: Object.entries(attrs).map(([k, v]) => makeAttr(k, v)),
    }));
    return outs;
  }

  /** Adds a single-output node and returns its output name. Pass `name` to name the output. */
  op(opType: string, inputs: readonly string[], attrs: Record<string, AttrValue> = {}, name?: string): string {
    return this.node(opType, inputs, attrs, name ? { outputs: [name] } : {})[0]!;
  }

  /** Declares a graph output. A null shape leaves the shape undeclared. */
  output(name: string, dtype: DType, shape: readonly Dim[] | null): void {
    this.outputs.push(makeValueInfo(name, dtype, shape));
  }

  /** The graph alone (for If/Loop bodies). */
  buildGraph(): GraphProto {
    return create(GraphProtoSchema, {
      name: this.graphName,
      node: this.nodes,
      input: this.inputs,
      output: this.outputs,
      initializer: [...this.initializers].map(([n, t]) => tensorToProto(n, t)),
    });
  }

  /** Nodes, initializers and outputs added so far (for extendModel). */
  parts(): { nodes: NodeProto[]; initializers: TensorProto[]; outputs: ValueInfoProto[]; inputs: ValueInfoProto[] } {
    const g = this.buildGraph();
    return { nodes: g.node, initializers: g.initializer, outputs: g.output, inputs: g.input };
  }

  /** The complete model. */
  build(): ModelProto {
    return create(ModelProtoSchema, {
      irVersion: BigInt(this.irVersion),
      producerName: 'layercache',
      opsetImport: [create(OperatorSetIdProtoSchema, { domain: '', version: BigInt(this.opset) })],
      graph: this.buildGraph(),
    });
  }
}

/** The default-domain opset of a model (ai.onnx), or 0 when it declares none. */
export function modelOpset(model: ModelProto): number {
  const entry = model.opsetImport.find((o) => o.domain === '' || o.domain === 'ai.onnx');
  return entry ? Number(entry.version) : 0;
}

/**
 * A copy of `model` with nodes appended by `fn`. Outputs that `fn` declares are appended
 * after the model's own, or replace them with `{ outputs: 'replace' }`. The builder's
 * opset is the model's, so generated nodes must be valid there.
 */
export function extendModel(model: ModelProto, fn: (g: GraphBuilder) => void, options: { outputs?: 'append' | 'replace' } = {}): ModelProto {
  const base = clone(ModelProtoSchema, model);
  const graph = base.graph!;
  const g = new GraphBuilder({ opset: modelOpset(model), irVersion: Number(model.irVersion) });
  g.reserve([
    ...graph.input.map((v) => v.name), ...graph.initializer.map((t) => t.name), ...graph.output.map((v) => v.name),
    ...graph.node.flatMap((n) => n.output), ...graph.node.map((n) => n.name),
  ]);
  fn(g);
  const added = g.parts();
  if (added.inputs.length > 0) throw new LayercacheError('ONNX_BUILD_FAILED', 'extendModel cannot add graph inputs');
  graph.node.push(...added.nodes);
  graph.initializer.push(...added.initializers);
  graph.output = options.outputs === 'replace' ? added.outputs : [...graph.output, ...added.outputs];
  return base;
}
