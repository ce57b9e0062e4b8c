import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { NEVER, simulate, type CalibrationTable } from '../calibrate/index.ts';
import { exitFailingDeployed, selectDeployed } from './deployed-check.ts';

/** Ten rows, two exits; scores and agreement per exit given as arrays. */
function table(scores: number[][], correct: number[][]): CalibrationTable {
  return {
    n: 10, fullCost: 10,
    exits: scores.map((s, e) => ({ cost: 3 + 3 * e, headCost: 0, score: Float64Array.from(s), correct: Uint8Array.from(correct[e]!) })),
  };
}

describe('deployed heads against the calibration', () => {
  // Exit 0 calibrated to answer rows 0–1 (scores 0.9 ≥ 0.8), which agree; exit 1 answers rows 2–3.
  const oof = table([[0.9, 0.9, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1], [0, 0, 0.9, 0.9, 0, 0, 0, 0, 0, 0]], [[1, 1, 0, 0, 0, 0, 0, 0, 0, 0], [1, 1, 1, 1, 1, 1, 1, 1, 1, 1]]);
  const policy = { thresholds: [0.8, 0.8] };

  it('simulate counts the disagreements answered at each exit, by hand', () => {
    const t = table([[0.9, 0.9, 0.9, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1, 0.1], [0, 0, 0, 0.9, 0.9, 0, 0, 0, 0, 0]], [[1, 0, 0, 0, 0, 0, 0, 0, 0, 0], [1, 1, 1, 0, 1, 1, 1, 1, 1, 1]]);
    assert.deepEqual(simulate(t, policy).exitErrors, [2, 1]);
    assert.equal(simulate(t, policy).errors, 3);
    assert.deepEqual(simulate(t, { thresholds: [NEVER, 0.8] }).exitErrors, [0, 1], 'row 2 reaches exit 1 but does not answer there (score 0)');
  });

  it('passes deployed heads that answer as calibrated, and a policy that keeps nothing', () => {
    assert.equal(exitFailingDeployed(oof, policy, 0.05), null);
    assert.equal(exitFailingDeployed(oof, { thresholds: [NEVER, NEVER] }, 0.0), null);
  });

  it('names the kept exit that disagrees most when a deployed head answers rows its fold models did not', () => {
    // The deployed head at exit 0 is confident on every row and right on two: 8 of 10 answers disagree.
    const deployed = table([new Array(10).fill(0.95), Array.from(oof.exits[1]!.score)], [Array.from(oof.exits[0]!.correct), Array.from(oof.exits[1]!.correct)]);
    const failing = exitFailingDeployed(deployed, policy, 0.05);
    assert.equal(failing?.exit, 0);
    assert.ok(Math.abs(failing!.agreement - 0.2) < 1e-12, `agreement ${failing?.agreement}`);
  });

  it('selectDeployed drops failing exits one by one and selects again, until the deployed heads pass', () => {
    // Both deployed heads answer every row, wrongly on 8 (exit 0) and 6 (exit 1) of them.
    const deployed = table([new Array(10).fill(0.95), new Array(10).fill(0.95)], [[1, 1, 0, 0, 0, 0, 0, 0, 0, 0], [1, 1, 1, 1, 0, 0, 0, 0, 0, 0]]);
    const allowed = [true, true];
    const drops: number[] = [];
    const selections: boolean[][] = [];
    // A stand-in for the selection: keeps every allowed exit.
    const select = () => {
      selections.push([...allowed]);
      return { policy: { thresholds: allowed.map((a) => (a ? 0.8 : NEVER)) } };
    };
    const s = selectDeployed(select, deployed, 0.05, allowed, (d) => drops.push(d.exit));
    assert.deepEqual(drops, [0, 1], 'exit 0 first (all rows answered there, 8 wrong), then exit 1 (6 wrong)');
    assert.deepEqual(selections, [[true, true], [false, true], [false, false]]);
    assert.deepEqual(s.policy.thresholds, [NEVER, NEVER]);
  });
});
