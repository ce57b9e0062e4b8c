/**
 * Latency cost model, measured on this machine at the batch size being optimised.
 * Every candidate segment (cut at every candidate exit) and every head is timed as its
 * own session; the per-call overhead o is estimated from the chain versus the whole
 * backbone. Costs are per batch, in milliseconds:
 *   cost to reach exit e   C_e = o + Σ_{segments up to e} (t_s − o)
 *   head at exit e         h_e = t_head_e (its compute plus the extra session call)
 *   full backbone          T_full (one session)
 * Invariant: timings are medians over repeated runs after warm-up, so one slow run
 * (shared machine) does not skew them.
 */
import { Cascade } from '../cascade/index.ts';
import { Session, type EngineOptions } from '../engine/index.ts';
import { serializeModel, type ModelProto } from '../onnx/index.ts';
import { withPhase, type Progress } from '../progress/index.ts';
import type { Tensor } from '../tensor/index.ts';

export interface LatencyCosts {
  readonly batch: number;
  /** Per candidate exit, ms per batch to reach it. */
  readonly toExit: number[];
  /** Per candidate exit, ms per batch for its head. */
  readonly head: number[];
  readonly full: number;
  /** Estimated per-session-call overhead, ms. */
  readonly callOverhead: number;
}

async function median(session: Session, feeds: Record<string, Tensor>, reps: number): Promise<{ ms: number; outputs: Record<string, Tensor> }> {
  let outputs = await session.run(feeds);
  for (let w = 0; w < 2; w++) outputs = await session.run(feeds);
  const times: number[] = [];
  for (let r = 0; r < reps; r++) {
    const t = performance.now();
    await session.run(feeds);
    times.push(performance.now() - t);
  }
  times.sort((a, b) => a - b);
  return { ms: times[Math.floor(times.length / 2)]!, outputs };
}

/**
 * segments: the backbone cut at every candidate exit (candidates + 1 segments);
 * heads: per candidate exit, a model reading the exit tensor; input: one batch.
 */
export async function measureLatency(
  backbone: ModelProto, segments: readonly ModelProto[], heads: readonly ModelProto[], input: Tensor,
  opts: { engine: EngineOptions; progress: Progress; reps: number },
): Promise<LatencyCosts> {
  const batch = input.dims[0]!;
  return withPhase(opts.progress, 'measure', segments.length + heads.length + 1, async (phase) => {
    const open = async (m: ModelProto, label: string): Promise<Session> => Session.create(serializeModel(m), label, opts.engine);
    const full = await open(backbone, 'backbone');
    const inputName = full.inputs[0]!.name;
    const fullMs = (await median(full, { [inputName]: input }, opts.reps)).ms;
    await full.release();
    phase.tick();
    const segMs: number[] = [];
    const exitTensors: Tensor[] = [];
    let x = input;
    for (const [j, seg] of segments.entries()) {
      const s = await open(seg, `segment ${j}`);
      const r = await median(s, { [seg.graph!.input[0]!.name]: x }, opts.reps);
      await s.release();
      segMs.push(r.ms);
      x = Object.values(r.outputs)[0]!;
      if (j < segments.length - 1) exitTensors.push(x);
      phase.tick();
    }
    const headMs: number[] = [];
    for (const [e, h] of heads.entries()) {
      const s = await open(h, `head ${e}`);
      headMs.push((await median(s, { [h.graph!.input[0]!.name]: exitTensors[e]! }, opts.reps)).ms);
      await s.release();
      phase.tick();
    }
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
  });
}

/**
 * The real runtime, measured: latency per batch of the backbone and of a cascade (built from
 * `parts`) on the same inputs, in short alternating blocks (which side goes first alternates
 * too), so drift of the machine hits both alike. `ratio` is the median over blocks of
 * cascade time / backbone time: the verdict, robust to outlier blocks; the means are for reports.
 */
export async function measureCascade(
  backbone: ModelProto, parts: Parameters<typeof Cascade.create>[0], inputs: readonly Tensor[],
  opts: { engine: EngineOptions; reps: number },
): Promise<{ backboneMs: number; cascadeMs: number; ratio: number }> {
  const full = await Session.create(serializeModel(backbone), 'backbone', opts.engine);
  const cascade = await Cascade.create(parts, opts.engine);
  const inputName = full.inputs[0]!.name;
  const blockSize = Math.min(20, inputs.length);
  let backboneMs = 0;
  let cascadeMs = 0;
  const ratios: number[] = [];
  const timeBackbone = async (xs: readonly Tensor[]): Promise<number> => {
    const t = performance.now();
    for (const x of xs) await full.run({ [inputName]: x });
    return performance.now() - t;
  };
  const timeCascade = async (xs: readonly Tensor[]): Promise<number> => {
    const t = performance.now();
    for (const x of xs) await cascade.run(x);
    return performance.now() - t;
  };
  try {
    // Warm both up once.
    await full.run({ [inputName]: inputs[0]! });
    await cascade.run(inputs[0]!);
    let k = 0;
    for (let r = 0; r < opts.reps; r++) {
      for (let s = 0; s < inputs.length; s += blockSize, k++) {
        const xs = inputs.slice(s, s + blockSize);
        let b: number;
        let c: number;
        if (k % 2 === 0) {
          b = await timeBackbone(xs);
          c = await timeCascade(xs);
        } else {
          c = await timeCascade(xs);
          b = await timeBackbone(xs);
        }
        backboneMs += b;
        cascadeMs += c;
        ratios.push(c / b);
      }
    }
  } finally {
    await full.release();
    await cascade.release();
  }
  const runs = opts.reps * inputs.length;
  ratios.sort((x, y) => x - y);
  const mid = ratios.length >> 1;
  const ratio = ratios.length % 2 ? ratios[mid]! : (ratios[mid - 1]! + ratios[mid]!) / 2;
  return { backboneMs: backboneMs / runs, cascadeMs: cascadeMs / runs, ratio };
}
