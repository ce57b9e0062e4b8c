import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { analyzeModel } from '../inspect/index.ts';
import { buildHeadModel, initParams } from '../heads/index.ts';
import { SILENT } from '../progress/index.ts';
import { extractSegments } from '../surgery/index.ts';
import { seededRng } from '../tensor/index.ts';
import { randomInput } from '../../test/support/chain.ts';
import { residualNet } from '../../test/support/models.ts';
import { measureLatency } from './measure.ts';

const engine = { intraOpThreads: 1, graphOptimization: 'all' } as const;

describe('latency cost model', () => {
  it('times any number of heads per exit, in the order given, and keeps the cost curve consistent', async () => {
    const { model } = residualNet();
    const a = await analyzeModel(model);
    const tensors = ['stem', 'b1_out'];
    const segments = extractSegments(model, a.flow, tensors, a.typeOf).map((s) => s.model);
    const rng = seededRng(1);
    const family = [{ pool: 2, hidden: 6, dropout: 0 }, { pool: 1, hidden: 0, dropout: 0 }];
    // Exit 1's heads first, then exit 0's: the result follows the order of the list.
    const heads = [1, 0].flatMap((exit) => family.map((spec) => ({ exit, model: buildHeadModel(spec, initParams(spec, spec.pool * spec.pool * 4, 5, rng), [4, 8, 8], 5, 17) })));
    const lat = await measureLatency(model, segments, heads, randomInput([2, 3, 8, 8], 3), { engine, progress: SILENT, reps: 5 });
    assert.equal(lat.batch, 2);
    assert.equal(lat.head.length, 4);
    assert.equal(lat.toExit.length, 2);
    for (const t of [...lat.head, ...lat.toExit, lat.full]) assert.ok(Number.isFinite(t) && t > 0, `timing ${t}`);
    assert.ok(lat.toExit[0]! <= lat.toExit[1]! && lat.toExit[1]! <= lat.full, `cost to reach the exits must grow along the network: ${lat.toExit} vs ${lat.full}`);
    assert.ok(lat.callOverhead >= 0);
  });

  it('rejects a head bound to an exit that does not exist', async () => {
    const { model } = residualNet();
    const a = await analyzeModel(model);
    const segments = extractSegments(model, a.flow, ['stem'], a.typeOf).map((s) => s.model);
    const spec = { pool: 1, hidden: 0, dropout: 0 };
    const head = buildHeadModel(spec, initParams(spec, 4, 5, seededRng(2)), [4, 8, 8], 5, 17);
    await assert.rejects(measureLatency(model, segments, [{ exit: 3, model: head }], randomInput([1, 3, 8, 8], 1), { engine, progress: SILENT, reps: 3 }), /exit 3/);
  });
});
