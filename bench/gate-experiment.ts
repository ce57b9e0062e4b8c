/**
 * Experiment (not a product feature): does a learned gate, or a threshold per class, beat
 * max softmax as the exit score? On ResNet-56, heads are cross-fitted on records 0–4999
 * (+ flips) exactly as `build` does; per exit, a logistic regression is fitted on the
 * out-of-fold predictions, on either
 *   gate       [score, margin, previous two heads' scores and whether they agree], or
 *   per-class  [one-hot predicted class, one-hot class × score] (a Platt scaling per class,
 *              so one threshold on it is a threshold per class on max softmax);
 * exits and thresholds are selected with MACs as the cost (every exit allowed) on records
 * 0–4999 and evaluated on 5000–9999. Prints agreement and MACs saved for each score.
 *   node --import tsx bench/gate-experiment.ts
 */
import path from 'node:path';
import { loadModel } from '../src/onnx/index.ts';
import { analyzeModel } from '../src/inspect/index.ts';
import { openDataSource, flipped } from '../src/data/index.ts';
import { collectFeatures, type ExitInfo } from '../src/builder/collect.ts';
import { crossFit, trainFinal } from '../src/builder/crossfit.ts';
import { predictHeads } from '../src/builder/train-heads.ts';
import { SILENT } from '../src/progress/index.ts';
import { argmaxRows, maxScore, marginScore, selectPolicy, simulate, type CalibrationTable } from '../src/calibrate/index.ts';
import { headMacs } from '../src/heads/index.ts';

const engine = { intraOpThreads: 2, graphOptimization: 'all' as const };
const assets = process.env.LAYERCACHE_ASSETS ?? path.resolve(import.meta.dirname, '../../shared/assets');
const model = await loadModel(path.join(assets, 'cifar10_resnet56.onnx'));
const a = await analyzeModel(model);
const pre = { scale: 255, mean: [0.485, 0.456, 0.406], std: [0.229, 0.224, 0.225], layout: 'nchw' as const };
const exits: ExitInfo[] = a.exits.map((e) => ({ index: e.index, tensor: e.tensor, dims: a.tensor(e.tensor)!.dims.slice(1), cumulativeMacs: e.cumulativeMacs }));
const src = await openDataSource(`cifar10:${path.join(assets, 'cifar10_test_jpeg.bin')}#0-4999`, pre);
const tst = await openDataSource(`cifar10:${path.join(assets, 'cifar10_test_jpeg.bin')}#5000-9999`, pre);
const build = await collectFeatures(model, exits, [4], 'logits', 10, [src, flipped(src, 'nchw')], { batchSize: 100, engine, progress: SILENT });
const test = await collectFeatures(model, exits, [4], 'logits', 10, [tst], { batchSize: 100, engine, progress: SILENT });
const spec = { pool: 4, hidden: 128, dropout: 0.3 };
const settings = { epochs: 12, batchSize: 256, learningRate: 0.002, weightDecay: 0.0005, temperature: 4, seed: 1 };
const jobs = build.features.map((f) => ({ spec, features: f }));
const cf = await crossFit(jobs, build, 3, settings, { engine, progress: SILENT });
const fin = await trainFinal(jobs, build, 3, settings, { engine, progress: SILENT });
const testLP = await predictHeads(test.features.map((f) => ({ spec, features: f })), fin.params, test, Int32Array.from({ length: 5000 }, (_, i) => i), engine);
const K = 10;
const n = 5000;
const refB = argmaxRows(build.teacher.subarray(0, n * K), K);
const refT = argmaxRows(test.teacher, K);

function feats(lp: Float32Array[], e: number): Float64Array[] {
  const s = maxScore(lp[e]!, K); const m = marginScore(lp[e]!, K); const own = argmaxRows(lp[e]!, K);
  const prev = (k: number) => { const f = Math.max(0, e - k); return { s: maxScore(lp[f]!, K), c: argmaxRows(lp[f]!, K) }; };
  const p1 = prev(1); const p2 = prev(2);
  return Array.from({ length: lp[e]!.length / K }, (_, i) => Float64Array.from([1, s[i]!, m[i]!, p1.s[i]!, own[i] === p1.c[i] ? 1 : 0, p2.s[i]!, own[i] === p2.c[i] ? 1 : 0]));
}
/** [one-hot class (K), one-hot class × max-softmax score (K)]. */
function perClassFeats(lp: Float32Array[], e: number): Float64Array[] {
  const s = maxScore(lp[e]!, K); const own = argmaxRows(lp[e]!, K);
  return Array.from(s, (v, i) => { const x = new Float64Array(2 * K); x[own[i]!] = 1; x[K + own[i]!] = v; return x; });
}
function fitLogistic(X: Float64Array[], y: Uint8Array): Float64Array {
  const d = X[0]!.length; const w = new Float64Array(d);
  for (let it = 0; it < 25; it++) {
    const g = new Float64Array(d); const H = Array.from({ length: d }, () => new Float64Array(d));
    X.forEach((x, i) => { let z = 0; for (let j = 0; j < d; j++) z += w[j]! * x[j]!; const p = 1 / (1 + Math.exp(-z)); const r = p * (1 - p) + 1e-6;
      for (let j = 0; j < d; j++) { g[j]! += (p - y[i]!) * x[j]!; for (let k = 0; k < d; k++) H[j]![k]! += r * x[j]! * x[k]!; } });
    for (let j = 0; j < d; j++) H[j]![j]! += 1e-3;
    // solve H dw = g (Gaussian elimination)
    const A = H.map((row, j) => [...row, g[j]!]);
    for (let c = 0; c < d; c++) { let piv = c; for (let r = c + 1; r < d; r++) if (Math.abs(A[r]![c]!) > Math.abs(A[piv]![c]!)) piv = r; [A[c], A[piv]] = [A[piv]!, A[c]!];
      for (let r = 0; r < d; r++) if (r !== c) { const f = A[r]![c]! / A[c]![c]!; for (let k = c; k <= d; k++) A[r]![k]! -= f * A[c]![k]!; } }
    for (let j = 0; j < d; j++) w[j]! -= A[j]![d]! / A[j]![j]!;
  }
  return w;
}
const score = (w: Float64Array, X: Float64Array[]) => Float64Array.from(X, (x) => { let z = 0; for (let j = 0; j < x.length; j++) z += w[j]! * x[j]!; return z; });
const dims = build.features.map((f) => f.dim);
type Kind = 'max' | 'gate' | 'per-class';
const featuresOf = { gate: feats, 'per-class': perClassFeats };
function table(lp: Float32Array[], ref: Int32Array, kind: Kind, gates?: Record<Exclude<Kind, 'max'>, Float64Array[]>): CalibrationTable {
  return { n: ref.length, fullCost: a.totalMacs, exits: lp.map((p, e) => ({
    cost: exits[e]!.cumulativeMacs, headCost: headMacs(spec, dims[e]!, K) + a.exits[e]!.activationElements,
    score: kind === 'max' ? maxScore(p, K) : score(gates![kind][e]!, featuresOf[kind](lp, e)),
    correct: Uint8Array.from(argmaxRows(p, K), (c, i) => (c === ref[i] ? 1 : 0)),
  })) };
}
const agreesB = (e: number) => Uint8Array.from(argmaxRows(cf.outOfFold[e]!, K), (c, i) => (c === refB[i] ? 1 : 0));
const gates = {
  gate: exits.map((_, e) => fitLogistic(feats(cf.outOfFold, e), agreesB(e))),
  'per-class': exits.map((_, e) => fitLogistic(perClassFeats(cf.outOfFold, e), agreesB(e))),
};
for (const kind of ['max', 'gate', 'per-class'] as const) {
  for (const tol of [0.01, 0.02]) {
    const sel = selectPolicy(table(cf.outOfFold, refB, kind, gates), { tolerance: tol, margin: tol / 5 });
    const o = simulate(table(testLP, refT, kind, gates), sel.policy);
    console.log(`${kind} tol ${tol}: cal ${(100 * (sel.crossValidated?.agreement ?? 0)).toFixed(2)} | test agree ${(100 * o.agreement).toFixed(2)} MACs saved ${(100 * (1 - o.meanCost / a.totalMacs)).toFixed(1)} exits ${sel.policy.thresholds.filter((t) => t !== Infinity).length}`);
  }
}
