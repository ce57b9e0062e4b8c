/**
 * Renders the serve section of BENCHMARKS.md (between its markers) from
 * bench/results/serve.json (the online curve beside the offline build of the same run):
 *   node --import tsx bench/render-serve.ts
 */
import { promises as fs } from 'node:fs';
import path from 'node:path';

const root = path.resolve(import.meta.dirname, '..');

interface LoadRow {
  server: string; connections: number; requestsPerSecond: number; p50Ms: number; p99Ms: number; meanMs: number; total: number; errors: number; non2xx: number;
  cpu?: { loadGeneratorMs: number; serverMainMs: number; serverOtherMs: number; coresBusy: number } | null;
  /** Per-round ratios against the backbone run in the same round (absent for the backbone and in older runs). */
  vsBackbone?: { requestsPerSecond: Spread; inferenceCpuLess: Spread | null } | null;
}
interface Spread { median: number; min: number; max: number }
interface Window { records: string; versions: string; hitRate: number; agreement: number; macsSaved: number; meanMs: number }
interface Serve {
  machine: string; date: string; commit?: string; duration?: number; rounds?: number; order?: 'rotated'; servers?: string; loadEngine?: { workers: number; threads: number }; load?: LoadRow[]; loadRun?: { commit: string; date: string };
  online?: {
    run?: { commit: string; date: string };
    tolerance?: number; windows: Window[]; retrains: { atRecord: number; seconds: number }[];
    records5000to9999: { hitRate: number; agreement: number; macsSaved: number; meanMs: number; minWindowAgreement: number };
    offline?: { exits: number; exitList?: number[]; thresholds?: number[]; hitRate: number; agreement: number; macsSaved: number };
    online?: { exitList: number[]; thresholds?: number[]; latencyReused: { exits: boolean; heads: number; of: number } | null; checksReused?: boolean } | null;
  };
}

export async function renderServe(): Promise<void> {
  const s = JSON.parse(await fs.readFile(path.join(root, 'bench/results/serve.json'), 'utf8')) as Serve;
  const pct = (x: number, d = 1): string => `${(100 * x).toFixed(d)}%`;
  const at = (date: string): string => `${date.slice(0, 16).replace('T', ' ')} UTC`;
  const lines = ['<!-- bench:serve:start -->', `Machine: ${s.machine}; run ${at(s.date)}${s.commit ? `, commit ${s.commit}` : ''}. Command: \`npm run bench:serve\`.`, ''];
  if (s.load) {
    if (s.loadRun) lines.push(`Load run at commit ${s.loadRun.commit}, ${at(s.loadRun.date)}.`, '');
    lines.push(`**Load** (autocannon, ${s.duration ?? 60} s per row in ${s.rounds ?? 3} rounds alternating between the servers${s.rounds !== undefined ? `, the order reversed every other round${s.order === 'rotated' ? ' and rotated every two (each server at each place equally often)' : ''}${s.servers ? `, the servers ${s.servers} in its order and warmed for 2 s` : ''}` : ''}, binary-tensor requests of held-out records 5000–5511; \`serve --no-online\`, ${s.loadEngine?.threads ?? 2} onnxruntime thread${(s.loadEngine?.threads ?? 2) === 1 ? '' : 's'}, ${s.loadEngine?.workers ?? 1} engine worker${(s.loadEngine?.workers ?? 1) === 1 ? '' : 's'}, max batch 32; p50/p99 are means over the rounds; "× backbone" is the median over rounds of the requests/s ratio to the backbone run in the same round, with its range):`, '');
    const times = (x: Spread | null | undefined): string => (x ? `${x.median.toFixed(2)}× (${x.min.toFixed(2)}–${x.max.toFixed(2)})` : '');
    lines.push('| server | connections | requests/s | × backbone, per round | latency p50 ms | p99 ms | mean ms | errors / non-2xx |', '|---|---:|---:|---|---:|---:|---:|---|');
    for (const r of s.load) lines.push(`| ${r.server} | ${r.connections} | ${r.requestsPerSecond.toFixed(0)} | ${times(r.vsBackbone?.requestsPerSecond)} | ${r.p50Ms.toFixed(1)} | ${r.p99Ms.toFixed(1)} | ${r.meanMs.toFixed(2)} | ${r.errors} / ${r.non2xx} |`);
    lines.push('');
    const withCpu = s.load.filter((r) => r.cpu);
    if (withCpu.length > 0) {
      lines.push('**Where the CPU goes** (CPU ms per answered request over all rounds, from /proc; the load generator is autocannon in the benchmark process, on the same cores as the server; the server\'s main thread does HTTP, parsing and batching, its other threads are the engine worker and onnxruntime\'s):', '');
      lines.push('| server | connections | load generator | server main thread | server other threads (inference) | cores busy |', '|---|---:|---:|---:|---:|---:|');
      for (const r of withCpu) lines.push(`| ${r.server} | ${r.connections} | ${r.cpu!.loadGeneratorMs.toFixed(2)} | ${r.cpu!.serverMainMs.toFixed(2)} | ${r.cpu!.serverOtherMs.toFixed(2)} | ${r.cpu!.coresBusy.toFixed(2)} |`);
      lines.push('');
      for (const c of [...new Set(withCpu.map((r) => r.connections))]) {
        const base = withCpu.find((r) => r.connections === c && r.server === 'backbone');
        if (!base) continue;
        const parts = withCpu.filter((r) => r.connections === c && r !== base).map((r) => `${r.server}: requests/s ${(r.requestsPerSecond / base.requestsPerSecond).toFixed(2)}×, inference CPU per request ${(base.cpu!.serverOtherMs / r.cpu!.serverOtherMs).toFixed(2)}× less${r.vsBackbone?.inferenceCpuLess ? ` (per round: ${times(r.vsBackbone.inferenceCpuLess)})` : ''}, all CPU per request ${((base.cpu!.loadGeneratorMs + base.cpu!.serverMainMs + base.cpu!.serverOtherMs) / (r.cpu!.loadGeneratorMs + r.cpu!.serverMainMs + r.cpu!.serverOtherMs)).toFixed(2)}× less`);
        lines.push(`- ${c} connection${c === 1 ? '' : 's'}, against the backbone: ${parts.join('; ')}.`);
      }
      lines.push('');
    }
  }
  if (s.online) {
    const o = s.online;
    const tol = o.tolerance ?? 0.01;
    if (o.run) lines.push(`Online run at commit ${o.run.commit}, ${at(o.run.date)}.`, '');
    lines.push(`**Online curve**: \`serve cifar10_resnet56.onnx --augment flip --tolerance ${tol} --retrain-after 5000\` (no heads at start, tolerance ${pct(tol, 1)}), records 0–9999 in order, one request at a time; the stream pauses while the retrain at record 5000 runs (${o.retrains.map((r) => `${r.seconds.toFixed(0)} s`).join(', ')}).`, '');
    lines.push('| records | bundle version | hit rate | agreement with backbone | MACs saved (heads included) | mean latency ms (client) |', '|---|---|---:|---:|---:|---:|');
    for (const w of o.windows) lines.push(`| ${w.records} | ${w.versions} | ${pct(w.hitRate)} | ${pct(w.agreement, 2)} | ${pct(w.macsSaved)} | ${w.meanMs.toFixed(2)} |`);
    const late = o.records5000to9999;
    lines.push('');
    const off = o.offline;
    if (off) {
      lines.push('| records 5000–9999 | hit rate | agreement | MACs saved |', '|---|---:|---:|---:|');
      const list = (xs: number[] | undefined): string => (xs ? ` (exits ${xs.length ? xs.join(', ') : 'none'})` : '');
      lines.push(`| online (served, this run)${list(o.online?.exitList)} | ${pct(late.hitRate)} | ${pct(late.agreement, 2)} (lowest window ${pct(late.minWindowAgreement, 2)}) | ${pct(late.macsSaved)} |`);
      lines.push(`| offline \`layercache build\` on records 0–4999, same settings, same run${off.exitList ? list(off.exitList) : ` (${off.exits} exit${off.exits === 1 ? '' : 's'})`} | ${pct(off.hitRate)} | ${pct(off.agreement, 2)} | ${pct(off.macsSaved)} |`);
      const pt = (x: number): string => `${(Math.abs(x) < 0.0005 ? 0 : x * 100).toFixed(1)} pt`;
      lines.push(`| difference | ${pt(late.hitRate - off.hitRate)} | | ${pt(late.macsSaved - off.macsSaved)} |`);
      const reused = o.online?.latencyReused;
      if (reused) {
        const same = JSON.stringify(o.online?.exitList) === JSON.stringify(off.exitList) && JSON.stringify(o.online?.thresholds) === JSON.stringify(off.thresholds);
        lines.push('', reused.exits && reused.heads === reused.of
          ? `The offline build measured the latency profile in the server's state directory and the server's retrain reused every exit and head cost in it${o.online?.checksReused ? ' and the runtime check\'s verdict' : ' (the runtime check was timed again)'}, so both chose on the same timings${same ? ': the served bundle has the offline bundle\'s exits and thresholds' : '; their exits or thresholds differ, which only the data can explain'}.`
          : `The server's retrain reused the offline build's latency profile only in part (exits: ${reused.exits ? 'yes' : 'no'}, heads ${reused.heads} of ${reused.of}).`);
      }
    }
  }
  lines.push('<!-- bench:serve:end -->');
  const file = path.join(root, 'BENCHMARKS.md');
  const doc = await fs.readFile(file, 'utf8');
  const start = doc.indexOf('<!-- bench:serve:start -->');
  const end = doc.indexOf('<!-- bench:serve:end -->');
  const block = lines.join('\n');
  const next = start >= 0 && end > start ? doc.slice(0, start) + block + doc.slice(end + '<!-- bench:serve:end -->'.length) : `${doc.trimEnd()}\n\n## The server (\`npm run bench:serve\`)\n\n${block}\n`;
  await fs.writeFile(`${file}.tmp`, next);
  await fs.rename(`${file}.tmp`, file);
}

if (import.meta.url === `file://${process.argv[1]}`) await renderServe();
