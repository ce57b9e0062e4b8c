import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { setPercent, targetAgreementPct } from './set-percent.ts';

describe('set percentages', () => {
  it('gives a set fraction (a tolerance) with the digits it has', () => {
    assert.deepEqual([0.01, 0.005, 0.0001, 0.02, 1 - 0.0001, 0.07].map(setPercent), ['1%', '0.5%', '0.01%', '2%', '99.99%', '7%']);
  });

  it('names the agreement a tolerance asks for with the tolerance\'s digits', () => {
    assert.deepEqual([0.2, 0.01, 0.005, 0.0001, 0.00001, 0.00025, 1e-7, 1.5e-9, 0.333, 0.07].map(targetAgreementPct), ['80%', '99%', '99.5%', '99.99%', '99.999%', '99.975%', '99.99999%', '99.99999985%', '66.7%', '93%']);
  });
});
