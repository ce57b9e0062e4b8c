/**
 * A report of a tiny bundle with one exit (forced: the builder keeps none on tiny models),
 * evaluated on random inputs, for the report's unit and browser tests.
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';
import { loadBundle } from '../../src/bundle/index.ts';
import { openDataSource } from '../../src/data/index.ts';
import { evaluateBundle } from '../../src/evaluate/index.ts';
import { saveModel } from '../../src/onnx/index.ts';
import { SILENT } from '../../src/progress/index.ts';
import { renderReport, type ReportInput } from '../../src/report/index.ts';
import { randomNormal, seededRng } from '../../src/tensor/index.ts';
import { cli } from './cli.ts';
import { saveWithForcedExit } from './forced-exit.ts';
import { residualNet } from './models.ts';
import { tempDir } from './temp-dir.ts';

export async function tinyReport(): Promise<{ html: string; dir: string; input: ReportInput }> {
  const dir = await tempDir('report');
  const model = path.join(dir, 'net.onnx');
  await saveModel(residualNet().model, model);
  const data = path.join(dir, 'samples.f32');
  await fs.writeFile(data, randomNormal(seededRng(9), 300 * 192));
  const b = await cli('build', model, '--data', `raw:${data}:3x8x8#0-199`, '--out', path.join(dir, 'built'), '--folds', '2', '--epochs', '2', '--tolerance', '0.2', '--threads', '1');
  if (b.code !== 0) throw new Error(b.stderr);
  await saveWithForcedExit(await loadBundle(path.join(dir, 'built')), 1, 2, path.join(dir, 'bundle'));
  const bundle = await loadBundle(path.join(dir, 'bundle'));
  const evaluation = await evaluateBundle(bundle, await openDataSource(`raw:${data}:3x8x8#200-299`, { scale: 1, mean: [0], std: [1], layout: 'nchw' }), {
    engine: { intraOpThreads: 1, graphOptimization: 'all' }, progress: SILENT, latencySamples: 50, paper: false,
  });
  const input: ReportInput = { manifest: bundle.manifest, evaluation, title: 'tiny <report>' };
  return { html: await renderReport(input), dir, input };
}
