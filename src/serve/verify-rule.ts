/**
 * Which answered rows are verified against the full backbone, and which are admitted to the online buffer. Each row
 * of a request draws one uniform number when it arrives; the engine worker that answers the row knows its exit and
 * compares the draw with that exit's verify share, and the online learner admits rows whose draw is below
 * `--verify-share`.
 * Invariants: every verify share is at least admitBelow, so every admitted early answer was verified and the buffer
 * stays a uniform sample of the traffic, whatever is verified beyond it; under `--verify-share 0` only the guard's
 * boosted share verifies anything. An exit answering less than VERIFY_REFERENCE_SHARE of the rows has its answers
 * verified as often as if it answered that share, up to all of them: per row, an exit gets at least the smaller of
 * its share and verifyShare × VERIFY_REFERENCE_SHARE verified answers, and costs at most the latter beyond its own
 * share's worth; a failing rare exit gives fewer wrong answers before it is found than one answering that share
 * (the same number of verified answers finds it, and fewer of its answers go unverified).
 */

/** The share of rows under which an exit's answers are verified as if it answered this share. */
export const VERIFY_REFERENCE_SHARE = 0.1;

/** What a batch's rows are verified and admitted by: admitBelow is --verify-share; verifyBelow: [exits]. */
export interface VerifyRule {
  readonly admitBelow: number;
  readonly verifyBelow: readonly number[];
}

/** A row answered at `exit` (null: the full backbone, nothing to verify) with this draw is verified. */
export function verifies(rule: VerifyRule, draw: number, exit: number | null): boolean {
  // An exit the rule does not know (a batch run on a worker still loading another version) is verified at the base.
  return exit !== null && draw < (rule.verifyBelow[exit] ?? rule.admitBelow);
}

/** A row with this draw is admitted to the online buffer (once verified, when it exited early). */
export function admits(rule: VerifyRule, draw: number): boolean {
  return draw < rule.admitBelow;
}

/**
 * The rule for a version's exits. base: --verify-share; boost: guardBoostShare, for exits the guard wants evidence
 * on (wanted: [exits]); shares: [exits], the fraction of recent rows each answers.
 */
export function verifyRule(base: number, boost: number, wanted: readonly boolean[], shares: readonly number[]): VerifyRule {
  const verifyBelow = shares.map((share, e) => {
    const at = wanted[e] ? Math.max(base, boost) : base;
    // A share of 0: the exit has not answered yet (or was disabled); once it answers a row, its share says how rare it is.
    const rare = share > 0 ? (base * VERIFY_REFERENCE_SHARE) / share : 0;
    return Math.min(1, Math.max(at, rare));
  });
  return { admitBelow: base, verifyBelow };
}

/**
 * The share of early answers a rule verifies, with exits answering these shares of the rows ([exits]): each exit's
 * verify share weighted by its share; while no exit has answered, the largest (admitBelow without exits).
 */
export function verifiedShare(rule: VerifyRule, shares: readonly number[]): number {
  if (rule.verifyBelow.length === 0) return rule.admitBelow;
  const early = shares.reduce((a, s) => a + s, 0);
  if (early <= 0) return Math.max(...rule.verifyBelow);
  return shares.reduce((a, s, e) => a + s * rule.verifyBelow[e]!, 0) / early;
}
