import assert from 'node:assert/strict';
import { describe, it, test } from 'node:test';
import type { Cascade, CascadeRow } from '../cascade/index.ts';
import { memorySource, type DataSource } from '../data/index.ts';
import type { Session } from '../engine/index.ts';
import { SILENT } from '../progress/index.ts';
import type { Tensor } from '../tensor/index.ts';
import { batchesOf, inTurn, sideBySide } from './side-by-side.ts';

test('timing rounds take turns: the backbone runs first in even rounds, the other side in odd ones', async () => {
  const order: string[] = [];
  for (let k = 0; k < 4; k++) {
    await inTurn(k, async () => { order.push(`b${k}`); }, async () => { order.push(`c${k}`); });
  }
  assert.deepEqual(order, ['b0', 'c0', 'c1', 'b1', 'b2', 'c2', 'c3', 'b3']);
});

/**
 * Both sides as stubs on a fake clock: a backbone run takes `backboneMs`, a bundle run `cascadeMs`, and making a
 * batch `batchMs` (untimed work). The log holds 'b' per backbone run and 'c' (or 'c!' without finiteChecked) per
 * bundle run, with the batch's rows.
 */
function sides(costs: { backboneMs: number; cascadeMs: number; batchMs: number }, data: DataSource) {
  let t = 0;
  const log: string[] = [];
  const backbone = { inputs: [{ name: 'x' }], run: async (feeds: Record<string, Tensor>) => { t += costs.backboneMs; log.push(`b${feeds.x!.dims[0]}`); return {}; } };
  const cascade = {
    run: async (x: Tensor, o: { finiteChecked?: boolean } = {}): Promise<CascadeRow[]> => {
      t += costs.cascadeMs;
      log.push(`c${o.finiteChecked ? '' : '!'}${x.dims[0]}`);
      return Array.from({ length: x.dims[0]! }, () => ({ probs: new Float32Array([1, 0]), classIndex: 0, exit: null, confidence: 1 }));
    },
  };
  const slow = { ...data, batch: (s: number, e: number) => { t += costs.batchMs; return data.batch(s, e); } };
  const judged = { data: slow, batches: batchesOf(slow, 64), reference: new Int32Array(data.count), labels: null };
  const run = (throughputMs: number) => sideBySide('bundle', [cascade as unknown as Cascade], [backbone as unknown as Session], { exitMacs: [], headMacs: [], totalMacs: 100 }, judged,
    { progress: SILENT, latencySamples: 2, throughputMs, now: () => t });
  return { log, run };
}

describe('sideBySide, on a fake clock', () => {
  const data = memorySource(new Float32Array(20 * 2).fill(0.5), [2], 'twenty samples');

  it('repeats batch-64 passes until the slower side has run throughputMs, each pass starting with the other side, and counts every timed row', async () => {
    const { log, run } = sides({ backboneMs: 1, cascadeMs: 4, batchMs: 0 }, data);
    const r = await run(10);
    // Warm-up, then passes: 4 ms, 8 ms, 12 ms of the bundle (the slower side): three passes.
    assert.deepEqual(log.slice(0, 8), ['b20', 'c!20', 'b20', 'c20', 'c20', 'b20', 'b20', 'c20']);
    // Batch 1: one block of two samples per side, each after an untimed run.
    assert.deepEqual(log.slice(8), ['b1', 'b1', 'b1', 'c1', 'c1', 'c1']);
    assert.equal(r.backboneThroughput, 60 / 0.003);
    assert.equal(r.figures.throughputBatch64, 60 / 0.012);
    // Answers come from the first pass only.
    assert.deepEqual([r.figures.agreement, r.figures.fullRate, r.figures.macsPerSample], [1, 1, 100]);
    assert.deepEqual([r.trace, r.backboneTrace], [[4, 4], [1, 1]]);
  });

  it('stops the extra passes after EXTRA_PASSES_WALL × throughputMs of wall time, whatever is left to time', async () => {
    const { log, run } = sides({ backboneMs: 1, cascadeMs: 1, batchMs: 20 }, data);
    await run(10);
    // Making a batch costs 20 ms: after the first pass, two more fit in 40 ms (the second ends past it).
    assert.equal(log.filter((e) => e.endsWith('20')).length, 2 + 2 * 3);
  });

  it('leaves the input scan out of the bundle\'s clock only for input that passes it', async () => {
    const values = new Float32Array(20 * 2).fill(0.5);
    values[1] = Number.NaN;
    const { log, run } = sides({ backboneMs: 1, cascadeMs: 1, batchMs: 0 }, memorySource(values, [2], 'a NaN in sample 0'));
    await run(0);
    assert.deepEqual(log, ['b20', 'c!20', 'b20', 'c!20', 'b1', 'b1', 'b1', 'c!1', 'c!1', 'c1']);
  });
});
