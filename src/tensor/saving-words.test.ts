import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { lowerOrHigher, savedOrMore, signedPct } from './saving-words.ts';

describe('saving words', () => {
  it('say lower for a saving and higher for a loss, never a negative "lower"', () => {
    assert.equal(lowerOrHigher(0.061), '6.1% lower');
    assert.equal(lowerOrHigher(-0.04), '4.0% higher');
    assert.equal(lowerOrHigher(0), '0.0% lower');
    assert.equal(lowerOrHigher(-0.25), '25.0% higher');
  });

  it('say more MACs for heads that cost more than their exits save, never a negative saving', () => {
    assert.equal(savedOrMore(0.144), '14.4% saved');
    assert.equal(savedOrMore(0), '0.0% saved');
    assert.equal(savedOrMore(-0.002), '0.2% more');
    assert.equal(savedOrMore(-0.03), '3.0% more');
  });

  it('write signs as a reader expects', () => {
    assert.equal(signedPct(-0.061), '−6.1%');
    assert.equal(signedPct(0.5, 0), '50%');
  });
});
