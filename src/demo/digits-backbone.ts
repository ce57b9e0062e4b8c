/**
 * The demo's backbone: a deep MLP on the `mnist` package's digits, trained by layercache's
 * own ONNX-graph trainer on the first 6,000 digits, and cached next to the demo's output.
 * A cached backbone is reused only when its recipe (architecture, settings, data range)
 * is the current one; otherwise it is retrained (about 20–40 s on two cores).
 * Architecture: 784 → 64 → 256 ×6 → 10. The narrow first layer makes the early layers
 * cheap, so there is depth to skip: 7 hidden layers, most MACs in the last six.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import type { DataSource } from '../data/index.ts';
import { MNIST_SIDE } from '../data/index.ts';
import type { EngineOptions } from '../engine/index.ts';
import { writeFileAtomic } from '../files/index.ts';
import { parseModel, serializeModel, type ModelProto } from '../onnx/index.ts';
import type { Progress } from '../progress/index.ts';
import type { Rng } from '../tensor/index.ts';
import { trainMlp, type MlpSpec, type MlpTrainSettings } from '../train/index.ts';

export const DIGITS_BACKBONE: MlpSpec = Object.freeze({ inputDim: MNIST_SIDE * MNIST_SIDE, hidden: [64, 256, 256, 256, 256, 256, 256], classes: 10 });
export const DIGITS_TRAINING: MlpTrainSettings = Object.freeze({ epochs: 30, batchSize: 128, learningRate: 0.002, weightDecay: 1e-4, seed: 1 });

/** Shifts each 28×28 digit of a batch [rows, 784] by up to 2 pixels in x and y (label-preserving). */
export function shiftDigits(batch: Float32Array, rows: number, rng: Rng): void {
  const S = MNIST_SIDE;
  const tmp = new Float32Array(S * S);
  for (let r = 0; r < rows; r++) {
    const dx = Math.floor(rng.uniform() * 5) - 2;
    const dy = Math.floor(rng.uniform() * 5) - 2;
    const row = batch.subarray(r * S * S, (r + 1) * S * S);
    tmp.fill(0);
    for (let y = 0; y < S; y++) {
      const sy = y - dy;
      if (sy < 0 || sy >= S) continue;
      for (let x = 0; x < S; x++) {
        const sx = x - dx;
        if (sx >= 0 && sx < S) tmp[y * S + x] = row[sy * S + sx]!;
      }
    }
    row.set(tmp);
  }
}

export interface DigitsBackbone {
  readonly file: string;
  readonly bytes: Uint8Array;
  readonly model: ModelProto;
  /** Seconds spent training now, or null when the cached backbone was reused. */
  readonly trainedSeconds: number | null;
}

/** The file beside the cached backbone that records how it was trained; it also marks a demo's directory. */
export const DIGITS_RECIPE_FILE = 'backbone.json';

/** Loads the cached backbone from `dir`, or trains it on `train` and caches it there. */
export async function digitsBackbone(dir: string, train: DataSource, engine: EngineOptions, progress: Progress): Promise<DigitsBackbone> {
  const file = path.join(dir, 'backbone.onnx');
  const recipeFile = path.join(dir, DIGITS_RECIPE_FILE);
  const recipe = JSON.stringify({ spec: DIGITS_BACKBONE, training: DIGITS_TRAINING, data: train.description, augment: 'shift2' });
  const cachedRecipe = await fs.readFile(recipeFile, 'utf8').catch(() => null);
  if (cachedRecipe === recipe) {
    const bytes = await fs.readFile(file).then((b) => new Uint8Array(b)).catch(() => null);
    if (bytes) {
      try {
        return { file, bytes, model: parseModel(bytes, file), trainedSeconds: null };
      } catch {
        progress.note(`the cached backbone ${file} is corrupted; training it again`);
      }
    }
  }
  const labels = train.labels!;
  const result = await trainMlp(DIGITS_BACKBONE, train.batch(0, train.count).data, labels, DIGITS_TRAINING, { engine, progress, augment: shiftDigits });
  const bytes = serializeModel(result.model);
  await fs.mkdir(dir, { recursive: true });
  await writeFileAtomic(file, bytes);
  await writeFileAtomic(recipeFile, recipe);
  return { file, bytes, model: result.model, trainedSeconds: result.seconds };
}
