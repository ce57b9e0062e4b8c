/**
 * Retraining process (started by retrain-process.ts): receives the request and the buffered inputs over IPC,
 * says it has them all, runs the whole offline builder (collect, measure, train, select) on them, saves the result as a new bundle
 * version and answers once. It runs beside the server, so requests keep being served.
 * Invariants: the new version directory is written atomically, complete or not at all; if the server goes away
 * (the IPC channel closes), the build stops at its next progress step and saves nothing (a version written
 * meanwhile is removed), and the process ends.
 */
import { promises as fs } from 'node:fs';
import { buildCascade, whyNoExit, withLatencyProfileFile } from '../builder/index.ts';
import { saveBundle } from '../bundle/index.ts';
import { memorySource } from '../data/index.ts';
import { LayercacheError } from '../errors/index.ts';
import { reportOf } from './remote-error.ts';
import type { Progress } from '../progress/index.ts';
import { loadUnchangedModel } from './source-changed.ts';
import type { RetrainChildMessage, RetrainLog, RetrainMessage, RetrainReply, RetrainRequest } from './messages.ts';

// The builder's notes, the latency profile's warnings and each phase's end go to the server's log as they happen;
// progress bars go nowhere. Every progress step checks that the server is still there.
let orphaned = false;
process.once('disconnect', () => { orphaned = true; });
// A Ctrl-C in the terminal reaches the whole process group: the server, which shuts down and kills this process
// (or, gone, leaves it orphaned), decides; the retrain does not die on its own midway.
process.on('SIGINT', () => {});
function checkStop(): void {
  if (orphaned) throw new LayercacheError('NOT_READY', 'retrain abandoned: the server went away');
}
const log = (entry: RetrainLog): void => tell({ kind: 'log', entry });
const progress: Progress = {
  phase: (label) => {
    checkStop();
    const started = performance.now();
    return { tick: () => { checkStop(); }, end: () => log({ kind: 'phase', label, seconds: (performance.now() - started) / 1000 }) };
  },
  note: (text) => log({ kind: 'note', level: 'info', text }),
};

async function retrain(req: RetrainRequest, samples: Float32Array): Promise<RetrainReply> {
  const started = performance.now();
  const { model, bytes } = await loadUnchangedModel(req.modelFile, req.modelSha256);
  const data = memorySource(samples, req.sampleDims, `live traffic (${samples.length / req.sampleDims.reduce((a, b) => a * b, 1)} buffered samples)`);
  const result = await withLatencyProfileFile(req.latencyProfile, progress,
    (latencyProfile) => buildCascade({ modelFile: req.modelFile, modelBytes: bytes, model, data, preprocess: req.preprocess, layout: req.layout, latencyProfile }, req.build, req.engine, progress),
    (text) => log({ kind: 'note', level: 'warn', text }));
  checkStop();
  const manifest = { ...result.manifest, version: req.version };
  await saveBundle(req.outDir, manifest, { backbone: bytes, segments: result.segments, heads: result.heads, candidateHeads: result.candidateHeads });
  // The server went away while the version was being written: no one asked for it any more, and a restarted server
  // could number another the same; it is removed rather than left for the next start to serve.
  if (orphaned) {
    await fs.rm(req.outDir, { recursive: true, force: true });
    checkStop();
  }
  const r = result.report;
  return {
    kind: 'done', version: req.version, exits: r.selected.exits.length,
    agreement: r.selected.agreement, macsSaved: 1 - r.selected.macsPerSample / r.backbone.macsPerSample,
    seconds: (performance.now() - started) / 1000, noExitReason: r.selected.exits.length === 0 ? whyNoExit(r) : null,
    latencyReused: r.latencyReused.exits && r.latencyReused.heads === r.latencyReused.of,
  };
}

function tell(message: RetrainChildMessage): void {
  if (process.connected) process.send!(message);
}

let request: RetrainRequest | null = null;
let samples: Float32Array | null = null;
let filled = 0;
const onMessage = (message: RetrainMessage): void => {
  if (message.kind === 'start') {
    request = message.request;
    samples = new Float32Array(message.values);
  } else {
    samples!.set(message.data, filled);
    filled += message.data.length;
  }
  if (filled < samples!.length) return;
  process.off('message', onMessage);
  tell({ kind: 'received' });
  retrain(request!, samples!).then(tell, (err: unknown) => {
    tell({ kind: 'error', ...reportOf(err) });
  });
};
process.on('message', onMessage);
