import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { seededRng } from '../tensor/index.ts';
import { admits, verifiedShare, verifies, verifyRule, VERIFY_REFERENCE_SHARE } from './verify-rule.ts';

const close = (a: readonly number[], b: readonly number[]): void => {
  assert.equal(a.length, b.length);
  a.forEach((x, i) => assert.ok(Math.abs(x - b[i]!) < 1e-12, `${JSON.stringify(a)} against ${JSON.stringify(b)}`));
};

describe('verifyRule', () => {
  it('verifies each exit at --verify-share, at the boosted share where the guard wants evidence, and more of a rare exit\'s answers (by hand)', () => {
    const rule = verifyRule(0.05, 0.5, [false, true, false, false, false], [0.5, 0.3, 0.02, 0.001, 0]);
    assert.equal(rule.admitBelow, 0.05);
    // 0.02 of the rows: 0.05 · 0.1 / 0.02 = 0.25; 0.001: 5, so all; 0: not answered yet, the base.
    close(rule.verifyBelow, [0.05, 0.5, 0.25, 1, 0.05]);
    // A rare exit the guard wants evidence on gets the larger of the two.
    close(verifyRule(0.05, 0.5, [true, true], [0.02, 0.004]).verifyBelow, [0.5, 1]);
    // guardBoostShare under --verify-share never lowers it.
    close(verifyRule(0.2, 0.1, [true], [0.5]).verifyBelow, [0.2]);
  });

  it('under --verify-share 0 verifies only what the guard wants evidence on, whatever the shares', () => {
    const rule = verifyRule(0, 0.5, [false, true, false], [0.01, 0.01, 0.5]);
    close(rule.verifyBelow, [0, 0.5, 0]);
    assert.equal(rule.admitBelow, 0);
  });

  it('keeps every verify share in [--verify-share, 1], and a rare exit\'s verified rows per request at --verify-share × the reference share', () => {
    const rng = seededRng(3);
    for (let k = 0; k < 2000; k++) {
      const base = rng.uniform() * 0.2;
      const boost = rng.uniform();
      const shares = Array.from({ length: 4 }, () => (rng.uniform() < 0.2 ? 0 : rng.uniform() ** 4));
      const wanted = shares.map(() => rng.uniform() < 0.3);
      const rule = verifyRule(base, boost, wanted, shares);
      rule.verifyBelow.forEach((p, e) => {
        assert.ok(p >= base && p <= 1, `exit ${e}: ${p} with base ${base}`);
        const at = wanted[e] ? Math.max(base, boost) : base;
        // Beyond its own share's worth, an exit is verified at no more than base · reference share per row.
        assert.ok(shares[e]! * p <= Math.max(shares[e]! * at, base * VERIFY_REFERENCE_SHARE) + 1e-12, `exit ${e}: share ${shares[e]}, p ${p}`);
      });
    }
  });
});

describe('verifies and admits', () => {
  const rule = { admitBelow: 0.05, verifyBelow: [0.05, 0.25] };

  it('verifies an early answer whose draw is under its exit\'s share, never a full-backbone row', () => {
    assert.equal(verifies(rule, 0.2, 1), true);
    assert.equal(verifies(rule, 0.2, 0), false);
    assert.equal(verifies(rule, 0.25, 1), false, 'strictly under');
    assert.equal(verifies(rule, 0, null), false, 'the full backbone answered: nothing to verify');
    // A batch run on a worker still holding another version, with more exits than the rule knows: the base.
    assert.equal(verifies(rule, 0.04, 2), true);
    assert.equal(verifies(rule, 0.06, 2), false);
  });

  it('admits a row drawn under --verify-share, which every exit verifies', () => {
    assert.equal(admits(rule, 0.049), true);
    assert.equal(admits(rule, 0.05), false);
    for (const u of [0, 0.01, 0.049]) for (const e of [0, 1, 2]) assert.ok(!admits(rule, u) || verifies(rule, u, e));
  });
});

describe('verifiedShare', () => {
  it('weights each exit\'s verify share by its share of rows; the largest before any exit answers; --verify-share without exits', () => {
    const rule = { admitBelow: 0.05, verifyBelow: [0.05, 0.5] };
    assert.ok(Math.abs(verifiedShare(rule, [0.3, 0.1]) - (0.3 * 0.05 + 0.1 * 0.5) / 0.4) < 1e-12);
    assert.equal(verifiedShare(rule, [0, 0]), 0.5);
    assert.equal(verifiedShare({ admitBelow: 0.05, verifyBelow: [] }, []), 0.05);
  });
});
