import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { LayercacheError } from '../errors/index.ts';
import { MIN_INTERVAL_BLOCKS, pairedSaving } from './paired-saving.ts';

/** n blocks of `size` samples: backbone `b` ms per sample, bundle `c` ms, alternating between the given pairs. */
function blocks(n: number, size: number, pairs: readonly [number, number][]): { backbone: number[]; cached: number[] } {
  const backbone: number[] = [];
  const cached: number[] = [];
  for (let k = 0; k < n; k++) {
    const [b, c] = pairs[k % pairs.length]!;
    for (let i = 0; i < size; i++) {
      backbone.push(b);
      cached.push(c);
    }
  }
  return { backbone, cached };
}

describe('pairedSaving (hand-computed)', () => {
  it('is the saving of the means, with a zero-width interval when every block saves the same', () => {
    // Blocks of 2 samples: the backbone at 2 ms or 4 ms per sample, the bundle 10% faster in every block.
    const { backbone, cached } = blocks(12, 2, [[2, 1.8], [4, 3.6]]);
    const p = pairedSaving(backbone, cached, 2);
    assert.ok(Math.abs(p.saved - 0.1) < 1e-12);
    assert.ok(p.ci95 !== null && Math.abs(p.ci95[0] - 0.1) < 1e-12 && Math.abs(p.ci95[1] - 0.1) < 1e-12, JSON.stringify(p.ci95));
    assert.equal(p.blocks, 12);
  });

  it('weighs blocks by their time, and its interval narrows around the estimate as blocks add up', () => {
    // Blocks that save 50% of 10 ms and blocks that save nothing of 30 ms: 5 of 40 ms saved, 12.5%, not the 25% mean of ratios.
    const few = blocks(MIN_INTERVAL_BLOCKS, 1, [[10, 5], [30, 30]]);
    const many = blocks(200, 1, [[10, 5], [30, 30]]);
    const a = pairedSaving(few.backbone, few.cached, 1);
    const b = pairedSaving(many.backbone, many.cached, 1);
    for (const p of [a, b]) {
      assert.ok(Math.abs(p.saved - 0.125) < 1e-12);
      assert.ok(p.ci95 !== null && p.ci95[0] < 0.125 && p.ci95[1] > 0.125 && p.ci95[0] >= 0 && p.ci95[1] <= 0.5, JSON.stringify(p.ci95));
    }
    assert.ok(b.ci95![1] - b.ci95![0] < (a.ci95![1] - a.ci95![0]) / 2, `${JSON.stringify(a.ci95)} vs ${JSON.stringify(b.ci95)}`);
    assert.ok(b.ci95![0] > 0.08 && b.ci95![1] < 0.17, JSON.stringify(b.ci95));
  });

  it('gives no interval over fewer blocks than it takes, a partial last block counting for its samples', () => {
    // MIN_INTERVAL_BLOCKS − 2 full blocks of 5 and a last block of 3: one block short of an interval.
    const backbone = Array.from({ length: 5 * (MIN_INTERVAL_BLOCKS - 2) + 3 }, () => 2);
    const p = pairedSaving(backbone, backbone.map(() => 1.5), 5);
    assert.equal(p.ci95, null);
    assert.equal(p.blocks, MIN_INTERVAL_BLOCKS - 1);
    assert.ok(Math.abs(p.saved - 0.25) < 1e-12);
    // Seven more samples complete the last block and add another: enough blocks for an interval.
    const more = [...backbone, 2, 2, 2, 2, 2, 2, 2];
    assert.equal(pairedSaving(more, more.map(() => 1.5), 5).blocks, MIN_INTERVAL_BLOCKS);
    assert.deepEqual(pairedSaving(more, more.map(() => 1.5), 5).ci95, [0.25, 0.25]);
    // One sample is one block of one sample, not of 50.
    assert.deepEqual(pairedSaving([2], [1], 50), { saved: 0.5, ci95: null, blocks: 1, blockSize: 1 });
  });

  it('is reproducible, and refuses unpaired latencies or a block size that is not a positive integer', () => {
    const b = Array.from({ length: 400 }, (_, i) => 2 + (i % 7) / 10);
    const c = b.map((x, i) => x * (0.8 + (i % 5) / 20));
    assert.deepEqual(pairedSaving(b, c, 5), pairedSaving(b, c, 5));
    assert.throws(() => pairedSaving([1, 2], [1], 1), (err: unknown) => err instanceof LayercacheError && err.code === 'INTERNAL');
    assert.throws(() => pairedSaving([], [], 1), LayercacheError);
    assert.throws(() => pairedSaving([1], [1], 0), LayercacheError);
  });
});
