/**
 * Renders the CIFAR table of BENCHMARKS.md (between its markers) from the JSON files
 * bench/cifar.ts writes to bench/results/, so the table can be re-rendered without
 * re-running the benchmark:  node --import tsx bench/render-cifar.ts
 */
import { existsSync, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { headCommit } from './git-commit.ts';
import type { EvalReport } from '../src/evaluate/index.ts';

const root = path.resolve(import.meta.dirname, '..');

interface Result { model: string; tolerance: number; commit?: string; buildSeconds: number; report: Omit<EvalReport, 'latencyTrace' | 'headroom' | 'latencySaved'> & { latencySaved?: EvalReport['latencySaved'] } & { headroom?: { inSampleBest?: { macsPerSample: number }; ceiling?: { macsPerSample: number } } | null }; build: { selected: { agreement: number; crossValidatedAgreement?: number | null; estimatedAgreement?: number | null } } }

/** MACs per sample of the in-sample best selection (named `ceiling` in results written at 093e493). */
function inSample(r: Result['report']): number | null {
  const h = r.headroom;
  return h?.inSampleBest?.macsPerSample ?? h?.ceiling?.macsPerSample ?? null;
}

export async function renderCifarTable(run: { models: string[]; tolerances: number[]; threads: number }): Promise<void> {
  // Every model with results on disk, in the standard order: a run of some models keeps the other rows.
  const models = [...new Set(['resnet20', 'resnet32', 'resnet56', ...run.models])];
  const rows: Result[] = [];
  for (const model of models) {
    for (const tolerance of run.tolerances) {
      const file = path.join(root, `bench/results/cifar-${model}-${tolerance}.json`);
      if (existsSync(file)) rows.push(JSON.parse(await fs.readFile(file, 'utf8')) as Result);
    }
  }
  const pct = (x: number): string => `${(100 * x).toFixed(1)}%`;
  const head = headCommit(root);
  // Rows from runs at different commits say so (rows written before commits were recorded: HEAD).
  const byCommit = new Map<string, string[]>();
  for (const r of rows) byCommit.set(r.commit ?? head, [...new Set([...(byCommit.get(r.commit ?? head) ?? []), r.model])]);
  const commit = byCommit.size <= 1 ? [...byCommit.keys()][0] ?? head : [...byCommit].map(([c, ms]) => `${c} (${ms.join(', ')})`).join(', ');
  const ort = JSON.parse(await fs.readFile(path.join(root, 'node_modules/onnxruntime-node/package.json'), 'utf8')).version;
  const lines = [
    '<!-- bench:cifar:start -->',
    `Machine: ${os.cpus()[0]?.model ?? 'unknown'} × ${os.cpus().length}, ${Math.round(os.totalmem() / 2 ** 30)} GiB; Node ${process.version}; onnxruntime-node ${ort}; ${run.threads} onnxruntime threads; commit ${commit}.`,
    `Command: \`npm run bench:cifar -- --models ${[...new Set(rows.map((r) => r.model))].join(',')} --tolerances ${run.tolerances.join(',')} --threads ${run.threads}\` (build defaults plus \`--augment flip\`). Heads and thresholds from records 0–4999; every figure below on records 5000–9999.`,
    '',
    '| model | tol. | held-out agreement (calibration estimate) | accuracy backbone → bundle | MACs saved | oracle MACs saved | in-sample best MACs saved | mean batch-1 latency backbone → bundle | latency saved (95% interval within the run) | p99 batch-1 | batch-64 throughput × | exits | build s | paper rule at equal held-out agreement: MACs saved / latency saved |',
    '|---|---:|---:|---|---:|---:|---:|---|---:|---|---:|---:|---:|---|',
    ...rows.map(({ model, tolerance, buildSeconds, report: r, build }) => {
      const b = r.backbone;
      const c = r.cached;
      const p = r.paperBaseline;
      const cal = build.selected.estimatedAgreement ?? build.selected.crossValidatedAgreement ?? build.selected.agreement;
      return `| ${model} | ${pct(tolerance)} | ${(100 * c.agreement).toFixed(2)}% (${(100 * cal).toFixed(2)}%) | ${pct(b.accuracy ?? 0)} → ${pct(c.accuracy ?? 0)} | ${pct(1 - c.macsPerSample / b.macsPerSample)} | ${pct(1 - r.oracle.macsPerSample / b.macsPerSample)} | ${inSample(r) === null ? '—' : pct(1 - inSample(r)! / b.macsPerSample)} | `
        + `${b.latencyMs.mean.toFixed(3)} → ${c.latencyMs.mean.toFixed(3)} ms | ${pct(1 - c.latencyMs.mean / b.latencyMs.mean)}${r.latencySaved?.ci95 ? ` (${pct(r.latencySaved.ci95[0])} to ${pct(r.latencySaved.ci95[1])})` : ''} | ${b.latencyMs.p99.toFixed(2)} → ${c.latencyMs.p99.toFixed(2)} ms | ${(c.throughputBatch64 / b.throughputBatch64).toFixed(2)} | `
        + `${c.exitRates.length} | ${buildSeconds.toFixed(0)} | ${p ? `${pct(1 - p.macsPerSample / b.macsPerSample)} / ${pct(1 - p.latencyMs.mean / (p.pairedBackbone?.latencyMs.mean ?? b.latencyMs.mean))} (all ${p.exitRates.length} exits, p_max ≥ ${p.threshold.toFixed(5)}, agreement ${(100 * p.agreement).toFixed(2)}%)` : '—'} |`;
    }),
    '<!-- bench:cifar:end -->',
  ];
  const mdPath = path.join(root, 'BENCHMARKS.md');
  const md = existsSync(mdPath) ? await fs.readFile(mdPath, 'utf8') : '# Benchmarks\n\n## CIFAR-10 ResNets (`npm run bench:cifar`)\n\n<!-- bench:cifar:start -->\n<!-- bench:cifar:end -->\n';
  const start = md.indexOf('<!-- bench:cifar:start -->');
  const end = md.indexOf('<!-- bench:cifar:end -->') + '<!-- bench:cifar:end -->'.length;
  await fs.writeFile(mdPath, `${md.slice(0, start)}${lines.join('\n')}${md.slice(end)}`);
  console.log('wrote the CIFAR table of BENCHMARKS.md');
}

if (process.argv[1] && import.meta.filename === path.resolve(process.argv[1])) {
  await renderCifarTable({ models: ['resnet20', 'resnet32', 'resnet56'], tolerances: [0.005, 0.01, 0.02], threads: 2 });
}
