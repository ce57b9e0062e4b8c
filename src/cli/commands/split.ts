/** `layercache split`: cut a model into segments at named tensors. */
import type { Config } from '../../config/index.ts';
import { analyzeModel, batchIsFirst, fixSampleDims } from '../../inspect/index.ts';
import { loadModelFile } from '../../onnx/index.ts';
import { extractSegments, orderCuts, writeSegments } from '../../surgery/index.ts';
import { formatShape } from '../format.ts';
import type { CliIo } from '../io.ts';

export interface SplitOptions {
  readonly at: string[];
  readonly out: string;
  readonly force: boolean;
  readonly json: boolean;
  readonly inputShape?: Record<string, number[]>;
}

export async function runSplit(file: string, opts: SplitOptions, config: Config, io: CliIo): Promise<void> {
  const { model: given, bytes } = await loadModelFile(file);
  const analyze = { source: file, engine: config.engine, ...(opts.inputShape ? { inputShapes: opts.inputShape } : {}) };
  let model = given;
  let a = await analyzeModel(given, analyze);
  // The cut tensors' shapes come from the probe run at --input-shape: a first segment left open to other sizes
  // would feed the next ones what they do not take, so every segment is for that size.
  const [input] = a.inputs;
  let sized: string | null = null;
  // A batch on another axis ([seq, batch, 8], [1, batch, 8]) is left as it was: fixSampleDims keeps a leading batch.
  if (a.inputs.length === 1 && input && batchIsFirst(input.shape) && input.shape.some((d, i) => i > 0 && typeof d === 'string')) {
    model = fixSampleDims(given, input.dims.slice(1));
    a = await analyzeModel(model, analyze);
    sized = `input '${input.name}' [${input.shape.join(', ')}] leaves its size open; the segments are cut for [${input.dims.slice(1).join(', ')}] per sample, the --input-shape size`;
  }
  const cuts = orderCuts(a.flow, opts.at);
  const segments = extractSegments(model, a.flow, cuts, a.typeOf);
  const index = await writeSegments(opts.out, segments, { path: file, bytes }, { overwrite: opts.force });
  if (opts.json) {
    io.out(`${JSON.stringify({ out: opts.out, ...index }, null, 2)}\n`);
    return;
  }
  if (sized) io.out(`note: ${sized}\n`);
  for (const caution of a.cautions) io.out(`note: ${caution}\n`);
  for (const s of index.segments) {
    const ins = s.inputs.map((t) => `${t.name}${formatShape(t.shape)}`).join(', ');
    const outs = s.outputs.map((t) => `${t.name}${formatShape(t.shape)}`).join(', ');
    io.out(`${s.file}  ${ins} -> ${outs}\n`);
  }
  io.out(`wrote ${index.segments.length} segments and segments.json to ${opts.out}\n`);
}
