/**
 * Retraining worker thread: runs the whole offline builder (collect, measure, train,
 * select) on the samples buffered from live traffic, then saves the result as a new
 * bundle version. It runs beside the engine workers, so requests keep being served.
 * Invariants: the new version directory is written atomically, complete or not at all; once
 * the stop flag is set, the worker stops at its next progress step and saves nothing.
 */
import { parentPort, workerData } from 'node:worker_threads';
import { buildCascade, whyNoExit, withLatencyProfileFile } from '../builder/index.ts';
import { saveBundle } from '../bundle/index.ts';
import { memorySource } from '../data/index.ts';
import { asLayercacheError, LayercacheError } from '../errors/index.ts';
import { loadModelFile } from '../onnx/index.ts';
import { SILENT, type Progress } from '../progress/index.ts';
import type { RetrainReply, RetrainRequest } from './messages.ts';

// The builder's notes and the latency profile's warnings go back to the server's log (also
// when the retrain fails); progress bars go nowhere. Every progress step checks the stop flag.
const notes: string[] = [];
const warnings: string[] = [];
const stopFlag = new Int32Array((workerData as RetrainRequest).stop);
function checkStop(): void {
  if (Atomics.load(stopFlag, 0) === 1) throw new LayercacheError('NOT_READY', 'retrain abandoned: the server is shutting down');
}
const progress: Progress = {
  phase: (label, total) => {
    checkStop();
    const phase = SILENT.phase(label, total);
    return { tick: (units, status) => { checkStop(); phase.tick(units, status); }, end: () => phase.end() };
  },
  note: (text) => notes.push(text),
};

async function retrain(req: RetrainRequest): Promise<RetrainReply> {
  const started = performance.now();
  const { model, bytes } = await loadModelFile(req.modelFile);
  const data = memorySource(req.samples, req.sampleDims, `live traffic (${req.samples.length / req.sampleDims.reduce((a, b) => a * b, 1)} buffered samples)`);
  const result = await withLatencyProfileFile(req.latencyProfile, progress,
    (latencyProfile) => buildCascade({ modelFile: req.modelFile, modelBytes: bytes, model, data, preprocess: req.preprocess, layout: req.layout, latencyProfile }, req.build, req.engine, progress),
    (text) => warnings.push(text));
  checkStop();
  const manifest = { ...result.manifest, version: req.version };
  await saveBundle(req.outDir, manifest, { backbone: bytes, segments: result.segments, heads: result.heads, candidateHeads: result.candidateHeads });
  const r = result.report;
  return {
    kind: 'done', version: req.version, exits: r.selected.exits.length,
    agreement: r.selected.agreement, macsSaved: 1 - r.selected.macsPerSample / r.backbone.macsPerSample,
    seconds: (performance.now() - started) / 1000, noExitReason: r.selected.exits.length === 0 ? whyNoExit(r) : null,
    latencyReused: r.latencyReused.exits && r.latencyReused.heads === r.latencyReused.of, notes, warnings,
  };
}

retrain(workerData as RetrainRequest).then(
  (reply) => parentPort!.postMessage(reply),
  (err: unknown) => {
    const e = asLayercacheError(err);
    parentPort!.postMessage({ kind: 'error', code: e.code, message: e.message, stack: e.stack, notes, warnings } satisfies RetrainReply);
  },
);
