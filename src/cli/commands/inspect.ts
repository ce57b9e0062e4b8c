/** `layercache inspect`: list the candidate exits of a model. */
import Table from 'cli-table3';
import type { Config } from '../../config/index.ts';
import { LayercacheError } from '../../errors/index.ts';
import { analyzeAsRead, analyzeModel, describeReading, readingOf, type ModelAnalysis } from '../../inspect/index.ts';
import { loadModel } from '../../onnx/index.ts';
import { formatBytes, formatCount, formatPercent, formatShape } from '../format.ts';
import type { CliIo } from '../io.ts';

export interface InspectOptions {
  readonly all: boolean;
  readonly json: boolean;
  readonly inputShape?: Record<string, number[]>;
}

/** The `inspect --json` contract. */
export function inspectJson(file: string, a: ModelAnalysis, all: boolean, refusal: string | null = null): object {
  return {
    model: file,
    inputs: a.inputs.map((t) => ({ name: t.name, shape: t.shape })),
    outputs: a.outputs.map((t) => ({ name: t.name, shape: t.shape })),
    reading: readingOf(a),
    cautions: a.cautions,
    refusal,
    totalMacs: a.totalMacs,
    exits: (all ? a.candidates : a.exits).map((e) => ({
      index: e.index, tensor: e.tensor, shape: e.shape, cumulativeMacs: e.cumulativeMacs, fraction: e.fraction,
      activationElements: e.activationElements, activationBytes: e.activationBytes,
    })),
  };
}

export async function runInspect(file: string, opts: InspectOptions, config: Config, io: CliIo): Promise<void> {
  const model = await loadModel(file);
  const analyze = { source: file, engine: config.engine, ...(opts.inputShape ? { inputShapes: opts.inputShape } : {}) };
  const a = await analyzeModel(model, analyze);
  const refusal = await batchRefusal(model, a, analyze);
  if (opts.json) {
    io.out(`${JSON.stringify(inspectJson(file, a, opts.all, refusal), null, 2)}\n`);
    return;
  }
  const exits = opts.all ? a.candidates : a.exits;
  io.out(`model       ${file}\n`);
  io.out(`inputs      ${a.inputs.map((t) => `${t.name} ${t.dtype}${formatShape(t.shape)}`).join(', ')}\n`);
  io.out(`outputs     ${a.outputs.map((t) => `${t.name} ${t.dtype}${formatShape(t.shape)}`).join(', ')}\n`);
  for (const line of describeReading(readingOf(a), model, a.cautions)) io.out(`reading     ${line}\n`);
  if (refusal !== null) io.out(`refused     build and serve refuse this model: ${refusal}\n`);
  io.out(`total MACs  ${formatCount(a.totalMacs)} per sample\n`);
  // build and serve refuse such a model (refuseSeveralInputs); inspect says why before listing anything.
  const several = a.inputs.length > 1
    ? `This model has ${a.inputs.length} inputs; layercache builds and serves single-input classifiers: export it with its other inputs fixed as constants.`
    : null;
  if (exits.length === 0) {
    const why = several === null
      ? 'no single tensor carries all of the data from the inputs to the outputs (for example, parallel branches run side by side to the end). This model cannot be split.'
      : `no single tensor carries all of the data from the inputs to the outputs (before its ${a.inputs.length} inputs meet, none does). ${several}`;
    io.out(`\nNo candidate exits: ${why}\n`);
    return;
  }
  if (several !== null) io.out(`note        ${several}\n`);
  const table = new Table({
    head: ['#', 'tensor', 'shape', 'cum. MACs', 'fraction', 'activation'],
    colAligns: ['right', 'left', 'left', 'right', 'right', 'right'],
    chars: { mid: '', 'left-mid': '', 'mid-mid': '', 'right-mid': '' },
    style: { head: config.color && io.isTty ? ['cyan'] : [], border: config.color && io.isTty ? ['grey'] : [] },
  });
  for (const e of exits) {
    table.push([e.index, e.tensor, formatShape(e.shape), formatCount(e.cumulativeMacs), formatPercent(e.fraction), formatBytes(e.activationBytes)]);
  }
  io.out(`\n${table.toString()}\n`);
  const note = opts.all
    ? `${exits.length} cut points.`
    : `${exits.length} exits (one per block; ${a.candidates.length} cut points in all, list them with --all).`;
  io.out(`${note}\n`);
}

/**
 * Why build and serve refuse the model although it runs as given, or null: a batch fixed in its input that the graph
 * also hard-codes (a Reshape to [1, -1]), so that it fails once layercache frees it (their check, analyzeAsRead, run
 * once more only for a model whose batch is freed).
 */
async function batchRefusal(model: Parameters<typeof analyzeModel>[0], a: ModelAnalysis, opts: Parameters<typeof analyzeModel>[1]): Promise<string | null> {
  const reading = readingOf(a);
  if (!reading.dynamicBatch) return null;
  try {
    await analyzeAsRead(model, a, reading, opts);
    return null;
  } catch (err) {
    if (err instanceof LayercacheError && err.code === 'MODEL_UNSUPPORTED') return err.message;
    throw err;
  }
}
