import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { AgreementGuard, SHARE_HALF_LIFE_ROWS } from './agreement-guard.ts';

/** The guard's sample counts: guardMinSamples `min`, guardFloorSamples `floor` (16, the default). */
const at = (min: number, floor = 16) => ({ guardMinSamples: min, guardFloorSamples: floor });

describe('AgreementGuard', () => {
  it('combines per-exit agreement with each exit\'s share of requests (computed by hand)', () => {
    const g = new AgreementGuard(2, 100, 0.05);
    // 10 rows: 4 at exit 0, 2 at exit 1, 4 at the backbone.
    g.recordAnswers(Int32Array.from([0, 0, 0, 0, 1, 1, -1, -1, -1, -1]));
    for (let i = 0; i < 10; i++) g.recordVerified(0, i !== 0, 5); // 90%
    assert.equal(g.overall().estimate, null, 'exit 1 answers 20% of rows and nothing says how often it agrees');
    // Its bound counts exit 1's answers as wrong: at most 1 − 0.2 − 0.4 · (1 − exit 0's lower bound).
    assert.ok(Math.abs(g.overall().lower - (1 - 0.2 - 0.4 * (1 - g.stats()[0]!.lower))) < 1e-12);
    for (let i = 0; i < 4; i++) g.recordVerified(1, true, 5); // 100%
    const o = g.overall();
    assert.ok(Math.abs(o.estimate! - (1 - 0.4 * 0.1)) < 1e-12);
    assert.ok(o.lower < o.estimate!);
    // One disagreement in ten: with delta 0.05 split over 2 exits, the one-sided Clopper–Pearson
    // lower bound on exit 0's disagreement is 1 − 0.975^(1/10), so the upper bound on live
    // agreement is 1 − 0.4 · 0.002529 ≈ 99.9%.
    assert.ok(Math.abs(g.stats()[0]!.upper - 0.975 ** 0.1) < 1e-9);
    assert.equal(g.offender(0.05, at(5)), null, '96% ≥ 95%: no action');
    assert.equal(g.offender(0.01, at(5)), null, '96% < 99%, but one disagreement in ten is not evidence: no action');
    // Twenty more verified answers at exit 0, ten of them wrong: now surely below 99%.
    for (let i = 0; i < 20; i++) g.recordVerified(0, i % 2 === 0, 5);
    assert.deepEqual(g.offender(0.01, at(5)), { exit: 0, recent: null, floor: false, evidence: { n: 30, agreed: 19 } }, 'exit 0 surely loses the agreement');
    assert.equal(g.offender(0.01, at(31)), null, 'too few verified answers to act');
  });

  it('lets an exit with fewer than minSamples verified answers neither trigger an action on the tolerance nor receive one', () => {
    const g = new AgreementGuard(2, 400, 0.05);
    // 30% of rows exit at 0, 50% at 1, 20% run the backbone.
    g.recordAnswers(Int32Array.from({ length: 100 }, (_, i) => (i < 30 ? 0 : i < 80 ? 1 : -1)));
    for (let i = 0; i < 56; i++) g.recordVerified(0, i !== 0, 5); // 55 of 56: fine
    for (let i = 0; i < 39; i++) g.recordVerified(1, i % 3 !== 0, 5); // 26 of 39: surely over 1% lost at half the rows, not surely under one half
    assert.equal(g.offender(0.01, at(40)), null, 'exit 1 is not eligible yet, and exit 0 alone is within tolerance');
    g.recordVerified(1, true, 5);
    assert.deepEqual(g.offender(0.01, at(40)), { exit: 1, recent: null, floor: false, evidence: { n: 40, agreed: 27 } });
  });

  it('disables an exit surely below one half from 16 verified answers, before minSamples (a retrained version learnt before a shift)', () => {
    const g = new AgreementGuard(2, 400, 0.05);
    g.recordAnswers(Int32Array.from({ length: 100 }, (_, i) => (i < 30 ? 0 : i < 80 ? 1 : -1)));
    for (let i = 0; i < 15; i++) g.recordVerified(1, false, 5);
    assert.equal(g.offender(0.01, at(40)), null, '15 answers, all wrong: not yet');
    g.recordVerified(1, false, 5);
    // 0 of 16 bound agreement at 1 − 0.025^(1/16) = 0.21 (delta 0.05 split over 2 exits).
    assert.deepEqual(g.offender(0.01, at(40)), { exit: 1, recent: null, floor: true, evidence: { n: 16, agreed: 0 } });
    assert.deepEqual(g.plan([5, 5], [0, 0], 0.01, { ...at(40), guardRaise: 1, guardMaxRaises: 3 })!.thresholds, [5, null]);
    // 8 of 16 right is not surely below one half, and too few answers to count towards the tolerance.
    const h = new AgreementGuard(2, 400, 0.05);
    h.recordAnswers(Int32Array.from({ length: 100 }, (_, i) => (i < 30 ? 0 : i < 80 ? 1 : -1)));
    for (let i = 0; i < 16; i++) h.recordVerified(1, i % 2 === 0, 5);
    assert.equal(h.offender(0.01, at(40)), null);
    // With guardFloorSamples 10, the floor acts from 10 answers.
    const k = new AgreementGuard(1, 400, 0.05);
    k.recordAnswers(new Int32Array(100));
    for (let i = 0; i < 10; i++) k.recordVerified(0, false, 5);
    assert.equal(k.offender(0.01, at(40, 10))?.floor, true);
  });

  it('after a shift in the traffic: a recent run of wrong answers acts though the window\'s older answers hold its estimate up', () => {
    // The label-shift audit's case: exit 0 answers 3% of rows; 300 verified answers agreed before the shift.
    const g = new AgreementGuard(1, 400, 0.05);
    g.recordAnswers(Int32Array.from({ length: 100 }, (_, i) => (i < 3 ? 0 : -1)));
    for (let i = 0; i < 300; i++) g.recordVerified(0, true, 5);
    const steady = g.overall().lower;
    assert.ok(steady > 0.999, `steady traffic: the window bounds live agreement at ${steady}`);
    for (let i = 0; i < 5; i++) g.recordVerified(0, false, 6);
    assert.deepEqual([g.offender(0.01, at(40)), g.suspicious(0.01)], [null, false], 'the last 16: 0.03 · 5/16 = 0.94% lost');
    g.recordVerified(0, false, 6);
    assert.deepEqual([g.offender(0.01, at(40)), g.suspicious(0.01)], [null, true], '0.03 · 6/16 = 1.1%: verify more, not yet evidence to act');
    for (let i = 0; i < 6; i++) g.recordVerified(0, false, 6);
    assert.equal(g.offender(0.01, at(40)), null, '12 of the last 16 wrong: not surely below one half, and a run of 16 does not count towards the tolerance');
    g.recordVerified(0, false, 6);
    // The window still says 300 of 313 (0.12% of rows lost); the last 16, 13 wrong, bound agreement below one half
    // (Clopper–Pearson at δ 0.05 over 4 runs): the exit is disabled.
    assert.ok(Math.abs(g.stats()[0]!.agreement - 300 / 313) < 1e-12);
    assert.deepEqual(g.offender(0.01, at(40)), { exit: 0, recent: 16, floor: true, evidence: { n: 16, agreed: 3 } });
    const plan = g.plan([5], [0], 0.01, { ...at(40), guardRaise: 1, guardMaxRaises: 3 })!;
    assert.deepEqual([plan.exit, plan.recent, plan.disable, plan.thresholds, plan.evidence], [0, 16, true, [null], { n: 16, agreed: 3 }]);
    for (let i = 0; i < 3; i++) g.recordVerified(0, false, 6);
    // All 16 wrong: the bound on live agreement falls with them; exit 0 counts at that run's upper bound
    // (1 − 0.0125^(1/16)), not at the window's lower one.
    assert.ok(Math.abs(g.overall().lower - (1 - 0.03 * 0.0125 ** (1 / 16))) < 1e-9, `${g.overall().lower}`);
  });

  it('a recent run counts towards the tolerance from 32 answers on; the threshold is fitted on the whole window', () => {
    // Exit 0 answers 30% of rows; 368 answers agreed (scored 5), then 8 of the last 32 disagree (scored 3, 7, 3, 7, …).
    const g = new AgreementGuard(1, 400, 0.05);
    g.recordAnswers(Int32Array.from({ length: 1000 }, (_, i) => (i < 300 ? 0 : -1)));
    for (let i = 0; i < 368; i++) g.recordVerified(0, true, 5);
    for (let i = 0; i < 32; i++) g.recordVerified(0, i % 4 !== 0, 3 + (i % 8));
    assert.deepEqual(g.offender(0.01, at(40)), { exit: 0, recent: 32, floor: false, evidence: { n: 32, agreed: 24 } });
    // On the window, 4 keeps the answers scored 4 and up: 4 of them wrong (those scored 7) among 396, within the
    // tolerance. On the last 32 alone no threshold is (at 30% of rows any kept wrong answer weighs too much): a fit on
    // them disabled exits in steady traffic.
    const plan = g.plan([2], [0], 0.01, { ...at(40), guardRaise: 1, guardMaxRaises: 3 })!;
    assert.deepEqual([plan.recent, plan.disable, plan.thresholds], [32, false, [4]]);
    assert.equal(g.thresholdFor(0, 0.01, 3), 4);
    // A run of 16 does not count towards the tolerance: 4 wrong of the last 16 at 30% of rows would (0.3 · (1 − 0.941)
    // = 1.8%), but the last 32 (28 agreeing: 0.8%) and the window (396 of 400) do not.
    const h = new AgreementGuard(1, 400, 0.05);
    h.recordAnswers(Int32Array.from({ length: 1000 }, (_, i) => (i < 300 ? 0 : -1)));
    for (let i = 0; i < 384; i++) h.recordVerified(0, true, 5);
    for (let i = 0; i < 16; i++) h.recordVerified(0, i % 4 !== 0, 5);
    assert.equal(h.offender(0.01, at(40)), null);
  });

  it('after a raise a recent run called for, keeps that run\'s answers the exit still gives: a raise that keeps every new wrong answer shows at once', () => {
    // Exit 0 answers 10% of rows; 300 answers agreed (scored 8), then new ones score 5–9 and are all wrong.
    const g = new AgreementGuard(1, 400, 0.05);
    g.recordAnswers(Int32Array.from({ length: 100 }, (_, i) => (i < 10 ? 0 : -1)));
    for (let i = 0; i < 300; i++) g.recordVerified(0, true, 8);
    let k = 0;
    let plan = null;
    while (!plan) {
      g.recordVerified(0, false, 5 + (k++ % 5));
      plan = g.plan([0], [0], 0.01, { ...at(40), guardRaise: 1, guardMaxRaises: 3 });
    }
    // The last 32 call for it; fitted on the window, whose 300 agreeing answers hold it up, the least raise seems
    // enough, though it keeps every new (wrong) answer.
    assert.deepEqual([plan.recent, plan.disable, plan.thresholds], [32, false, [1]]);
    g.raiseExit(0, 1, plan.recent);
    // The run's answers it still gives stay (all 32: the k new wrong ones and 32 − k old agreeing); the older ones go.
    assert.deepEqual([g.stats()[0]!.n, g.stats()[0]!.agreed], [32, 32 - k]);
    // Eight fresh answers (all wrong) make 40, and the last 16 are surely below one half: disabled.
    for (let i = 0; i < 8; i++) g.recordVerified(0, false, 6);
    assert.deepEqual(g.plan([1], [1], 0.01, { ...at(40), guardRaise: 1, guardMaxRaises: 3 })?.thresholds, [null]);
    // After an action the window called for, nothing stays.
    const h = new AgreementGuard(1, 400, 0.05);
    h.recordAnswers(Int32Array.from([0, -1]));
    for (let i = 0; i < 50; i++) h.recordVerified(0, i % 2 === 0, 5);
    h.raiseExit(0, 1, null);
    assert.equal(h.stats()[0]!.n, 0);
  });

  it('acts on the exit that surely loses the most, not the first', () => {
    const g = new AgreementGuard(2, 400, 0.05);
    // Exit 0: 10% of rows at 90% agreement (at most about 1.4% lost); exit 1: 30% of rows at 90% (about 4.2%).
    g.recordAnswers(Int32Array.from({ length: 100 }, (_, i) => (i < 10 ? 0 : i < 40 ? 1 : -1)));
    for (let i = 0; i < 200; i++) {
      g.recordVerified(0, i % 10 !== 0, 5);
      g.recordVerified(1, i % 10 !== 0, 5);
    }
    assert.deepEqual(g.offender(0.01, at(40)), { exit: 1, recent: null, floor: false, evidence: { n: 200, agreed: 180 } });
  });

  it('in steady traffic, a few wrong answers among an exit\'s last 8 do not act on it (runs of 8 disabled exits at 97% agreement)', () => {
    // The review's case: 20% of rows, 387 of its 400 answers agreeing, 3 of the last 8 wrong.
    const g = new AgreementGuard(1, 400, 0.05);
    g.recordAnswers(Int32Array.from({ length: 1000 }, (_, i) => (i < 200 ? 0 : -1)));
    for (let i = 0; i < 392; i++) g.recordVerified(0, i % 40 !== 7, 5);
    for (const a of [true, false, true, false, true, false, true, true]) g.recordVerified(0, a, 5);
    assert.deepEqual([g.stats()[0]!.agreed, g.stats()[0]!.n], [387, 400]);
    assert.equal(g.offender(0.01, at(40)), null);
  });

  it('disables an exit surely wrong more often than right whatever its share (it fit in the tolerance before)', () => {
    const g = new AgreementGuard(2, 400, 0.05);
    // Exit 0 answers 0.9% of rows and is wrong on all of its 40 verified answers: 0.9% lost, under a 1% tolerance.
    g.recordAnswers(Int32Array.from({ length: 1000 }, (_, i) => (i < 9 ? 0 : i < 200 ? 1 : -1)));
    for (let i = 0; i < 40; i++) g.recordVerified(0, false, 5 + i);
    for (let i = 0; i < 200; i++) g.recordVerified(1, true, 5);
    assert.deepEqual(g.offender(0.01, at(40)), { exit: 0, recent: null, floor: true, evidence: { n: 40, agreed: 0 } });
    // Disabled, not raised: a fit to the tolerance keeps its most confident wrong answers (0.9% fits in 1%).
    assert.ok(g.thresholdFor(0, 0.01, 6) < Number.POSITIVE_INFINITY);
    assert.deepEqual(g.plan([5, 5], [0, 0], 0.01, { ...at(40), guardRaise: 1, guardMaxRaises: 3 })!.thresholds, [null, 5]);
    // An exit at the floor's other side, 60 of 100 right at 0.5% of rows, stays: within the tolerance, and not surely wrong more often than right.
    const h = new AgreementGuard(1, 400, 0.05);
    h.recordAnswers(Int32Array.from({ length: 1000 }, (_, i) => (i < 5 ? 0 : -1)));
    for (let i = 0; i < 100; i++) h.recordVerified(0, i % 5 < 3, 5);
    assert.equal(h.offender(0.01, at(40)), null);
  });

  it('keeps a sliding window and forgets an exit on reset', () => {
    const g = new AgreementGuard(1, 4, 0.05);
    g.recordAnswers(Int32Array.from([0]));
    for (const a of [false, false, true, true, true, true]) g.recordVerified(0, a, 5);
    assert.deepEqual([g.stats()[0]!.n, g.stats()[0]!.agreed], [4, 4]);
    // Agreements leave the window too (the first case evicts only disagreements).
    for (const a of [false, false, false, false]) g.recordVerified(0, a, 5);
    assert.deepEqual([g.stats()[0]!.n, g.stats()[0]!.agreed], [4, 0]);
    g.resetExit(0);
    assert.equal(g.stats()[0]!.n, 0);
  });
});

describe('AgreementGuard actions and shares', () => {
  it('shares follow recent traffic: after SHARE_HALF_LIFE_ROWS rows an old answer weighs half', () => {
    const g = new AgreementGuard(1, 100, 0.05);
    g.recordAnswers(new Int32Array(SHARE_HALF_LIFE_ROWS).fill(0));
    assert.equal(g.stats()[0]!.share, 1);
    g.recordAnswers(new Int32Array(SHARE_HALF_LIFE_ROWS).fill(-1));
    // Old rows weigh half as much as new ones: exit 0 holds 0.5·N of the 1.5·N weighted rows.
    assert.ok(Math.abs(g.stats()[0]!.share - 1 / 3) < 1e-9);
  });

  it('a raise drops the exit\'s verified answers (its threshold was fitted on them) and shrinks its share by the fraction it still gives; other exits keep theirs; probation until fresh answers', () => {
    const g = new AgreementGuard(2, 100, 0.05, 3);
    g.recordAnswers(Int32Array.from({ length: 10 }, (_, i) => (i < 4 ? 0 : i < 6 ? 1 : -1)));
    // Exit 0: scores 1..8, the four below 5 wrong.
    for (let k = 1; k <= 8; k++) g.recordVerified(0, k >= 5, k);
    for (let k = 0; k < 3; k++) g.recordVerified(1, true, 9);
    const before = g.stats();
    assert.deepEqual(g.evidenceWanted(0.5), [false, false]);
    g.raiseExit(0, 5);
    const after = g.stats();
    assert.deepEqual([after[0]!.n, after[0]!.agreed], [0, 0], 'no reuse of the answers the threshold was fitted on');
    assert.ok(Math.abs(after[0]!.share - before[0]!.share / 2) < 1e-12, 'half of the verified answers scored 5 or more: half the share');
    assert.deepEqual(after[1], before[1], 'exit 1 untouched');
    assert.deepEqual(g.evidenceWanted(0.5), [true, true], 'on probation: wants fresh answers; exit 1 gets the rows exit 0 gave up, so it is too');
    for (let k = 0; k < 3; k++) g.recordVerified(0, true, 6);
    assert.deepEqual(g.evidenceWanted(0.5), [false, true], 'exit 0 has its three fresh answers, exit 1 not yet');
    for (let k = 0; k < 3; k++) g.recordVerified(1, true, 9);
    assert.deepEqual(g.evidenceWanted(0.5), [false, false], 'three fresh answers each end the probations');
    g.raiseExit(1, Number.POSITIVE_INFINITY);
    assert.deepEqual([g.stats()[1]!.n, g.stats()[1]!.share], [0, 0], 'disabled: no answers, no share');
    assert.deepEqual(g.evidenceWanted(0.5), [false, false], 'a disabled exit needs no evidence');
  });

  it('a raise of a later exit puts it and the exits after it on probation, not the exits before it', () => {
    const g = new AgreementGuard(3, 100, 0.05, 3);
    g.recordAnswers(Int32Array.from({ length: 90 }, (_, i) => i % 3));
    g.raiseExit(1, 5);
    assert.deepEqual(g.evidenceWanted(0.5), [false, true, true]);
  });

  it('while suspicious, wants evidence on the exits whose own point estimate is over the tolerance, not on every exit', () => {
    const g = new AgreementGuard(2, 400, 0.05);
    // Exit 0: half the rows, 199 of 200 agreeing (0.5%). Exit 1: 5% of the rows, 5 wrong of its last 16.
    g.recordAnswers(Int32Array.from({ length: 1000 }, (_, i) => (i < 500 ? 0 : i < 550 ? 1 : -1)));
    for (let i = 0; i < 200; i++) g.recordVerified(0, i !== 0, 5);
    for (let i = 0; i < 16; i++) g.recordVerified(1, i % 3 !== 0 || i === 15, 5);
    // 0.5 · 0.005 + 0.05 · 5/16 = 1.8% > 1%: suspicious, and exit 1 is to blame.
    assert.equal(g.suspicious(0.01), true);
    assert.deepEqual(g.evidenceWanted(0.01), [false, true]);
    assert.deepEqual(g.evidenceWanted(0.02), [false, false], 'within a 2% tolerance: not suspicious');
    // Three wrong among exit 0's last 16 (3/16 by that run): to blame as well.
    for (let i = 0; i < 3; i++) g.recordVerified(0, false, 5);
    assert.deepEqual(g.evidenceWanted(0.01), [true, true]);
  });

  it('a probation ends when the exit answers almost nothing, or after 20,000 rows, even without fresh answers', () => {
    const g = new AgreementGuard(2, 100, 0.05, 40);
    g.recordAnswers(Int32Array.from({ length: 100 }, (_, i) => (i < 50 ? 0 : 1)));
    for (let k = 1; k <= 10; k++) g.recordVerified(0, true, k);
    g.recordVerified(1, true, 3);
    // Raised above every score it gets: it keeps no share and would never collect fresh answers.
    g.raiseExit(0, 100);
    assert.equal(g.stats()[0]!.share, 0);
    assert.deepEqual(g.evidenceWanted(0.5), [true, true], 'exit 1, which gets exit 0\'s rows, is on probation');
    g.recordAnswers(new Int32Array(10_000).fill(1));
    assert.deepEqual(g.evidenceWanted(0.5), [false, true], 'exit 0 answers nothing after 500 rows: its probation is over; exit 1 has no fresh answer yet, 10,000 rows on');
    g.recordAnswers(new Int32Array(10_001).fill(1));
    assert.deepEqual(g.evidenceWanted(0.5), [false, false], 'exit 1 passed 20,000 rows');
  });

  it('a new version starts with every exit on probation, before it has answered a row, until each has fresh answers', () => {
    const g = new AgreementGuard(2, 100, 0.05, 3);
    assert.deepEqual(g.evidenceWanted(0.5), [false, false], 'a new guard alone wants nothing');
    g.startProbation();
    assert.deepEqual(g.evidenceWanted(0.5), [true, true], 'no row answered yet: the probation waits (it does not end for a share of 0)');
    g.recordAnswers(Int32Array.from({ length: 100 }, (_, i) => (i < 50 ? 0 : 1)));
    for (let k = 0; k < 3; k++) g.recordVerified(0, true, 5);
    assert.deepEqual(g.evidenceWanted(0.5), [false, true], 'exit 1 has no verified answer yet');
    for (let k = 0; k < 3; k++) g.recordVerified(1, true, 5);
    assert.deepEqual(g.evidenceWanted(0.5), [false, false], 'three fresh answers each end it');
    // An exit that answers nothing leaves its probation once 500 rows have passed.
    const quiet = new AgreementGuard(1, 100, 0.05, 3);
    quiet.startProbation();
    quiet.recordAnswers(new Int32Array(499).fill(-1));
    assert.deepEqual(quiet.evidenceWanted(0.5), [true]);
    quiet.recordAnswers(new Int32Array(1).fill(-1));
    assert.deepEqual(quiet.evidenceWanted(0.5), [false]);
    const none = new AgreementGuard(1, 100, 0.05, 0);
    none.startProbation();
    assert.deepEqual(none.evidenceWanted(0.5), [false], 'probationSamples 0: no probation');
  });

  it('plan: raises the offending exit to what thresholdFor calls for, or disables it after guardMaxRaises; other exits untouched', () => {
    const g = new AgreementGuard(2, 100, 0.05);
    // Exit 1 answers 20% of rows; its verified answers scored 1..10 are wrong at 1–6: surely below 95%.
    g.recordAnswers(Int32Array.from({ length: 10 }, (_, i) => (i < 2 ? 1 : -1)));
    for (let k = 1; k <= 10; k++) g.recordVerified(1, k > 6, k);
    const limits = { ...at(5), guardRaise: 0.5, guardMaxRaises: 3 };
    const raise = g.plan([2, 1], [0, 1], 0.05, limits)!;
    assert.equal(raise.exit, 1);
    assert.equal(raise.before, 1);
    assert.equal(raise.disable, false);
    assert.deepEqual(raise.thresholds, [2, g.thresholdFor(1, 0.05, 1.5)]);
    assert.ok(raise.thresholds[1]! > 6, 'above every wrong answer');
    assert.deepEqual(raise.raises, [0, 2]);
    assert.equal(raise.stats.n, 10);
    const disable = g.plan([2, 1], [0, 3], 0.05, limits)!;
    assert.deepEqual([disable.disable, disable.thresholds, disable.raises], [true, [2, null], [0, 4]]);
    // Already disabled: nothing to act on.
    assert.equal(g.plan([2, null], [0, 4], 0.05, limits), null);
  });

  it('thresholdFor: the lowest verified score at which the kept answers surely lose no more than the tolerance left; +Infinity when none', () => {
    const g = new AgreementGuard(1, 100, 0.05);
    // Exit 0 answers 20% of rows; of its 10 verified answers (scores 1..10) those scored 1–3 are wrong.
    g.recordAnswers(Int32Array.from({ length: 10 }, (_, i) => (i < 2 ? 0 : -1)));
    for (let k = 1; k <= 10; k++) g.recordVerified(0, k > 3, k);
    // Loss at t = 0.2 · (kept / 10) · (Clopper–Pearson upper bound on the kept answers' disagreement, δ 0.05).
    // From score 4 on no kept answer is wrong, and for m of them all agreeing the bound is 1 − 0.05^(1/m) (by hand):
    // t = 4 keeps 7: 0.2 · 0.7 · (1 − 0.05^(1/7)) = 0.0487 ≤ 0.05. At t = 3 one of 8 is wrong: its bound is larger
    // than for 7 of 7, so more than 0.0487 · 8/7 > 0.05.
    assert.ok(Math.abs(0.2 * 0.7 * (1 - 0.05 ** (1 / 7)) - 0.0487) < 1e-4);
    assert.equal(g.thresholdFor(0, 0.05, 0.5), 4);
    assert.equal(g.thresholdFor(0, 0.05, 2.5), 4);
    // The least raise asked for, when it is enough: 7.5 keeps 3, 0.2 · 0.3 · (1 − 0.05^(1/3)) = 0.038 ≤ 0.05.
    assert.equal(g.thresholdFor(0, 0.05, 7.5), 7.5);
    // At 1%, even one answer kept (0.2 · 0.1 · 0.95 = 0.019) is too many to be sure of: disable.
    assert.equal(g.thresholdFor(0, 0.01, 0.5), Number.POSITIVE_INFINITY);
    // Every answer wrong: nothing will do.
    const h = new AgreementGuard(1, 100, 0.05);
    h.recordAnswers(Int32Array.from([0, 0, -1]));
    for (let k = 1; k <= 5; k++) h.recordVerified(0, false, k);
    assert.equal(h.thresholdFor(0, 0.1, 1), Number.POSITIVE_INFINITY, 'even the top answer alone: (2/3) · (1/5) · 1 > 0.1');
  });

  it('thresholdFor: the other exits\' estimated losses come out of the tolerance first', () => {
    // Two exits, delta 0.05: each exit's bounds at δ = 0.025. Exit 0 answers 10% of rows, exit 1 30%. Exit 0's 10
    // verified answers score 1..10, those scored 1–3 wrong. For m kept answers all agreeing, the upper bound on their
    // disagreement is 1 − 0.025^(1/m), so exit 0's loss at a threshold keeping m of them is 0.1 · (m/10) · (1 − 0.025^(1/m)):
    // m = 7 (t = 4): 0.0287; m = 2 (t = 9): 0.0168; m = 1 (t = 10): 0.00975. At t = 3 one of 8 is wrong: more than
    // 0.0287 · 8/7 = 0.0328.
    const guard = (exit1Wrong: number): AgreementGuard => {
      const g = new AgreementGuard(2, 100, 0.05);
      g.recordAnswers(Int32Array.from({ length: 10 }, (_, i) => (i < 1 ? 0 : i < 4 ? 1 : -1)));
      for (let k = 1; k <= 10; k++) g.recordVerified(0, k > 3, k);
      for (let k = 0; k < 40; k++) g.recordVerified(1, k >= exit1Wrong, 5);
      return g;
    };
    for (const [m, loss] of [[7, 0.0287], [2, 0.0168], [1, 0.00975]] as const) {
      assert.ok(Math.abs(0.1 * (m / 10) * (1 - 0.025 ** (1 / m)) - loss) < 1e-4, `${m} kept`);
    }
    // Exit 1 agreeing on all 40 leaves the whole tolerance of 3% to exit 0: t = 4 (0.0287 ≤ 0.03 < 0.0328).
    assert.equal(guard(0).thresholdFor(0, 0.03, 0.5), 4);
    // Exit 1 wrong on 2 of 40 is estimated to lose 0.3 · 2/40 = 1.5%, which leaves 1.5% to exit 0: only its top answer
    // fits (0.00975 ≤ 0.015 < 0.0168), t = 10. Budgeting the whole 3% for exit 0 would give 4 again.
    assert.equal(guard(2).thresholdFor(0, 0.03, 0.5), 10);
  });

  it('is suspicious when the point estimate of the last 16 verified answers (3 or more wrong) is below 1 − tolerance, though the window\'s is not', () => {
    const g = new AgreementGuard(1, 400, 0.05);
    g.recordAnswers(Int32Array.from({ length: 100 }, (_, i) => (i < 10 ? 0 : -1)));
    for (let i = 0; i < 300; i++) g.recordVerified(0, true, 5);
    g.recordVerified(0, false, 5);
    g.recordVerified(0, false, 5);
    assert.equal(g.suspicious(0.01), false, '2 of the last 16: a stray wrong answer or two is not read (0.1 · 2/16 would be 1.25%)');
    g.recordVerified(0, false, 5);
    assert.equal(g.suspicious(0.01), true, '0.1 · 3/16 = 1.9% > 1% (the window: 0.1 · 3/303 = 0.1%)');
  });

  it('is suspicious when the point estimate (from 10 or more verified answers) is below 1 − tolerance', () => {
    const g = new AgreementGuard(1, 100, 0.05);
    g.recordAnswers(Int32Array.from({ length: 10 }, (_, i) => (i < 5 ? 0 : -1)));
    for (let k = 0; k < 9; k++) g.recordVerified(0, k > 0, 5);
    assert.equal(g.suspicious(0.01), false, 'nine answers: too few to be suspicious');
    g.recordVerified(0, true, 5);
    assert.equal(g.suspicious(0.01), true, '0.5 · 1/10 = 5% lost > 1%');
    assert.equal(g.suspicious(0.1), false);
  });
});
