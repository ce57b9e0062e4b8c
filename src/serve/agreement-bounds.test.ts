import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { clopperPearsonLower } from '../calibrate/index.ts';
import { AgreementBounds } from './agreement-bounds.ts';

describe('AgreementBounds', () => {
  it('remembers each bound by k, n and delta: the same (k, n) at two confidences are two bounds', () => {
    const b = new AgreementBounds();
    const loose = b.lower(30, 40, 0.05);
    const tight = b.lower(30, 40, 0.0125);
    assert.equal(loose, clopperPearsonLower(30, 40, 0.05));
    assert.equal(tight, clopperPearsonLower(30, 40, 0.0125));
    assert.ok(tight < loose, `${tight} < ${loose}`);
    assert.equal(b.lower(30, 40, 0.05), loose, 'asked again');
    assert.equal(b.lower(31, 40, 0.05), clopperPearsonLower(31, 40, 0.05));
    assert.equal(b.lower(30, 41, 0.05), clopperPearsonLower(30, 41, 0.05));
  });

  it('bounds agreement on both sides, and knows nothing without answers', () => {
    const b = new AgreementBounds();
    // 16 of 16 wrong at delta 0.05: agreement below 1 − 0.05^(1/16) ≈ 0.171.
    const none = b.of(0, 16, 0.05);
    assert.equal(none.lower, 0);
    assert.ok(Math.abs(none.upper - (1 - 0.05 ** (1 / 16))) < 1e-6, String(none.upper));
    const some = b.of(30, 40, 0.05);
    assert.deepEqual(some, { lower: clopperPearsonLower(30, 40, 0.05), upper: 1 - clopperPearsonLower(10, 40, 0.05) });
    assert.deepEqual(b.of(0, 0, 0.05), { lower: 0, upper: 1 });
  });
});
