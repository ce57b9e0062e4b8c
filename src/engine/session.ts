/**
 * The only place that talks to onnxruntime-node. Wraps an InferenceSession behind
 * plain tensors, so no other module sees onnxruntime types.
 * Invariants: every onnxruntime failure surfaces as a LayercacheError with the
 * original error as `cause`; outputs are copied out of onnxruntime-owned memory.
 */
// First: onnxruntime reads its telemetry opt-out when it starts.
import './ort-telemetry.ts';
import * as ort from 'onnxruntime-node';
import { GRAPH_OPTIMIZATIONS, MAX_THREADS } from '../config/index.ts';
import { describeArgument, fitsArgument, LayercacheError, requireArgument } from '../errors/index.ts';
import type { DType, Tensor } from '../tensor/index.ts';

export interface EngineOptions {
  /** Threads inside one operator (0 = onnxruntime's default). */
  readonly intraOpThreads: number;
  /** onnxruntime graph optimisation level. */
  readonly graphOptimization: 'disabled' | 'basic' | 'extended' | 'all';
  /** Let idle onnxruntime worker threads spin (lower latency for a single session, contention for many). */
  readonly spinning?: boolean;
}

/**
 * Refuses engine options onnxruntime would refuse as a model it cannot load (or would take as another setting):
 * CONFIG_INVALID naming the call and the option. From code they may come from anywhere; loadConfig's are valid.
 * call: the public call that was given them, as a user writes it.
 */
export function checkEngineOptions(call: string, options: EngineOptions): void {
  requireArgument(call, 'engine options', options, 'object', "engine options, e.g. { intraOpThreads: 2, graphOptimization: 'all' } (loadConfig().engine)");
  const bad = (setting: string, value: unknown, problem: string): LayercacheError =>
    new LayercacheError('CONFIG_INVALID', `${call}: engine.${setting} is ${describeArgument(value)}; ${problem}`, { setting: { path: `engine.${setting}`, value, problem } });
  const o = options as unknown as Record<string, unknown>;
  const threads = o.intraOpThreads;
  if (!(Number.isInteger(threads) && (threads as number) >= 0 && (threads as number) <= MAX_THREADS)) {
    throw bad('intraOpThreads', threads, `give a whole number of threads per operator up to ${MAX_THREADS}, or 0 to let onnxruntime choose`);
  }
  if (!(GRAPH_OPTIMIZATIONS as readonly unknown[]).includes(o.graphOptimization)) throw bad('graphOptimization', o.graphOptimization, `give one of ${GRAPH_OPTIMIZATIONS.map((g) => `'${g}'`).join(', ')}`);
  if (o.spinning !== undefined && typeof o.spinning !== 'boolean') throw bad('spinning', o.spinning, 'give true, false or nothing');
}

/** The onnxruntime version that runs the sessions (timings are only comparable within one). */
export function runtimeVersion(): string {
  return ort.env.versions.node ?? ort.env.versions.common;
}

export const DEFAULT_ENGINE_OPTIONS: EngineOptions = Object.freeze({ intraOpThreads: 0, graphOptimization: 'all' });

export interface IoInfo {
  readonly name: string;
  /** Element type name as onnxruntime reports it, e.g. 'float32'. */
  readonly type: string;
  /** Declared shape; symbolic dims are strings. null when not a tensor. */
  readonly shape: readonly (number | string)[] | null;
}

const ORT_TYPES: ReadonlySet<string> = new Set(['float32', 'float64', 'float16', 'int8', 'uint8', 'int16', 'uint16', 'int32', 'uint32', 'int64', 'uint64', 'bool']);

// onnxruntime logs its own errors to stderr; layercache reports them as LayercacheErrors instead.
ort.env.logLevel = 'fatal';

/**
 * onnxruntime's message on one line, without its source-location prefix or the C++ assertion it quotes
 * ("/onnxruntime_src/…/reshape_helper.h:91 onnxruntime::ReshapeHelper::ReshapeHelper(…) a == b was false."),
 * which says nothing to a user that the sentence after it does not.
 */
export function ortMessage(err: unknown): string {
  return String((err as Error).message ?? err)
    .replace(/\s*\n\s*/g, ' ')
    .replace(/^\[[^\]]*\]\s*/, '')
    .replace(/\/onnxruntime_src\/\S+:\d+ \S+\(.*?\)(?: const)? (?:[^.]*? was false\. )?/g, '')
    .trim();
}

/** name: the feed's, for the error when `t`'s data does not fit its dims or type. */
function toOrt(name: string, t: Tensor): ort.Tensor {
  try {
    return new ort.Tensor(t.dtype, t.data as ort.Tensor.DataType, t.dims as number[]);
  } catch (err) {
    const length = (t.data as { length?: number } | undefined)?.length;
    throw new LayercacheError('INPUT_INVALID', `input '${name}' is not a valid ${t.dtype} tensor of dims [${t.dims.join(', ')}] (its data holds ${length ?? 'no'} values): ${ortMessage(err)}; give data of the tensor's type holding the product of its dims`, { cause: err });
  }
}

function fromOrt(name: string, t: ort.OnnxValue): Tensor {
  const tensor = t as ort.Tensor;
  if (!ORT_TYPES.has(tensor.type)) {
    throw new LayercacheError('ENGINE_RUN_FAILED', `output '${name}' has type ${tensor.type}, which layercache cannot read; only numeric tensor outputs are supported`);
  }
  const data = tensor.data as Tensor['data'];
  const copy = (data as Float32Array).slice() as Tensor['data'];
  return { dtype: tensor.type as DType, dims: [...tensor.dims], data: copy };
}

/** One onnxruntime inference session over a serialised model, with plain tensors in and out and LayercacheError on failure. */
export class Session {
  private released = false;

  private constructor(
    private readonly session: ort.InferenceSession,
    readonly label: string,
  ) {}

  /** Loads a serialised ONNX model. `label` names it in error messages. */
  static async create(model: Uint8Array, label: string, options: EngineOptions = DEFAULT_ENGINE_OPTIONS): Promise<Session> {
    const call = 'Session.create(model, label, options)';
    requireArgument(call, 'model', model, 'bytes', "a model's bytes, e.g. serializeModel(model) or readFileSync('model.onnx')");
    requireArgument(call, 'label', label, 'string', "a name for the model in messages, e.g. 'my model'");
    checkEngineOptions(call, options);
    try {
      const session = await ort.InferenceSession.create(model, {
        graphOptimizationLevel: options.graphOptimization,
        intraOpNumThreads: options.intraOpThreads,
        interOpNumThreads: 1,
        executionMode: 'sequential',
        // Fatal only: errors come back as LayercacheErrors, not as onnxruntime's own lines on stderr.
        logSeverityLevel: 4,
        // Many sessions share two cores: spinning worker threads would steal them from each other.
        extra: { session: { intra_op: { allow_spinning: options.spinning ? '1' : '0' }, inter_op: { allow_spinning: '0' } } },
      });
      return new Session(session, label);
    } catch (err) {
      throw new LayercacheError(
        'ENGINE_SESSION_FAILED',
        `onnxruntime cannot load ${label}: ${ortMessage(err)}; check that the model is valid and uses operators onnxruntime supports`,
        { cause: err },
      );
    }
  }

  get inputs(): IoInfo[] {
    return this.session.inputMetadata.map(describe);
  }

  get outputs(): IoInfo[] {
    return this.session.outputMetadata.map(describe);
  }

  /** Runs the model. feeds: input name → tensor; returns the requested (default: all) outputs. */
  async run(feeds: Readonly<Record<string, Tensor>>, outputNames?: readonly string[]): Promise<Record<string, Tensor>> {
    if (this.released) throw new LayercacheError('RELEASED', `${this.label} was released; create a new session (or cascade) to run it again`);
    const call = 'session.run(feeds, outputNames)';
    requireArgument(call, 'feeds', feeds, 'object', "input name → tensor, e.g. { input: { dtype: 'float32', dims: [1, 784], data } }");
    if (outputNames !== undefined) requireArgument(call, 'outputNames', outputNames, (v) => Array.isArray(v) && v.every((n) => typeof n === 'string'), 'an array of output names, or nothing for all');
    // A required input left out (or misnamed) is the caller's error, not onnxruntime's failure. Names beyond the
    // inputs are onnxruntime's to judge: it takes feeds for initializers a graph also lists as inputs.
    const names = this.session.inputNames;
    const missing = names.find((k) => !Object.hasOwn(feeds, k));
    if (missing !== undefined) {
      const extra = Object.keys(feeds).filter((k) => !names.includes(k));
      throw new LayercacheError('INPUT_INVALID', `${this.label} takes the inputs ${names.map((n) => `'${n}'`).join(', ')}; '${missing}' is missing${extra.length > 0 ? ` (given: ${extra.map((n) => `'${n}'`).join(', ')})` : ''}`);
    }
    const ortFeeds: Record<string, ort.Tensor> = {};
    for (const [k, v] of Object.entries(feeds)) {
      // Per run, per feed: the argument's name is built only when it is refused.
      if (!fitsArgument(v, 'tensor')) requireArgument(call, `feeds['${k}']`, v, 'tensor', "a tensor: { dtype: 'float32', dims: [1, 784], data: Float32Array }");
      ortFeeds[k] = toOrt(k, v);
    }
    let result: ort.InferenceSession.ReturnType;
    try {
      result = outputNames ? await this.session.run(ortFeeds, outputNames as string[]) : await this.session.run(ortFeeds);
    } catch (err) {
      // Released while this run was under way: the same answer as a run after the release.
      if (this.released) throw new LayercacheError('RELEASED', `${this.label} was released while it ran; wait for runs to finish before releasing it`, { cause: err });
      const shapes = Object.entries(feeds).map(([k, v]) => `${k}[${v.dims.join(',')}]`).join(', ');
      throw new LayercacheError('ENGINE_RUN_FAILED', `onnxruntime failed running ${this.label} on ${shapes}: ${ortMessage(err)}`, { cause: err });
    }
    const out: Record<string, Tensor> = {};
    for (const [k, v] of Object.entries(result)) {
      out[k] = fromOrt(k, v);
      (v as ort.Tensor).dispose?.();
    }
    return out;
  }

  /** Frees the onnxruntime session; later calls do nothing. */
  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    await this.session.release();
  }
}

function describe(m: ort.InferenceSession.ValueMetadata): IoInfo {
  if (!m.isTensor) return { name: m.name, type: 'non-tensor', shape: null };
  return { name: m.name, type: m.type, shape: m.shape.map((d) => (typeof d === 'number' && d >= 0 ? d : String(d))) };
}
