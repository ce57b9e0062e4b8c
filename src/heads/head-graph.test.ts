import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { Session } from '../engine/index.ts';
import { serializeModel } from '../onnx/index.ts';
import { seededRng, type Tensor } from '../tensor/index.ts';
import { paramShapes, type HeadSpec } from './head-spec.ts';
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
