import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Session } from '../engine/index.ts';
import { serializeModel } from '../onnx/index.ts';
import { seededRng, type Tensor } from '../tensor/index.ts';
import { paramShapes, type HeadSpec } from './head-spec.ts';
import { buildLossGradModel } from './train-graph.ts';

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
      const out = await session.run(feeds);
      const lossAt = async (): Promise<number> => Number((await session.run(feeds, ['loss'])).loss!.data[0]);
      const h = 1e-6;
      let checked = 0;
      for (const s of shapes) {
        const p = feeds[s.name]!.data as Float64Array;
        const grad = out[`grad_${s.name}`]!.data as Float64Array;
        assert.equal(grad.length, p.length);
        for (let i = 0; i < p.length; i += Math.max(1, Math.floor(p.length / 12))) {
          const orig = p[i]!;
          p[i] = orig + h;
          const up = await lossAt();
          p[i] = orig - h;
          const down = await lossAt();
          p[i] = orig;
          const numeric = (up - down) / (2 * h);
          const err = Math.abs(numeric - grad[i]!) / Math.max(1e-8, Math.abs(numeric) + Math.abs(grad[i]!));
          assert.ok(err < 1e-5 || Math.abs(numeric - grad[i]!) < 1e-9, `${s.name}[${i}]: analytic ${grad[i]} vs numeric ${numeric}`);
          checked++;
        }
      }
      assert.ok(checked >= 16, `only ${checked} entries checked`);
      // KL is non-negative, and zero only when the head matches the teacher.
      assert.ok(Number(out.loss!.data[0]) > 0);
      await session.release();
    });
  }
});
