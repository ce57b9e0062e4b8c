/**
 * Every candidate head of a CIFAR-10 bundle run on a record range of `cifar10_test_jpeg.bin`, with the backbone's
 * answers: the shared input of the scripts that study the heads (exit-curves.ts) and the selection
 * (select-speed.ts). Invariant: rows are in record order; heads[e] is candidate e's log-probabilities.
 */
import path from 'node:path';
import { loadBundle, type LoadedBundle } from '../src/bundle/index.ts';
import { argmaxRows } from '../src/calibrate/index.ts';
import { Cascade } from '../src/cascade/index.ts';
import { openDataSource } from '../src/data/index.ts';
import { analyzeModel, readBackbone } from '../src/inspect/index.ts';
import { extractSegments } from '../src/surgery/index.ts';

export interface CandidateTrace {
  readonly bundle: LoadedBundle;
  readonly count: number;
  /** Per candidate exit: [count, classes] log-probabilities of its head. */
  readonly heads: Float32Array[];
  /** [count] the backbone's class per sample. */
  readonly reference: Int32Array;
}

/** Runs every candidate head of the bundle in `dir` on CIFAR records `range` ("A-B", inclusive) from `assets`. */
export async function traceCandidates(dir: string, assets: string, range: string): Promise<CandidateTrace> {
  const engine = { intraOpThreads: 2, graphOptimization: 'all' as const };
  const bundle = await loadBundle(dir);
  const m = bundle.manifest;
  const K = m.source.classes;
  const data = await openDataSource(`cifar10:${path.join(assets, 'cifar10_test_jpeg.bin')}#${range}`, m.preprocess!);
  const backbone = readBackbone(bundle).model;
  const a = await analyzeModel(backbone, { engine });
  const segments = extractSegments(backbone, a.flow, m.candidates.map((c) => c.tensor), a.typeOf).map((s) => s.model);
  const cascade = await Cascade.create({ segments, heads: bundle.candidateHeads, exits: m.candidates.map((c) => ({ tensor: c.tensor, threshold: Infinity, temperature: 1 })), classes: K, score: 'max' }, engine);
  const heads = m.candidates.map(() => new Float32Array(data.count * K));
  const logits = new Float32Array(data.count * K);
  try {
    for (let s = 0; s < data.count; s += 250) {
      const t = await cascade.trace(data.batch(s, Math.min(data.count, s + 250)));
      t.heads.forEach((h, e) => heads[e]!.set(h, s * K));
      logits.set(t.logits, s * K);
    }
  } finally {
    await cascade.release();
  }
  return { bundle, count: data.count, heads, reference: argmaxRows(logits, K) };
}
