/**
 * The test fixtures answer random inputs with varied classes. A fixture that gives every input one class lets a
 * head that answers a constant agree with the backbone perfectly, and every agreement test on it passes for nothing.
 */
import assert from 'node:assert/strict';
import { describe, it } from 'node:test';
import type { ModelProto } from '../../src/onnx/index.ts';
import { randomInput, runModel } from './chain.ts';
import { heavyTail, mlp, residualNet } from './models.ts';

/** Rows per class of the model's argmax on 400 seeded N(0, 1) inputs of `dims` (without the batch axis). */
async function classCounts(model: ModelProto, dims: number[]): Promise<number[]> {
  const rows = 400;
  const input = model.graph!.input[0]!.name;
  const out = Object.values(await runModel(model, { [input]: randomInput([rows, ...dims], 11) }))[0]!;
  const k = out.dims[1]!;
  const z = out.data as Float32Array;
  const counts = new Array<number>(k).fill(0);
  for (let r = 0; r < rows; r++) {
    const row = Array.from(z.subarray(r * k, (r + 1) * k));
    counts[row.indexOf(Math.max(...row))]! += 1;
  }
  return counts;
}

describe('test fixtures', () => {
  for (const [name, model, dims, least] of [
    ['mlp', mlp().model, [6], 4],
    ['residualNet', residualNet().model, [3, 8, 8], 4],
    ['heavyTail', heavyTail().model, [8], 4],
  ] as const) {
    it(`${name} answers N(0, 1) inputs with at least ${least} classes, none with over 60% of them`, async () => {
      const counts = await classCounts(model, [...dims]);
      const total = counts.reduce((a, b) => a + b, 0);
      assert.ok(counts.filter((c) => c >= 0.03 * total).length >= least, `classes per row: ${counts.join(', ')}`);
      assert.ok(Math.max(...counts) <= 0.6 * total, `classes per row: ${counts.join(', ')}`);
    });
  }
});
