import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { formatSaving } from './format.ts';

describe('formatSaving', () => {
  it('says lower for a saving and higher for a loss, never a negative "lower"', () => {
    assert.equal(formatSaving(0.061), '6.1% lower');
    assert.equal(formatSaving(-0.04), '4.0% higher');
    assert.equal(formatSaving(0), '0.0% lower');
  });
});
