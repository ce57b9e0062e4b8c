import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { thresholdCondition } from './scores.ts';

describe('thresholdCondition', () => {
  it('shows a log-odds threshold as p, above 0.999 as its distance from 1; a margin as the log-ratio; null as disabled (by hand)', () => {
    // 1 − e^−3.338 = 0.96449; e^−11.19 = 1.38e-5 (a build printed that exit's threshold as "1.0000").
    assert.equal(thresholdCondition('max', 3.338), 'p ≥ 0.9645');
    assert.equal(thresholdCondition('max', 11.19), 'p ≥ 1 − 1.4e-5');
    assert.equal(thresholdCondition('max', Math.log(1000) + 0.01), 'p ≥ 1 − 9.9e-4');
    assert.equal(thresholdCondition('temperature', 3.338), 'p at T ≥ 0.9645');
    assert.equal(thresholdCondition('margin', 0.5), 'log(p₁/p₂) ≥ 0.500');
    assert.equal(thresholdCondition('max', null), 'disabled');
  });
});
