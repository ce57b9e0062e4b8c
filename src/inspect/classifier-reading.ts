/**
 * How layercache reads a classifier: which output holds the class scores, how logits are read from it, whether its
 * batch dimension must be freed, which input and score types are cast, and which open input dims are fixed.
 *
 * layercache distils its heads from softmax(scores / T) and serves softmax(scores) for rows that run the whole
 * backbone, so the scores must be logits. Log-probabilities are logits already (softmax maps them back to the same
 * probabilities). Probabilities are not: softmax of probabilities is a flattened, wrong distribution. So:
 *   - the scores are the first output, or the one the user names (`scoresOutput`, moved first);
 *   - scores shaped [batch, classes, 1, 1] (or with other unit dims; older exports end so) are flattened to
 *     [batch, classes] (`flattenScores`);
 *   - scores that are a Softmax over the classes (possibly followed by shape-only ops such as Flatten or Reshape,
 *     or casts between float types) are read before that Softmax ('softmax' plan);
 *   - scores that hold probabilities some other way (every row ≥ 0 and summing to 1 on the analysis run) are read
 *     through Log(max(p, 1e-30)) ('log' plan);
 *   - anything else is read as it is ('logits').
 * Many exported models also fix the batch at 1 (input [1, 3, 224, 224]); cascades drop rows and servers batch
 * requests, so such a model is read with its batch dimension made symbolic (`dynamicBatch`), if it runs so.
 * Data and requests are float32: a model taking another input type gets a Cast in front (`inputDtype`), and
 * float16/float64 scores a Cast to float32 (`outputDtype`). Input dims the model leaves open are fixed at the
 * build data's (`sampleDims`): a cascade's heads have fixed shapes.
 * Invariants: the read model's first output is the scores, [batch, classes]; softmax of it equals the original
 * scores when those hold probabilities (up to the clamp at 1e-30); the read model's other outputs are the
 * original's; a reading is plain data (it travels in bundle manifests and worker messages) and applying it needs
 * no analysis.
 */
import { LayercacheError } from '../errors/index.ts';
import { cloneModel, dtypeOfElemType, elemTypeOfDtype, extendModel, makeValueInfo, parseModel, readValueInfo, serializeModel, type Dim, type ModelProto, type ValueInfoProto } from '../onnx/index.ts';
import type { DType } from '../tensor/index.ts';
import type { LoadedBundle } from '../bundle/index.ts';
import type { ModelAnalysis } from './analyze.ts';
import { applyLogitsPlan, describeLogitsPlan, withNewFirstOutput, type LogitsPlan } from './logits-plan.ts';

/** How layercache reads a classifier; see the top of this file. */
export interface ClassifierReading {
  /** The output holding the class scores when it is not the first (the read model has it first), or null. */
  readonly scoresOutput: string | null;
  /** The scores carry unit dims besides [batch, classes] ([batch, classes, 1, 1]); the read model flattens them. */
  readonly flattenScores: boolean;
  readonly logits: LogitsPlan;
  /** The batch dimension, fixed in the model, is made symbolic ('batch'). */
  readonly dynamicBatch: boolean;
  /** The input's type when it is not float32: the read model takes float32 and casts it to this (data and requests are float32). */
  readonly inputDtype: DType | null;
  /** The first output's type when it is float16 or float64: the read model casts the scores to float32 (other types are refused). */
  readonly outputDtype: DType | null;
  /** Per-sample input dims fixed by layercache where the model leaves them symbolic (from the build data), or null. */
  readonly sampleDims: readonly number[] | null;
}

/** The reading of a model that needs none. */
export const PLAIN_READING: ClassifierReading = Object.freeze({ scoresOutput: null, flattenScores: false, logits: Object.freeze({ kind: 'logits' as const }), dynamicBatch: false, inputDtype: null, outputDtype: null, sampleDims: null });

export function isPlainReading(r: ClassifierReading): boolean {
  return r.scoresOutput === null && !r.flattenScores && r.logits.kind === 'logits' && !r.dynamicBatch && r.inputDtype === null && r.outputDtype === null && r.sampleDims === null;
}

/** The model's first graph input that is not an initializer, or undefined. */
function firstRealInput(model: ModelProto): ValueInfoProto | undefined {
  const inits = new Set(model.graph!.initializer.map((t) => t.name));
  return model.graph!.input.find((v) => !inits.has(v.name));
}

/**
 * The model with its fixed batch made symbolic: the first dimension of every real input, and of every output,
 * that equals the first input's fixed batch becomes 'batch'. Intermediate shape hints (value_info) are dropped;
 * onnxruntime infers them again. Hard-coded batch sizes inside the graph are not touched: the caller checks
 * that the result runs at another batch size.
 */
function makeBatchDynamic(model: ModelProto): ModelProto {
  const copy = cloneModel(model);
  const g = copy.graph!;
  const inits = new Set(g.initializer.map((t) => t.name));
  const input = firstRealInput(copy);
  const fixed = input ? readValueInfo(input)?.shape?.[0] : undefined;
  if (typeof fixed !== 'number') return copy;
  const free = (v: (typeof g.input)[number]): (typeof g.input)[number] => {
    const d = readValueInfo(v);
    if (!d?.shape || d.shape[0] !== fixed) return v;
    const shape: Dim[] = ['batch', ...d.shape.slice(1)];
    return makeValueInfo(v.name, d.elemType, shape);
  };
  g.input = g.input.map((v) => (inits.has(v.name) ? v : free(v)));
  g.output = g.output.map(free);
  g.valueInfo = [];
  return copy;
}

/**
 * The model with output `name` moved first (the others follow in their order), or the model itself when it is
 * first already. Refuses a name the model does not output.
 */
export function selectScoresOutput(model: ModelProto, name: string): ModelProto {
  const outputs = model.graph!.output;
  const at = outputs.findIndex((o) => o.name === name);
  if (at < 0) {
    throw new LayercacheError('USAGE', `--scores-output (build.scoresOutput) names '${name}', but the model has no such output; its outputs are ${outputs.map((o) => `'${o.name}'`).join(', ')}`);
  }
  if (at === 0) return model;
  const copy = cloneModel(model);
  const g = copy.graph!;
  g.output = [g.output[at]!, ...g.output.filter((_, i) => i !== at)];
  return copy;
}

/** The model with its first output flattened to [batch, classes] (Flatten, axis 1) and put first (the others follow). */
function flattenFirstOutput(model: ModelProto): ModelProto {
  const first = model.graph!.output[0]!;
  const decl = readValueInfo(first);
  const shape: Dim[] | null = decl?.shape ? [decl.shape[0]!, decl.shape.slice(1).find((d) => d !== 1) ?? '?'] : null;
  return withNewFirstOutput(model, (g) => {
    g.op('Flatten', [first.name], { axis: 1 }, `${first.name}_lc_flat`);
    g.output(`${first.name}_lc_flat`, decl ? dtypeOfElemType(decl.elemType) ?? 'float32' : 'float32', shape);
  });
}

/** The model with its first output cast to float32 and put first (the others follow). */
function castFirstOutput(model: ModelProto): ModelProto {
  const first = model.graph!.output[0]!;
  const decl = readValueInfo(first);
  return withNewFirstOutput(model, (g) => {
    g.op('Cast', [first.name], { to: elemTypeOfDtype('float32') }, `${first.name}_lc_float`);
    g.output(`${first.name}_lc_float`, 'float32', decl?.shape ?? null);
  });
}

/**
 * The model taking its first input as float32, cast to `dtype` before anything reads it (the input keeps its
 * name). Reads of the input inside subgraphs are not rewritten.
 */
function castFirstInput(model: ModelProto, dtype: DType): ModelProto {
  const name = firstRealInput(model)!.name;
  const cast = `${name}_lc_cast`;
  const out = extendModel(model, (g) => void g.op('Cast', [name], { to: elemTypeOfDtype(dtype) }, cast));
  const g = out.graph!;
  const node = g.node.pop()!;
  for (const n of g.node) n.input = n.input.map((t) => (t === name ? cast : t));
  g.node.unshift(node);
  g.input = g.input.map((v) => (v.name === name ? makeValueInfo(name, 'float32', readValueInfo(v)?.shape ?? null) : v));
  return out;
}

/**
 * The model with the first input's symbolic per-sample dims fixed to `sampleDims` (dims after the first; its
 * batch dim is kept), or the model itself when none is symbolic. Intermediate shape hints are dropped.
 */
export function fixSampleDims(model: ModelProto, sampleDims: readonly number[]): ModelProto {
  const input = firstRealInput(model);
  const decl = input ? readValueInfo(input) : null;
  if (!input || !decl?.shape || decl.shape.slice(1).every((d) => typeof d === 'number')) return model;
  // Only whole shapes are filled in: dims the model fixes must be the data's too.
  const fits = decl.shape.length === sampleDims.length + 1 && decl.shape.every((d, i) => i === 0 || typeof d !== 'number' || d === sampleDims[i - 1]);
  if (!fits) {
    throw new LayercacheError('DATA_SHAPE_MISMATCH', `the data gives samples of shape [${sampleDims.join(', ')}] but the model input '${input.name}' declares [${decl.shape.slice(1).join(', ')}] per sample; check the layout (--layout) or the data spec`);
  }
  const shape: Dim[] = decl.shape.map((d, i) => (i > 0 ? sampleDims[i - 1]! : d));
  const copy = cloneModel(model);
  copy.graph!.input = copy.graph!.input.map((v) => (v.name === input.name ? makeValueInfo(v.name, decl.elemType, shape) : v));
  copy.graph!.valueInfo = [];
  return copy;
}

/** The model read per `reading`: its input dims fixed, its scores put first, cast to float32, read as logits and flattened, its input taken as float32, its batch freed. */
export function applyReading(model: ModelProto, reading: ClassifierReading): ModelProto {
  let read = reading.sampleDims ? fixSampleDims(model, reading.sampleDims) : model;
  if (reading.scoresOutput !== null) read = selectScoresOutput(read, reading.scoresOutput);
  // Cast first: the 'log' plan reads float32, and a 'softmax' plan replays the casts after the Softmax.
  if (reading.outputDtype !== null) read = castFirstOutput(read);
  read = applyLogitsPlan(read, reading.logits);
  if (reading.flattenScores) read = flattenFirstOutput(read);
  if (reading.inputDtype !== null) read = castFirstInput(read, reading.inputDtype);
  return reading.dynamicBatch ? makeBatchDynamic(read) : read;
}

/**
 * A bundle's backbone as its build read it (`source.reading`; read as is when absent, as older bundles were
 * built): what eval, verification and tools must run, since the bundle's segments were cut from it.
 */
export function readBackbone(bundle: LoadedBundle): { readonly model: ModelProto; readonly bytes: Uint8Array } {
  const reading = bundle.manifest.source.reading ?? PLAIN_READING;
  const parse = (): ModelProto => parseModel(bundle.backbone, `${bundle.dir}/backbone.onnx`);
  // A plain reading runs the stored bytes: nothing is parsed unless the model is asked for.
  if (isPlainReading(reading)) {
    let model: ModelProto | null = null;
    return { get model() { return (model ??= parse()); }, bytes: bundle.backbone };
  }
  let read: ModelProto;
  try {
    read = applyReading(parse(), reading);
  } catch (err) {
    // The manifest says how the build read this very backbone: a reading that does not apply to it was edited.
    if (err instanceof LayercacheError && err.code === 'INTERNAL') {
      throw new LayercacheError('BUNDLE_INVALID', `bundle ${bundle.dir}: the manifest's source.reading does not fit its backbone (${err.message}); the manifest was edited or the bundle is corrupted — rebuild it`, { cause: err });
    }
    throw err;
  }
  return { model: read, bytes: serializeModel(read) };
}

/** The name, in the model as given, of the output holding the class scores as `reading` reads them. */
export function scoresName(model: ModelProto, reading: ClassifierReading): string {
  return reading.scoresOutput ?? model.graph?.output[0]?.name ?? '';
}

/** Readable lines on what a reading does, and which output holds the class scores when there are several, for notes; then the analysis's cautions (ModelAnalysis.cautions). */
export function describeReading(reading: ClassifierReading, model: ModelProto, cautions: readonly string[] = []): string[] {
  const lines: string[] = [];
  const outputs = model.graph?.output ?? [];
  const scores = scoresName(model, reading);
  if (reading.scoresOutput !== null) {
    lines.push(`layercache reads output '${scores}' as the class scores (--scores-output), not the first, '${outputs[0]?.name ?? '?'}'`);
  } else if (outputs.length > 1) {
    lines.push(`the model has ${outputs.length} outputs (${outputs.map((o) => `'${o.name}'`).join(', ')}); layercache reads the first as the class scores — pass --scores-output NAME if they are another`);
  }
  if (reading.flattenScores) {
    const decl = outputs.find((o) => o.name === scores);
    const shape = decl ? readValueInfo(decl)?.shape : null;
    lines.push(`output '${scores}'${shape ? ` [${shape.join(', ')}]` : ''} has unit dimensions besides the classes; layercache reads it flattened to [batch, classes]`);
  }
  const logits = describeLogitsPlan(reading.logits, scores);
  if (logits) lines.push(logits);
  lines.push(...cautions);
  if (reading.inputDtype !== null) {
    const t = reading.inputDtype;
    const range = t === 'uint8' || t === 'int8' ? ' (preprocess to that type\'s range, e.g. --scale 1 --mean 0 --std 1 for uint8 pixels)'
      : /int/.test(t) ? ' (give integer values, token ids say, as float32 tensors: npy: or raw: data, or float32 in requests)' : '';
    lines.push(`the model takes ${t} input; layercache feeds it float32 values cast to ${t}${range}`);
  }
  if (reading.outputDtype !== null) lines.push(`the model's class scores are ${reading.outputDtype}; layercache reads them as float32`);
  if (reading.sampleDims) lines.push(`the model leaves its input size open; layercache fixes it at [${reading.sampleDims.join(', ')}] per sample, the data's`);
  if (reading.dynamicBatch) {
    const input = firstRealInput(model);
    const fixed = input ? readValueInfo(input)?.shape?.[0] : undefined;
    lines.push(`input '${input?.name ?? '?'}' fixes the batch at ${fixed ?? '?'}; layercache runs the model with a free batch dimension`);
  }
  return lines;
}

/** Refuses, with the fix, a model with more than one input. inputs: name and declared shape of each. */
export function refuseSeveralInputs(inputs: readonly { readonly name: string; readonly shape: readonly Dim[] | null }[], source: string): void {
  if (inputs.length <= 1) return;
  const shapes = inputs.map((i) => `'${i.name}' [${(i.shape ?? ['?']).join(', ')}]`).join(', ');
  throw new LayercacheError('MODEL_UNSUPPORTED', `${source} has ${inputs.length} inputs (${shapes}); layercache caches single-input classifiers: export the model with its other inputs fixed as constants`);
}

/**
 * Refuses, with the fix, a model that is not a classifier layercache can cache: it needs one input whose first
 * dimension is the batch, and float class scores [batch, classes] (two classes or more) as its first output.
 * `a` is the analysis of the model as read; `scores`, the name of the scores output in the model as given, for
 * messages (see scoresName).
 */
export function checkClassifier(a: ModelAnalysis, source: string, scores?: string): void {
  refuseSeveralInputs(a.inputs, source);
  const input = a.inputs[0]!;
  const out = a.outputs[0]!;
  const name = scores ?? out.name;
  const shape = `[${out.shape.join(', ')}]`;
  const batch = a.batchDim;
  const fix = 'export the model with its class scores ([batch, classes]) first, or name them with --scores-output NAME';
  if (batch === null || input.shape[0] !== batch) {
    throw new LayercacheError('MODEL_UNSUPPORTED', `${source}: input '${input.name}' [${input.shape.join(', ')}] has no batch dimension first (scores output '${name}' ${shape}); layercache batches samples: export the model with one (input [batch, …], class scores [batch, classes])`);
  }
  if (out.dtype !== 'float32') {
    throw new LayercacheError('MODEL_UNSUPPORTED', `${source}: output '${name}' holds ${out.dtype} values, not class scores; layercache needs float class scores, [batch, classes]: ${fix} (a label or ArgMax output may follow)`);
  }
  if (out.shape[0] !== batch && out.shape.includes(batch)) {
    throw new LayercacheError('MODEL_UNSUPPORTED', `${source}: output '${name}' has shape ${shape}: the batch ('${batch}') is its dimension ${out.shape.indexOf(batch) + 1}, not its first; layercache needs the class scores with the batch first, [batch, classes]: export the model without its final Transpose, or name another output with --scores-output NAME`);
  }
  if (out.shape[0] !== batch) {
    throw new LayercacheError('MODEL_UNSUPPORTED', `${source}: output '${name}' has shape ${shape}, whose first dimension does not follow the batch ('${batch}'); the graph probably hard-codes the batch (a Reshape to [1, -1], say): re-export it with a dynamic batch dimension`);
  }
  if (out.dims.length === 1) {
    throw new LayercacheError('MODEL_UNSUPPORTED', `${source}: output '${name}' has shape ${shape}, one value per row (a label?); layercache needs the class scores, [batch, classes]: ${fix}`);
  }
  if (out.dims.length === 2 && out.dims[1] === 1) {
    throw new LayercacheError('MODEL_UNSUPPORTED', `${source}: output '${name}' has shape ${shape}, one score per row; layercache needs a score per class: export a binary classifier with two class scores ([batch, 2])`);
  }
  if (out.dims.length !== 2 || (out.dims[1] ?? 0) < 2) {
    throw new LayercacheError('MODEL_UNSUPPORTED', `${source}: output '${name}' has shape ${shape}; layercache needs the class scores, [batch, classes]: ${fix}`);
  }
}
