/**
 * One online retrain, the server's side of it up to the build's answer: the request for the retraining process
 * (retrain-process.ts), its log lines written to the server's log as they come, and its duration and failures
 * counted. What becomes of the built version (swapped in, kept out, saved again) is the learner's (online.ts).
 * Invariants: resolves with the finished build's reply, or 'abandoned' when the server closed meanwhile (then
 * nothing was saved and nothing is counted); any other failure is counted once, as a failed retrain, and rejects
 * with a LayercacheError naming the version.
 */
import { fromReport } from './remote-error.ts';
import type { RetrainLog, RetrainReply, RetrainRequest } from './messages.ts';
import type { OnlineDeps } from './online-deps.ts';
import { runRetrainProcess } from './retrain-process.ts';

export type FinishedRetrain = Extract<RetrainReply, { kind: 'done' }>;

export interface RetrainHooks {
  /** Whether the server is shutting down. */
  readonly closed: () => boolean;
  /** Gets the function that abandons the retrain (kills its process), once the process has started. */
  readonly started: (stop: () => void) => void;
}

/** Builds `version` from the buffered inputs (`samples` of them; `snapshot` copies them, [samples, ...sampleDims]). */
export async function runOnlineRetrain(
  deps: OnlineDeps, version: number, samples: number, snapshot: () => Float32Array, hooks: RetrainHooks,
): Promise<FinishedRetrain | 'abandoned'> {
  const started = performance.now();
  const { log, metrics: m, model } = deps;
  const request: RetrainRequest = {
    modelFile: deps.modelFile, modelSha256: deps.modelSha256, sampleDims: deps.sampleDims, build: deps.build,
    preprocess: deps.preprocess, layout: deps.layout, engine: deps.engine, outDir: deps.store.dirOf(version), version,
    latencyProfile: deps.latencyProfile,
  };
  log.info({ samples, version }, `retrain: building version ${version} from ${samples} buffered samples`);
  // The snapshot is taken once the retraining process runs, and let go once it has been sent.
  const onReceived = ({ values, seconds }: { values: number; seconds: number }): void => {
    const mib = (values * 4) / 2 ** 20;
    log.info({ version, mib, seconds }, `retrain: the buffered inputs (${mib.toFixed(1)} MiB) were copied to the retraining process in ${seconds.toFixed(2)} s`);
  };
  const onLog = (entry: RetrainLog): void => {
    // "took", not "done": a phase also ends when the build fails in it.
    if (entry.kind === 'phase') log.info({ version, phase: entry.label, seconds: entry.seconds }, `retrain: ${entry.label} took ${entry.seconds.toFixed(1)} s`);
    else log[entry.level]({ version }, `retrain: ${entry.text}`);
  };
  let reply: RetrainReply;
  try {
    reply = await runRetrainProcess(request, snapshot, hooks.started, { onReceived, onLog });
  } catch (err) {
    if (hooks.closed()) {
      log.info({ version, stopped: 'killed' }, `retrain of version ${version} abandoned: the server is shutting down`);
      return 'abandoned';
    }
    m.retrains.inc({ model, outcome: 'failed' });
    throw err;
  }
  if (hooks.closed() && reply.kind === 'error') {
    // Failed on its own while the server was closing: nothing was saved.
    log.info({ version, stopped: 'failed' }, `retrain of version ${version} abandoned: the server is shutting down`);
    return 'abandoned';
  }
  m.retrainSeconds.observe({ model }, (performance.now() - started) / 1000);
  if (reply.kind === 'error') {
    m.retrains.inc({ model, outcome: 'failed' });
    throw fromReport(reply, `retrain of version ${version} failed: ${reply.message}`);
  }
  return reply;
}
