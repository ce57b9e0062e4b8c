/**
 * The tiny residual network of models.ts saved as DIR/tiny.onnx, and a bundle built from it on 100 seeded random
 * [3, 8, 8] samples (2 folds, 1 epoch, tolerance 0.2) at DIR/built: the starting point of tests that force exits
 * onto it (forced-exit.ts).
 */
import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { saveModel } from '../../src/onnx/index.ts';
import { randomNormal, seededRng } from '../../src/tensor/index.ts';
import { cli } from './cli.ts';
import { residualNet } from './models.ts';

export async function buildTinyBundle(dir: string): Promise<{ model: string; built: string }> {
  const model = path.join(dir, 'tiny.onnx');
  await saveModel(residualNet().model, model);
  const data = path.join(dir, 'samples.f32');
  await fs.writeFile(data, randomNormal(seededRng(3), 100 * 3 * 8 * 8));
  const built = path.join(dir, 'built');
  const r = await cli('build', model, '--data', `raw:${data}:3x8x8#0-99`, '--out', built, '--folds', '2', '--epochs', '1', '--tolerance', '0.2', '--threads', '1');
  assert.equal(r.code, 0, r.stderr);
  return { model, built };
}
