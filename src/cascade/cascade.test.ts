import assert from 'node:assert/strict';
import { after, before, describe, it } from 'node:test';
import { analyzeModel } from '../inspect/index.ts';
import { buildHeadModel, initParams } from '../heads/index.ts';
import { extractSegments } from '../surgery/index.ts';
import { seededRng } from '../tensor/index.ts';
import { randomInput, runModel } from '../../test/support/chain.ts';
import { residualNet } from '../../test/support/models.ts';
import { Cascade, type CascadeExit } from './cascade.ts';
import { float32Below, LOG_ODDS_FROM } from './graph-parts.ts';
import { scoreRow } from '../calibrate/index.ts';
import { cloneModel, type ModelProto } from '../onnx/index.ts';

const engine = { intraOpThreads: 1, graphOptimization: 'all' } as const;
let parts: { segments: ModelProto[]; heads: ModelProto[]; model: ModelProto };
const tensors = ['stem', 'b1_out'];


/** residualNet at `opset` cut at `tensors`, with seeded heads built at that opset. */
async function partsAt(opset: number, seed: number): Promise<{ segments: ModelProto[]; heads: ModelProto[] }> {
  const { model } = residualNet(opset);
  const a = await analyzeModel(model);
  const segments = extractSegments(model, a.flow, tensors, a.typeOf).map((s) => s.model);
  const spec = { pool: 2, hidden: 6, dropout: 0 };
  const rng = seededRng(seed);
  return { segments, heads: tensors.map(() => buildHeadModel(spec, initParams(spec, 16, 5, rng), [4, 8, 8], 5, opset)) };
}

async function cascadeWith(thresholds: number[], score: 'max' | 'margin' | 'temperature' = 'max', temperature = 1): Promise<Cascade> {
  const exits: CascadeExit[] = tensors.map((tensor, i) => ({ tensor, threshold: thresholds[i]!, temperature }));
  return Cascade.create({ segments: parts.segments, heads: parts.heads, exits, classes: 5, score }, engine);
}

async function headLogProbs(i: number, input: ReturnType<typeof randomInput>): Promise<Float32Array> {
  const upTo = await runModel(parts.segments[0]!, { image: input });
  let t = upTo.stem!;
  if (i === 1) t = (await runModel(parts.segments[1]!, { stem: t })).b1_out!;
  return (await runModel(parts.heads[i]!, { exit: t })).logprobs!.data as Float32Array;
}

describe('cascade', () => {
  before(async () => {
    const { model } = residualNet();
    const a = await analyzeModel(model);
    const segments = extractSegments(model, a.flow, tensors, a.typeOf).map((s) => s.model);
    const rng = seededRng(3);
    const spec = { pool: 2, hidden: 6, dropout: 0 };
    const heads = tensors.map(() => buildHeadModel(spec, initParams(spec, 16, 5, rng), [4, 8, 8], 5, 17));
    parts = { segments, heads, model };
  });
  const created: Cascade[] = [];
  after(async () => Promise.all(created.map((c) => c.release())));

  it('segments whose node names are those the cascade graphs generate (Softmax_node_0, …) still build and answer as the backbone', async () => {
    const renamed = parts.segments.map((seg) => {
      const m = cloneModel(seg);
      m.graph!.node.forEach((n, k) => (n.name = `${['Softmax', 'Identity', 'Exp', 'Constant', 'If', 'Compress'][k % 6]}_node_${k}`));
      return m;
    });
    const exits: CascadeExit[] = tensors.map((tensor) => ({ tensor, threshold: Infinity, temperature: 1 }));
    const c = await Cascade.create({ segments: renamed, heads: parts.heads, exits, classes: 5, score: 'max' }, engine);
    created.push(c);
    for (const batch of [1, 3]) {
      const x = randomInput([batch, 3, 8, 8], 40 + batch);
      const logits = (await runModel(parts.model, { image: x })).logits!.data as Float32Array;
      (await c.run(x)).forEach((r, i) => assert.equal(r.classIndex, Array.from(logits.subarray(i * 5, i * 5 + 5)).indexOf(Math.max(...logits.subarray(i * 5, i * 5 + 5)))));
    }
  });

  it('with thresholds that never fire, returns exactly the backbone answers (batch 1 and batch N)', async () => {
    const c = await cascadeWith([Infinity, Infinity]);
    created.push(c);
    for (const batch of [1, 7]) {
      const x = randomInput([batch, 3, 8, 8], batch);
      const rows = await c.run(x);
      const logits = (await runModel(parts.model, { image: x })).logits!.data as Float32Array;
      rows.forEach((r, i) => {
        assert.equal(r.exit, null);
        const row = logits.subarray(i * 5, i * 5 + 5);
        const mx = Math.max(...row);
        const e = Array.from(row, (v) => Math.exp(v - mx));
        const s = e.reduce((a, b) => a + b, 0);
        e.forEach((v, k) => assert.ok(Math.abs(v / s - r.probs[k]!) < 1e-6));
        assert.equal(r.classIndex, row.indexOf(mx));
      });
    }
  });

  it('with thresholds of 0, answers every row at the first exit with the head answer', async () => {
    const c = await cascadeWith([0, 0]);
    created.push(c);
    const x = randomInput([6, 3, 8, 8], 11);
    const rows = await c.run(x);
    const lp = await headLogProbs(0, x);
    rows.forEach((r, i) => {
      assert.equal(r.exit, 0);
      assert.equal(r.classIndex, scoreRow(lp, i, 5, 'max', 1).classIndex);
    });
  });

  for (const kind of ['max', 'margin', 'temperature'] as const) {
    it(`batch 1 (one nested-If graph) decides exactly like the staged runtime: ${kind} score`, async () => {
      const x = randomInput([40, 3, 8, 8], 21);
      const median = async (h: number): Promise<number> => {
        const lp = await headLogProbs(h, x);
        const sorted = Array.from({ length: 40 }, (_, i) => scoreRow(lp, i, 5, kind, 2).score).sort((a, b) => a - b);
        return (sorted[19]! + sorted[20]!) / 2;
      };
      const c = await cascadeWith([await median(0), await median(1)], kind, 2);
      created.push(c);
      const staged = await c.run(x, { staged: true });
      const seen = new Set<number | null>();
      for (let i = 0; i < 40; i++) {
        const [one] = await c.run({ dtype: 'float32', dims: [1, 3, 8, 8], data: (x.data as Float32Array).slice(i * 192, (i + 1) * 192) });
        assert.equal(one!.exit, staged[i]!.exit, `row ${i}`);
        assert.equal(one!.classIndex, staged[i]!.classIndex, `row ${i}`);
        for (let k = 0; k < 5; k++) assert.ok(Math.abs(one!.probs[k]! - staged[i]!.probs[k]!) < 1e-5);
        seen.add(one!.exit);
      }
      assert.deepEqual([...seen].sort(), [0, 1, null], 'the test needs rows at both exits and at the backbone');
    });

    it(`batch N (one Compress graph) decides exactly like the staged runtime: ${kind} score`, async () => {
      const x = randomInput([40, 3, 8, 8], 22);
      const lp = await headLogProbs(0, x);
      const sorted = Array.from({ length: 40 }, (_, i) => scoreRow(lp, i, 5, kind, 2).score).sort((a, b) => a - b);
      const c = await cascadeWith([sorted[25]!, -Infinity], kind, 2);
      created.push(c);
      const staged = await c.run(x, { staged: true });
      const graph = await c.run(x);
      assert.equal(graph.length, 40);
      graph.forEach((r, i) => {
        assert.equal(r.exit, staged[i]!.exit, `row ${i}`);
        assert.equal(r.classIndex, staged[i]!.classIndex, `row ${i}`);
        for (let k = 0; k < 5; k++) assert.ok(Math.abs(r.probs[k]! - staged[i]!.probs[k]!) < 1e-5);
      });
      assert.deepEqual([...new Set(graph.map((r) => r.exit))].sort(), [0, 1]);
    });
  }

  for (const kind of ['max', 'margin'] as const) {
    it(`a threshold at one row's own score, or one float32-resolvable step either side, decides that row exactly like the staged runtime, at batch 1 and batch N: ${kind} score`, async () => {
      const x = randomInput([8, 3, 8, 8], 24);
      const probe = await cascadeWith([Infinity, Infinity], kind);
      created.push(probe);
      // Head 0's log-probabilities as the staged runtime scores them (its fused stage).
      const lp = (await probe.trace(x)).heads[0]!;
      const scores = Array.from({ length: 8 }, (_, i) => scoreRow(lp, i, 5, kind, 1).score);
      // The graphs compare a float32 score (log p_max; the margin) with a float32 comparison value, so a threshold of
      // exactly a row's score decides as scoreRow only where both round to one float32: for the margin always (a
      // float32 subtraction is the rounded exact difference), for max on a row whose float32 log p_max is
      // float32(log(1 − e^(−score))). There, exiting depends on the comparison being inclusive (≥, not >).
      const f32Score = (i: number): number => (kind === 'margin' ? Math.fround(scores[i]!) : Math.max(...lp.subarray(i * 5, i * 5 + 5)));
      const f32Value = (i: number): number => Math.fround(kind === 'margin' ? scores[i]! : Math.log(-Math.expm1(-scores[i]!)));
      const r = scores.findIndex((_, i) => f32Score(i) === f32Value(i));
      assert.ok(r >= 0, `the test needs a row whose float32 score equals the float32 comparison value of its own score: ${scores.join(' ')}`);
      const s = scores[r]!;
      assert.ok(s < LOG_ODDS_FROM, `the test needs a score below ${LOG_ODDS_FROM} (compared as log p_max, not as in-graph log-odds): ${s}`);
      // Steps of 1e-6 relative: float32 spacing is 2^-24 to 2^-23 relative, and the step moves the comparison value by
      // at least 7 float32 steps (log p by s·1e-6/(e^s − 1); the margin itself), clear of the score's own float32
      // rounding (under one step), where the next float64 (2^-52 relative) would be lost in it. So a comparison value
      // off by 1e-5 (relative or absolute), in either direction, flips one of these decisions.
      for (const [threshold, want] of [[s, 0], [s * (1 + 1e-6), null], [s * (1 - 1e-6), 0]] as const) {
        const c = await cascadeWith([threshold, Infinity], kind);
        const staged = await c.run(x, { staged: true });
        assert.equal(staged[r]!.exit, want, `staged, threshold ${threshold} vs score ${s}: exits where score ≥ threshold`);
        const one = await c.run({ dtype: 'float32', dims: [1, 3, 8, 8], data: (x.data as Float32Array).slice(r * 192, (r + 1) * 192) });
        assert.equal(one[0]!.exit, want, `batch 1 (If graph), row ${r}, threshold ${threshold} vs score ${s}`);
        const graph = await c.run(x);
        graph.forEach((row, i) => assert.equal(row.exit, staged[i]!.exit, `batch N (Compress graph), row ${i}, threshold ${threshold} vs score ${s}`));
        await c.release();
      }
    });
  }

  it('float32Below: the float32 just below, by hand', () => {
    assert.equal(float32Below(1), 1 - 2 ** -24);
    assert.equal(float32Below(-1), -(1 + 2 ** -23));
    assert.equal(float32Below(0), -(2 ** -149));
    assert.equal(float32Below(Infinity), 3.4028234663852886e38);
    assert.equal(float32Below(-Infinity), -Infinity);
    assert.ok(Number.isNaN(float32Below(Number.NaN)));
    // A float64 value first rounds to float32: 0.1 is float32 0.100000001490116…, and the one below it is 0.0999999940395355.
    assert.equal(float32Below(0.1), Math.fround(0.1) - 2 ** -27);
  });

  for (const opset of [9, 10, 11]) {
    it(`an opset-${opset} model: the single graphs build and decide exactly like the staged runtime (max and margin scores)`, async () => {
      const { segments, heads } = await partsAt(opset, 5);
      const x = randomInput([24, 3, 8, 8], 60 + opset);
      for (const kind of ['max', 'margin'] as const) {
        const probe = await Cascade.create({ segments, heads, exits: tensors.map((tensor) => ({ tensor, threshold: Infinity, temperature: 1 })), classes: 5, score: kind }, engine);
        created.push(probe);
        const trace = await probe.trace(x);
        // Between two rows' scores, away from float32 rounding of the threshold.
        const thresholds = trace.heads.map((lp) => {
          const sorted = Array.from({ length: 24 }, (_, i) => scoreRow(lp, i, 5, kind, 1).score).sort((p, q) => p - q);
          return (sorted[13]! + sorted[14]!) / 2;
        });
        const c = await Cascade.create({ segments, heads, exits: tensors.map((tensor, j) => ({ tensor, threshold: thresholds[j]!, temperature: 1 })), classes: 5, score: kind }, engine);
        created.push(c);
        const staged = await c.run(x, { staged: true });
        const graph = await c.run(x);
        const single = await Promise.all(Array.from({ length: 24 }, async (_, i) => (await c.run({ dtype: 'float32', dims: [1, 3, 8, 8], data: (x.data as Float32Array).slice(i * 192, (i + 1) * 192) }))[0]!));
        staged.forEach((r, i) => {
          assert.equal(graph[i]!.exit, r.exit, `${kind}, batch N, row ${i}`);
          assert.equal(single[i]!.exit, r.exit, `${kind}, batch 1, row ${i}`);
          assert.equal(single[i]!.classIndex, r.classIndex, `${kind}, batch 1, row ${i}`);
        });
        assert.ok(new Set(staged.map((r) => r.exit)).size >= 2, `${kind}: the test needs rows answered at different places`);
      }
    });
  }

  for (const opset of [9, 11, 17]) {
    it(`opset ${opset}: a score exactly at the threshold exits (score ≥ threshold, in float32), at batch 1 and batch N`, async () => {
      const { segments, heads } = await partsAt(opset, 6);
      const x = randomInput([8, 3, 8, 8], 90 + opset);
      const probe = await Cascade.create({ segments, heads, exits: tensors.map((tensor) => ({ tensor, threshold: Infinity, temperature: 1 })), classes: 5, score: 'margin' }, engine);
      created.push(probe);
      const lp = (await probe.trace(x)).heads[0]!;
      // The margin in-graph is a float32 subtraction of float32 log-probabilities: fround of the exact difference.
      const margins = Array.from({ length: 8 }, (_, r) => Math.fround(scoreRow(lp, r, 5, 'margin', 1).score));
      const r = margins.indexOf([...margins].sort((p, q) => p - q)[4]!);
      const c = await Cascade.create({ segments, heads, exits: tensors.map((tensor, j) => ({ tensor, threshold: j === 0 ? margins[r]! : Infinity, temperature: 1 })), classes: 5, score: 'margin' }, engine);
      created.push(c);
      const one = await c.run({ dtype: 'float32', dims: [1, 3, 8, 8], data: (x.data as Float32Array).slice(r * 192, (r + 1) * 192) });
      assert.equal(one[0]!.exit, 0, `row ${r}, margin ${margins[r]} = threshold: the batch-1 graph must exit`);
      if (opset >= 11) assert.equal((await c.run(x))[r]!.exit, 0, 'and so must the batch-N graph');
    });
  }

  // Opset 8: no OneHot for the in-graph log-odds, so batch 1 runs stage by stage when a threshold needs them.
  for (const opset of [8, 9, 11, 17]) {
    it(`opset ${opset}: near-certain rows exit only when their score reaches a high threshold (max and temperature, batch 1 and N)`, async () => {
      const { segments } = await partsAt(opset, 8);
      const spec = { pool: 2, hidden: 6, dropout: 0 };
      // A head whose last layer is scaled up: most rows near-certain, scores from a few to hundreds of log-odds,
      // where float32 log p_max is 0 and told every such row to exit, whatever the threshold.
      const params = initParams(spec, 16, 5, seededRng(12));
      const sharp = params.map((p, i) => (i >= params.length - 2 ? { ...p, data: p.data.map((v) => v * 60) } : p));
      const heads = tensors.map(() => buildHeadModel(spec, sharp, [4, 8, 8], 5, opset));
      const x = randomInput([64, 3, 8, 8], 70 + opset);
      const probe = await Cascade.create({ segments, heads, exits: tensors.map((tensor) => ({ tensor, threshold: Infinity, temperature: 1 })), classes: 5, score: 'max' }, engine);
      created.push(probe);
      const lp = (await probe.trace(x)).heads[0]!;
      for (const [kind, temperature] of [['max', 1], ['temperature', 1.5]] as const) {
        const scores = Array.from({ length: 64 }, (_, r) => scoreRow(lp, r, 5, kind, temperature).score);
        for (const threshold of [10, 17, 22]) {
          const fires = scores.map((v) => v >= threshold);
          assert.ok(fires.some((f) => f) && fires.some((f) => !f), `the test needs rows on both sides of ${threshold}: ${scores.map((v) => v.toFixed(1)).join(' ')}`);
          const c = await Cascade.create({ segments, heads, exits: tensors.map((tensor, j) => ({ tensor, threshold: j === 0 ? threshold : Infinity, temperature })), classes: 5, score: kind }, engine);
          created.push(c);
          const batchN = opset >= 11 ? await c.run(x) : null;
          for (let r = 0; r < 64; r++) {
            // Away from float32 rounding of the score and the threshold.
            if (Math.abs(scores[r]! - threshold) < 1e-3 * threshold) continue;
            const want = fires[r] ? 0 : null;
            const one = await c.run({ dtype: 'float32', dims: [1, 3, 8, 8], data: (x.data as Float32Array).slice(r * 192, (r + 1) * 192) });
            assert.equal(one[0]!.exit, want, `${kind}, threshold ${threshold}, row ${r} (score ${scores[r]}): batch 1`);
            if (batchN) assert.equal(batchN[r]!.exit, want, `${kind}, threshold ${threshold}, row ${r} (score ${scores[r]}): batch N`);
          }
          await c.release();
        }
      }
    });
  }

  it('batch N: when every row exits at the first exit, the rest of the network does not run and rows keep their order', async () => {
    const c = await cascadeWith([0, Infinity]);
    created.push(c);
    const x = randomInput([9, 3, 8, 8], 23);
    const rows = await c.run(x);
    const lp = await headLogProbs(0, x);
    rows.forEach((r, i) => {
      assert.equal(r.exit, 0);
      for (let k = 0; k < 5; k++) assert.ok(Math.abs(r.probs[k]! - Math.exp(lp[i * 5 + k]!)) < 1e-6);
    });
  });

  for (const opset of [9, 11, 17]) {
    it(`opset ${opset}: a threshold of +Infinity never fires, not even on a score of +Infinity (a margin over a class at −∞)`, async () => {
      const { segments } = await partsAt(opset, 7);
      const spec = { pool: 2, hidden: 6, dropout: 0 };
      const params = initParams(spec, 16, 5, seededRng(9));
      // The last bias at −∞ for every class but 0: log-probabilities [0, −∞, …], so the margin is +∞ on every row.
      const last = params.length - 1;
      const sure = params.map((p, i) => (i === last ? { ...p, data: p.data.map((_, k) => (k === 0 ? 0 : Number.NEGATIVE_INFINITY)) } : p));
      const heads = [buildHeadModel(spec, sure, [4, 8, 8], 5, opset), buildHeadModel(spec, sure, [4, 8, 8], 5, opset)];
      const c = await Cascade.create({ segments, heads, exits: tensors.map((tensor) => ({ tensor, threshold: Infinity, temperature: 1 })), classes: 5, score: 'margin' }, engine);
      created.push(c);
      const x = randomInput([3, 3, 8, 8], 41);
      assert.equal(scoreRow((await c.trace(x)).heads[0]!, 0, 5, 'margin', 1).score, Infinity, 'the test needs a score of +∞');
      const one = await c.run({ dtype: 'float32', dims: [1, 3, 8, 8], data: (x.data as Float32Array).slice(0, 192) });
      assert.equal(one[0]!.exit, null, 'batch 1');
      // Batch N: one graph from opset 11, stage by stage below; and the staged path at every opset.
      assert.deepEqual((await c.run(x)).map((r) => r.exit), [null, null, null], 'batch N');
      assert.deepEqual((await c.run(x, { staged: true })).map((r) => r.exit), [null, null, null], 'staged');
    });
  }

  for (const score of ['max', 'margin', 'temperature'] as const) {
    it(`scoreOf gives an answer's score in its exit's threshold units (${score}${score === 'temperature' ? ', T = 2' : ''}), as the guard records it`, async () => {
      const { segments, heads } = await partsAt(17, 3);
      const T = score === 'temperature' ? 2 : 1;
      // Threshold 0 at exit 0: every row answers there, with the head's log-probabilities as traced.
      const c = await Cascade.create({ segments, heads, exits: tensors.map((tensor, e) => ({ tensor, threshold: e === 0 ? 0 : Infinity, temperature: T })), classes: 5, score }, engine);
      created.push(c);
      const x = randomInput([6, 3, 8, 8], 43);
      const lp = (await c.trace(x)).heads[0]!;
      const rows = await c.run(x);
      rows.forEach((row, r) => {
        assert.equal(row.exit, 0);
        const want = scoreRow(lp, r, 5, score, T).score;
        assert.ok(Math.abs(c.scoreOf(row) - want) <= 1e-4 * Math.max(1, Math.abs(want)), `row ${r}: ${c.scoreOf(row)} vs ${want}`);
      });
    });
  }

  it('refuses input it would answer wrongly, naming the value: NaN, a wrong sample shape, data that does not fit its dims, another dtype; and thresholds that are NaN', async () => {
    const c = await cascadeWith([Infinity, Infinity]);
    created.push(c);
    const x = randomInput([2, 3, 8, 8], 5);
    (x.data as Float32Array)[200] = Number.NaN;
    await assert.rejects(c.run(x), { code: 'INPUT_INVALID', message: /input 'image' holds NaN at row 1 \(value 8\); inputs must be finite numbers/ });
    await assert.rejects(c.run(randomInput([2, 3, 8, 7], 5)), { code: 'DATA_SHAPE_MISMATCH', message: /has dims \[2, 3, 8, 7\], but the model takes \[batch, 3, 8, 8\]/ });
    await assert.rejects(c.run(randomInput([3, 8, 8], 5)), { code: 'DATA_SHAPE_MISMATCH' });
    await assert.rejects(c.run({ dtype: 'float32', dims: [2, 3, 8, 8], data: new Float32Array(192) }), { code: 'INPUT_INVALID', message: /\(384 values\), but its data is 192 values/ });
    await assert.rejects(c.run({ dtype: 'float64', dims: [1, 3, 8, 8], data: new Float64Array(192) }), { code: 'INPUT_INVALID', message: /is float64; give float32 values/ });
    await assert.rejects(cascadeWith([Number.NaN, 1]), { code: 'CONFIG_INVALID', message: /exit 0's threshold is NaN/ });
    assert.equal((await c.run(randomInput([2, 3, 8, 8], 5))).length, 2, 'a valid input still runs');
    // A caller that checked the values itself (the server, per request) skips only the scan for non-finite values.
    assert.equal((await c.run(x, { finiteChecked: true })).length, 2);
    await assert.rejects(c.run(randomInput([2, 3, 8, 7], 5), { finiteChecked: true }), { code: 'DATA_SHAPE_MISMATCH' });
  });

  it('a released cascade stays released: no path makes new sessions, and release again does nothing', async () => {
    const c = await cascadeWith([Infinity, Infinity]);
    await c.release();
    await c.release();
    await assert.rejects(c.run(randomInput([2, 3, 8, 8], 5), { staged: true }), { code: 'RELEASED', message: /was released/ });
    await assert.rejects(c.trace(randomInput([2, 3, 8, 8], 5)), { code: 'RELEASED', message: /was released/ });
    await assert.rejects(c.run(randomInput([1, 3, 8, 8], 5)), { code: 'RELEASED', message: /was released/ });
  });

  it('a head whose scores are NaN never answers, in every runtime (batch 1, batch N, staged)', async () => {
    const spec = { pool: 2, hidden: 6, dropout: 0 };
    const broken = initParams(spec, 16, 5, seededRng(9)).map((p, i) => (i === 0 ? { ...p, data: p.data.map(() => Number.NaN) } : p));
    const nanHead = buildHeadModel(spec, broken, [4, 8, 8], 5, 17);
    for (const kind of ['max', 'margin'] as const) {
      // Threshold 0 at the NaN head: any real score would exit there; exit 1 never fires.
      const exits: CascadeExit[] = tensors.map((tensor, i) => ({ tensor, threshold: i === 0 ? 0 : Infinity, temperature: 1 }));
      const c = await Cascade.create({ segments: parts.segments, heads: [nanHead, parts.heads[1]!], exits, classes: 5, score: kind }, engine);
      created.push(c);
      const x = randomInput([5, 3, 8, 8], 31);
      const logits = (await runModel(parts.model, { image: x })).logits!.data as Float32Array;
      const runs = [await c.run(x), await c.run(x, { staged: true }), (await Promise.all([0, 1, 2, 3, 4].map((i) => c.run({ dtype: 'float32', dims: [1, 3, 8, 8], data: (x.data as Float32Array).slice(i * 192, (i + 1) * 192) })))).flat()];
      for (const rows of runs) {
        rows.forEach((r, i) => {
          assert.equal(r.exit, null, `${kind}: row ${i} must not exit at a NaN head`);
          const row = Array.from(logits.subarray(i * 5, i * 5 + 5));
          assert.equal(r.classIndex, row.indexOf(Math.max(...row)));
        });
      }
    }
  });

  it('shrink: mixed exits come back in the original row order, each row as if run alone', async () => {
    const x = randomInput([16, 3, 8, 8], 5);
    const lp0 = await headLogProbs(0, x);
    const scores = Array.from({ length: 16 }, (_, i) => scoreRow(lp0, i, 5, 'max', 1).score).sort((a, b) => a - b);
    const median = (scores[7]! + scores[8]!) / 2;
    const c = await cascadeWith([median, 0]);
    created.push(c);
    const rows = await c.run(x);
    assert.ok(rows.some((r) => r.exit === 0) && rows.some((r) => r.exit === 1), 'both exits should fire');
    for (let i = 0; i < 16; i++) {
      const single = await c.run({ dtype: 'float32', dims: [1, 3, 8, 8], data: (x.data as Float32Array).slice(i * 192, (i + 1) * 192) });
      assert.equal(rows[i]!.exit, single[0]!.exit);
      assert.equal(rows[i]!.classIndex, single[0]!.classIndex);
      for (let k = 0; k < 5; k++) assert.ok(Math.abs(rows[i]!.probs[k]! - single[0]!.probs[k]!) < 1e-5);
      const expectedExit = scoreRow(lp0, i, 5, 'max', 1).score >= median ? 0 : 1;
      assert.equal(rows[i]!.exit, expectedExit);
    }
  });
});
