/**
 * `npm run bench:guard`: the accuracy guard on simulated verified answers (no model, seeded, a few seconds).
 *   steady  one exit at a fixed true agreement and share, 100,000 verified answers with a look (plan) after each,
 *           as the server looks: actions taken (each resets the exit's evidence and the simulation goes on), how
 *           many disabled it, and the share of looks at which the guard was suspicious (boosted verification).
 *           Rows whose true loss (share × disagreement) is under the tolerance should see few actions.
 *   shift   400 verified answers at 99% agreement, then agreement drops to 0 or 0.5: verified answers until the
 *           first action, and what it did.
 * Tolerance 1%, guardDelta 0.05, guardMinSamples 40, window 400.
 *   npm run bench:guard [-- --answers 100000]
 */
import { AgreementGuard } from '../src/serve/agreement-guard.ts';
import { seededRng } from '../src/tensor/index.ts';
import { numberFlag } from './flags.ts';

const answers = numberFlag('answers', 100_000);
const tolerance = 0.01;
const limits = { guardMinSamples: 40, guardRaise: 1, guardMaxRaises: 3 };

/** A guard over one exit answering `share` of the rows. */
function guardAt(share: number): AgreementGuard {
  const g = new AgreementGuard(1, 400, 0.05, 0);
  g.recordAnswers(Int32Array.from({ length: 1000 }, (_, i) => (i < share * 1000 ? 0 : -1)));
  return g;
}

console.log(`steady traffic: ${answers} verified answers, a look after each\n`);
console.log('| agreement | share | true loss | actions | of them disables | suspicious looks |\n|---:|---:|---:|---:|---:|---:|');
for (const p of [0.99, 0.97, 0.9]) {
  for (const share of [0.02, 0.05, 0.1, 0.2, 0.3, 0.5]) {
    const rng = seededRng(12_345 + Math.round(p * 1000) * 7 + Math.round(share * 100));
    const g = guardAt(share);
    let actions = 0;
    let disables = 0;
    let suspicious = 0;
    for (let i = 0; i < answers; i++) {
      const agree = rng.uniform() < p;
      // Agreeing answers tend to score higher than disagreeing ones, as a head's confidence does.
      g.recordVerified(0, agree, agree ? 10 * Math.sqrt(rng.uniform()) : 10 * rng.uniform() ** 2);
      if (g.suspicious(tolerance)) suspicious++;
      const action = g.plan([0], [0], tolerance, limits);
      if (action) {
        actions++;
        if (action.disable) disables++;
        g.resetExit(0);
      }
    }
    console.log(`| ${p} | ${share} | ${(100 * share * (1 - p)).toFixed(2)}% | ${actions} | ${disables} | ${(100 * suspicious / answers).toFixed(1)}% |`);
  }
}

console.log('\nafter a shift: 400 verified answers at 99% agreement, then at the agreement below\n');
console.log('| agreement after | share | verified answers to the first action | action |\n|---:|---:|---:|---|');
for (const after of [0, 0.5]) {
  for (const share of [0.005, 0.009, 0.03, 0.1, 0.3]) {
    const rng = seededRng(7 + Math.round(share * 1000));
    const g = guardAt(share);
    for (let i = 0; i < 400; i++) {
      const agree = rng.uniform() < 0.99;
      g.recordVerified(0, agree, agree ? 8 : 2);
    }
    let k = 0;
    let action: ReturnType<AgreementGuard['plan']> = null;
    while (k < 2000 && !action) {
      k++;
      g.recordVerified(0, rng.uniform() < after, 5 + 4 * rng.uniform());
      action = g.plan([0], [0], tolerance, limits);
    }
    const what = !action ? 'none in 2,000' : action.disable ? `disable (${action.recent === null ? 'window' : `last ${action.recent}`})` : `raise to ${action.thresholds[0]!.toFixed(2)} (${action.recent === null ? 'window' : `last ${action.recent}`})`;
    console.log(`| ${after} | ${share} | ${action ? k : '—'} | ${what} |`);
  }
}
