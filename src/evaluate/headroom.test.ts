import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { headroomOf, type HeadroomInput } from './headroom.ts';

/** Log-probabilities [rows, classes] from probabilities. */
const logProbs = (rows: number[][]): Float32Array => Float32Array.from(rows.flat(), Math.log);

// One candidate, two samples, three classes. Sample 0 disagrees with the backbone (its class is 1, the
// head says 0) but has the higher max probability (0.6 vs 0.55); sample 1 agrees and has the larger
// margin (log 0.55/0.35 = 0.45 vs log 0.6/0.39 = 0.43). So at 99% agreement a 'max' bundle can answer
// nothing (its most confident answer is wrong) and a 'margin' bundle can answer sample 1 alone.
const traced = [logProbs([[0.6, 0.39, 0.01], [0.55, 0.1, 0.35]])];
const reference = Int32Array.from([1, 0]);
const input = (kind: HeadroomInput['kind'], tolerance: unknown): HeadroomInput => ({
  tolerance, kind, classes: 3, totalMacs: 100,
  candidates: [{ candidate: 4, tensor: 't4', cumulativeMacs: 30, temperature: 1, head: { macs: 1 } }],
});

describe('headroomOf (hand-computed)', () => {
  it('scores the heads as the bundle does: max softmax and margin rank these samples differently', () => {
    const max = headroomOf(input('max', 0.01), traced, reference)!;
    const margin = headroomOf(input('margin', 0.01), traced, reference)!;
    assert.equal(max.exits[0]!.answerable, 0);
    assert.equal(margin.exits[0]!.answerable, 0.5);
    for (const h of [max, margin]) {
      assert.deepEqual({ ...h.exits[0]!, answerable: 0, curve: null }, { candidate: 4, tensor: 't4', macsBefore: 0.3, refined: true, agreement: 0.5, answerable: 0, curve: null });
    }
    // The curves behind those shares: max answers the wrong sample first, margin the right one.
    assert.deepEqual(max.exits[0]!.curve, { hitRate: [0.5, 1], agreement: [0, 0.5] });
    assert.deepEqual(margin.exits[0]!.curve, { hitRate: [0.5, 1], agreement: [1, 0.5] });
  });

  it('gives the in-sample best: at 50% tolerance the exit answers both samples (30 + 1 MACs each), one of them wrongly', () => {
    const h = headroomOf(input('max', 0.5), traced, reference)!;
    assert.deepEqual(h.inSampleBest, { macsPerSample: 31, agreement: 0.5, exits: 1 });
    // At 1% no disagreement is allowed, and the exit's one right answer does not pay for itself
    // unless the margin ranks it first: 'margin' answers sample 1 (31 MACs) and runs sample 0 through (101).
    assert.deepEqual(headroomOf(input('max', 0.01), traced, reference)!.inSampleBest, { macsPerSample: 100, agreement: 1, exits: 0 });
    assert.deepEqual(headroomOf(input('margin', 0.01), traced, reference)!.inSampleBest, { macsPerSample: 66, agreement: 1, exits: 1 });
  });

  it('is null, not a guess, without a build tolerance in (0, 1)', () => {
    for (const tolerance of [undefined, null, '0.01', 0, 1, Number.NaN]) assert.equal(headroomOf(input('max', tolerance), traced, reference), null);
  });

  it('is null for a bundle that lists no candidates (the manifest allows it; eval failed INTERNAL)', () => {
    assert.equal(headroomOf({ ...input('max', 0.01), candidates: [] }, [], reference), null);
  });
});
