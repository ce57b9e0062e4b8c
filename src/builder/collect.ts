/**
 * Feature collection: one backbone pass per sample through a probe model that returns,
 * for every candidate exit, its pooled features (pooling built into the graph) plus the
 * backbone's logits. Every head is trained from this one collection.
 * Invariants: memory is allocated once, up front, and its size is reported before any
 * work; rows are in data-source order.
 */
import { LayercacheError } from '../errors/index.ts';
import { Session, type EngineOptions } from '../engine/index.ts';
import type { DataSource } from '../data/index.ts';
import { poolFeatures, pooledDim } from '../heads/index.ts';
import { extendModel, serializeModel, type ModelProto } from '../onnx/index.ts';
import { unusableScoresRow } from '../tensor/index.ts';
import { withPhase, type Progress } from '../progress/index.ts';

export interface ExitInfo {
  /** Position among the candidate exits. */
  readonly index: number;
  readonly tensor: string;
  /** Per-sample dims of the exit tensor (no batch). */
  readonly dims: readonly number[];
  /** Cumulative MACs per sample up to this exit. */
  readonly cumulativeMacs: number;
}

export interface ExitFeatures {
  readonly exit: number;
  readonly pool: number;
  readonly dim: number;
  /** [count, dim] */
  readonly data: Float32Array;
}

export interface FeatureSet {
  /** Rows: the samples, then each augmented variant of them in the same order. */
  readonly count: number;
  /** Distinct samples; row r is a view of sample r % samples. */
  readonly samples: number;
  readonly classes: number;
  /** [count, classes] backbone logits. */
  readonly teacher: Float32Array;
  readonly features: readonly ExitFeatures[];
  readonly labels: Uint8Array | Int32Array | null;
}

export function featureKey(exit: number, pool: number): string {
  return `e${exit}_k${pool}`;
}

/** A probe model: outputs `${featureKey}` features for every exit and pool, then the teacher output. */
export function buildFeatureProbe(model: ModelProto, exits: readonly ExitInfo[], pools: readonly number[], teacherOutput: string): ModelProto {
  return extendModel(model, (g) => {
    for (const e of exits) {
      for (const k of pools) {
        const key = featureKey(e.index, k);
        const feat = poolFeatures(g, e.tensor, e.dims, k, `lc_${key}`);
        g.op('Identity', [feat], {}, key);
        g.output(key, 'float32', ['batch', pooledDim(e.dims, k)]);
      }
    }
    g.op('Identity', [teacherOutput], {}, 'lc_teacher');
    g.output('lc_teacher', 'float32', null);
  }, { outputs: 'replace' });
}

/** Bytes the collection will hold for `count` samples. */
export function collectionBytes(count: number, exits: readonly ExitInfo[], pools: readonly number[], classes: number): number {
  let perSample = classes;
  for (const e of exits) for (const k of pools) perSample += pooledDim(e.dims, k);
  return perSample * count * 4;
}

/**
 * Collects features for `sources[0]` (the samples) and every further source (augmented
 * variants of the same samples, same order), stacked as rows.
 */
export async function collectFeatures(
  model: ModelProto, exits: readonly ExitInfo[], pools: readonly number[], teacherOutput: string, classes: number,
  sources: readonly DataSource[], opts: { batchSize: number; engine: EngineOptions; progress: Progress },
): Promise<FeatureSet> {
  const samples = sources[0]!.count;
  const count = samples * sources.length;
  if (samples === 0) throw new LayercacheError('DATA_SPEC_INVALID', `data '${sources[0]!.description}' holds no samples; give a non-empty range`);
  const bytes = collectionBytes(count, exits, pools, classes);
  opts.progress.note(`collecting features of ${exits.length} exits × ${pools.length} pooling${pools.length > 1 ? 's' : ''} for ${samples} samples × ${sources.length} variant${sources.length > 1 ? 's' : ''}: ${(bytes / 2 ** 20).toFixed(1)} MiB of features, held through training (onnxruntime's sessions and the data come on top)`);
  const probe = buildFeatureProbe(model, exits, pools, teacherOutput);
  const session = await Session.create(serializeModel(probe), 'feature probe', opts.engine);
  const teacher = new Float32Array(count * classes);
  const features: ExitFeatures[] = [];
  for (const e of exits) for (const k of pools) {
    const dim = pooledDim(e.dims, k);
    features.push({ exit: e.index, pool: k, dim, data: new Float32Array(count * dim) });
  }
  const inputName = session.inputs[0]!.name;
  try {
    await withPhase(opts.progress, 'collect', count, async (phase) => {
      for (let s = 0; s < count; s += opts.batchSize) {
        const v = Math.floor(s / samples);
        const e = Math.min((v + 1) * samples, s + opts.batchSize);
        const out = await session.run({ [inputName]: sources[v]!.batch(s - v * samples, e - v * samples) });
        const t = out.lc_teacher!;
        if (t.dims.length !== 2 || t.dims[1] !== classes) {
          throw new LayercacheError('MODEL_UNSUPPORTED', `the backbone output '${teacherOutput}' has shape [${t.dims.join(', ')}], expected [batch, ${classes}]; layercache needs a classifier with one [batch, classes] output`);
        }
        const bad = unusableScoresRow(t.data as Float32Array, classes);
        if (bad >= 0) {
          throw new LayercacheError('MODEL_OUTPUT_INVALID', `the backbone's class scores for sample ${bad + s - v * samples} of '${sources[v]!.description}' are not finite numbers (NaN or infinity), so no head can learn from them; check the model on that input, and the preprocessing flags (--scale, --mean, --std)`);
        }
        teacher.set(t.data as Float32Array, s * classes);
        for (const f of features) f.data.set(out[featureKey(f.exit, f.pool)]!.data as Float32Array, s * f.dim);
        phase.tick(e - s);
      }
    });
  } finally {
    await session.release();
  }
  return { count, samples, classes, teacher, features, labels: sources[0]!.labels };
}
