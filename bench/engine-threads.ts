/**
 * Micro-benchmark: onnxruntime thread settings for a single backbone session and for a
 * chain of sessions (the cascade's shape), at batch 1 and 64, on ResNet-56.
 *   node --import tsx bench/engine-threads.ts [MODEL.onnx]
 * Prints median ms per run for each setting, measured interleaved in one process.
 */
import path from 'node:path';
import { Session } from '../src/engine/index.ts';
import { analyzeModel } from '../src/inspect/index.ts';
import { loadModel, serializeModel } from '../src/onnx/index.ts';
import { extractSegments } from '../src/surgery/index.ts';
import { randomNormal, seededRng, type Tensor } from '../src/tensor/index.ts';

const file = process.argv[2] ?? path.resolve(import.meta.dirname, '../../shared/assets/cifar10_resnet56.onnx');
const model = await loadModel(file);
const a = await analyzeModel(model);
const cuts = [7, 14, 21].map((i) => a.exits[i]!.tensor);
const segments = extractSegments(model, a.flow, cuts, a.typeOf).map((s) => serializeModel(s.model));
const full = serializeModel(model);

async function chainTime(sessions: Session[], x: Tensor, reps: number): Promise<number> {
  const times: number[] = [];
  for (let r = 0; r < reps + 3; r++) {
    const t = performance.now();
    let cur = x;
    for (const s of sessions) cur = Object.values(await s.run({ [s.inputs[0]!.name]: cur }))[0]!;
    if (r >= 3) times.push(performance.now() - t);
  }
  times.sort((p, q) => p - q);
  return times[Math.floor(times.length / 2)]!;
}

const rows: string[] = [];
for (const batch of [1, 64]) {
  const x: Tensor = { dtype: 'float32', dims: [batch, 3, 32, 32], data: randomNormal(seededRng(1), batch * 3072) };
  for (const threads of [1, 2]) {
    for (const spinning of [true, false]) {
      const engine = { intraOpThreads: threads, graphOptimization: 'all' as const, spinning };
      const one = [await Session.create(full, 'backbone', engine)];
      const chain = await Promise.all(segments.map((b, i) => Session.create(b, `segment ${i}`, engine)));
      const reps = batch === 1 ? 300 : 20;
      const tOne = await chainTime(one, x, reps);
      const tChain = await chainTime(chain, x, reps);
      rows.push(`| ${batch} | ${threads} | ${spinning ? 'on' : 'off'} | ${tOne.toFixed(3)} | ${tChain.toFixed(3)} |`);
      await Promise.all([...one, ...chain].map((s) => s.release()));
    }
  }
}
console.log(`model ${path.basename(file)}, chain = ${segments.length} sessions\n`);
console.log('| batch | threads | spinning | backbone ms (1 session) | chain ms (4 sessions) |\n|---:|---:|---|---:|---:|');
console.log(rows.join('\n'));
