import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { randomNormal, seededRng } from '../tensor/index.ts';
import { runModel } from '../../test/support/chain.ts';
import { applyFeatureScaling, fitFeatureScaling, foldScaling } from './feature-scaling.ts';
import { initParams } from './head-spec.ts';
import { buildHeadModel, HEAD_INPUT, HEAD_OUTPUT } from './head-model.ts';

describe('feature scaling', () => {
  it('fits mean and 1/std by hand, and gives a constant feature scale 0', () => {
    // Rows [1, 5, 7], [3, 5, 7]: feature 0 has mean 2 and std 1; features 1 and 2 are constant.
    const data = Float32Array.from([1, 5, 7, 3, 5, 7]);
    const s = fitFeatureScaling(data, 3);
    assert.deepEqual(Array.from(s.mean), [2, 5, 7]);
    assert.deepEqual(Array.from(s.scale), [1, 0, 0]);
    applyFeatureScaling(data, 3, s);
    assert.deepEqual(Array.from(data), [-1, 0, 0, 1, 0, 0]);
  });

  for (const spec of [{ pool: 2, hidden: 5, dropout: 0 }, { pool: 1, hidden: 0, dropout: 0 }]) {
    it(`oracle (${spec.hidden > 0 ? 'MLP' : 'linear'} head): the exported head with folded scaling on raw exit tensors = the head on standardised pooled features`, async () => {
      const rng = seededRng(4);
      const exitDims = [3, 4, 4];
      const rows = 6;
      // Raw activations far from unit scale: offset 40, spread 25.
      const x = randomNormal(rng, rows * 48).map((v) => 40 + 25 * v);
      const dim = 3 * spec.pool * spec.pool;
      // Pooled features by hand: the mean of each channel's pool cells.
      const feats = new Float32Array(rows * dim);
      const cell = 4 / spec.pool;
      for (let r = 0; r < rows; r++) for (let c = 0; c < 3; c++) for (let py = 0; py < spec.pool; py++) for (let px = 0; px < spec.pool; px++) {
        let s = 0;
        for (let y = py * cell; y < (py + 1) * cell; y++) for (let xx = px * cell; xx < (px + 1) * cell; xx++) s += x[r * 48 + c * 16 + y * 4 + xx]!;
        feats[r * dim + c * spec.pool * spec.pool + py * spec.pool + px] = s / (cell * cell);
      }
      const scaling = fitFeatureScaling(feats, dim);
      applyFeatureScaling(feats, dim, scaling);
      const params = initParams(spec, dim, 4, rng);
      // The head applied to the standardised features, computed by hand (Gemm, ReLU, Gemm, log-softmax).
      const layer = (inp: Float32Array, w: Float32Array, b: Float32Array, n: number, m: number): Float32Array => {
        const out = new Float32Array(rows * m);
        for (let r = 0; r < rows; r++) for (let i = 0; i < m; i++) {
          let s = b[i]!;
          for (let k = 0; k < n; k++) s += w[i * n + k]! * inp[r * n + k]!;
          out[r * m + i] = s;
        }
        return out;
      };
      let logits = layer(feats, params[0]!.data, params[1]!.data, dim, spec.hidden || 4);
      if (spec.hidden > 0) logits = layer(logits.map((v) => Math.max(0, v)), params[2]!.data, params[3]!.data, spec.hidden, 4);
      const got = (await runModel(buildHeadModel(spec, foldScaling(params, scaling), exitDims, 4, 17), { [HEAD_INPUT]: { dtype: 'float32', dims: [rows, ...exitDims], data: x } }))[HEAD_OUTPUT]!.data as Float32Array;
      for (let r = 0; r < rows; r++) {
        const row = Array.from(logits.subarray(r * 4, r * 4 + 4));
        const mx = Math.max(...row);
        const lse = mx + Math.log(row.reduce((a, v) => a + Math.exp(v - mx), 0));
        for (let k = 0; k < 4; k++) assert.ok(Math.abs(got[r * 4 + k]! - (row[k]! - lse)) < 1e-3, `row ${r} class ${k}: ${got[r * 4 + k]} vs ${row[k]! - lse}`);
      }
    });
  }
});
