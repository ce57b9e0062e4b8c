import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Session } from '../engine/index.ts';
import { GraphBuilder, serializeModel } from '../onnx/index.ts';
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
