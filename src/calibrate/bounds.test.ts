import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { clopperPearsonLower, clopperPearsonUpper, incompleteBeta } from './bounds.ts';

function binomialCdf(k: number, n: number, p: number): number {
  let term = (1 - p) ** n;
  let sum = term;
  for (let i = 1; i <= k; i++) {
    term *= ((n - i + 1) / i) * (p / (1 - p));
    sum += term;
  }
  return sum;
}

describe('Clopper–Pearson', () => {
  it('k = 0 matches the closed form 1 − δ^(1/n)', () => {
    for (const [n, d] of [[100, 0.05], [5000, 0.1], [7, 0.01]] as const) {
      assert.ok(Math.abs(clopperPearsonUpper(0, n, d) - (1 - d ** (1 / n))) < 1e-9);
    }
  });

  it('stays precise at a tiny δ (closed forms at k = 0 and k = n − 1)', () => {
    for (const n of [1, 10, 1000]) {
      for (const d of [1e-6, 1e-9, 1e-12]) {
        // P[Bin ≤ 0] = (1 − p)^n = δ; P[Bin ≤ n − 1] = 1 − p^n = δ.
        const zero = 1 - d ** (1 / n);
        const most = Math.exp(Math.log1p(-d) / n);
        assert.ok(Math.abs(clopperPearsonUpper(0, n, d) - zero) <= 1e-10 * zero, `k 0, n ${n}, δ ${d}: ${clopperPearsonUpper(0, n, d)} vs ${zero}`);
        if (n > 1) assert.ok(Math.abs(clopperPearsonUpper(n - 1, n, d) - most) <= 1e-12, `k n−1, n ${n}, δ ${d}: ${clopperPearsonUpper(n - 1, n, d)} vs ${most}`);
      }
    }
  });

  it('the bound p solves P[Bin(n, p) <= k] = δ', () => {
    for (const [k, n, d] of [[3, 50, 0.05], [25, 5000, 0.05], [40, 1000, 0.1]] as const) {
      const p = clopperPearsonUpper(k, n, d);
      assert.ok(Math.abs(binomialCdf(k, n, p) - d) < 1e-7, `k=${k} n=${n}: cdf ${binomialCdf(k, n, p)}`);
      assert.ok(p > k / n);
    }
  });

  it('edge cases and symmetry', () => {
    assert.equal(clopperPearsonUpper(10, 10, 0.05), 1);
    assert.equal(clopperPearsonLower(0, 10, 0.05), 0);
    assert.ok(Math.abs(clopperPearsonLower(7, 20, 0.05) - (1 - clopperPearsonUpper(13, 20, 0.05))) < 1e-12);
    assert.ok(Math.abs(incompleteBeta(0.5, 2, 2) - 0.5) < 1e-12);
  });
});
