/** `layercache build`: collect, measure, train and select, then save a bundle atomically. */
import Table from 'cli-table3';
import { buildCascade, checkLatencyProfileFile, whyNoExit, withLatencyProfileFile } from '../../builder/index.ts';
import { BUNDLE_OUTPUT, saveBundle } from '../../bundle/index.ts';
import { thresholdCondition } from '../../calibrate/index.ts';
import type { Config } from '../../config/index.ts';
import { imageSizeOf, isImageSpec, openDataSource, type ImageSize } from '../../data/index.ts';
import { LayercacheError } from '../../errors/index.ts';
import { checkOutputDir, isWithin, realPath } from '../../files/index.ts';
import { loadModelFile, readValueInfo } from '../../onnx/index.ts';
import { savedOrMore } from '../../tensor/index.ts';
import { formatCount, formatPercent, formatProbability, plural } from '../format.ts';
import type { CliIo } from '../io.ts';
import { terminalProgress } from '../progress-bars.ts';

export interface BuildCommandOptions {
  readonly data: string;
  readonly out: string;
  readonly force: boolean;
  readonly json: boolean;
  /** [height, width] images are resized to when the model leaves its input size open (`--image-size`). */
  readonly imageSize?: readonly [number, number];
}

export async function runBuild(file: string, opts: BuildCommandOptions, config: Config, io: CliIo): Promise<void> {
  const started = performance.now();
  const profile = config.build.latencyProfile;
  if (profile !== null && isWithin(await realPath(profile), await realPath(opts.out))) {
    throw new LayercacheError('USAGE', `--latency-profile ${profile} lies inside --out ${opts.out}, which the bundle replaces; keep the profile outside it, e.g. --latency-profile latency-profile.json`);
  }
  // Refuse an occupied --out, or a --latency-profile that cannot serve, before minutes of work, not after.
  await checkOutputDir(opts.out, opts.force, BUNDLE_OUTPUT);
  if (profile !== null) await checkLatencyProfileFile(profile);
  const progress = terminalProgress(io, config);
  const { model, bytes: modelBytes } = await loadModelFile(file);
  const declared = model.graph!.input.find((v) => !model.graph!.initializer.some((t) => t.name === v.name));
  const data = await openDataSource(opts.data, config.preprocess, imageSizeFor(declared ? readValueInfo(declared)?.shape : undefined, config.preprocess.layout, opts.imageSize), progress);
  // Tensors (npy:, raw:, mnist:) are fed as they are, so the bundle records no image preprocessing
  // (null): eval and serve's classify route then refuse images instead of feeding raw pixels.
  const preprocess = isImageSpec(opts.data) ? config.preprocess : null;
  const result = await withLatencyProfileFile(config.build.latencyProfile, progress,
    (latencyProfile) => buildCascade({ modelFile: file, modelBytes, model, data, preprocess, layout: config.preprocess.layout, latencyProfile }, config.build, config.engine, progress));
  const saved = await saveBundle(opts.out, result.manifest, { backbone: modelBytes, segments: result.segments, heads: result.heads, candidateHeads: result.candidateHeads }, { overwrite: opts.force });
  const seconds = (performance.now() - started) / 1000;
  const r = result.report;
  if (opts.json) {
    io.out(`${JSON.stringify({ bundle: opts.out, seconds, report: r, exits: saved.exits }, null, 2)}\n`);
    return;
  }
  const t = new Table({ head: ['', 'agreement', 'latency ms/sample', 'MACs/sample', 'MACs vs backbone'], style: { head: [], border: [] } });
  const row = (name: string, agreement: number | null, ms: number, macs: number) =>
    t.push([name, agreement === null ? '—' : formatPercent(agreement), ms.toFixed(3), formatCount(macs), savedOrMore(1 - macs / r.backbone.macsPerSample)]);
  row('backbone', 1, r.backbone.latencyMs, r.backbone.macsPerSample);
  row(`selected (${plural(r.selected.exits.length, 'exit')})`, r.selected.agreement, r.selected.latencyMs, r.selected.macsPerSample);
  row(`paper rule (p ≥ ${formatProbability(r.paperRule.threshold)})`, r.paperRule.agreement, r.paperRule.latencyMs, r.paperRule.macsPerSample);
  row('oracle bound', null, r.oracle.latencyMs, r.oracle.macsPerSample);
  const est = r.selected.estimatedAgreement;
  io.out(`calibration estimates on ${r.samples} out-of-fold samples (latency at batch ${r.latencyBatch})${est === null ? '' : `; expected agreement of the selection on new inputs (cross-validated): ${formatPercent(est)}`}:\n${t.toString()}\n`);
  // Exits are numbered as eval and serve number them (their order in the bundle); candidates as inspect lists them.
  const ex = new Table({ head: ['exit', 'candidate', 'tensor', 'head', 'answers when', 'hit rate'], style: { head: [], border: [] } });
  for (const [i, e] of saved.exits.entries()) {
    ex.push([`#${i}`, e.candidate, e.tensor, `${e.head.spec.hidden > 0 ? `mlp${e.head.spec.hidden}` : 'linear'}@${e.head.spec.pool}x${e.head.spec.pool}`, thresholdCondition(saved.score.kind, e.threshold), formatPercent(e.expectedHitRate)]);
  }
  if (saved.exits.length > 0) io.out(`${ex.toString()}\n`);
  else io.out(`${whyNoExit(r)}; the bundle runs the full backbone.\n`);
  io.out(`head training: ${r.train.seconds.toFixed(1)} s at ${r.train.gflops.toFixed(1)} GFLOP/s\n`);
  io.out(`wrote ${opts.out} in ${seconds.toFixed(1)} s\n`);
}

/**
 * The size images are resized to: the model's input size, or `--image-size` where the model leaves height and
 * width open (the build then fixes them at it). A size the model fixes otherwise is refused.
 */
function imageSizeFor(shape: readonly (number | string)[] | null | undefined, layout: 'nchw' | 'nhwc', asked: readonly [number, number] | undefined): ImageSize | undefined {
  const fixed = imageSizeOf(shape, layout);
  if (!asked) return fixed;
  if (fixed) {
    if (fixed.height !== asked[0] || fixed.width !== asked[1]) {
      throw new LayercacheError('USAGE', `--image-size ${asked.join('x')} differs from the model's input size ${fixed.height}x${fixed.width}; leave it out (the model fixes the size)`);
    }
    return fixed;
  }
  const c = shape?.length === 4 ? (layout === 'nchw' ? shape[1] : shape[3]) : undefined;
  if (typeof c !== 'number') {
    throw new LayercacheError('USAGE', `--image-size needs a model input of 4 dims with its channels fixed (${layout}); this one is [${(shape ?? ['?']).join(', ')}]`);
  }
  return { channels: c, height: asked[0], width: asked[1] };
}
