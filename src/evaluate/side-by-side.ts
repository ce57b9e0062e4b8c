/**
 * The bundle timed beside its backbone on the same samples, for eval. Batch 64: the two sides run batch by
 * batch in turn, over the data once (the pass that collects the bundle's answers) and again until the slower side
 * has run for `throughputMs` (one pass of a small model takes milliseconds, too short to time), within
 * MAX_THROUGHPUT_PASSES passes and EXTRA_PASSES_WALL × `throughputMs` of wall time. Batch 1: blocks of
 * LATENCY_BLOCK samples in turn.
 * Invariants: each side's clock covers one session run (the bundle's also makes its answer rows); the bundle's
 * input check (its scan for values that are not finite, which the backbone side does not do) runs before its clock
 * starts. Both sides run the same batches, and throughput counts every timed row of every pass.
 */
import { meanCascadeCost } from '../calibrate/index.ts';
import type { Cascade, CascadeRow } from '../cascade/index.ts';
import type { DataSource } from '../data/index.ts';
import type { Session } from '../engine/index.ts';
import { withPhase, type Progress } from '../progress/index.ts';
import { finiteInput, percentile, type Tensor } from '../tensor/index.ts';

export interface LatencyStats {
  readonly p50: number;
  readonly p95: number;
  readonly p99: number;
  readonly mean: number;
}

export interface SystemFigures {
  readonly accuracy: number | null;
  readonly macsPerSample: number;
  readonly latencyMs: LatencyStats;
  readonly throughputBatch64: number;
}

export interface CachedFigures extends SystemFigures {
  readonly agreement: number;
  readonly exitRates: number[];
  /** Per exit: agreement with the backbone of the rows it answered (null when it answered none). */
  readonly exitAgreement: (number | null)[];
  readonly fullRate: number;
}

/** Samples per block of batch-1 timing: each side runs a block in turn, on the same samples. */
export const LATENCY_BLOCK = 50;

/** The default least time the slower side spends in timed batch-64 runs. */
export const THROUGHPUT_MS = 500;

/** Most passes over the data for batch-64 timing, whatever `throughputMs` asks. */
export const MAX_THROUGHPUT_PASSES = 100;

/** The passes after the first take at most this many times `throughputMs` of wall time. */
const EXTRA_PASSES_WALL = 4;

/** The data in batches of `size` rows, made on demand: iterate `batches()`, or take one with `at(k)`. */
export type Batches = (() => Generator<Tensor>) & { readonly count: number; at(k: number): Tensor };

export function batchesOf(data: DataSource, size: number): Batches {
  const at = (k: number): Tensor => data.batch(k * size, Math.min(data.count, (k + 1) * size));
  const count = Math.ceil(data.count / size);
  return Object.assign(function* batches(): Generator<Tensor> {
    for (let k = 0; k < count; k++) yield at(k);
  }, { count, at });
}

export function stats(ms: number[]): LatencyStats {
  return { p50: percentile(ms, 0.5), p95: percentile(ms, 0.95), p99: percentile(ms, 0.99), mean: ms.reduce((a, b) => a + b, 0) / ms.length };
}

export function accuracyOf(classes: ArrayLike<number>, labels: DataSource['labels']): number | null {
  if (!labels) return null;
  let ok = 0;
  for (let i = 0; i < classes.length; i++) if (classes[i] === labels[i]) ok++;
  return ok / classes.length;
}

/** Milliseconds `run` takes on `now`'s clock. */
async function wallMs(now: () => number, run: () => Promise<unknown>): Promise<number> {
  const t = now();
  await run();
  return now() - t;
}

/**
 * Runs the two sides of timing round k, the backbone first in even rounds and the other side first in odd ones:
 * whichever runs second meets a machine the first has just warmed (caches, clocks), so neither always does.
 */
export async function inTurn(k: number, backbone: () => Promise<void>, other: () => Promise<void>): Promise<void> {
  if (k % 2 === 0) {
    await backbone();
    await other();
  } else {
    await other();
    await backbone();
  }
}

/**
 * The cascade's run on x, with its scan for values that are not finite done here, before the caller's clock
 * starts. Input it would refuse runs unchecked, so the cascade's own error names the value.
 */
function checkedRun(cascade: Cascade, x: Tensor): () => Promise<CascadeRow[]> {
  const finiteChecked = finiteInput(x);
  return () => cascade.run(x, { finiteChecked });
}

export interface SideBySideOptions {
  readonly progress: Progress;
  /** Samples timed at batch 1 (the first ones). */
  readonly latencySamples: number;
  /** Least time the slower side spends in timed batch-64 runs (passes over the data repeat until then). */
  readonly throughputMs: number;
  /** The clock in ms (default performance.now; tests give their own). */
  readonly now?: () => number;
}

/** What a cascade's rows cost in MACs: up to each exit ([exits]), each exit's head ([exits]), and the whole backbone. */
export interface MacCosts {
  readonly exitMacs: readonly number[];
  readonly headMacs: readonly number[];
  readonly totalMacs: number;
}

/** The samples both sides run: the data, in batches of 64, and what the answers are judged by (reference: [samples], the backbone's classes). */
export interface JudgedData {
  readonly data: DataSource;
  readonly batches: Batches;
  readonly reference: Int32Array;
  readonly labels: DataSource['labels'];
}

/**
 * The bundle's figures beside the backbone's. cascades, backbones: equivalent instances (same graphs), used in
 * rotation, batch by batch and block by block: each session's timing carries its own offset of a percent or two
 * (DEVELOPERS.md), which rotation averages out instead of charging it all to one side.
 */
export async function sideBySide(
  name: string, cascades: readonly Cascade[], backbones: readonly Session[], costs: MacCosts, judged: JudgedData, opts: SideBySideOptions,
): Promise<{ figures: CachedFigures; trace: number[]; backboneTrace: number[]; backboneThroughput: number }> {
  const { exitMacs, headMacs, totalMacs } = costs;
  const { data, batches, reference, labels } = judged;
  const rows: CascadeRow[] = [];
  const inputName = backbones[0]!.inputs[0]!.name;
  let cascadeMs = 0;
  let backboneMs = 0;
  let timedRows = 0;
  const now = opts.now ?? ((): number => performance.now());
  const pass = async (p: number, onBatch: (answers: CascadeRow[]) => void): Promise<void> => {
    for (let k = 0; k < batches.count; k++) {
      const b = batches.at(k);
      const backbone = backbones[k % backbones.length]!;
      const run = checkedRun(cascades[k % cascades.length]!, b);
      let answers: CascadeRow[] = [];
      // Each pass starts with the other side first, so an odd batch count does not favour one side.
      await inTurn(k + p,
        async () => { backboneMs += await wallMs(now, () => backbone.run({ [inputName]: b })); },
        async () => { cascadeMs += await wallMs(now, async () => { answers = await run(); }); });
      timedRows += b.dims[0]!;
      onBatch(answers);
    }
  };
  await withPhase(opts.progress, `${name}: batch 64`, batches.count, async (phase) => {
    // Every instance runs once untimed first: a session's first run is slow.
    const first = batches.at(0);
    for (const session of backbones) await session.run({ [inputName]: first });
    for (const c of cascades) await c.run(first);
    await pass(0, (answers) => {
      rows.push(...answers);
      phase.tick();
    });
    // A pass shorter than throughputMs is mostly the machine's noise: time more of them, until the slower side has
    // run for throughputMs, within EXTRA_PASSES_WALL times that of wall time (making batches is untimed, and may
    // cost more than running them).
    const until = now() + EXTRA_PASSES_WALL * opts.throughputMs;
    for (let p = 1; p < MAX_THROUGHPUT_PASSES && Math.max(backboneMs, cascadeMs) < opts.throughputMs && now() < until; p++) await pass(p, () => {});
  });
  const n = rows.length;
  let agree = 0;
  const counts = exitMacs.map(() => 0);
  const agreeAt = exitMacs.map(() => 0);
  let full = 0;
  rows.forEach((r, i) => {
    if (r.classIndex === reference[i]) {
      agree++;
      if (r.exit !== null) agreeAt[r.exit]!++;
    }
    if (r.exit === null) full++;
    else counts[r.exit]!++;
  });
  const macsPerSample = meanCascadeCost({ prefix: exitMacs, head: headMacs, full: totalMacs }, counts, n);
  // Batch 1: alternating blocks of samples (a backbone block and the same samples through the
  // bundle, the two in turn first), so both see the same machine conditions and their worker
  // threads do not contend sample by sample.
  const lat: number[] = [];
  const blat: number[] = [];
  const timed = Math.min(opts.latencySamples, data.count);
  const block = LATENCY_BLOCK;
  await withPhase(opts.progress, `${name}: batch 1`, timed, async (phase) => {
    for (let s = 0; s < timed; s += block) {
      const e = Math.min(timed, s + block);
      const backbone = backbones[(s / block) % backbones.length]!;
      const cascade = cascades[(s / block) % cascades.length]!;
      const xs = Array.from({ length: e - s }, (_, k) => data.batch(s + k, s + k + 1));
      const runs = xs.map((x) => checkedRun(cascade, x));
      // Each side's block: one untimed run to warm it after the other side, then every sample timed.
      const timeBlock = async (run: (k: number) => Promise<unknown>, into: number[]): Promise<void> => {
        await run(0);
        for (let k = 0; k < xs.length; k++) into.push(await wallMs(now, () => run(k)));
      };
      await inTurn(s / block, () => timeBlock((k) => backbone.run({ [inputName]: xs[k]! }), blat), () => timeBlock((k) => runs[k]!(), lat));
      phase.tick(e - s);
    }
  });
  return {
    figures: {
      agreement: agree / n,
      accuracy: accuracyOf(rows.map((r) => r.classIndex), labels),
      macsPerSample,
      latencyMs: stats(lat),
      throughputBatch64: timedRows / (cascadeMs / 1000),
      exitRates: counts.map((c) => c / n),
      exitAgreement: counts.map((c, e) => (c === 0 ? null : agreeAt[e]! / c)),
      fullRate: full / n,
    },
    trace: lat,
    backboneTrace: blat,
    backboneThroughput: timedRows / (backboneMs / 1000),
  };
}
