/** `layercache demo`: train a backbone on built-in digits, build, evaluate, report; optionally serve. */
import path from 'node:path';
import Table from 'cli-table3';
import { deriveConfig, type Config } from '../../config/index.ts';
import { openDataSource, IDENTITY_PREPROCESS } from '../../data/index.ts';
import { DEMO_REQUEST_FILE, DEMO_SPLITS, DIGITS_BACKBONE, demoThreads, runDemo } from '../../demo/index.ts';
import { writeFileAtomic } from '../../files/index.ts';
import { savedOrMore } from '../../tensor/index.ts';
import { formatCount, formatPercent } from '../format.ts';
import type { CliIo } from '../io.ts';
import { terminalProgress } from '../progress-bars.ts';
import { evalJson } from './eval.ts';
import { runServe } from './serve.ts';
import { stopUndoOnInterrupt } from '../interrupt.ts';

export interface DemoCommandOptions {
  readonly out: string;
  readonly json: boolean;
  readonly serve: boolean;
  readonly port: number;
  readonly latencySamples: number;
}

export async function runDemoCommand(opts: DemoCommandOptions, config: Config, io: CliIo): Promise<void> {
  // Serving settings are checked before minutes of work, not after.
  const serveConfig = opts.serve ? deriveConfig(config, { engine: { intraOpThreads: demoThreads(config) }, serve: { name: 'digits', port: opts.port, online: { enabled: false } } }) : null;
  const progress = terminalProgress(io, config);
  if (!opts.json) io.err(`layercache demo: a deep MLP (${[DIGITS_BACKBONE.inputDim, ...DIGITS_BACKBONE.hidden, DIGITS_BACKBONE.classes].join('→')}) on the 10,000 digits of the mnist package\n`);
  const r = await runDemo(opts.out, config, progress, { latencySamples: opts.latencySamples });
  const ev = r.evaluation;
  if (opts.json) {
    io.out(`${JSON.stringify({ ...evalJson(ev), report: r.reportFile }, null, 2)}\n`);
  } else {
    const b = ev.backbone;
    const c = ev.cached;
    const t = new Table({ head: [`held-out digits (${ev.samples})`, 'backbone', 'bundle'], style: { head: [], border: [] } });
    t.push(
      ['agreement with the backbone', '100%', formatPercent(c.agreement)],
      ['accuracy', b.accuracy === null ? '—' : formatPercent(b.accuracy), c.accuracy === null ? '—' : formatPercent(c.accuracy)],
      ['MACs per sample', formatCount(b.macsPerSample), `${formatCount(c.macsPerSample)} (${savedOrMore(1 - c.macsPerSample / b.macsPerSample)})`],
      ['batch-1 latency mean ms', b.latencyMs.mean.toFixed(4), c.latencyMs.mean.toFixed(4)],
      ['batch-1 latency p99 ms', b.latencyMs.p99.toFixed(4), c.latencyMs.p99.toFixed(4)],
      ['batch-64 throughput /s', b.throughputBatch64.toFixed(0), c.throughputBatch64.toFixed(0)],
    );
    io.out(`backbone: ${r.backboneTrainedSeconds === null ? 'cached' : `trained in ${r.backboneTrainedSeconds.toFixed(1)} s`} on ${DEMO_SPLITS.train} (${r.backboneFile})\n`);
    io.out(`bundle:   built in ${r.buildSeconds.toFixed(1)} s on ${DEMO_SPLITS.build}, no labels used (${r.bundleDir})\n`);
    io.out(`${t.toString()}\nreport:   ${r.reportFile}\n`);
  }
  if (!serveConfig) return;
  // A ready-to-paste request: the first held-out digit.
  const digit = (await openDataSource(DEMO_SPLITS.evaluate, IDENTITY_PREPROCESS)).batch(0, 1).data;
  const requestFile = path.join(opts.out, DEMO_REQUEST_FILE);
  await writeFileAtomic(requestFile, JSON.stringify({ inputs: [{ name: 'input', shape: [1, digit.length], datatype: 'FP32', data: Array.from(digit, (v) => Number(v.toFixed(4))) }] }));
  // The demo's writes are done: from here signals shut the server down.
  stopUndoOnInterrupt();
  // Suggested once listening, at the address listened on (`--port 0` picks the port).
  await runServe(r.bundleDir, serveConfig, io, process, { exampleRequest: (address, model) => `${address}/v2/models/${model}/infer -H 'content-type: application/json' -d @${requestFile}` });
}
