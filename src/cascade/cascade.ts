/**
 * The cascade runtime. Stage j runs segment j with head j fused into it (one session
 * call yields both the cut tensor and the head's log-probabilities); rows whose score
 * reaches the threshold are answered there and only the remaining rows go on ("shrink").
 * The last stage is the rest of the backbone.
 * Invariants: results come back in input row order; a threshold of +Infinity never
 * exits; an input that never exits gets exactly the backbone's answer.
 */
import { requireLoadedBundle, type LoadedBundle, type ScoreSpec } from '../bundle/index.ts';
import { checkEngineOptions, Session, type EngineOptions } from '../engine/index.ts';
import { LayercacheError, isRecord, requireArgument } from '../errors/index.ts';
import { HEAD_INPUT, HEAD_OUTPUT } from '../heads/index.ts';
import { appendGraph, modelOpset, readValueInfo, requireModel, serializeModel, type Dim, type ModelProto } from '../onnx/index.ts';
import { firstNonFinite, numel, type Tensor } from '../tensor/index.ts';
import { scoreRow } from '../calibrate/index.ts';
import { softmaxRow } from './confidence.ts';
import { decidesInGraph } from './graph-parts.ts';
import { buildIfCascade } from './if-graph.ts';
import { buildCompressCascade } from './compress-graph.ts';

export interface CascadeRow {
  /** Class probabilities [classes]. */
  readonly probs: Float32Array;
  readonly classIndex: number;
  /** Position of the answering exit among the bundle's exits, or null for the full backbone. */
  readonly exit: number | null;
  /** Max class probability of the answer. */
  readonly confidence: number;
}

export interface CascadeExit {
  readonly tensor: string;
  readonly threshold: number;
  readonly temperature: number;
}

/**
 * Stage j: segment j with head j fused in (the last stage: the rest of the backbone). The fused model is built
 * only when its session is (it is a copy of the weights).
 */
interface StagePlan {
  readonly segment: ModelProto;
  readonly head: ModelProto | null;
  readonly label: string;
  readonly input: string;
  /** Cut tensor passed to the next stage, or null for the last stage. */
  readonly cut: string | null;
  readonly exit: CascadeExit | null;
}

interface Stage extends StagePlan {
  readonly session: Session;
}

/** What a cascade is for: running it ('run': its single graphs, stages on demand) or tracing every head ('trace': stages only). */
export type CascadeUse = 'run' | 'trace';

/** One session per stage, in order; none left open on failure. */
async function createStages(plans: readonly StagePlan[], engine: EngineOptions): Promise<Stage[]> {
  const stages: Stage[] = [];
  try {
    for (const [j, p] of plans.entries()) {
      const model = p.exit ? fuseHead(p.segment, p.head!, p.exit.tensor, j) : p.segment;
      stages.push({ ...p, session: await Session.create(serializeModel(model), p.label, engine) });
    }
  } catch (err) {
    await Promise.all(stages.map((s) => s.session.release()));
    throw err;
  }
  return stages;
}

/** Name of head j's log-probabilities in a fused segment. */
export function fusedHeadOutput(j: number): string {
  return `lc_head${j}/${HEAD_OUTPUT}`;
}

/** Segment j fused with head j: outputs the cut tensor and fusedHeadOutput(j). */
export function fuseHead(segment: ModelProto, head: ModelProto, exitTensor: string, j: number): ModelProto {
  return appendGraph(segment, head, { [HEAD_INPUT]: exitTensor }, `lc_head${j}/`);
}

/** Copies rows `keep` of x [batch, ...] into a new tensor [keep.length, ...]. */
export function gatherRows(x: Tensor, keep: readonly number[]): Tensor {
  const row = numel(x.dims.slice(1));
  const src = x.data as Float32Array;
  const out = new (src.constructor as Float32ArrayConstructor)(keep.length * row);
  keep.forEach((r, i) => out.set(src.subarray(r * row, (r + 1) * row), i * row));
  return { dtype: x.dtype, dims: [keep.length, ...x.dims.slice(1)], data: out } as Tensor;
}

/**
 * A bundle's early-exit runtime: `Cascade.fromBundle(bundle, engine)`, then `run(input)` answers each row at the
 * first exit whose head is confident enough, or with the whole backbone. Release it when done.
 */
export class Cascade {
  /** The stage sessions, created when first needed: tracing, `staged`, or batch N without a Compress graph. */
  private staging: Promise<readonly Stage[]> | null;
  private released = false;

  private constructor(
    private readonly plans: readonly StagePlan[],
    stages: readonly Stage[] | null,
    private readonly engine: EngineOptions,
    private readonly single: Session | null,
    private readonly batched: Session | null,
    readonly classes: number,
    private readonly scoreKind: ScoreSpec['kind'],
    readonly inputName: string,
    /** The input's declared per-sample dims (a name where the model leaves one open). */
    private readonly sampleShape: readonly Dim[] | null,
  ) {
    this.staging = stages ? Promise.resolve(stages) : null;
  }

  /**
   * Builds a cascade from segments (exits.length + 1), heads (one per exit) and exits.
   * Thresholds are in the score's units; +Infinity disables an exit.
   */
  static async create(
    parts: { segments: readonly ModelProto[]; heads: readonly ModelProto[]; exits: readonly CascadeExit[]; classes: number; score: ScoreSpec['kind'] },
    engine: EngineOptions,
    use: CascadeUse = 'run',
  ): Promise<Cascade> {
    const call = 'Cascade.create(parts, engine, use)';
    requireArgument(call, 'parts', parts, 'object', "{ segments, heads, exits, classes, score }, e.g. a bundle's: use Cascade.fromBundle(await loadBundle('bundle/'), engine)");
    for (const key of ['segments', 'heads'] as const) {
      requireArgument(call, `parts.${key}`, parts[key], 'array', `an array of ONNX models (ModelProto), as a bundle's ${key}`);
      parts[key].forEach((m, i) => requireModel(call, m, `parts.${key}[${i}]`));
    }
    requireArgument(call, 'parts.exits', parts.exits, (v) => Array.isArray(v) && v.every(isRecord), "an array of exits, one per head: { tensor, threshold, … } as in a bundle's manifest");
    checkEngineOptions(call, engine);
    const { segments, heads, exits } = parts;
    if (segments.length !== exits.length + 1 || heads.length !== exits.length) {
      throw new LayercacheError('BUNDLE_INVALID', `a cascade with ${exits.length} exits needs ${exits.length + 1} segments and ${exits.length} heads, got ${segments.length} and ${heads.length}`);
    }
    exits.forEach((e, i) => {
      if (typeof e.threshold !== 'number' || Number.isNaN(e.threshold)) {
        throw new LayercacheError('CONFIG_INVALID', `exit ${i}'s threshold is ${String(e.threshold)}; give a number in the score's units (+Infinity disables the exit)`);
      }
    });
    const plans: StagePlan[] = segments.map((segment, j) => {
      const exit = exits[j] ?? null;
      return {
        segment, head: exit ? heads[j]! : null,
        label: exit ? `segment ${j} + head ${j}` : `segment ${j}`,
        input: segment.graph!.input[0]!.name, cut: exit?.tensor ?? null, exit,
      };
    });
    // The single graphs take the fused stages (copies of the weights, dropped once the sessions hold them).
    const fused = use === 'run' ? exits.map((e, j) => fuseHead(segments[j]!, heads[j]!, e.tensor, j)) : [];
    const last = segments[segments.length - 1]!;
    let single: Session | null = null;
    let batched: Session | null = null;
    let stages: Stage[] | null = null;
    try {
      if (use === 'run' && exits.length > 0 && decidesInGraph(parts.score, exits.map((e) => e.threshold), modelOpset(last))) {
        // Batch 1: one graph of nested If nodes, one session call per request.
        single = await Session.create(serializeModel(buildIfCascade(fused, last, exits, exits.map((_, j) => fusedHeadOutput(j)), parts.classes, parts.score)), 'batch-1 cascade', engine);
        // Batch N: one graph that drops answered rows with Compress (opset ≥ 11).
        if (modelOpset(last) >= 11) {
          batched = await Session.create(serializeModel(buildCompressCascade(fused, last, exits, exits.map((_, j) => fusedHeadOutput(j)), parts.classes, parts.score)), 'batch-N cascade', engine);
        }
      }
      // Stage sessions hold another copy of the weights: made now only where they are the runtime.
      if (use === 'trace' || !single || !batched) stages = await createStages(plans, engine);
    } catch (err) {
      await Promise.all([single?.release(), batched?.release()]);
      throw err;
    }
    const declared = segments[0]!.graph!.input[0];
    const shape = declared ? readValueInfo(declared)?.shape?.slice(1) ?? null : null;
    return new Cascade(plans, stages, engine, single, batched, parts.classes, parts.score, plans[0]!.input, shape);
  }

  /** The stage sessions, created on first use. */
  private stages(): Promise<readonly Stage[]> {
    if (this.released) return Promise.reject(new LayercacheError('RELEASED', 'this cascade was released; create a new one to run it again'));
    // A failed attempt is not kept: the next call tries again.
    return (this.staging ??= createStages(this.plans, this.engine).catch((err: unknown) => {
      this.staging = null;
      throw err;
    }));
  }

  /**
   * The bundle's cascade. thresholds: one per exit in the score's units, replacing the manifest's (+Infinity
   * disables an exit); default the manifest's.
   */
  static async fromBundle(bundle: LoadedBundle, engine: EngineOptions, thresholds?: readonly number[]): Promise<Cascade> {
    const call = 'Cascade.fromBundle(bundle, engine, thresholds)';
    requireLoadedBundle(call, 'bundle', bundle);
    checkEngineOptions(call, engine);
    if (thresholds !== undefined) requireArgument(call, 'thresholds', thresholds, (v) => Array.isArray(v) && v.every((t) => typeof t === 'number'), "one number per exit (Infinity disables an exit), or nothing for the manifest's");
    const m = bundle.manifest;
    if (thresholds && thresholds.length !== m.exits.length) {
      throw new LayercacheError('CONFIG_INVALID', `${thresholds.length} thresholds were given for bundle ${bundle.dir}, which has ${m.exits.length} exits; give one per exit, or none for the manifest's`);
    }
    return Cascade.create({
      segments: bundle.segments,
      heads: bundle.heads,
      exits: m.exits.map((e, i) => ({ tensor: e.tensor, threshold: thresholds?.[i] ?? e.threshold ?? Number.POSITIVE_INFINITY, temperature: e.temperature })),
      classes: m.source.classes,
      score: m.score.kind,
    }, engine);
  }

  /**
   * Refuses input the cascade would answer wrongly or onnxruntime would refuse obscurely: not float32, not
   * [batch, ...the model's sample dims], data that does not fit its dims, or (unless `finiteChecked`) a value that
   * is not finite (the backbone would answer NaN rows, read as class 0).
   */
  private checkInput(input: Tensor, finiteChecked: boolean): void {
    requireArgument('cascade.run(input, options)', 'input', input, 'tensor', "a float32 tensor [batch, …sample]: { dtype: 'float32', dims: [1, 3, 32, 32], data: Float32Array }");
    const dims = input.dims;
    const want = this.sampleShape;
    if (input.dtype !== 'float32') {
      throw new LayercacheError('INPUT_INVALID', `the cascade's input '${this.inputName}' is ${input.dtype}; give float32 values (preprocessed as the bundle's manifest says)`);
    }
    if (want && (dims.length !== want.length + 1 || want.some((d, i) => typeof d === 'number' && d !== dims[i + 1]))) {
      throw new LayercacheError('DATA_SHAPE_MISMATCH', `the cascade's input '${this.inputName}' has dims [${dims.join(', ')}], but the model takes [batch, ${want.join(', ')}]; check the layout and size of the samples`);
    }
    const data = input.data as Float32Array;
    if (!(data instanceof Float32Array) || data.length !== numel(dims)) {
      throw new LayercacheError('INPUT_INVALID', `the cascade's input '${this.inputName}' has dims [${dims.join(', ')}] (${numel(dims)} values), but its data is ${data instanceof Float32Array ? `${data.length} values` : 'not a Float32Array'}; give a Float32Array of exactly that length`);
    }
    const i = finiteChecked ? -1 : firstNonFinite(data);
    if (i >= 0) {
      const per = numel(dims.slice(1));
      throw new LayercacheError('INPUT_INVALID', `the cascade's input '${this.inputName}' holds ${data[i]} at row ${Math.floor(i / per)} (value ${i % per}); inputs must be finite numbers`);
    }
  }

  /**
   * The score at which `row` was answered at its exit, in the units of the exit's threshold (recomputed from its
   * probabilities); NaN for a row the full backbone answered.
   */
  scoreOf(row: CascadeRow): number {
    requireArgument('cascade.scoreOf(row)', 'row', row, (v) => isRecord(v) && (v.exit === null || Number.isInteger(v.exit)) && ArrayBuffer.isView(v.probs), 'a row that cascade.run returned');
    if (row.exit === null) return Number.NaN;
    const exit = this.plans[row.exit]!.exit!;
    return scoreRow(Float64Array.from(row.probs, Math.log), 0, this.classes, this.scoreKind, exit.temperature).score;
  }

  get exitCount(): number {
    return this.plans.length - 1;
  }

  /**
   * input: [batch, ...] for the backbone's first input. Returns one row per input row, in
   * order. Batch 1 runs the single nested-If graph (or, below opset 9 with a max or temperature threshold from
   * LOG_ODDS_FROM up, stage by stage); larger batches the single Compress graph (or, below opset 11, stage by
   * stage); both drop answered rows. `staged` forces the
   * stage-by-stage path (the reference the single graphs are tested against). `finiteChecked`: the caller has
   * refused non-finite values already (the server does, per request), so the per-value scan is skipped.
   */
  async run(input: Tensor, options: { staged?: boolean; finiteChecked?: boolean } = {}): Promise<CascadeRow[]> {
    requireArgument('cascade.run(input, options)', 'options', options, 'object', 'options such as { staged: true }, or nothing');
    this.checkInput(input, options.finiteChecked ?? false);
    const batch = input.dims[0]!;
    const graph = options.staged ? null : batch === 1 ? this.single : this.batched;
    if (graph) {
      const out = await graph.run({ [this.inputName]: input });
      const [probsT, exitT] = Object.values(out) as [Tensor, Tensor];
      const probs = probsT.data as Float32Array;
      const K = this.classes;
      return Array.from({ length: batch }, (_, r) => {
        let c = 0;
        for (let k = 1; k < K; k++) if (probs[r * K + k]! > probs[r * K + c]!) c = k;
        const e = Number(exitT.data[r]);
        return { probs: probs.slice(r * K, (r + 1) * K), classIndex: c, exit: e < 0 ? null : e, confidence: probs[r * K + c]! };
      });
    }
    const rows: (CascadeRow | undefined)[] = new Array(batch);
    let alive = Array.from({ length: batch }, (_, i) => i);
    let x = input;
    const K = this.classes;
    const stages = await this.stages();
    for (let j = 0; j < stages.length && alive.length > 0; j++) {
      const stage = stages[j]!;
      const out = await stage.session.run({ [stage.input]: x });
      if (!stage.exit) {
        const logits = Object.values(out)[0]!.data as Float32Array;
        alive.forEach((orig, r) => {
          const probs = softmaxRow(logits, r, K);
          let c = 0;
          for (let k = 1; k < K; k++) if (probs[k]! > probs[c]!) c = k;
          rows[orig] = { probs, classIndex: c, exit: null, confidence: probs[c]! };
        });
        break;
      }
      const lp = out[fusedHeadOutput(j)]!.data as Float32Array;
      const { threshold, temperature } = stage.exit;
      const keep: number[] = [];
      const stillAlive: number[] = [];
      alive.forEach((orig, r) => {
        const s = scoreRow(lp, r, K, this.scoreKind, temperature);
        if (threshold !== Number.POSITIVE_INFINITY && s.score >= threshold) {
          const probs = new Float32Array(K);
          for (let k = 0; k < K; k++) probs[k] = Math.exp(lp[r * K + k]!);
          rows[orig] = { probs, classIndex: s.classIndex, exit: j, confidence: probs[s.classIndex]! };
        } else {
          keep.push(r);
          stillAlive.push(orig);
        }
      });
      const cut = out[stage.cut!]!;
      x = keep.length === alive.length ? cut : gatherRows(cut, keep);
      alive = stillAlive;
    }
    return rows as CascadeRow[];
  }

  /**
   * Runs every stage on every row, without exiting: per exit the head's log-probabilities
   * [batch, classes], and the backbone's logits [batch, classes]. For evaluation.
   */
  async trace(input: Tensor): Promise<{ heads: Float32Array[]; logits: Float32Array }> {
    requireArgument('cascade.trace(input)', 'input', input, 'tensor', "a float32 tensor [batch, …sample]: { dtype: 'float32', dims: [1, 3, 32, 32], data: Float32Array }");
    const heads: Float32Array[] = [];
    let x = input;
    for (const [j, stage] of (await this.stages()).entries()) {
      const out = await stage.session.run({ [stage.input]: x });
      if (!stage.exit) return { heads, logits: Object.values(out)[0]!.data as Float32Array };
      heads.push(out[fusedHeadOutput(j)]!.data as Float32Array);
      x = out[stage.cut!]!;
    }
    throw new LayercacheError('INTERNAL', 'cascade has no final stage');
  }

  async release(): Promise<void> {
    if (this.released) return;
    this.released = true;
    const stages = this.staging ? await this.staging.catch(() => []) : [];
    await Promise.all([...stages.map((s) => s.session.release()), this.single?.release(), this.batched?.release()]);
  }
}
