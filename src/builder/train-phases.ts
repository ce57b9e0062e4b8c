/**
 * Head training for a build, in one phase or two. With no more candidate exits than
 * `refineExits`, every family member at every exit is cross-fitted for `epochs`, each exit
 * keeps the member that promises the largest saving, and that member is trained on all
 * samples. With more, a short screening phase (`screenEpochs`) ranks the exits by that
 * promise, and only the best `refineExits` are cross-fitted and trained again for `epochs`:
 * the long training then grows with refineExits rather than with the candidate count (the
 * screening still covers every candidate, briefly).
 * Invariants: no sample's out-of-fold prediction comes from a head trained on it (or on a
 * copy of it); every exit's out-of-fold predictions come from fold models trained on the same
 * schedule as its deployed head (the same number of optimiser steps: a fold model runs
 * `epochs` over (K−1)/K of the rows, the deployed head round(epochs·(K−1)/K) over all of
 * them); an exit that was not refined cannot be kept.
 */
import type { EngineOptions } from '../engine/index.ts';
import { answerableShare, argmaxRows, maxScore } from '../calibrate/index.ts';
import type { HeadParam, HeadSpec } from '../heads/index.ts';
import type { Progress } from '../progress/index.ts';
import type { ExitFeatures, FeatureSet } from './collect.ts';
import { crossFit, trainFinal } from './crossfit.ts';
import type { HeadJob, TrainSettings } from './train-heads.ts';

export interface PhaseSettings {
  readonly folds: number;
  readonly train: TrainSettings;
  readonly refineExits: number;
  readonly screenEpochs: number;
  /** Agreement a head's most confident answers must reach for its promise (answerable share) to count. */
  readonly level: number;
  /**
   * The same for briefly trained screening heads, looser: they are less confident than they will be after the
   * full training, and at a strict level many answer nothing, which would leave only their cost to rank by.
   */
  readonly screenLevel: number;
  /**
   * Promises within `tie` of an exit's best (in the objective's units) are equal: measured latencies
   * differ by that much between runs. The tie goes to the member that answers more, then agrees more,
   * so timing noise cannot swap a good head for a far worse cheap one. 0 = no ties.
   */
  readonly tie: number;
}

export interface CandidateTraining {
  /** Per exit: the chosen family member, the exit's best promise in the objective's units, and the member's out-of-fold agreement. */
  readonly choice: { member: number; value: number; agreement: number }[];
  /** Per exit: out-of-fold log-probabilities [n, classes] of the chosen member, from the phase that trained its deployed head. */
  readonly outOfFold: Float32Array[];
  /** Per exit: the deployed head's parameters. */
  readonly params: HeadParam[][];
  /** Per exit: trained for `epochs` (true), or screened only and never to be kept. */
  readonly refined: boolean[];
  readonly seconds: number;
  readonly gflops: number;
}

/**
 * Index of the family member to keep at an exit: the largest promise (value), where promises
 * within `tie` of the largest count as equal and go to the member that answers more, then
 * agrees more, then promises more; the first such member on a full tie.
 */
export function chooseMember(members: readonly { value: number; answerable: number; agreement: number }[], tie: number): number {
  const top = Math.max(...members.map((x) => x.value));
  let best = -1;
  members.forEach((x, i) => {
    if (x.value < top - tie) return;
    const b = members[best];
    if (!b || x.answerable > b.answerable || (x.answerable === b.answerable && (x.agreement > b.agreement || (x.agreement === b.agreement && x.value > b.value)))) best = i;
  });
  return best;
}

/**
 * exits: candidate exit indices; featureOf(exit, pool): that exit's pooled features;
 * value(exit, member, answerable): the saving a member promises when it can answer that share.
 */
export async function trainCandidates(
  exits: readonly number[], family: readonly HeadSpec[], featureOf: (exit: number, pool: number) => ExitFeatures, set: FeatureSet,
  value: (exit: number, member: number, answerable: number) => number, settings: PhaseSettings,
  opts: { engine: EngineOptions; progress: Progress },
): Promise<CandidateTraining> {
  const K = set.classes;
  const n = set.samples;
  const reference = argmaxRows(set.teacher.subarray(0, n * K), K);
  const agreeing = (lp: Float32Array): Uint8Array => Uint8Array.from(argmaxRows(lp, K), (c, i) => (c === reference[i] ? 1 : 0));
  const share = (x: Uint8Array): number => x.reduce((s, v) => s + v, 0) / n;
  const screening = settings.refineExits < exits.length;
  let seconds = 0;
  let work = 0;
  const account = (r: { seconds: number; gflops: number }): void => {
    seconds += r.seconds;
    work += r.seconds * r.gflops;
  };

  const jobs = exits.flatMap((e) => family.map((spec, m) => ({ exit: e, member: m, job: { spec, features: featureOf(e, spec.pool) } })));
  const first = await crossFit(jobs.map((j) => j.job), set, settings.folds, screening ? { ...settings.train, epochs: settings.screenEpochs } : settings.train,
    { ...opts, label: screening ? 'screen' : 'train' });
  account(first);
  const choice = exits.map((e) => {
    const members = family.map((_, m) => {
      const lp = first.outOfFold[jobs.findIndex((j) => j.exit === e && j.member === m)]!;
      const correct = agreeing(lp);
      const answerable = answerableShare(maxScore(lp, K), correct, screening ? settings.screenLevel : settings.level);
      return { member: m, value: value(e, m, answerable), answerable, agreement: share(correct) };
    });
    const best = members[chooseMember(members, settings.tie)]!;
    // The exit is ranked by its best promise: the tie rule picks among members, it does not demote the exit.
    return { member: best.member, value: Math.max(...members.map((x) => x.value)), agreement: best.agreement };
  });
  const chosen: HeadJob[] = exits.map((e, i) => ({ spec: family[choice[i]!.member]!, features: featureOf(e, family[choice[i]!.member]!.pool) }));
  const outOfFold = exits.map((e, i) => first.outOfFold[jobs.findIndex((j) => j.exit === e && j.member === choice[i]!.member)]!);

  // The exits to refine: all of them, or the most promising refineExits (ties: the earlier exit).
  // The refined exits keep the member chosen on the screening heads.
  const order = exits.map((_, i) => i).sort((x, y) => choice[y]!.value - choice[x]!.value || x - y);
  const refined = exits.map(() => !screening);
  if (screening) for (const i of order.slice(0, settings.refineExits)) refined[i] = true;
  const params: HeadParam[][] = exits.map(() => []);
  const group = async (which: boolean, train: TrainSettings, label: string): Promise<number[]> => {
    const idx = exits.flatMap((_, i) => (refined[i] === which ? [i] : []));
    if (idx.length === 0) return idx;
    const final = await trainFinal(idx.map((i) => chosen[i]!), set, settings.folds, train, { ...opts, label });
    account(final);
    idx.forEach((i, k) => { params[i] = final.params[k]!; });
    return idx;
  };
  if (screening) {
    const idx = exits.flatMap((_, i) => (refined[i] ? [i] : []));
    const second = await crossFit(idx.map((i) => chosen[i]!), set, settings.folds, settings.train, { ...opts, label: 'refine' });
    account(second);
    idx.forEach((i, k) => {
      outOfFold[i] = second.outOfFold[k]!;
      choice[i] = { ...choice[i]!, agreement: share(agreeing(outOfFold[i]!)) };
    });
    await group(true, settings.train, 'refine');
    await group(false, { ...settings.train, epochs: settings.screenEpochs }, 'screen');
  } else {
    await group(true, settings.train, 'train');
  }
  return { choice, outOfFold, params, refined, seconds, gflops: seconds > 0 ? work / seconds : 0 };
}
