/**
 * A bundle with an exit the builder would not keep: candidate `c` of `bundle` kept with a
 * given threshold. For tests of the runtime and the server's accuracy guard on tiny
 * models, where no exit pays off and the builder keeps none.
 */
import { saveBundle, type LoadedBundle } from '../../src/bundle/index.ts';
import { analyzeModel, readBackbone } from '../../src/inspect/index.ts';
import { extractSegments } from '../../src/surgery/index.ts';
import type { ModelProto } from '../../src/onnx/index.ts';

/** head: the exit's head model instead of the candidate's trained one (same input tensor and class count). */
export async function saveWithForcedExit(bundle: LoadedBundle, c: number, threshold: number, dir: string, head?: ModelProto): Promise<void> {
  const m = bundle.manifest;
  const cand = m.candidates[c]!;
  // Cut from the backbone as the build read it, as the bundle's own segments were.
  const { model } = readBackbone(bundle);
  const a = await analyzeModel(model, { source: 'backbone', engine: { intraOpThreads: 1, graphOptimization: 'all' } });
  const segments = extractSegments(model, a.flow, [cand.tensor], a.typeOf).map((s) => s.model);
  await saveBundle(dir, {
    ...m,
    exits: [{ ...cand, threshold, expectedHitRate: 1 }],
    segments: [{ file: 'x', sha256: '0'.repeat(64), macs: cand.cumulativeMacs }, { file: 'x', sha256: '0'.repeat(64), macs: m.source.totalMacs - cand.cumulativeMacs }],
  }, { backbone: bundle.backbone, segments, heads: [head ?? bundle.candidateHeads[c]!], candidateHeads: bundle.candidateHeads });
}
