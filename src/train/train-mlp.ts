/**
 * Trains a deep MLP classifier on labelled data in onnxruntime (the demo's backbone):
 * minibatch AdamW with cosine decay, one training-step session call per batch, optional
 * label-preserving augmentation of each batch. Seeded: the same seed and data give the
 * same model.
 */
import { Session, type EngineOptions } from '../engine/index.ts';
import { LayercacheError } from '../errors/index.ts';
import { serializeModel, type ModelProto } from '../onnx/index.ts';
import { withPhase, type Progress } from '../progress/index.ts';
import { seededRng, shuffleInPlace, type Rng, type Tensor } from '../tensor/index.ts';
import { buildMlpModel, buildMlpTrainStep, initMlpParams, mlpMacs, mlpParamShapes, type MlpSpec } from './mlp-graph.ts';

export interface MlpTrainSettings {
  readonly epochs: number;
  readonly batchSize: number;
  readonly learningRate: number;
  readonly weightDecay: number;
  readonly seed: number;
}

export interface MlpTrainResult {
  readonly model: ModelProto;
  readonly params: Float32Array[];
  readonly seconds: number;
  readonly gflops: number;
  /** Mean training loss of the last epoch. */
  readonly finalLoss: number;
}

/**
 * x: [n, inputDim] inputs; labels: [n] class indices. `augment` may rewrite a batch
 * [B, inputDim] in place (it must keep each row's class).
 */
export async function trainMlp(
  spec: MlpSpec, x: Float32Array, labels: ArrayLike<number>, settings: MlpTrainSettings,
  opts: { engine: EngineOptions; progress: Progress; augment?: (batch: Float32Array, rows: number, rng: Rng) => void },
): Promise<MlpTrainResult> {
  const n = labels.length;
  const D = spec.inputDim;
  const K = spec.classes;
  if (x.length !== n * D) throw new LayercacheError('DATA_SHAPE_MISMATCH', `training inputs hold ${x.length} values, expected ${n} × ${D}`);
  for (let i = 0; i < n; i++) {
    const c = labels[i]!;
    if (!Number.isInteger(c) || c < 0 || c >= K) throw new LayercacheError('DATA_SPEC_INVALID', `label ${c} of sample ${i} is not a class index in 0..${K - 1}`);
  }
  const rng = seededRng(settings.seed);
  const shapes = mlpParamShapes(spec);
  let params: Float32Array[] = initMlpParams(spec, rng);
  let m: Float32Array[] = params.map((p) => new Float32Array(p.length));
  let v: Float32Array[] = params.map((p) => new Float32Array(p.length));
  const session = await Session.create(serializeModel(buildMlpTrainStep(spec, { beta1: 0.9, beta2: 0.999, eps: 1e-8 })), 'MLP training step', opts.engine);
  const B = Math.min(settings.batchSize, n);
  const steps = Math.floor(n / B);
  const total = steps * settings.epochs;
  const xb = new Float32Array(B * D);
  const yb = new Float32Array(B * K);
  const order = Int32Array.from({ length: n }, (_, i) => i);
  let t = 0;
  let lossSum = 0;
  const started = performance.now();
  try {
    await withPhase(opts.progress, 'train backbone', total, async (phase) => {
      for (let epoch = 0; epoch < settings.epochs; epoch++) {
        shuffleInPlace(rng, order);
        lossSum = 0;
        for (let s = 0; s < steps; s++) {
          t++;
          yb.fill(0);
          for (let r = 0; r < B; r++) {
            const src = order[s * B + r]!;
            xb.set(x.subarray(src * D, (src + 1) * D), r * D);
            yb[r * K + labels[src]!] = 1;
          }
          opts.augment?.(xb, B, rng);
          const lr = settings.learningRate * 0.5 * (1 + Math.cos((Math.PI * (t - 1)) / total));
          const step = (lr * Math.sqrt(1 - 0.999 ** t)) / (1 - 0.9 ** t);
          const feeds: Record<string, Tensor> = {
            x: { dtype: 'float32', dims: [B, D], data: xb },
            y: { dtype: 'float32', dims: [B, K], data: yb },
            step: { dtype: 'float32', dims: [1], data: new Float32Array([step]) },
            decay: { dtype: 'float32', dims: [1], data: new Float32Array([lr * settings.weightDecay]) },
          };
          shapes.forEach((p, k) => {
            feeds[p.name] = { dtype: 'float32', dims: p.dims, data: params[k]! };
            feeds[`${p.name}_m`] = { dtype: 'float32', dims: p.dims, data: m[k]! };
            feeds[`${p.name}_v`] = { dtype: 'float32', dims: p.dims, data: v[k]! };
          });
          const out = await session.run(feeds);
          lossSum += Number(out.loss!.data[0]);
          params = shapes.map((p) => out[`${p.name}_p_out`]!.data as Float32Array);
          m = shapes.map((p) => out[`${p.name}_m_out`]!.data as Float32Array);
          v = shapes.map((p) => out[`${p.name}_v_out`]!.data as Float32Array);
          phase.tick(1, `epoch ${epoch + 1}/${settings.epochs}`);
        }
      }
    });
  } finally {
    await session.release();
  }
  const seconds = (performance.now() - started) / 1000;
  return { model: buildMlpModel(spec, params), params, seconds, gflops: (3 * 2 * mlpMacs(spec) * B * total) / seconds / 1e9, finalLoss: lossSum / Math.max(1, steps) };
}
