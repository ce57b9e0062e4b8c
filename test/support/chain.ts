/** Test helpers: run a model, or a chain of segments, on plain tensors with onnxruntime. */
import { Session } from '../../src/engine/index.ts';
import { serializeModel, type ModelProto } from '../../src/onnx/index.ts';
import type { Segment } from '../../src/surgery/index.ts';
import { randomNormal, seededRng, tensor, type Tensor } from '../../src/tensor/index.ts';

export async function runModel(model: ModelProto, feeds: Record<string, Tensor>): Promise<Record<string, Tensor>> {
  const s = await Session.create(serializeModel(model), 'test model');
  try {
    return await s.run(feeds);
  } finally {
    await s.release();
  }
}

/** Runs segments in order, feeding each segment's outputs to the next; returns the last outputs. */
export async function runChain(segments: readonly Segment[], feeds: Record<string, Tensor>): Promise<Record<string, Tensor>> {
  let current = feeds;
  for (const seg of segments) {
    const s = await Session.create(serializeModel(seg.model), `segment ${seg.index}`);
    try {
      const inputs = Object.fromEntries(seg.inputs.map((n) => [n, current[n]!]));
      current = await s.run(inputs);
    } finally {
      await s.release();
    }
  }
  return current;
}

export function randomInput(dims: number[], seed = 7): Tensor<'float32'> {
  return tensor('float32', dims, randomNormal(seededRng(seed), dims.reduce((a, b) => a * b, 1)));
}

export function maxAbsDiff(a: Tensor, b: Tensor): number {
  if (a.dims.join() !== b.dims.join()) return Number.POSITIVE_INFINITY;
  let m = 0;
  const x = a.data as Float32Array;
  const y = b.data as Float32Array;
  for (let i = 0; i < x.length; i++) m = Math.max(m, Math.abs(x[i]! - y[i]!));
  return m;
}
