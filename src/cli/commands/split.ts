/** `layercache split`: cut a model into segments at named tensors. */
import type { Config } from '../../config/index.ts';
import { analyzeModel } from '../../inspect/index.ts';
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
  const { model, bytes } = await loadModelFile(file);
  const a = await analyzeModel(model, { source: file, engine: config.engine, ...(opts.inputShape ? { inputShapes: opts.inputShape } : {}) });
  const cuts = orderCuts(a.flow, opts.at);
  const segments = extractSegments(model, a.flow, cuts, a.typeOf);
  const index = await writeSegments(opts.out, segments, { path: file, bytes }, { overwrite: opts.force });
  if (opts.json) {
    io.out(`${JSON.stringify({ out: opts.out, ...index }, null, 2)}\n`);
    return;
  }
  for (const s of index.segments) {
    const ins = s.inputs.map((t) => `${t.name}${formatShape(t.shape)}`).join(', ');
    const outs = s.outputs.map((t) => `${t.name}${formatShape(t.shape)}`).join(', ');
    io.out(`${s.file}  ${ins} -> ${outs}\n`);
  }
  io.out(`wrote ${index.segments.length} segments and segments.json to ${opts.out}\n`);
}
