/**
 * Latency cost model, measured on this machine at the batch size being optimised. Costs are
 * per batch, in milliseconds:
 *   cost to reach exit e   C_e = t(prefix_e): the backbone up to exit e, one session
 *   head at exit e         h_e = t(head_e): the head as its own session, fed exit e's tensor
 *   full backbone          T_full = t(backbone)
 * Everything is timed against the backbone in interleaved rounds; each cost is the median over
 * rounds of its time divided by that round's backbone time, times the median backbone time.
 * A head's own session includes one session call (about 0.1 ms with 2 threads), a stand-in for
 * what a kept exit adds inside the cascade (the head and an `If` branch, or the row bookkeeping
 * of batch N). Pricing heads instead by a cascade that keeps one head and never exits gave
 * 1.2–2.0% of ResNet-56 per head in these rounds (0–8% in blocks of 20, run to run), and the
 * selection then kept 8–11 exits that saved little batch-1 latency (DEVELOPERS.md, session 7).
 * Invariants: each cost comes from timings of whole graphs (prefixes, heads), never from sums of
 * separately timed pieces, so no error accumulates along the network (summing segments and
 * subtracting an estimated call overhead overstated the cost of reaching mid-network exits by
 * up to 9% of the backbone); C_e never falls along the network and never exceeds T_full;
 * segments of one graph shape share one cost, fitted by least squares from every prefix
 * (cost-fit.ts); heads of one graph shape share the median of their timings, taken at up to
 * HEAD_SITES exits spread along the network (timing depends on shapes, not weights); sessions
 * are opened in groups of bounded serialized size (the models themselves are all held);
 * costs from a prior latency profile (latency-profile.ts) are used only when they cover every
 * exit, and then only head shapes missing from it are timed.
 */
import { Cascade } from '../cascade/index.ts';
import { LayercacheError } from '../errors/index.ts';
import { Session, type EngineOptions } from '../engine/index.ts';
import { GraphBuilder, modelOpset, readValueInfo, serializeModel, type ModelProto } from '../onnx/index.ts';
import { withPhase, type Progress, type ProgressPhase } from '../progress/index.ts';
import { finiteInput, type Tensor } from '../tensor/index.ts';
import { fitPrefixCosts, isotonic } from './cost-fit.ts';
import { shortId } from './latency-profile.ts';

export interface LatencyCosts {
  readonly batch: number;
  /** Per candidate exit, ms per batch to reach it. */
  readonly toExit: number[];
  /** Per head (in the order given), ms per batch that keeping it adds for rows that go on. */
  readonly head: number[];
  /** Per head (in the order given), the id of its graph shape (heads of one shape cost the same). */
  readonly headShape: string[];
  readonly full: number;
  /** Measured cost of one session call that does nothing (an Identity on the input), ms. */
  readonly callOverhead: number;
  /** Taken from `prior` rather than timed now: the exits' and the backbone's costs, and the heads' (each head shape timed now is not). */
  readonly reused: { exits: boolean; heads: number };
}

/** Costs measured before (a latency profile's), by exit tensor and head shape id. */
export interface PriorCosts {
  readonly fullMs: number;
  readonly callOverheadMs: number;
  readonly toExitMs: Readonly<Record<string, number>>;
  readonly headMs: Readonly<Record<string, number>>;
}

function medianOf(values: readonly number[]): number {
  if (values.length === 0) throw new LayercacheError('INTERNAL', 'median of no timings');
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
  opts: { passes: number; blockSize?: number; warmup?: number; onBlock?: () => void },
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
      opts.onBlock?.();
    }
  }
  const runs = opts.passes * inputs.length;
  return Object.fromEntries(names.map((n) => [n, { meanMs: total[n]! / runs, ratio: medianOf(ratios[n]!) }]));
}

/** Serialized bytes of models opened at once (a group), bounding memory for big backbones. */
const GROUP_BYTES = 256 * 1024 * 1024;

/** Time the measurement aims for (rounds are cut below `reps` to fit), and the fewest rounds. */
const MEASURE_BUDGET_MS = 10_000;
const MIN_ROUNDS = 5;

/** Exits at which each distinct head shape is timed (spread along the network). */
const HEAD_SITES = 4;

/** A graph of one Identity on the input: its session call costs only the call itself. */
function identityModel(input: Tensor, opset: number): ModelProto {
  const g = new GraphBuilder({ opset, name: 'call_overhead' });
  const x = g.input('x', input.dtype, input.dims);
  g.node('Identity', [x], {}, { outputs: ['y'] });
  g.output('y', input.dtype, input.dims);
  return g.build();
}

/** Graphs of one shape (operators, attributes, weight shapes, input and output shapes) cost the same. */
export function shapeId(m: ModelProto): string {
  const g = m.graph!;
  return shortId(JSON.stringify([
    g.node.map((n) => [n.opType, n.input.length, n.attribute.map((a) => [a.name, Number(a.i), a.f, a.ints.map(Number), new TextDecoder().decode(a.s)])]),
    g.initializer.map((t) => t.dims.map(Number)), g.input.map(readValueInfo), g.output.map(readValueInfo),
  ]));
}

/** Up to k items of `xs`, evenly spread, first and last included. */
function spread<T>(xs: readonly T[], k: number): T[] {
  if (xs.length <= k) return [...xs];
  return Array.from({ length: k }, (_, i) => xs[Math.round((i * (xs.length - 1)) / (k - 1))]!);
}

/** A candidate exit: its tensor and the backbone before it (prefix). */
export interface CandidateCut {
  readonly tensor: string;
  readonly prefix: ModelProto;
  /** The segment that ends at this exit (from the previous candidate exit, or the input). */
  readonly segment: ModelProto;
}

interface Timed {
  readonly bytes: number;
  readonly open: () => Promise<{ run: () => Promise<unknown>; release: () => Promise<void> }>;
  readonly ratios: number[];
}

/** Segments of one shape cost the same; reaching an exit never costs less than reaching an earlier one, nor more than the backbone. prefixRatio: per cut, its prefix's cost / the backbone's. */
function fittedCosts(cuts: readonly CandidateCut[], prefixRatio: readonly number[]): number[] {
  const segmentClass = new Map<string, number>();
  const classes = cuts.map((c) => {
    const id = shapeId(c.segment);
    if (!segmentClass.has(id)) segmentClass.set(id, segmentClass.size);
    return segmentClass.get(id)!;
  });
  return isotonic(fitPrefixCosts(prefixRatio, classes).map((r) => Math.min(1, r)));
}

/**
 * Times every group's sessions against the backbone (and the call overhead) in interleaved
 * rounds: `reps`, fewer when a round is long (large batches), but not under MIN_ROUNDS. Each
 * session's ratios to its round's backbone time go into its `ratios`; returns the backbone's
 * times and the call overhead's ratios. input: one batch [batch, ...].
 */
async function timeGroups(
  backbone: ModelProto, input: Tensor, groups: readonly (readonly Timed[])[],
  opts: { engine: EngineOptions; reps: number; budgetMs?: number }, phase: ProgressPhase,
): Promise<{ fullT: number[]; callRatio: number[] }> {
  const budgetMs = (opts.budgetMs ?? MEASURE_BUDGET_MS) / groups.length;
  const fullT: number[] = [];
  const callRatio: number[] = [];
  let full: Session | null = null;
  let call: Session | null = null;
  try {
    full = await Session.create(serializeModel(backbone), 'backbone', opts.engine);
    call = await Session.create(serializeModel(identityModel(input, modelOpset(backbone))), 'call overhead', opts.engine);
    const feeds = (s: Session): Record<string, Tensor> => ({ [s.inputs[0]!.name]: input });
    const fullFeeds = feeds(full);
    const callFeeds = feeds(call);
    const timed = async (run: () => Promise<unknown>): Promise<number> => {
      const t = performance.now();
      await run();
      return performance.now() - t;
    };
    for (const group of groups) {
      const opened: { run: () => Promise<unknown>; release: () => Promise<void> }[] = [];
      try {
        for (const t of group) opened.push(await t.open());
        let rounds = opts.reps;
        for (let r = -2; r < rounds; r++) {
          const start = performance.now();
          const f = await timed(() => full!.run(fullFeeds));
          const c = await timed(() => call!.run(callFeeds));
          const ts: number[] = [];
          for (const o of opened) ts.push(await timed(o.run));
          if (r < 0) {
            // Warm-up rounds; the second one sizes the rest.
            if (r === -1) rounds = Math.min(opts.reps, Math.max(MIN_ROUNDS, Math.floor(budgetMs / (performance.now() - start))));
            continue;
          }
          fullT.push(f);
          callRatio.push(c / f);
          ts.forEach((t, k) => group[k]!.ratios.push(t / f));
          phase.tick(r === rounds - 1 ? 1 + opts.reps - rounds : 1);
        }
      } finally {
        await Promise.all(opened.map((o) => o.release()));
      }
    }
  } finally {
    await Promise.all([full?.release(), call?.release()]);
  }
  return { fullT, callRatio };
}

/**
 * cuts: one per candidate exit, in network order; heads: models reading the tensor of
 * candidate exit `exit` (any number per exit); input: one batch [batch, ...].
 * With `prior` costs that cover every cut, the exits' and the backbone's costs are taken from
 * it, and only head shapes it lacks are timed (as ratios to the backbone, scaled by its cost).
 */
export async function measureLatency(
  backbone: ModelProto, cuts: readonly CandidateCut[], heads: readonly { exit: number; model: ModelProto }[], input: Tensor,
  opts: { engine: EngineOptions; progress: Progress; reps: number; groupBytes?: number; budgetMs?: number; prior?: PriorCosts | null },
): Promise<LatencyCosts> {
  const batch = input.dims[0]!;
  if (cuts.length === 0) throw new LayercacheError('INTERNAL', 'measureLatency needs at least one candidate exit');
  for (const h of heads) {
    if (!(Number.isInteger(h.exit) && h.exit >= 0 && h.exit < cuts.length)) {
      throw new LayercacheError('INTERNAL', `a head is bound to exit ${h.exit}, but there are ${cuts.length} candidate exits (0–${cuts.length - 1})`);
    }
  }
  /** Opens a session of `bytes` that runs on `x` (its one input). */
  const sessionRunner = (bytes: Uint8Array, label: string, x: Tensor = input) => async () => {
    const s = await Session.create(bytes, label, opts.engine);
    const f = { [s.inputs[0]!.name]: x };
    return { run: () => s.run(f), release: () => s.release() };
  };
  const prior = opts.prior && cuts.every((c) => Object.hasOwn(opts.prior!.toExitMs, c.tensor)) ? opts.prior : null;
  const keys = heads.map((h) => shapeId(h.model));
  const untimed = [...new Set(keys)].filter((k) => !(prior && Object.hasOwn(prior.headMs, k)));
  const prefixes: Timed[] = prior ? [] : cuts.map((c, e) => {
    const bytes = serializeModel(c.prefix);
    return { bytes: bytes.length, open: sessionRunner(bytes, `prefix to exit ${e}`), ratios: [] };
  });
  // The input of every exit's heads (when any head is to be timed): one pass through the chain of segments.
  const exitTensors: Tensor[] = [];
  let x = input;
  for (const [e, c] of untimed.length > 0 ? cuts.entries() : []) {
    const s = await Session.create(serializeModel(c.segment), `segment to exit ${e}`, opts.engine);
    try {
      x = Object.values(await s.run({ [s.inputs[0]!.name]: x }))[0]!;
    } finally {
      await s.release();
    }
    exitTensors.push(x);
  }
  // Per distinct head shape not in `prior`: its own session, fed the exit's tensor, at a few exits.
  const sites = new Map<string, Timed[]>();
  for (const key of untimed) {
    const at = spread(heads.filter((_, k) => keys[k] === key), HEAD_SITES);
    sites.set(key, at.map((h) => {
      const bytes = serializeModel(h.model);
      return {
        bytes: bytes.length,
        open: sessionRunner(bytes, `head at exit ${h.exit}`, exitTensors[h.exit]!),
        ratios: [],
      };
    }));
  }
  const all = [...prefixes, ...[...sites.values()].flat()];
  const groups: Timed[][] = [];
  let size = Number.POSITIVE_INFINITY;
  for (const t of all) {
    if (size + t.bytes > (opts.groupBytes ?? GROUP_BYTES)) {
      groups.push([]);
      size = 0;
    }
    groups[groups.length - 1]!.push(t);
    size += t.bytes;
  }
  return withPhase(opts.progress, 'measure', groups.length * opts.reps + 1, async (phase) => {
    // Nothing to time when the prior holds every cost.
    const { fullT, callRatio } = groups.length > 0 ? await timeGroups(backbone, input, groups, opts, phase) : { fullT: [], callRatio: [] };
    // With prior costs, heads timed now are scaled by the prior backbone cost (ratios carry over; milliseconds drift).
    const fullMs = prior ? prior.fullMs : medianOf(fullT);
    phase.tick();
    const toExit = prior ? cuts.map((c) => prior.toExitMs[c.tensor]!) : fittedCosts(cuts, prefixes.map((p) => medianOf(p.ratios))).map((r) => r * fullMs);
    const headCost = new Map([...sites].map(([key, ts]) => [key, medianOf(ts.flatMap((t) => t.ratios)) * fullMs]));
    return {
      batch, toExit, head: keys.map((k) => headCost.get(k) ?? prior!.headMs[k]!), headShape: keys, full: fullMs,
      callOverhead: prior ? prior.callOverheadMs : medianOf(callRatio) * fullMs,
      reused: { exits: prior !== null, heads: keys.filter((k) => !headCost.has(k)).length },
    };
  });
}

/** Rows per alternating block of the runtime check: 20 inputs at batch 1, one batch at batch ≥ 20 (many blocks, so the median is robust). */
const BLOCK_ROWS = 20;

/**
 * The real runtime, measured: latency per batch of the backbone and of a cascade (built from
 * `parts`) on the same inputs, in short alternating blocks (which side goes first alternates
 * too), so drift of the machine hits both alike. `ratio` is the median over blocks of
 * cascade time / backbone time: the verdict, robust to outlier blocks; the means are for reports.
 */

export async function measureCascade(
  backbone: ModelProto, parts: Parameters<typeof Cascade.create>[0], inputs: readonly Tensor[],
  opts: { engine: EngineOptions; reps: number; onBlock?: () => void },
): Promise<{ backboneMs: number; cascadeMs: number; ratio: number }> {
  const full = await Session.create(serializeModel(backbone), 'backbone', opts.engine);
  const inputName = full.inputs[0]!.name;
  try {
    const cascade = await Cascade.create(parts, opts.engine);
    try {
      // The cascade's scan for values that are not finite, which the backbone side does not do, runs before the
      // clock; input it would refuse runs unchecked, so its own error names the value.
      const finiteChecked = inputs.every(finiteInput);
      const r = await timeAlternating({
        backbone: (x) => full.run({ [inputName]: x }),
        cascade: (x) => cascade.run(x, { finiteChecked }),
      }, inputs, { passes: opts.reps, blockSize: Math.max(1, Math.round(BLOCK_ROWS / (inputs[0]?.dims[0] ?? 1))), ...(opts.onBlock ? { onBlock: opts.onBlock } : {}) });
      return { backboneMs: r.backbone!.meanMs, cascadeMs: r.cascade!.meanMs, ratio: r.cascade!.ratio };
    } finally {
      await cascade.release();
    }
  } finally {
    await full.release();
  }
}
