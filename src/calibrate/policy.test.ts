import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { seededRng } from '../tensor/index.ts';
import { meanCascadeCost, simulate, type CalibrationTable } from './policy.ts';

describe('meanCascadeCost', () => {
  it('charges an answered sample the backbone up to its exit and the heads up to it, any other the backbone and every head (by hand)', () => {
    const costs = { prefix: [300, 600], head: [10, 20], full: 1000 };
    // 4 of 10 at exit 0: 310; 2 at exit 1: 630; 4 to the end: 1030. (1240 + 1260 + 4120) / 10 = 662.
    assert.equal(meanCascadeCost(costs, [4, 2], 10), 662);
    assert.ok(Math.abs(meanCascadeCost(costs, [0.4, 0.2], 1) - 662) < 1e-9, 'shares of a total of 1');
    assert.equal(meanCascadeCost(costs, [0, 0], 5), 1030, 'nothing exits: the heads are pure cost');
  });

  it('agrees with the exact simulation of a policy that keeps every exit, from its exit rates (oracle)', () => {
    const rng = seededRng(4);
    const n = 500;
    const exits = [100, 250, 400].map((cost, e) => ({
      cost, headCost: 5 + e,
      score: Float64Array.from({ length: n }, () => rng.uniform()),
      correct: Uint8Array.from({ length: n }, () => (rng.uniform() < 0.9 ? 1 : 0)),
    }));
    const table: CalibrationTable = { n, exits, fullCost: 600 };
    const out = simulate(table, { thresholds: [0.8, 0.6, 0.5] });
    const counts = out.exitRates.map((r) => Math.round(r * n));
    const mean = meanCascadeCost({ prefix: exits.map((x) => x.cost), head: exits.map((x) => x.headCost), full: 600 }, counts, n);
    assert.ok(Math.abs(mean - out.meanCost) < 1e-9, `${mean} vs ${out.meanCost}`);
  });
});
