import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import { analyzeModel, type ModelAnalysis } from '../inspect/index.ts';
import type { ModelProto } from '../onnx/index.ts';
import { buildHeadModel, initParams } from '../heads/index.ts';
import { SILENT, type Progress } from '../progress/index.ts';
import { extractSegments } from '../surgery/index.ts';
import { seededRng, type Tensor } from '../tensor/index.ts';
import { randomInput } from '../../test/support/chain.ts';
import { residualNet } from '../../test/support/models.ts';
import { Cascade } from '../cascade/index.ts';
import { measureCascade, measureLatency, shapeId, timeAlternating, type CandidateCut } from './measure.ts';

const engine = { intraOpThreads: 1, graphOptimization: 'all' } as const;

function cutsOf(model: ModelProto, a: ModelAnalysis, tensors: readonly string[]): CandidateCut[] {
  const chain = extractSegments(model, a.flow, tensors, a.typeOf).map((s) => s.model);
  return tensors.map((tensor, i) => {
    return { tensor, prefix: extractSegments(model, a.flow, [tensor], a.typeOf)[0]!.model, segment: chain[i]! };
  });
}

describe('latency cost model', () => {
  it('times any number of heads per exit, in the order given, and keeps the cost curve consistent', async () => {
    const { model } = residualNet();
    const a = await analyzeModel(model);
    const tensors = ['stem', 'b1_out'];
    const cuts = cutsOf(model, a, tensors);
    const rng = seededRng(1);
    const family = [{ pool: 2, hidden: 6, dropout: 0 }, { pool: 1, hidden: 0, dropout: 0 }];
    // Exit 1's heads first, then exit 0's: the result follows the order of the list.
    const heads = [1, 0].flatMap((exit) => family.map((spec) => ({ exit, model: buildHeadModel(spec, initParams(spec, spec.pool * spec.pool * 4, 5, rng), [4, 8, 8], 5, 17) })));
    const lat = await measureLatency(model, cuts, heads, randomInput([2, 3, 8, 8], 3), { engine, progress: SILENT, reps: 5 });
    assert.equal(lat.batch, 2);
    assert.equal(lat.head.length, 4);
    assert.equal(lat.toExit.length, 2);
    for (const t of [...lat.head, ...lat.toExit, lat.full]) assert.ok(Number.isFinite(t) && t > 0, `timing ${t}`);
    assert.ok(lat.callOverhead > 0);
    // Both exits' tensors are [4, 8, 8], so each family member has one graph shape at both: one cost.
    assert.equal(lat.head[0], lat.head[2]);
    assert.equal(lat.head[1], lat.head[3]);
  });

  it('measures in groups of bounded size (here one model per group) with the same result shape', async () => {
    const { model } = residualNet();
    const a = await analyzeModel(model);
    const cuts = cutsOf(model, a, ['stem', 'b1_out']);
    const spec = { pool: 1, hidden: 0, dropout: 0 };
    const head = buildHeadModel(spec, initParams(spec, 4, 5, seededRng(3)), [4, 8, 8], 5, 17);
    // Progress: one phase whose ticks add up to its total, groups × reps + 1 (3 groups: two prefixes, one head).
    const phases: { total: number; ticked: number }[] = [];
    const progress: Progress = {
      note: () => {},
      phase: (_label, total) => {
        const p = { total: total ?? 0, ticked: 0 };
        phases.push(p);
        return { tick: (units = 1) => { p.ticked += units; }, end: () => {} };
      },
    };
    const lat = await measureLatency(model, cuts, [{ exit: 1, model: head }], randomInput([1, 3, 8, 8], 4), { engine, progress, reps: 3, groupBytes: 1 });
    assert.deepEqual(phases, [{ total: 3 * 3 + 1, ticked: 3 * 3 + 1 }]);
    assert.equal(lat.head.length, 1);
    assert.ok(lat.head[0]! > 0);
    assert.equal(lat.toExit.length, 2);
    assert.ok(lat.toExit.every((t) => t > 0 && t <= lat.full), `${lat.toExit} vs ${lat.full}`);
  });

  it('with prior costs covering every exit, reuses them and times only the head shapes they lack', async () => {
    const { model } = residualNet();
    const a = await analyzeModel(model);
    const cuts = cutsOf(model, a, ['stem', 'b1_out']);
    const rng = seededRng(5);
    const linear = { pool: 1, hidden: 0, dropout: 0 };
    const mlpSpec = { pool: 2, hidden: 6, dropout: 0 };
    const heads = [
      { exit: 0, model: buildHeadModel(linear, initParams(linear, 4, 5, rng), [4, 8, 8], 5, 17) },
      { exit: 1, model: buildHeadModel(mlpSpec, initParams(mlpSpec, 16, 5, rng), [4, 8, 8], 5, 17) },
    ];
    const [linearShape, mlpShape] = heads.map((h) => shapeId(h.model));
    const prior = { fullMs: 7, callOverheadMs: 0.05, toExitMs: { stem: 2, b1_out: 5 }, headMs: { [linearShape!]: 0.25, [mlpShape!]: 0.5 } };
    const input = randomInput([1, 3, 8, 8], 6);
    // Everything known: nothing is timed, the prior comes back as it was.
    const all = await measureLatency(model, cuts, heads, input, { engine, progress: SILENT, reps: 3, prior });
    assert.deepEqual([all.full, all.callOverhead, all.toExit, all.head], [7, 0.05, [2, 5], [0.25, 0.5]]);
    assert.deepEqual(all.reused, { exits: true, heads: 2 });
    // One head shape unknown: it is timed (scaled by the prior backbone cost), the rest reused.
    const some = await measureLatency(model, cuts, heads, input, { engine, progress: SILENT, reps: 3, prior: { ...prior, headMs: { [linearShape!]: 0.25 } } });
    assert.deepEqual([some.full, some.toExit, some.head[0]], [7, [2, 5], 0.25]);
    assert.ok(some.head[1]! > 0 && some.head[1] !== 0.5);
    assert.deepEqual(some.reused, { exits: true, heads: 1 });
    // A prior that lacks an exit is not used at all.
    const none = await measureLatency(model, cuts, heads, input, { engine, progress: SILENT, reps: 3, prior: { ...prior, toExitMs: { stem: 2 } } });
    assert.deepEqual(none.reused, { exits: false, heads: 0 });
    assert.notEqual(none.full, 7);
    assert.deepEqual(none.headShape, [linearShape, mlpShape]);
  });

  it('rejects a head bound to an exit that does not exist', async () => {
    const { model } = residualNet();
    const a = await analyzeModel(model);
    const cuts = cutsOf(model, a, ['stem']);
    const spec = { pool: 1, hidden: 0, dropout: 0 };
    const head = buildHeadModel(spec, initParams(spec, 4, 5, seededRng(2)), [4, 8, 8], 5, 17);
    await assert.rejects(measureLatency(model, cuts, [{ exit: 3, model: head }], randomInput([1, 3, 8, 8], 1), { engine, progress: SILENT, reps: 3 }), /exit 3/);
  });

  it('rejects an empty list of candidate exits', async () => {
    const { model } = residualNet();
    await assert.rejects(measureLatency(model, [], [], randomInput([1, 3, 8, 8], 1), { engine, progress: SILENT, reps: 3 }), /at least one candidate exit/);
  });

  it('measureCascade: the cascade runs without its input scan (the backbone side has none), done before the clock', async (t) => {
    const { model } = residualNet();
    const a = await analyzeModel(model);
    const tensors = ['stem', 'b1_out'];
    const spec = { pool: 2, hidden: 6, dropout: 0 };
    const rng = seededRng(3);
    const parts = {
      segments: extractSegments(model, a.flow, tensors, a.typeOf).map((s) => s.model),
      heads: tensors.map(() => buildHeadModel(spec, initParams(spec, 16, 5, rng), [4, 8, 8], 5, 17)),
      exits: tensors.map((tensor) => ({ tensor, threshold: Infinity, temperature: 1 })), classes: 5, score: 'max' as const,
    };
    const seen: boolean[] = [];
    const run = Cascade.prototype.run;
    t.mock.method(Cascade.prototype, 'run', function (this: Cascade, x: Tensor, o: { finiteChecked?: boolean } = {}) {
      seen.push(o.finiteChecked ?? false);
      return run.call(this, x, o);
    });
    const inputs = Array.from({ length: 4 }, (_, i) => randomInput([2, 3, 8, 8], i));
    const r = await measureCascade(model, parts, inputs, { engine, reps: 2 });
    assert.ok(seen.length >= 8 && seen.every(Boolean), JSON.stringify(seen));
    assert.ok(r.ratio > 0 && Number.isFinite(r.ratio));
    // Input the scan refuses still gets the cascade's own error, naming the value.
    inputs[2]!.data[5] = Number.NaN;
    await assert.rejects(measureCascade(model, parts, inputs, { engine, reps: 1 }), { code: 'INPUT_INVALID', message: /holds NaN at row 0 \(value 5\)/ });
  });

  it('timeAlternating: every runner sees every input each pass, the order flips every block, the reference ratio is 1', async () => {
    const calls: string[] = [];
    const inputs = Array.from({ length: 5 }, (_, i) => randomInput([1, 3, 8, 8], i));
    const runner = (name: string) => async (x: unknown): Promise<void> => { calls.push(`${name}${inputs.indexOf(x as never)}`); };
    // onBlock runs after each block (a retrain checks its stop flag there).
    const r = await timeAlternating({ a: runner('a'), b: runner('b') }, inputs, { passes: 2, blockSize: 2, warmup: 1, onBlock: () => calls.push('|') });
    assert.equal(r.a!.ratio, 1);
    assert.ok(Number.isFinite(r.b!.ratio) && r.b!.meanMs >= 0);
    // Warm-up (a0, b0), then blocks [0,1] [2,3] [4] per pass, a first in even blocks, b first in odd ones; | = onBlock.
    assert.deepEqual(calls, [
      'a0', 'b0',
      'a0', 'a1', 'b0', 'b1', '|', 'b2', 'b3', 'a2', 'a3', '|', 'a4', 'b4', '|',
      'b0', 'b1', 'a0', 'a1', '|', 'a2', 'a3', 'b2', 'b3', '|', 'b4', 'a4', '|',
    ]);
  });
});
