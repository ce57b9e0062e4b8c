/**
 * Analyse a model: run it once with every intermediate tensor exposed to learn each
 * tensor's type and shape, find the cut points, count MACs, and list candidate exits.
 * Shapes come from onnxruntime itself, so any operator it runs is understood; running at
 * two batch sizes tells which dimensions follow the batch.
 * It also gathers cautions: what may make layercache's answers differ from what the model means (scores that may
 * not be logits, cuts through a quantized model's integer kernels).
 * Invariants: MACs are per sample; exits are listed in topological order with strictly
 * increasing cumulative MACs only where compute happens between them.
 */
import { LayercacheError, requireArgument } from '../errors/index.ts';
import { Session, DEFAULT_ENGINE_OPTIONS, checkEngineOptions, type EngineOptions } from '../engine/index.ts';
import { dtypeOfElemType, elemTypeName, elemTypeOfDtype, indexGraph, modelOpset, readValueInfo, protoDims, requireModel, serializeModel, type Dim, type ModelProto } from '../onnx/index.ts';
import { analyzeDataflow, addOutputs, collapseCuts, nodeMacs, rebuildableCuts, type Dataflow, type TensorType } from '../surgery/index.ts';
import { allocate, bytesPerElement, numel, seededRng, type DType, type Tensor } from '../tensor/index.ts';
import { applyReading, fixSampleDims, isPlainReading, refuseSeveralInputs, selectScoresOutput, type ClassifierReading } from './classifier-reading.ts';
import { planLogits, scoresCaution, squeezedClasses, type LogitsPlan } from './logits-plan.ts';

export interface TensorSummary {
  readonly name: string;
  readonly dtype: DType;
  /** Shape with the batch dimension symbolic. */
  readonly shape: readonly Dim[];
  /** Concrete dims at batch 1. */
  readonly dims: readonly number[];
}

export interface ExitCandidate {
  /** 0-based position in the listed exits. */
  readonly index: number;
  readonly tensor: string;
  readonly shape: readonly Dim[];
  /** MACs per sample of everything up to and including this tensor. */
  readonly cumulativeMacs: number;
  /** cumulativeMacs / totalMacs. */
  readonly fraction: number;
  /** Elements per sample of the tensor. */
  readonly activationElements: number;
  /** Bytes per sample of the tensor. */
  readonly activationBytes: number;
}

export interface ModelAnalysis {
  readonly model: ModelProto;
  readonly flow: Dataflow;
  readonly inputs: readonly TensorSummary[];
  readonly outputs: readonly TensorSummary[];
  /** Name of the symbolic batch dimension, or null when the batch is fixed. */
  readonly batchDim: string | null;
  readonly totalMacs: number;
  /** How layercache reads logits from the first output (see classifier-reading.ts). */
  readonly logits: LogitsPlan;
  /**
   * What may make layercache's answers differ from what the model means: scores read as logits that look like
   * something else (scoresCaution), cuts inside a quantized model's integer kernels (quantizedCaution).
   */
  readonly cautions: readonly string[];
  /** Every cut point as an exit candidate. */
  readonly candidates: readonly ExitCandidate[];
  /** Candidates collapsed to one per block (the default listing). */
  readonly exits: readonly ExitCandidate[];
  /** Summary of any tensor seen by the shape probe. */
  tensor(name: string): TensorSummary | undefined;
  /** Declared type of a tensor, for segment boundaries. */
  typeOf(name: string): TensorType;
}

export interface AnalyzeOptions {
  /** Concrete shapes for inputs whose non-batch dims are symbolic, e.g. { input: [1, 3, 224, 224] }. */
  readonly inputShapes?: Readonly<Record<string, readonly number[]>>;
  readonly engine?: EngineOptions;
  /** Label for messages (usually the file path). */
  readonly source?: string;
  /** The fix an INPUT_SHAPE_UNKNOWN error names; by default, passing --input-shape (inspect and split take it). */
  readonly shapeAdvice?: string;
}

const BATCH_NAMES = /^(batch|batch_size|batchsize|bs|n|b|unk__\d+|dynamic_?axes_?\d*|\?|)$/i;
/** Names that say "batch" (not the placeholders exporters give any unknown dim: '?', '', unk__7, dynamic_axes_1). */
const SAID_BATCH = /^(batch|batch_size|batchsize|bs|n|b)$/i;

/**
 * Whether the batch is the input's first axis: named there or open there, or fixed there with no dim called a batch
 * elsewhere ([1, 3, 'H', 'W'] and [1, 3, '?', '?'] yes; [1, 'batch', 8], time-major with a fixed length, no).
 */
export function batchIsFirst(shape: readonly Dim[] | null): boolean {
  if (!shape || batchAxisOf(shape) === 0) return true;
  return typeof shape[0] === 'number' && !shape.some((d) => typeof d === 'string' && SAID_BATCH.test(d));
}

/** Axis of the batch in a declared input shape: a batch-like symbolic name, else the first symbolic dim, else 0. */
export function batchAxisOf(shape: readonly Dim[] | null): number {
  if (!shape) return 0;
  const named = shape.findIndex((d) => typeof d === 'string' && BATCH_NAMES.test(d));
  if (named >= 0) return named;
  const symbolic = shape.findIndex((d) => typeof d === 'string');
  return symbolic >= 0 ? symbolic : 0;
}

/**
 * A feed for one input. scale = 1 uses the batch size given (1 unless --input-shape says
 * otherwise); scale = 2 doubles it, to see which dims follow the batch.
 */
function feedFor(name: string, elemType: number, shape: readonly Dim[] | null, scale: 1 | 2, opts: AnalyzeOptions, source: string): Tensor {
  const dtype = dtypeOfElemType(elemType);
  if (!dtype) throw new LayercacheError('ONNX_INVALID_MODEL', `${source}: input '${name}' has type ${elemTypeName(elemType)}, which layercache cannot feed; only numeric tensor inputs are supported`);
  const given = opts.inputShapes?.[name];
  const axis = batchAxisOf(shape);
  let dims: number[];
  if (given) {
    if (shape && given.length !== shape.length) {
      throw new LayercacheError('USAGE', `--input-shape ${name}=${given.join('x')} has ${given.length} dims but '${name}' has ${shape.length} ([${shape.join(', ')}])`);
    }
    const fixed = shape ? shape.findIndex((d, i) => i !== axis && typeof d === 'number' && d > 0 && given[i] !== d) : -1;
    if (fixed >= 0) {
      throw new LayercacheError('USAGE', `--input-shape ${name}=${given.join('x')} sets dimension ${fixed} to ${given[fixed]}, but '${name}' fixes it at ${shape![fixed]} ([${shape!.join(', ')}]); give only its symbolic dimensions other values`);
    }
    dims = [...given];
  } else {
    if (!shape) throw new LayercacheError('INPUT_SHAPE_UNKNOWN', `${source}: input '${name}' declares no shape; ${opts.shapeAdvice ?? `pass --input-shape ${name}=1x...`}`);
    dims = shape.map((d, i) => {
      if (typeof d === 'number' && d > 0) return d;
      if (i === axis) return 1;
      const hint = shape.map((x, k) => (k === axis ? 1 : typeof x === 'number' ? x : 'N')).join('x');
      throw new LayercacheError('INPUT_SHAPE_UNKNOWN', `${source}: input '${name}' has symbolic dimension ${i} ('${d}') besides the batch (dimension ${axis}); ${opts.shapeAdvice ?? `pass --input-shape ${name}=${hint} with N filled in`}`);
    });
  }
  if (scale === 2) dims[axis] = dims[axis]! * 2;
  const n = numel(dims);
  const data = allocate(dtype, n);
  if (dtype === 'float32' || dtype === 'float64') {
    const rng = seededRng(1234);
    for (let i = 0; i < n; i++) (data as Float32Array)[i] = rng.normal();
  }
  return { dtype, dims, data } as Tensor;
}

/** Analyses a model. Runs it twice (batch 1 and 2) with all intermediates exposed. */
export async function analyzeModel(model: ModelProto, opts: AnalyzeOptions = {}): Promise<ModelAnalysis> {
  requireModel('analyzeModel(model, opts)', model);
  requireArgument('analyzeModel(model, opts)', 'opts', opts, 'object', "options such as { source: 'model.onnx' }, or nothing");
  if (opts.engine !== undefined) checkEngineOptions('analyzeModel(model, opts)', opts.engine);
  const source = opts.source ?? 'model';
  const index = indexGraph(model.graph!);
  const rawFlow = analyzeDataflow(index);
  const inputDecl = index.inputs.map((name) => {
    const vi = index.valueInfo.get(name);
    const decl = vi ? readValueInfo(vi) : null;
    if (!decl) throw new LayercacheError('ONNX_INVALID_MODEL', `${source}: input '${name}' is not a tensor; layercache handles tensor inputs only`);
    return { name, ...decl };
  });
  for (const name of Object.keys(opts.inputShapes ?? {})) {
    if (!inputDecl.some((d) => d.name === name)) {
      throw new LayercacheError('USAGE', `--input-shape names '${name}', but ${source} has no such input; its inputs are ${inputDecl.map((d) => `'${d.name}'`).join(', ')}`);
    }
  }
  const firstShape = inputDecl[0]?.shape ?? null;
  const axis = batchAxisOf(firstShape);
  const declared = firstShape?.[axis];
  const batchDim = typeof declared === 'string' ? (declared === '?' || declared === '' ? 'batch' : declared) : firstShape === null ? 'batch' : null;

  // Expose every tensor that a node computes; onnxruntime infers their types.
  const taps: string[] = [];
  for (const node of index.nodes) for (const o of node.output) if (o !== '') taps.push(o);
  const probe = addOutputs(model, taps, () => null);
  const session = await Session.create(serializeModel(probe), `${source} (shape probe)`, opts.engine ?? DEFAULT_ENGINE_OPTIONS);
  let atOne: Record<string, Tensor>;
  let atTwo: Record<string, Tensor> | null = null;
  try {
    const feeds = (b: 1 | 2): Record<string, Tensor> =>
      Object.fromEntries(inputDecl.map((d) => [d.name, feedFor(d.name, d.elemType, d.shape, b, opts, source)]));
    atOne = await session.run(feeds(1));
    if (batchDim) {
      try {
        atTwo = await session.run(feeds(2));
      } catch (err) {
        const others = inputDecl.length > 1
          ? `; it has ${inputDecl.length} inputs (${inputDecl.map((d) => `'${d.name}' [${(d.shape ?? ['?']).join(', ')}]`).join(', ')}), and one without a batch dimension fails so too — layercache caches single-input classifiers`
          : '';
        throw new LayercacheError('MODEL_UNSUPPORTED', `${source} declares a dynamic batch ('${batchDim}') but fails at batch 2 (${(err as Error).message}); it probably hard-codes batch 1 somewhere (for example a Reshape to [1, -1]) — re-export it with a dynamic batch${others}`, { cause: err });
      }
    }
  } finally {
    await session.release();
  }

  const summaries = new Map<string, TensorSummary>();
  // Samples in the probe run: the first input's batch dim, unless the model has none (every dim fixed, and a
  // first output whose leading dim is not the input's, as [3, 32, 32] → [10]): then one.
  const fedBatch = inputDecl.length > 0 ? feedFor(inputDecl[0]!.name, inputDecl[0]!.elemType, firstShape, 1, opts, source).dims[axis]! : 1;
  const firstOut = index.outputs[0] === undefined ? undefined : atOne[index.outputs[0]];
  const batchSize = batchDim === null && firstOut !== undefined && firstOut.dims[0] !== fedBatch ? 1 : fedBatch;
  const summarize = (name: string, t: Tensor): void => {
    const other = atTwo?.[name];
    const shape = t.dims.map((d, i): Dim => (other && other.dims[i] !== d ? (d === batchSize && other.dims[i] === 2 * batchSize ? batchDim! : '?') : d));
    summaries.set(name, { name, dtype: t.dtype, shape, dims: t.dims });
  };
  for (const [name, t] of Object.entries(atOne)) summarize(name, t);
  for (const d of inputDecl) {
    const dims = feedFor(d.name, d.elemType, d.shape, 1, opts, source).dims;
    summaries.set(d.name, { name: d.name, dtype: dtypeOfElemType(d.elemType)!, shape: d.shape ?? dims, dims });
  }
  // Cuts whose later segments could not rebuild a shape value they read are not cuts.
  const flow = rebuildableCuts(rawFlow, (name) => summaries.get(name)?.shape, batchDim);
  const initDims = new Map(model.graph!.initializer.map((t) => [t.name, protoDims(t)]));
  const dimsOf = (name: string): readonly number[] | undefined => summaries.get(name)?.dims ?? initDims.get(name);

  const macs = index.nodes.map((n, i) => (flow.isCore[i] ? nodeMacs(n, dimsOf) : 0));
  const prefix: number[] = [];
  macs.reduce((acc, m, i) => (prefix[i] = acc + m), 0);
  // Per sample: the probe ran at `batchSize` samples.
  for (let i = 0; i < prefix.length; i++) prefix[i] = prefix[i]! / batchSize;
  const totalMacs = prefix[prefix.length - 1] ?? 0;

  const candidate = (tensor: string, k: number): ExitCandidate => {
    const s = summaries.get(tensor)!;
    const cumulativeMacs = prefix[flow.cutPosition.get(tensor)!]!;
    const el = numel(s.dims) / batchSize;
    return {
      index: k, tensor, shape: s.shape, cumulativeMacs,
      fraction: totalMacs > 0 ? cumulativeMacs / totalMacs : 0,
      activationElements: el, activationBytes: el * bytesPerElement(s.dtype),
    };
  };
  const candidates = flow.cuts.map(candidate);
  const exits = collapseCuts(flow, dimsOf).map(candidate);

  const summaryOf = (name: string): TensorSummary => {
    const s = summaries.get(name);
    if (!s) throw new LayercacheError('INTERNAL', `no shape was recorded for tensor '${name}'`);
    return s;
  };
  const firstName = index.outputs[0];
  const logits = planLogits(index, modelOpset(model), dimsOf, firstName === undefined ? undefined : atOne[firstName]);
  const scoresRows = firstName === undefined ? undefined : atTwo?.[firstName] ?? atOne[firstName];
  const scores = logits.kind === 'logits' && firstName !== undefined ? scoresCaution(scoresRows, firstName) : null;
  const cautions = [scores, quantizedCaution(index)].filter((c): c is string => c !== null);
  return {
    model, flow, batchDim, totalMacs, candidates, exits, logits, cautions,
    inputs: index.inputs.map(summaryOf),
    outputs: index.outputs.map(summaryOf),
    tensor: (name) => summaries.get(name),
    typeOf: (name) => {
      const s = summaryOf(name);
      return { elemType: elemTypeOfDtype(s.dtype), shape: s.shape };
    },
  };
}

/**
 * A caution for a model quantized in QDQ form (QuantizeLinear and DequantizeLinear nodes): onnxruntime runs each
 * DequantizeLinear → op → QuantizeLinear group as one integer kernel, and a segment boundary inside a group keeps
 * it in float, so the segments answer a little differently from the uncut model. Null for other models.
 */
function quantizedCaution(index: ReturnType<typeof indexGraph>): string | null {
  const qdq = index.nodes.filter((n) => n.opType === 'QuantizeLinear' || n.opType === 'DequantizeLinear').length;
  if (qdq === 0) return null;
  return `the model is quantized (${qdq} QuantizeLinear/DequantizeLinear nodes): onnxruntime runs each DequantizeLinear → op → QuantizeLinear group as one integer kernel, but a cut through a group runs it in float, so segments and bundles answer a little differently from the uncut model; layercache eval measures agreement with the uncut model, differences included`;
}

/**
 * How layercache reads the analysed model (see classifier-reading.ts), without checking that the read model runs.
 * sampleDims: per-sample dims already fixed from the data, if any.
 */
export function readingOf(given: ModelAnalysis, sampleDims: readonly number[] | null = null, scoresOutput: string | null = null): ClassifierReading {
  const [input] = given.inputs;
  const [output] = given.outputs;
  // [batch, classes, 1, 1] is read as [batch, classes].
  const flattenScores = output !== undefined && output.dims.length > 2 && squeezedClasses(output.dims) !== null;
  // A fixed batch is freed when the scores follow it ([B, classes] from [B, …]); a model without a batch
  // dimension ([3, 32, 32] → [10]) is left alone.
  const dynamicBatch = given.batchDim === null && given.inputs.length === 1 && input !== undefined && output !== undefined
    && (output.dims.length === 2 || flattenScores) && typeof input.shape[0] === 'number' && output.shape[0] === input.shape[0];
  const inputDtype = input !== undefined && input.dtype !== 'float32' ? input.dtype : null;
  // Only float scores are cast; integer outputs (labels) are refused by checkClassifier, not read as scores.
  const outputDtype = output !== undefined && (output.dtype === 'float16' || output.dtype === 'float64') ? output.dtype : null;
  return { scoresOutput, flattenScores, logits: given.logits, dynamicBatch, inputDtype, outputDtype, sampleDims };
}

/**
 * Analyses a classifier as layercache uses it, read per its reading (a final Softmax removed or a Log appended,
 * a fixed batch freed; see classifier-reading.ts). `analysis.model` is the model read that way; `reading` is
 * what was applied to the given model (PLAIN_READING when nothing was needed).
 */
export async function analyzeClassifier(model: ModelProto, opts: AnalyzeOptions & { readonly sampleDims?: readonly number[]; readonly scoresOutput?: string | null } = {}): Promise<{ analysis: ModelAnalysis; reading: ClassifierReading }> {
  // Several inputs are refused before a run that an input without a batch would fail for another reason.
  const inits = new Set(model.graph!.initializer.map((t) => t.name));
  refuseSeveralInputs(model.graph!.input.filter((v) => !inits.has(v.name)).map((v) => ({ name: v.name, shape: readValueInfo(v)?.shape ?? null })), opts.source ?? 'the model');
  // Per-sample dims the model leaves open are the data's (a cascade's heads have fixed shapes).
  const sized = opts.sampleDims ? fixSampleDims(model, opts.sampleDims) : model;
  const sampleDims = sized === model ? null : opts.sampleDims!;
  // The scores are read from the output the user names, moved first.
  const selected = opts.scoresOutput ? selectScoresOutput(sized, opts.scoresOutput) : sized;
  const scoresOutput = selected === sized ? null : opts.scoresOutput!;
  const given = await analyzeModel(selected, {
    ...opts,
    shapeAdvice: opts.shapeAdvice ?? 'a cascade runs one input size: build a bundle from data of the size you serve (the data fixes it) and serve that, or re-export the model with a fixed size',
  });
  const reading = readingOf(given, sampleDims, scoresOutput);
  return { analysis: await analyzeAsRead(model, given, reading, opts), reading };
}

/**
 * The analysis of `model` as `reading` reads it (`given`: the analysis the reading came from, returned as it is for
 * a plain reading). A fixed batch that the graph also hard-codes, so that the model fails once its batch is freed,
 * is MODEL_UNSUPPORTED with the fix.
 */
export async function analyzeAsRead(model: ModelProto, given: ModelAnalysis, reading: ClassifierReading, opts: AnalyzeOptions = {}): Promise<ModelAnalysis> {
  if (isPlainReading(reading)) return given;
  const [input] = given.inputs;
  try {
    return await analyzeModel(applyReading(model, reading), opts);
  } catch (err) {
    if (!reading.dynamicBatch || !(err instanceof LayercacheError) || err.code !== 'MODEL_UNSUPPORTED') throw err;
    // The run's own failure, not analyzeModel's advice for models that declare a dynamic batch.
    const why = err.cause instanceof Error ? err.cause.message : err.message;
    throw new LayercacheError('MODEL_UNSUPPORTED', `${opts.source ?? 'the model'} fixes its batch at ${input!.shape[0]} (input '${input!.name}' [${input!.shape.join(', ')}]) and does not run at another batch size once layercache frees it (${why}); re-export it with a dynamic batch dimension (for example torch.onnx.export(..., dynamic_axes={'${input!.name}': {0: 'batch'}}))`, { cause: err });
  }
}
