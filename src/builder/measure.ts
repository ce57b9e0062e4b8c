/**
 * Latency cost model, measured on this machine at the batch size being optimised.
 * Every candidate segment (cut at every candidate exit) and every head is timed as its
 * own session, all in interleaved rounds; the per-call overhead o is estimated from the
 * chain versus the whole backbone. Costs are per batch, in milliseconds:
 *   cost to reach exit e   C_e = o + Σ_{segments up to e} (t_s − o)
 *   head at exit e         h_e = t_head_e (its compute plus the extra session call)
 *   full backbone          T_full (one session)
 * Invariant: timings are medians over interleaved rounds after warm-up, so one slow run
 * (shared machine) does not skew them and drift does not bend the cost curve.
 */
import { Cascade } from '../cascade/index.ts';
import { LayercacheError } from '../errors/index.ts';
import { Session, type EngineOptions } from '../engine/index.ts';
import { serializeModel, type ModelProto } from '../onnx/index.ts';
import { withPhase, type Progress } from '../progress/index.ts';
import type { Tensor } from '../tensor/index.ts';

export interface LatencyCosts {
  readonly batch: number;
  /** Per candidate exit, ms per batch to reach it. */
  readonly toExit: number[];
  /** Per head measured (in the order given), ms per batch. */
  readonly head: number[];
  readonly full: number;
  /** Estimated per-session-call overhead, ms. */
  readonly callOverhead: number;
}

function medianOf(values: readonly number[]): number {
  const sorted = [...values].sort((a, b) => a - b);
  const mid = sorted.length >> 1;
  return sorted.length % 2 ? sorted[mid]! : (sorted[mid - 1]! + sorted[mid]!) / 2;
}

/**
 * Times named runners on the same inputs in short alternating blocks (the order reverses every
 * other block), so drift of a shared machine hits every runner alike. The first runner is the
 * reference. Per runner: mean ms per input, and `ratio`, the median over blocks of its block time
 * divided by the reference's (the robust verdict; the means are for reports). Each runner is
 * warmed up on the first `warmup` inputs first.
 */
export async function timeAlternating(
  runners: Readonly<Record<string, (x: Tensor) => Promise<unknown>>>, inputs: readonly Tensor[],
  opts: { passes: number; blockSize?: number; warmup?: number },
): Promise<Record<string, { meanMs: number; ratio: number }>> {
  const names = Object.keys(runners);
  const blockSize = Math.max(1, Math.min(opts.blockSize ?? 20, inputs.length));
  for (const name of names) for (const x of inputs.slice(0, Math.max(1, opts.warmup ?? 1))) await runners[name]!(x);
  const total: Record<string, number> = Object.fromEntries(names.map((n) => [n, 0]));
  const ratios: Record<string, number[]> = Object.fromEntries(names.map((n) => [n, []]));
  for (let pass = 0, block = 0; pass < opts.passes; pass++) {
    for (let s = 0; s < inputs.length; s += blockSize, block++) {
      const xs = inputs.slice(s, s + blockSize);
      const ms: Record<string, number> = {};
      for (const name of block % 2 ? [...names].reverse() : names) {
        const t = performance.now();
        for (const x of xs) await runners[name]!(x);
        ms[name] = performance.now() - t;
      }
      for (const name of names) {
        total[name]! += ms[name]!;
        ratios[name]!.push(ms[name]! / ms[names[0]!]!);
      }
    }
  }
  const runs = opts.passes * inputs.length;
  return Object.fromEntries(names.map((n) => [n, { meanMs: total[n]! / runs, ratio: medianOf(ratios[n]!) }]));
}

/**
 * segments: the backbone cut at every candidate exit (candidates + 1 segments);
 * heads: models reading the tensor of candidate exit `exit` (any number per exit); input: one batch.
 * All sessions are open at once and timed in interleaved rounds (backbone, then the chain
 * of segments with each head after its segment), so drift of a shared machine moves every
 * component alike instead of bending the cost curve; each cost is the median over rounds.
 */
export async function measureLatency(
  backbone: ModelProto, segments: readonly ModelProto[], heads: readonly { exit: number; model: ModelProto }[], input: Tensor,
  opts: { engine: EngineOptions; progress: Progress; reps: number },
): Promise<LatencyCosts> {
  const batch = input.dims[0]!;
  const rounds = opts.reps;
  for (const h of heads) {
    if (!(Number.isInteger(h.exit) && h.exit >= 0 && h.exit < segments.length - 1)) {
      throw new LayercacheError('INTERNAL', `a head is bound to exit ${h.exit}, but the ${segments.length} segments have exits 0–${segments.length - 2}`);
    }
  }
  return withPhase(opts.progress, 'measure', rounds + 1, async (phase) => {
    const sessions: Session[] = [];
    const open = async (m: ModelProto, label: string): Promise<Session> => {
      const s = await Session.create(serializeModel(m), label, opts.engine);
      sessions.push(s);
      return s;
    };
    try {
      const full = await open(backbone, 'backbone');
      const segs = await Promise.all(segments.map((m, j) => open(m, `segment ${j}`)));
      const hs = await Promise.all(heads.map((h, k) => open(h.model, `head ${k} at exit ${h.exit}`)));
      const segInput = segments.map((m) => m.graph!.input[0]!.name);
      const headInput = heads.map((h) => h.model.graph!.input[0]!.name);
      const fullFeeds = { [full.inputs[0]!.name]: input };
      // One pass: the inputs of every segment and head, and a warm-up of every session.
      const segFeeds: Record<string, Tensor>[] = [];
      const exitTensors: Tensor[] = [];
      let x = input;
      for (const [j, s] of segs.entries()) {
        segFeeds.push({ [segInput[j]!]: x });
        const out = await s.run(segFeeds[j]!);
        x = Object.values(out)[0]!;
        if (j < segs.length - 1) exitTensors.push(x);
      }
      const headFeeds = heads.map((h, k) => ({ [headInput[k]!]: exitTensors[h.exit]! }));
      const headsAt = segs.map((_, j) => heads.flatMap((h, k) => (h.exit === j ? [k] : [])));
      const timed = async (s: Session, feeds: Record<string, Tensor>): Promise<number> => {
        const t = performance.now();
        await s.run(feeds);
        return performance.now() - t;
      };
      const fullT: number[] = [];
      const segT: number[][] = segs.map(() => []);
      const headT: number[][] = hs.map(() => []);
      for (let r = -2; r < rounds; r++) {
        const f = await timed(full, fullFeeds);
        const st: number[] = [];
        const ht: number[] = new Array<number>(hs.length);
        for (const [j, s] of segs.entries()) {
          st.push(await timed(s, segFeeds[j]!));
          for (const k of headsAt[j]!) ht[k] = await timed(hs[k]!, headFeeds[k]!);
        }
        if (r < 0) continue; // warm-up rounds
        fullT.push(f);
        st.forEach((t, j) => segT[j]!.push(t));
        ht.forEach((t, k) => headT[k]!.push(t));
        phase.tick();
      }
      const fullMs = medianOf(fullT);
      const segMs = segT.map(medianOf);
      const headMs = headT.map(medianOf);
      phase.tick();
      const sum = segMs.reduce((a, b) => a + b, 0);
      const overhead = segments.length > 1 ? Math.max(0, (sum - fullMs) / (segments.length - 1)) : 0;
      const toExit: number[] = [];
      let acc = overhead;
      for (let e = 0; e < segments.length - 1; e++) {
        acc += Math.max(0, segMs[e]! - overhead);
        toExit.push(acc);
      }
      // Keep the cost model consistent: reaching an exit never costs more than the whole backbone.
      const capped = toExit.map((c) => Math.min(c, fullMs));
      return { batch, toExit: capped, head: headMs, full: fullMs, callOverhead: overhead };
    } finally {
      await Promise.all(sessions.map((s) => s.release()));
    }
  });
}

/**
 * The real runtime, measured: latency per batch of the backbone and of a cascade (built from
 * `parts`) on the same inputs, in short alternating blocks (which side goes first alternates
 * too), so drift of the machine hits both alike. `ratio` is the median over blocks of
 * cascade time / backbone time: the verdict, robust to outlier blocks; the means are for reports.
 */
/** Rows per alternating block of the runtime check: 20 inputs at batch 1, one batch at batch ≥ 20 (many blocks, so the median is robust). */
const BLOCK_ROWS = 20;

export async function measureCascade(
  backbone: ModelProto, parts: Parameters<typeof Cascade.create>[0], inputs: readonly Tensor[],
  opts: { engine: EngineOptions; reps: number },
): Promise<{ backboneMs: number; cascadeMs: number; ratio: number }> {
  const full = await Session.create(serializeModel(backbone), 'backbone', opts.engine);
  const inputName = full.inputs[0]!.name;
  try {
    const cascade = await Cascade.create(parts, opts.engine);
    try {
      const r = await timeAlternating({
        backbone: (x) => full.run({ [inputName]: x }),
        cascade: (x) => cascade.run(x),
      }, inputs, { passes: opts.reps, blockSize: Math.max(1, Math.round(BLOCK_ROWS / (inputs[0]?.dims[0] ?? 1))) });
      return { backboneMs: r.backbone!.meanMs, cascadeMs: r.cascade!.meanMs, ratio: r.cascade!.ratio };
    } finally {
      await cascade.release();
    }
  } finally {
    await full.release();
  }
}
