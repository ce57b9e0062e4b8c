import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { fitPrefixCosts, isotonic } from './cost-fit.ts';

const close = (a: readonly number[], b: readonly number[]): void => {
  assert.equal(a.length, b.length);
  a.forEach((x, i) => assert.ok(Math.abs(x - b[i]!) < 1e-9, `${a} vs ${b}`));
};

describe('cost fit', () => {
  it('isotonic: the least-squares non-decreasing fit pools adjacent violators', () => {
    assert.deepEqual(isotonic([1, 3, 2, 4]), [1, 2.5, 2.5, 4]);
    assert.deepEqual(isotonic([5, 1, 3]), [3, 3, 3]);
    assert.deepEqual(isotonic([1, 2, 2, 7]), [1, 2, 2, 7]);
    assert.deepEqual(isotonic([]), []);
  });

  it('fitPrefixCosts: distinct classes reproduce the measurements', () => {
    close(fitPrefixCosts([1, 3, 4, 9], [0, 1, 2, 3]), [1, 3, 4, 9]);
  });

  it('fitPrefixCosts: exact costs per class are recovered from noiseless prefixes', () => {
    // stem (class 7) costs 2, blocks of class 1 cost 3, a transition (class 4) 5, blocks of class 2 cost 1.
    const classes = [7, 1, 1, 1, 4, 2, 2];
    const steps = [2, 3, 3, 3, 5, 1, 1];
    const prefix = steps.map((_, e) => steps.slice(0, e + 1).reduce((a, b) => a + b, 0));
    close(fitPrefixCosts(prefix, classes), prefix);
  });

  it('fitPrefixCosts: equals the least-squares oracle on noisy prefixes (one shared class)', () => {
    // prefix_e ≈ (e + 1)·c: the least-squares c is Σ (e+1)·p_e / Σ (e+1)².
    const prefix = [1.1, 1.9, 3.2, 3.9];
    const c = prefix.reduce((s, p, e) => s + (e + 1) * p, 0) / [1, 4, 9, 16].reduce((a, b) => a + b, 0);
    close(fitPrefixCosts(prefix, [0, 0, 0, 0]), [c, 2 * c, 3 * c, 4 * c]);
  });

  it('fitPrefixCosts: a fit with a negative class cost is refused and the measurements come back', () => {
    // One A then three B: least squares would give A a negative cost on this convex curve.
    close(fitPrefixCosts([0.01, 0.02, 0.3, 0.6], [0, 1, 1, 1]), [0.01, 0.02, 0.3, 0.6]);
  });

  it('rejects mismatched lengths', () => {
    assert.throws(() => fitPrefixCosts([1, 2], [0]), /2 prefix costs but 1 segment classes/);
  });
});
