import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Session } from '../engine/index.ts';
import { GraphBuilder, makeValueInfo, serializeModel } from '../onnx/index.ts';
import { seededRng, type Tensor } from '../tensor/index.ts';
import { paramShapes, type HeadSpec } from './head-spec.ts';
import { appendAdamW } from './head-graph.ts';
import { buildLossGradModel } from './train-graph.ts';
import { checkGradients } from '../../test/support/grad-check.ts';

function randomF64(rng: ReturnType<typeof seededRng>, dims: number[], std = 1): Tensor<'float64'> {
  const n = dims.reduce((a, b) => a * b, 1);
  const data = new Float64Array(n);
  for (let i = 0; i < n; i++) data[i] = rng.normal() * std;
  return { dtype: 'float64', dims, data };
}

describe('head gradients vs finite differences (float64)', () => {
  const cases: [string, HeadSpec, number][] = [
    ['linear head, T=1', { pool: 1, hidden: 0, dropout: 0 }, 1],
    ['MLP head, T=1', { pool: 1, hidden: 7, dropout: 0 }, 1],
    ['MLP head, T=3', { pool: 1, hidden: 5, dropout: 0 }, 3],
  ];
  for (const [name, spec, tau] of cases) {
    it(name, async () => {
      const rng = seededRng(11);
      const [B, D, K] = [6, 9, 4];
      const session = await Session.create(serializeModel(buildLossGradModel(spec, D, K, tau, 'float64')), 'loss/grad');
      const feeds: Record<string, Tensor> = { x: randomF64(rng, [B, D]), teacher: randomF64(rng, [B, K], 2) };
      const shapes = paramShapes(spec, D, K);
      for (const s of shapes) feeds[s.name] = randomF64(rng, s.dims, 0.5);
      const { loss, checked } = await checkGradients(session, feeds, shapes, 12);
      assert.ok(checked >= 16, `only ${checked} entries checked`);
      // KL is non-negative, and zero only when the head matches the teacher.
      assert.ok(loss > 0);
      await session.release();
    });
  }
});

describe('head gradients with dropout vs finite differences of the loss under the same mask (float64)', () => {
  // Each run draws a new dropout mask, so the check reads the mask of the run that gave the gradients and takes finite
  // differences of a float64 JS forward pass under that mask: dropped = relu(x W1ᵀ + b1) · mask / (1 − ratio).
  it('the backward pass multiplies by the dropout mask and by 1/(1 − ratio): gradients of W1, b1, W2 and b2 match', async () => {
    const rng = seededRng(13);
    // Ratio 0.25: 1 − ratio is a float32, as onnxruntime's Dropout takes it even on float64 (its scale is
    // 1 / float32(1 − ratio); at 0.4 that is 4e-8 off the exact 1/(1 − ratio) the backward pass uses).
    const [B, D, H, K, tau, ratio] = [6, 9, 7, 4, 2, 0.25];
    const spec: HeadSpec = { pool: 1, hidden: H, dropout: ratio };
    const model = buildLossGradModel(spec, D, K, tau, 'float64');
    const dropout = model.graph!.node.filter((n) => n.opType === 'Dropout');
    assert.equal(dropout.length, 1, 'the training graph applies one Dropout');
    const maskName = dropout[0]!.output[1]!;
    model.graph!.output.push(makeValueInfo(maskName, 'bool', ['B', H]));
    const session = await Session.create(serializeModel(model), 'loss/grad with dropout');
    const x = randomF64(rng, [B, D]).data;
    const teacher = randomF64(rng, [B, K], 2).data;
    const shapes = paramShapes(spec, D, K);
    const params = shapes.map((s) => randomF64(rng, s.dims, 0.5));
    const out = await session.run({ x: { dtype: 'float64', dims: [B, D], data: x }, teacher: { dtype: 'float64', dims: [B, K], data: teacher }, ...Object.fromEntries(shapes.map((s, i) => [s.name, params[i]!])) });
    await session.release();
    const mask = out[maskName]!.data as Uint8Array;
    const [w1, b1, w2, b2] = params.map((p) => p.data);

    const softmax = (v: number[]): number[] => {
      const m = Math.max(...v);
      const e = v.map((a) => Math.exp(a - m));
      const s = e.reduce((a, b) => a + b, 0);
      return e.map((a) => a / s);
    };
    const preAt = (r: number, h: number): number => {
      let a = b1![h]!;
      for (let d = 0; d < D; d++) a += w1![h * D + d]! * x[r * D + d]!;
      return a;
    };
    // L = τ² · mean_rows KL(softmax(T/τ) ‖ softmax(Z/τ)), Z from the hidden layer under `mask`.
    const lossUnderMask = (): number => {
      let total = 0;
      for (let r = 0; r < B; r++) {
        const dropped = Array.from({ length: H }, (_, h) => (Math.max(0, preAt(r, h)) * mask[r * H + h]!) / (1 - ratio));
        const z = Array.from({ length: K }, (_, k) => dropped.reduce((a, v, h) => a + v * w2![k * H + h]!, b2![k]!));
        const p = softmax(Array.from(teacher.subarray(r * K, (r + 1) * K), (v) => v / tau));
        const q = softmax(z.map((v) => v / tau));
        total += p.reduce((a, pk, k) => a + pk * (Math.log(pk) - Math.log(q[k]!)), 0);
      }
      return (tau * tau * total) / B;
    };

    // The mask matters only where it drops an active unit (ReLU > 0): the test needs some, and some kept.
    const cells = Array.from({ length: B * H }, (_, i) => i);
    assert.ok(cells.some((i) => mask[i] === 0 && preAt(Math.floor(i / H), i % H) > 0), `the test needs an active unit dropped: mask ${mask.join('')}`);
    assert.ok(cells.some((i) => mask[i] === 1 && preAt(Math.floor(i / H), i % H) > 0), `the test needs an active unit kept: mask ${mask.join('')}`);
    // The same forward pass as the graph's, in float64 on both sides: equal to rounding.
    const loss = Number(out.loss!.data[0]);
    assert.ok(Math.abs(lossUnderMask() - loss) <= 1e-12 * loss, `loss under the graph's mask: ${lossUnderMask()} vs the graph's ${loss}`);

    const h = 1e-6;
    shapes.forEach((s, i) => {
      const p = params[i]!.data;
      const grad = out[`grad_${s.name}`]!.data as Float64Array;
      for (let e = 0; e < p.length; e++) {
        const orig = p[e]!;
        p[e] = orig + h;
        const up = lossUnderMask();
        p[e] = orig - h;
        const down = lossUnderMask();
        p[e] = orig;
        const numeric = (up - down) / (2 * h);
        // Central differences in float64: truncation ~h², rounding ~1e-16/h (seen: under 2e-10). A backward pass
        // without the mask or the 1/(1 − ratio) is off by the dropped units' terms or by 25%.
        assert.ok(Math.abs(numeric - grad[e]!) <= 1e-6 * Math.abs(numeric) + 1e-9, `${s.name}[${e}]: analytic ${grad[e]} vs numeric ${numeric}`);
      }
    });
  });
});

describe('AdamW step vs a float64 reference', () => {
  for (const decayed of [true, false]) {
    it(`decayed: ${decayed}`, async () => {
      const rng = seededRng(2);
      const n = 7;
      const g = new GraphBuilder({ opset: 17 });
      const names = ['p', 'g', 'm', 'v'].map((k) => g.input(k, 'float32', [n]));
      const step = g.input('step', 'float32', [1]);
      const decay = g.input('decay', 'float32', [1]);
      const out = appendAdamW(g, names[0]!, names[1]!, names[2]!, names[3]!, step, decay, { beta1: 0.9, beta2: 0.999, eps: 1e-8, decayed, prefix: 'w' });
      for (const o of [out.param, out.m, out.v]) g.output(o, 'float32', [n]);
      const session = await Session.create(serializeModel(g.build()), 'adamw');
      const vec = (f: () => number) => Float32Array.from({ length: n }, f);
      const [p, gr, m] = [vec(() => rng.normal()), vec(() => rng.normal()), vec(() => 0.1 * rng.normal())];
      const v = vec(() => 0.01 + rng.uniform());
      const [s, d] = [0.003, 0.0002];
      const r = await session.run({ p: { dtype: 'float32', dims: [n], data: p }, g: { dtype: 'float32', dims: [n], data: gr }, m: { dtype: 'float32', dims: [n], data: m },
        v: { dtype: 'float32', dims: [n], data: v }, step: { dtype: 'float32', dims: [1], data: new Float32Array([s]) }, decay: { dtype: 'float32', dims: [1], data: new Float32Array([d]) } });
      for (let i = 0; i < n; i++) {
        const m2 = 0.9 * m[i]! + 0.1 * gr[i]!;
        const v2 = 0.999 * v[i]! + 0.001 * gr[i]! ** 2;
        const p2 = p[i]! - (s * m2) / (Math.sqrt(v2) + 1e-8) - (decayed ? d * p[i]! : 0);
        assert.ok(Math.abs((r[out.m]!.data[i] as number) - m2) < 1e-6, `m[${i}]`);
        assert.ok(Math.abs((r[out.v]!.data[i] as number) - v2) < 1e-6, `v[${i}]`);
        assert.ok(Math.abs((r[out.param]!.data[i] as number) - p2) < 1e-6, `p[${i}]: ${r[out.param]!.data[i]} vs ${p2}`);
      }
      await session.release();
    });
  }
});
