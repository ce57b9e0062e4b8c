import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { Progress } from '../progress/index.ts';
import { SILENT } from '../progress/index.ts';
import { randomNormal, seededRng } from '../tensor/index.ts';
import type { FeatureSet } from './collect.ts';
import { crossFit, trainFinal } from './crossfit.ts';
import { chooseMember, trainCandidates, type PhaseSettings } from './train-phases.ts';

const engine = { intraOpThreads: 1, graphOptimization: 'all' } as const;

/** Three exits with 6 features each (pool 1) over 48 samples; the teacher is a linear map of exit 2's. */
function threeExits(): FeatureSet {
  const rng = seededRng(7);
  const n = 48;
  const features = [0, 1, 2].map((exit) => ({ exit, pool: 1, dim: 6, data: randomNormal(rng, n * 6) }));
  const w = randomNormal(rng, 6 * 3);
  const teacher = new Float32Array(n * 3);
  for (let i = 0; i < n; i++) for (let k = 0; k < 3; k++) for (let d = 0; d < 6; d++) teacher[i * 3 + k]! += 2 * features[2]!.data[i * 6 + d]! * w[k * 6 + d]!;
  return { count: n, samples: n, classes: 3, teacher, labels: null, features };
}

const set = threeExits();
const family = [{ pool: 1, hidden: 4, dropout: 0 }, { pool: 1, hidden: 0, dropout: 0 }];
const featureOf = (e: number) => set.features[e]!;
// The promise of each exit, fixed so that the ranking is known: exit 1, then 2, then 0; the linear member is always worse.
const value = (e: number, m: number): number => [1, 3, 2][e]! - m;
const train = { epochs: 4, batchSize: 8, learningRate: 0.01, weightDecay: 0, temperature: 1, seed: 2 };
const settings = (refineExits: number, tie = 0): PhaseSettings => ({ folds: 2, train, refineExits, screenEpochs: 1, level: 0.9, screenLevel: 0.8, tie });

function recording(): { progress: Progress; labels: string[] } {
  const labels: string[] = [];
  return { labels, progress: { ...SILENT, phase: (label) => { labels.push(label); return SILENT.phase(label, 0); } } };
}

describe('trainCandidates', () => {
  it('with no more exits than refineExits, trains every exit once for the full epochs', async () => {
    const r = recording();
    const t = await trainCandidates([0, 1, 2], family, featureOf, set, value, settings(3), { engine, progress: r.progress });
    assert.deepEqual(t.refined, [true, true, true]);
    assert.deepEqual(t.choice.map((c) => c.member), [0, 0, 0]);
    assert.deepEqual(r.labels, ['train fold 1/2', 'train fold 2/2', 'train final heads']);
  });

  it('chooseMember: the largest promise, or within the tie band the member that answers more, then agrees more (cases by hand)', () => {
    const mlp = { value: 0.10, answerable: 0.30, agreement: 0.80 };
    const linear = { value: 0.12, answerable: 0.05, agreement: 0.40 };
    assert.equal(chooseMember([mlp, linear], 0), 1, 'no band: the larger promise');
    assert.equal(chooseMember([mlp, linear], 0.01), 1, 'a band narrower than the gap changes nothing');
    assert.equal(chooseMember([mlp, linear], 0.03), 0, 'within the band: the member that answers more');
    // Nothing answerable (a strict level): agreement decides, not the cheaper head's cost.
    assert.equal(chooseMember([{ ...mlp, answerable: 0, value: -0.03 }, { ...linear, answerable: 0, value: -0.01 }], 0.03), 0);
    // Equal answers and agreement: the larger promise; a full tie: the first member.
    assert.equal(chooseMember([{ ...mlp, value: 0.1 }, { ...mlp, value: 0.11 }], 0.03), 1);
    assert.equal(chooseMember([mlp, mlp], 0.03), 0);
  });

  it('the band is applied when members are chosen', async () => {
    // The linear member (1) promises more (it is cheaper) whatever either answers; with a band that covers the gap, answers decide.
    const cheap = (_e: number, m: number): number => (m === 1 ? 1 : 0);
    const strict = await trainCandidates([0, 1, 2], family, featureOf, set, cheap, settings(3), { engine, progress: SILENT });
    assert.deepEqual(strict.choice.map((c) => c.member), [1, 1, 1]);
    const tied = await trainCandidates([0, 1, 2], family, featureOf, set, cheap, settings(3, 1), { engine, progress: SILENT });
    assert.ok(tied.choice.some((c, e) => c.member !== strict.choice[e]!.member), 'the band changes a choice in this fixture');
  });

  it('with more, screens all, then refines the most promising: its calibration predictions and deployed head are trained exactly as a one-phase build would', async () => {
    const r = recording();
    const t = await trainCandidates([0, 1, 2], family, featureOf, set, value, settings(1), { engine, progress: r.progress });
    assert.deepEqual(t.refined, [false, true, false]);
    assert.deepEqual(r.labels, ['screen fold 1/2', 'screen fold 2/2', 'refine fold 1/2', 'refine fold 2/2', 'refine final heads', 'screen final heads']);
    // Oracle: the refined exit's out-of-fold predictions and parameters are those of its chosen member trained alone for the full epochs.
    const job = { spec: family[0]!, features: set.features[1]! };
    const cf = await crossFit([job], set, 2, train, { engine, progress: SILENT });
    const final = await trainFinal([job], set, 2, train, { engine, progress: SILENT });
    assert.deepEqual(t.outOfFold[1], cf.outOfFold[0]);
    assert.deepEqual(t.params[1], final.params[0]);
    // The screened exits still get a (briefly trained) head, which differs from a fully trained one.
    const screened = await trainFinal([0, 2].map((e) => ({ spec: family[0]!, features: set.features[e]! })), set, 2, { ...train, epochs: 1 }, { engine, progress: SILENT });
    assert.deepEqual([t.params[0], t.params[2]], screened.params);
    assert.notDeepEqual(t.params[2], (await trainFinal([{ spec: family[0]!, features: set.features[2]! }], set, 2, train, { engine, progress: SILENT })).params[0]);
  });
});
