import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LayercacheError } from '../errors/index.ts';
import { pairedSaving } from './paired-saving.ts';

describe('pairedSaving (hand-computed)', () => {
  it('is the saving of the means, with a zero-width interval when every block saves the same', () => {
    // Blocks of 2: backbone 2 ms then 4 ms per block, the bundle 10% faster in every block.
    const backbone = [2, 2, 4, 4, 2, 2, 4, 4];
    const cached = backbone.map((x) => 0.9 * x);
    const p = pairedSaving(backbone, cached, 2);
    assert.ok(Math.abs(p.saved - 0.1) < 1e-12);
    assert.ok(Math.abs(p.ci95[0] - 0.1) < 1e-12 && Math.abs(p.ci95[1] - 0.1) < 1e-12, JSON.stringify(p.ci95));
    assert.equal(p.blocks, 4);
  });

  it('weighs blocks by their time, and brackets the estimate within the blocks\' range when they differ', () => {
    // Block 1 saves 50% of 10 ms, block 2 nothing of 30 ms: 5 of 40 ms saved overall, 12.5%, not the 25% mean of ratios.
    const p = pairedSaving([10, 30], [5, 30], 1);
    assert.ok(Math.abs(p.saved - 0.125) < 1e-12);
    // Resampled pairs of these blocks save 0%, 12.5% or 50%: the interval spans from none to half.
    assert.ok(Math.abs(p.ci95[0]) < 1e-12 && Math.abs(p.ci95[1] - 0.5) < 1e-12, JSON.stringify(p.ci95));
    // More blocks of the same two kinds narrow it around the same estimate.
    const many = pairedSaving(Array.from({ length: 200 }, (_, i) => (i % 2 ? 30 : 10)), Array.from({ length: 200 }, (_, i) => (i % 2 ? 30 : 5)), 1);
    assert.ok(Math.abs(many.saved - 0.125) < 1e-12);
    assert.ok(many.ci95[0] > 0.08 && many.ci95[1] < 0.17 && many.ci95[0] < 0.125 && many.ci95[1] > 0.125, JSON.stringify(many.ci95));
  });

  it('is reproducible, and refuses unpaired latencies', () => {
    const b = Array.from({ length: 40 }, (_, i) => 2 + (i % 7) / 10);
    const c = b.map((x, i) => x * (0.8 + (i % 5) / 20));
    assert.deepEqual(pairedSaving(b, c, 5), pairedSaving(b, c, 5));
    assert.throws(() => pairedSaving([1, 2], [1], 1), (err: unknown) => err instanceof LayercacheError && err.code === 'INTERNAL');
    assert.throws(() => pairedSaving([], [], 1), LayercacheError);
  });
});
