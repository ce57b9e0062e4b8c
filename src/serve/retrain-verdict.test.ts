import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { keptBecause, liveMacsSaved, retrainVerdict, type LiveServing } from './retrain-verdict.ts';

/** A serving version with 3 answering exits, 1,241 verified answers at 99.5% (bound 99.39%), saving 13.6% of MACs. */
const live: LiveServing = { answeringExits: 3, estimate: 0.995, lower: 0.9939, verified: 1241, macsSaved: 0.136 };

describe('retrainVerdict', () => {
  it('keeps a serving version with exits over a retrain that kept none only on enough verified evidence at 1 − tolerance', () => {
    assert.deepEqual(retrainVerdict({ exits: 0, macsSaved: 0 }, live, 0.01, 40), { keep: true, why: 'no exit' }, 'the drift re-run\'s case: 99.39% bound on 1,241 answers');
    assert.deepEqual(retrainVerdict({ exits: 0, macsSaved: 0 }, { ...live, answeringExits: 0 }, 0.01, 40), { keep: false }, 'nothing to keep');
    assert.deepEqual(retrainVerdict({ exits: 0, macsSaved: 0 }, { ...live, lower: 0.987 }, 0.01, 40), { keep: false }, 'bound below 99%');
    assert.deepEqual(retrainVerdict({ exits: 0, macsSaved: 0 }, { ...live, lower: 1, verified: 39 }, 0.01, 40), { keep: false }, 'too little evidence (an exit that never answers bounds nothing)');
  });

  it('keeps a serving version that saves at least as many MACs on live traffic as the retrain expects to, at agreement 1 − tolerance or above', () => {
    // The audit's case: the built bundle saved 13.6%, the first retrain on 2,000 samples without augmentation 8.6%.
    assert.deepEqual(retrainVerdict({ exits: 1, macsSaved: 0.086 }, live, 0.01, 40), { keep: true, why: 'saves less' });
    assert.deepEqual(retrainVerdict({ exits: 2, macsSaved: 0.136 }, live, 0.01, 40), { keep: true, why: 'saves less' }, 'no better: no churn');
    assert.deepEqual(retrainVerdict({ exits: 2, macsSaved: 0.15 }, live, 0.01, 40), { keep: false }, 'saves more: served');
    // The point estimate, not the bound: the guard acts on a significant shortfall; 98.9% is short of 99%.
    assert.deepEqual(retrainVerdict({ exits: 1, macsSaved: 0.086 }, { ...live, lower: 0.98 }, 0.01, 40), { keep: true, why: 'saves less' });
    assert.deepEqual(retrainVerdict({ exits: 1, macsSaved: 0.086 }, { ...live, estimate: 0.989 }, 0.01, 40), { keep: false }, 'live agreement short of the tolerance: the retrain serves');
    assert.deepEqual(retrainVerdict({ exits: 1, macsSaved: 0.086 }, { ...live, estimate: null }, 0.01, 40), { keep: false }, 'an answering exit with no verified answer: unknown');
    assert.deepEqual(retrainVerdict({ exits: 1, macsSaved: 0.086 }, { ...live, verified: 39 }, 0.01, 40), { keep: false }, 'too few verified answers to show what it does');
    assert.deepEqual(retrainVerdict({ exits: 1, macsSaved: 0.086 }, { ...live, answeringExits: 0, macsSaved: 0 }, 0.01, 40), { keep: false });
  });

  it('says why, with the figures', () => {
    assert.equal(keptBecause('saves less', { macsSaved: 0.086 }, live, 4, 0.01), 'would serve with MACs 8.6% saved on calibration; version 4 stays, with MACs 13.6% saved on live traffic at 99.50% agreement (1241 verified answers)');
    assert.equal(keptBecause('no exit', { macsSaved: 0, noExitReason: 'no exit reached 99%' }, live, 4, 0.01), 'kept no exit (no exit reached 99%); version 4 stays, since its 1241 verified answers bound live agreement at 99.39% ≥ 99.00%');
  });
});

describe('liveMacsSaved', () => {
  it('charges an early row the backbone up to its exit and the heads up to it, any other row the backbone and every head (by hand)', () => {
    const exits = [{ cumulativeMacs: 300, head: { macs: 10 } }, { cumulativeMacs: 600, head: { macs: 20 } }];
    // 40% at exit 0: 310; 20% at exit 1: 630; 40% to the end: 1000 + 30. Mean 124 + 126 + 412 = 662.
    assert.ok(Math.abs(liveMacsSaved(exits as never, 1000, [0.4, 0.2]) - 0.338) < 1e-12);
    assert.ok(Math.abs(liveMacsSaved(exits as never, 1000, [0, 0]) + 0.03) < 1e-12, 'nothing exits: the heads are pure cost');
  });
});
