import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AgreementGuard } from './agreement-guard.ts';
import { SampleBuffer } from './sample-buffer.ts';

describe('AgreementGuard', () => {
  it('combines per-exit agreement with each exit\'s share of requests (computed by hand)', () => {
    const g = new AgreementGuard(2, 100, 0.05);
    // 10 rows: 4 at exit 0, 2 at exit 1, 4 at the backbone.
    g.recordAnswers(Int32Array.from([0, 0, 0, 0, 1, 1, -1, -1, -1, -1]));
    for (let i = 0; i < 10; i++) g.recordVerified(0, i !== 0); // 90%
    for (let i = 0; i < 4; i++) g.recordVerified(1, true); // 100%
    const o = g.overall();
    assert.ok(Math.abs(o.estimate - (1 - 0.4 * 0.1)) < 1e-12);
    assert.ok(o.lower < o.estimate);
    // One disagreement in ten: with delta 0.05 split over 2 exits, the one-sided Clopper–Pearson
    // lower bound on exit 0's disagreement is 1 − 0.975^(1/10), so the upper bound on live
    // agreement is 1 − 0.4 · 0.002529 ≈ 99.9%.
    assert.ok(Math.abs(g.stats()[0]!.upper - 0.975 ** 0.1) < 1e-9);
    assert.equal(g.offender(0.05, 5), null, '96% ≥ 95%: no action');
    assert.equal(g.offender(0.01, 5), null, '96% < 99%, but one disagreement in ten is not evidence: no action');
    // Twenty more verified answers at exit 0, ten of them wrong: now surely below 99%.
    for (let i = 0; i < 20; i++) g.recordVerified(0, i % 2 === 0);
    assert.equal(g.offender(0.01, 5), 0, 'exit 0 surely loses the agreement');
    assert.equal(g.offender(0.01, 31), null, 'too few verified answers to act');
  });

  it('lets neither trigger an action nor receive one an exit with too few verified answers', () => {
    const g = new AgreementGuard(2, 400, 0.05);
    // 30% of rows exit at 0, 50% at 1, 20% run the backbone.
    g.recordAnswers(Int32Array.from({ length: 100 }, (_, i) => (i < 30 ? 0 : i < 80 ? 1 : -1)));
    for (let i = 0; i < 56; i++) g.recordVerified(0, i !== 0); // 55 of 56: fine
    for (let i = 0; i < 30; i++) g.recordVerified(1, i < 10); // 10 of 30: bad, but only 30 answers
    assert.equal(g.offender(0.01, 40), null, 'exit 1 is not eligible yet, and exit 0 alone is within tolerance');
    for (let i = 0; i < 10; i++) g.recordVerified(1, false);
    assert.equal(g.offender(0.01, 40), 1, 'with 40 answers exit 1 is eligible and is the one acted on');
  });

  it('keeps a sliding window and forgets an exit on reset', () => {
    const g = new AgreementGuard(1, 4, 0.05);
    g.recordAnswers(Int32Array.from([0]));
    for (const a of [false, false, true, true, true, true]) g.recordVerified(0, a);
    assert.deepEqual([g.stats()[0]!.n, g.stats()[0]!.agreed], [4, 4]);
    g.resetExit(0);
    assert.equal(g.stats()[0]!.n, 0);
  });
});

describe('SampleBuffer', () => {
  it('keeps the newest samples up to its cap, oldest first, honouring the byte cap', () => {
    const b = new SampleBuffer(2, 3, 1 << 20);
    b.add(Float32Array.from([1, 1, 2, 2, 3, 3, 4, 4]), 4, Uint8Array.from([1, 0, 1, 1]));
    assert.equal(b.total, 3);
    b.add(Float32Array.from([5, 5]), 1);
    assert.deepEqual(Array.from(b.snapshot()), [3, 3, 4, 4, 5, 5]);
    assert.equal(new SampleBuffer(1024, 1_000_000, 1 << 20).capacity, 256);
  });
});
