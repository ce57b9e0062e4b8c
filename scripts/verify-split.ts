/**
 * Robustness check for graph surgery on arbitrary ONNX models:
 *   node --import tsx scripts/verify-split.ts MODEL.onnx [...] [--input-shape name=1x3x224x224]
 * For each model: analyse, cut at every cut point, run the chain and the uncut model on
 * the same random batch of 2, and print one JSON line with the exits, cut points and the
 * max |diff| of every output. Exit status 1 if any model fails.
 */
import { Session } from '../src/engine/index.ts';
import { analyzeModel, batchAxisOf } from '../src/inspect/index.ts';
import { loadModel, serializeModel } from '../src/onnx/index.ts';
import { extractSegments } from '../src/surgery/index.ts';
import { allocate, numel, seededRng, type Tensor } from '../src/tensor/index.ts';

const args = process.argv.slice(2);
const shapes: Record<string, number[]> = {};
const files: string[] = [];
for (let i = 0; i < args.length; i++) {
  if (args[i] === '--input-shape') {
    const [name, dims] = args[++i]!.split('=');
    shapes[name!] = dims!.split('x').map(Number);
  } else files.push(args[i]!);
}

async function run(bytes: Uint8Array, feeds: Record<string, Tensor>): Promise<Record<string, Tensor>> {
  const s = await Session.create(bytes, 'verify');
  try {
    return await s.run(feeds);
  } finally {
    await s.release();
  }
}

let failed = false;
for (const file of files) {
  const t0 = Date.now();
  try {
    const model = await loadModel(file);
    const a = await analyzeModel(model, { source: file, inputShapes: shapes });
    const rng = seededRng(42);
    const feeds: Record<string, Tensor> = {};
    for (const inp of a.inputs) {
      const dims = [...inp.dims];
      const axis = batchAxisOf(inp.shape);
      if (a.batchDim) dims[axis] = dims[axis]! * 2;
      const data = allocate(inp.dtype, numel(dims));
      if (inp.dtype === 'float32') for (let i = 0; i < data.length; i++) (data as Float32Array)[i] = rng.normal();
      feeds[inp.name] = { dtype: inp.dtype, dims, data } as Tensor;
    }
    const expected = await run(serializeModel(model), feeds);
    const segments = extractSegments(model, a.flow, a.flow.cuts, a.typeOf);
    let current: Record<string, Tensor> = feeds;
    for (const seg of segments) {
      current = await run(serializeModel(seg.model), Object.fromEntries(seg.inputs.map((n) => [n, current[n]!])));
    }
    const diffs: Record<string, number> = {};
    for (const [k, e] of Object.entries(expected)) {
      const g = current[k];
      let m = g && g.dims.join() === e.dims.join() ? 0 : Number.POSITIVE_INFINITY;
      if (g && m === 0) for (let i = 0; i < e.data.length; i++) m = Math.max(m, Math.abs(Number(e.data[i]) - Number(g.data[i])));
      diffs[k] = m;
    }
    const ok = Object.values(diffs).every((d) => d <= 1e-4);
    failed ||= !ok;
    console.log(JSON.stringify({ file, ok, exits: a.exits.length, cuts: a.flow.cuts.length, totalMacs: a.totalMacs, maxDiff: diffs, ms: Date.now() - t0, exitTensors: a.exits.map((e) => e.tensor) }));
  } catch (err) {
    failed = true;
    const e = err as Error & { code?: string };
    console.log(JSON.stringify({ file, ok: false, error: `${e.code ?? e.name}: ${e.message}`, ms: Date.now() - t0 }));
  }
}
process.exitCode = failed ? 1 : 0;
