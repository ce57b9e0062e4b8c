/**
 * `npm run bench:guard`: the accuracy guard on simulated verified answers (no model, seeded, a few seconds).
 *   steady  one exit at a fixed true agreement and share, 100,000 verified answers (those the exit gives at its
 *           threshold; agreeing answers score higher than disagreeing ones, as a head's confidence does), with a
 *           look (plan) after each, and each action applied as the server applies it (the new threshold, the raise
 *           count, the guard's raiseExit): raises, whether and when the exit was disabled, and the share of its
 *           answers it still gives at the end. Rows whose true loss (share × disagreement) is under the tolerance
 *           should see few actions and keep most of their answers.
 *   shift   400 verified answers at 99% agreement, then agreement drops to 0 or 0.5 (new answers score 5–9, right
 *           or wrong): the first action, and verified answers until the exit is disabled, actions applied.
 *   requests  the same drop to 0, request by request: the exit answers its share of them, and each answer is
 *           verified at the share the server's verify rule gives it (verify-rule.ts: --verify-share, the guard's
 *           boost while it is suspicious, more for an exit answering few rows), against the rule without the
 *           last (every exit at --verify-share or the boost): requests and wrong early answers until the exit is disabled.
 *   several four exits in steady traffic at fixed shares and agreements, row by row, under three verify rules (session
 *           29's: every exit alike and the boost for all while suspicious; rare exits more, boost for all; the
 *           server's): rows verified, rows while the guard is suspicious, and actions.
 * Tolerance 1% and the serve.online defaults (guardWindow 400, guardDelta 0.05, guardMinSamples 40, guardRaise 1,
 * guardMaxRaises 3).
 *   npm run bench:guard [-- --answers 100000]
 */
import { loadConfig } from '../src/config/index.ts';
import { AgreementGuard } from '../src/serve/agreement-guard.ts';
import { verifyRule } from '../src/serve/verify-rule.ts';
import { seededRng, type Rng } from '../src/tensor/index.ts';
import { numberFlag } from './flags.ts';

const answers = numberFlag('answers', 100_000);
const tolerance = 0.01;
const limits = loadConfig({}, {}, { serving: false }).serve.online;

/** A guard over one exit answering `share` of the rows. */
function guardAt(share: number): AgreementGuard {
  const g = new AgreementGuard(1, limits.guardWindow, limits.guardDelta, 0);
  g.recordAnswers(Int32Array.from({ length: 1000 }, (_, i) => (i < share * 1000 ? 0 : -1)));
  return g;
}

/** An exit's threshold (null: disabled) and raise count, with a guard action applied as the server applies it. */
function apply(g: AgreementGuard, action: NonNullable<ReturnType<AgreementGuard['plan']>>): { threshold: number | null; raises: number } {
  const threshold = action.thresholds[0]!;
  g.raiseExit(0, threshold ?? Number.POSITIVE_INFINITY, action.recent);
  return { threshold, raises: action.raises[0]! };
}

/** An answer's score in 0–10: agreeing answers draw 10·√u, disagreeing ones 10·u². */
const scoreOf = (agree: boolean, rng: Rng): number => (agree ? 10 * Math.sqrt(rng.uniform()) : 10 * rng.uniform() ** 2);

/** The share of an exit's answers at true agreement p that score at least t (from the two distributions above). */
const keptAt = (p: number, t: number): number => (t <= 0 ? 1 : t >= 10 ? 0 : p * (1 - (t / 10) ** 2) + (1 - p) * (1 - Math.sqrt(t / 10)));

console.log(`steady traffic: ${answers} verified answers, a look after each, actions applied\n`);
console.log('| agreement | share | true loss | raises | disabled after (verified answers) | threshold at the end | answers still given |\n|---:|---:|---:|---:|---:|---:|---:|');
for (const p of [0.99, 0.97, 0.9]) {
  for (const share of [0.02, 0.05, 0.1, 0.2, 0.3, 0.5]) {
    const rng = seededRng(12_345 + Math.round(p * 1000) * 7 + Math.round(share * 100));
    const g = guardAt(share);
    let threshold: number | null = 0;
    let raises = 0;
    let disabledAt: number | null = null;
    for (let i = 0; i < answers && threshold !== null; i++) {
      // An answer the exit no longer gives (under its threshold) is not verified: the row runs the backbone.
      let agree: boolean;
      let score: number;
      do {
        agree = rng.uniform() < p;
        score = scoreOf(agree, rng);
      } while (score < threshold);
      g.recordVerified(0, agree, score);
      const action = g.plan([threshold], [raises], tolerance, limits);
      if (!action) continue;
      ({ threshold, raises } = apply(g, action));
      if (threshold === null) disabledAt = i + 1;
    }
    const given = threshold === null ? 0 : keptAt(p, threshold);
    console.log(`| ${p} | ${share} | ${(100 * share * (1 - p)).toFixed(2)}% | ${raises - (disabledAt === null ? 0 : 1)} | ${disabledAt ?? '—'} | ${threshold === null ? 'disabled' : threshold.toFixed(2)} | ${(100 * given).toFixed(0)}% |`);
  }
}

console.log('\nafter a shift: 400 verified answers at 99% agreement, then at the agreement below (actions applied)\n');
console.log('| agreement after | share | first action: after (verified answers), what | disabled after |\n|---:|---:|---|---:|');
for (const after of [0, 0.5]) {
  for (const share of [0.005, 0.009, 0.03, 0.1, 0.3]) {
    const rng = seededRng(7 + Math.round(share * 1000));
    const g = guardAt(share);
    for (let i = 0; i < 400; i++) {
      const agree = rng.uniform() < 0.99;
      g.recordVerified(0, agree, agree ? 8 : 2);
    }
    let threshold: number | null = 0;
    let raises = 0;
    let first = '—';
    let disabledAt: number | null = null;
    for (let k = 1; k <= 2000 && threshold !== null; k++) {
      // New answers score 5–9 whether right or wrong: the heads are confident on traffic they never saw.
      let score: number;
      do score = 5 + 4 * rng.uniform(); while (score < threshold);
      g.recordVerified(0, rng.uniform() < after, score);
      const action = g.plan([threshold], [raises], tolerance, limits);
      if (!action) continue;
      const view = action.recent === null ? 'window' : `last ${action.recent}`;
      if (first === '—') first = `${k}, ${action.disable ? 'disable' : `raise to ${action.thresholds[0]!.toFixed(2)}`} (${view})`;
      ({ threshold, raises } = apply(g, action));
      if (threshold === null) disabledAt = k;
    }
    console.log(`| ${after} | ${share} | ${first} | ${disabledAt ?? 'not in 2,000'} |`);
  }
}

console.log(`\nafter a shift, request by request: 400 verified answers at 99% agreement, then every early answer wrong (--verify-share ${limits.verifyShare}, guardBoostShare ${limits.guardBoostShare})\n`);
console.log('| share | verify rule | verified rows per request before the shift | requests until disabled | wrong early answers given until then |\n|---:|---|---:|---:|---:|');
for (const share of [0.005, 0.01, 0.02, 0.05, 0.1, 0.3]) {
  for (const rare of [false, true]) {
    const rng = seededRng(11 + Math.round(share * 1000));
    const g = guardAt(share);
    for (let i = 0; i < 400; i++) {
      const agree = rng.uniform() < 0.99;
      g.recordVerified(0, agree, agree ? 8 : 2);
    }
    /** The verify share of the exit's answers now: the server's rule, or the same without its rare-exit term. */
    const verifyShare = (): number => {
      const wanted = g.evidenceWanted(tolerance);
      return rare ? verifyRule(limits.verifyShare, limits.guardBoostShare, wanted, g.shares()).verifyBelow[0]! : wanted[0] ? Math.max(limits.verifyShare, limits.guardBoostShare) : limits.verifyShare;
    };
    const before = share * verifyShare();
    let threshold: number | null = 0;
    let raises = 0;
    let wrong = 0;
    let requests = 0;
    const one = new Int32Array(1);
    while (threshold !== null && requests < 1_000_000) {
      requests++;
      const score = 5 + 4 * rng.uniform();
      const answers = rng.uniform() < share && score >= threshold;
      one[0] = answers ? 0 : -1;
      const p = verifyShare();
      g.recordAnswers(one);
      if (!answers) continue;
      wrong++;
      if (rng.uniform() >= p) continue;
      g.recordVerified(0, false, score);
      const action = g.plan([threshold], [raises], tolerance, limits);
      if (action) ({ threshold, raises } = apply(g, action));
    }
    console.log(`| ${share} | ${rare ? 'per exit (rare exits more)' : 'every exit alike'} | ${before.toFixed(4)} | ${threshold === null ? requests.toLocaleString('en-US') : 'not in 1,000,000'} | ${wrong} |`);
  }
}

console.log('\nsteady traffic over several exits: rows verified, and how often the guard is suspicious, by verify rule (400,000 rows in batches of 8, actions applied, 4 seeds each)\n');
console.log('| exits: share @ agreement | true loss | verify rule | rows verified | rows while suspicious | actions |\n|---|---:|---|---:|---:|---:|');
const mixes = [
  { shares: [0.3, 0.05, 0.02, 0.01], agreements: [0.99, 0.95, 0.9, 0.9] },
  { shares: [0.4, 0.15, 0.03, 0.008], agreements: [0.995, 0.98, 0.93, 0.85] },
  { shares: [0.3, 0.1, 0.02, 0.01], agreements: [0.995, 0.99, 0.97, 0.95] },
];
/** Per exit, the share of its answers verified: as session 29 (every exit alike, the boost for all while suspicious), with rare exits verified more but the boost still for all, or the server's rule. */
const rules = {
  'alike, boost all': (g: AgreementGuard, shares: number[]) => shares.map(() => (g.suspicious(tolerance) ? Math.max(limits.verifyShare, limits.guardBoostShare) : limits.verifyShare)),
  'rare more, boost all': (g: AgreementGuard, shares: number[]) => verifyRule(limits.verifyShare, limits.guardBoostShare, shares.map(() => g.suspicious(tolerance)), shares).verifyBelow,
  'rare more, boost the blamed (the server\'s)': (g: AgreementGuard, shares: number[]) => verifyRule(limits.verifyShare, limits.guardBoostShare, g.evidenceWanted(tolerance), shares).verifyBelow,
};
for (const mix of mixes) {
  const loss = mix.shares.reduce((a, s, e) => a + s * (1 - mix.agreements[e]!), 0);
  for (const [name, rule] of Object.entries(rules)) {
    let verified = 0;
    let suspiciousRows = 0;
    let actions = 0;
    const ROWS = 400_000;
    const SEEDS = 4;
    for (let seed = 0; seed < SEEDS; seed++) {
      const rng = seededRng(101 + seed);
      const g = new AgreementGuard(mix.shares.length, limits.guardWindow, limits.guardDelta, 0);
      let thresholds: (number | null)[] = mix.shares.map(() => 0);
      let raises = mix.shares.map(() => 0);
      const batch = new Int32Array(8);
      for (let r = 0; r < ROWS; r += batch.length) {
        const p = rule(g, g.shares());
        if (g.suspicious(tolerance)) suspiciousRows += batch.length;
        const answers: { exit: number; agree: boolean; score: number }[] = [];
        for (let i = 0; i < batch.length; i++) {
          batch[i] = -1;
          let u = rng.uniform();
          for (let e = 0; e < mix.shares.length; e++) {
            if (u >= mix.shares[e]!) {
              u -= mix.shares[e]!;
              continue;
            }
            const agree = rng.uniform() < mix.agreements[e]!;
            const score = scoreOf(agree, rng);
            // A row under the exit's threshold goes on to the backbone (the simulation does not pass it to later exits).
            if (thresholds[e] !== null && score >= thresholds[e]!) {
              batch[i] = e;
              answers.push({ exit: e, agree, score });
            }
            break;
          }
        }
        g.recordAnswers(batch);
        for (const a of answers) {
          if (rng.uniform() >= p[a.exit]!) continue;
          verified++;
          g.recordVerified(a.exit, a.agree, a.score);
          const action = g.plan(thresholds, raises, tolerance, limits);
          if (!action) continue;
          actions++;
          g.raiseExit(action.exit, action.thresholds[action.exit] ?? Number.POSITIVE_INFINITY, action.recent);
          thresholds = [...action.thresholds];
          raises = [...action.raises];
        }
      }
    }
    const pct = (x: number): string => `${(100 * x / (ROWS * SEEDS)).toFixed(2)}%`;
    console.log(`| ${mix.shares.map((s, e) => `${s} @ ${mix.agreements[e]}`).join(', ')} | ${(100 * loss).toFixed(2)}% | ${name} | ${pct(verified)} | ${pct(suspiciousRows)} | ${actions} |`);
  }
}
