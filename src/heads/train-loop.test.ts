import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Session } from '../engine/index.ts';
import { serializeModel } from '../onnx/index.ts';
import { seededRng, type Tensor } from '../tensor/index.ts';
import { buildTrainLoopModel, trainStepNames } from './train-graph.ts';

const softmax = (row: number[]): number[] => {
  const m = Math.max(...row);
  const e = row.map((v) => Math.exp(v - m));
  const s = e.reduce((a, b) => a + b, 0);
  return e.map((v) => v / s);
};

describe('the training loop, one step vs a float64 reference', () => {
  // The settings builds use: distillation at τ = 4, weight decay on weights only, and moments already under way
  // (at m = v = 0 Adam's first step is sign-only and would hide τ).
  it('distils at τ, steps AdamW with the given step size, and decays weights (not biases) by the given decay', async () => {
    const rng = seededRng(5);
    const [N, D, K, tau, stepSize, decay] = [4, 3, 3, 4, 0.05, 0.01];
    const x = Array.from({ length: N }, () => Array.from({ length: D }, () => rng.normal()));
    const t = Array.from({ length: N }, () => Array.from({ length: K }, () => 3 * rng.normal()));
    const W = Array.from({ length: K }, () => Array.from({ length: D }, () => rng.normal()));
    const b = Array.from({ length: K }, () => 0.5 * rng.normal());
    const mW = W.map((r) => r.map(() => 0.1 * rng.normal()));
    const vW = W.map((r) => r.map(() => 0.01 + 0.1 * rng.uniform()));
    const mb = b.map(() => 0.1 * rng.normal());
    const vb = b.map(() => 0.01 + 0.1 * rng.uniform());

    const model = buildTrainLoopModel([{ spec: { pool: 1, hidden: 0, dropout: 0 }, inputDim: D }], K, { temperature: tau, beta1: 0.9, beta2: 0.999, eps: 1e-8, seed: 1 });
    const session = await Session.create(serializeModel(model), 'train loop');
    const f32 = (values: number[][] | number[], dims: number[]): Tensor => ({ dtype: 'float32', dims, data: Float32Array.from(values.flat()) });
    const [nw, nb] = [trainStepNames(0, 'w'), trainStepNames(0, 'b')];
    const out = await session.run({
      teacher: f32(t, [N, K]), x0: f32(x, [N, D]),
      order: { dtype: 'int64', dims: [1, N], data: BigInt64Array.from([0n, 1n, 2n, 3n]) },
      steps: { dtype: 'float32', dims: [1], data: Float32Array.from([stepSize]) },
      decays: { dtype: 'float32', dims: [1], data: Float32Array.from([decay]) },
      [nw.param]: f32(W, [K, D]), [nw.m]: f32(mW, [K, D]), [nw.v]: f32(vW, [K, D]),
      [nb.param]: f32(b, [K]), [nb.m]: f32(mb, [K]), [nb.v]: f32(vb, [K]),
    });
    await session.release();

    // dZ = τ (softmax(z/τ) − softmax(t/τ)) / N; gW = dZᵀ x; gb = Σ_rows dZ.
    const dZ = x.map((xr, i) => {
      const z = W.map((wr, k) => wr.reduce((a, w, d) => a + w * xr[d]!, b[k]!));
      const q = softmax(z.map((v) => v / tau));
      const p = softmax(t[i]!.map((v) => v / tau));
      return q.map((qk, k) => (tau * (qk - p[k]!)) / N);
    });
    const gW = W.map((wr, k) => wr.map((_, d) => dZ.reduce((a, dz, i) => a + dz[k]! * x[i]![d]!, 0)));
    const gb = b.map((_, k) => dZ.reduce((a, dz) => a + dz[k]!, 0));
    const adam = (p: number, g: number, m: number, v: number, decayed: boolean): number => {
      const m2 = 0.9 * m + 0.1 * g;
      const v2 = 0.999 * v + 0.001 * g * g;
      return p - (stepSize * m2) / (Math.sqrt(v2) + 1e-8) - (decayed ? decay * p : 0);
    };
    const wOut = out[nw.paramOut]!.data as Float32Array;
    const bOut = out[nb.paramOut]!.data as Float32Array;
    W.forEach((wr, k) => wr.forEach((w, d) => {
      const want = adam(w, gW[k]![d]!, mW[k]![d]!, vW[k]![d]!, true);
      assert.ok(Math.abs(wOut[k * D + d]! - want) < 1e-5, `w[${k}][${d}]: ${wOut[k * D + d]} vs ${want}`);
    }));
    b.forEach((bk, k) => {
      const want = adam(bk, gb[k]!, mb[k]!, vb[k]!, false);
      assert.ok(Math.abs(bOut[k]! - want) < 1e-5, `b[${k}]: ${bOut[k]} vs ${want}`);
    });
  });
});
