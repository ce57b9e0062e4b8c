/**
 * The HTML report of a bundle and its evaluation: one self-contained file (inline SVG
 * charts and CSS, no scripts, no network) showing the Pareto curve with the chosen point,
 * the paper's rule and the oracle bound; hit rate and agreement per exit; batch-1 latency
 * distributions; where the compute goes per segment; the headroom the heads' confidence
 * leaves per candidate exit, with the ceiling of any threshold selection; and the settings and versions.
 * It opens with a verdict in words (verdict.ts): savings, the agreement against the one the bundle was built
 * for, and whether it is faster.
 * Invariant: every figure in it comes from the manifest (build-time calibration) or the
 * evaluation report (measured on the evaluation data), and each is labelled with which; the evaluation data is
 * called held out only when it is known not to overlap the build's (a retrained bundle's live traffic cannot be compared).
 */
import { createRequire } from 'node:module';
import type { Manifest } from '../bundle/index.ts';
import { thresholdCondition } from '../calibrate/index.ts';
import type { EvalReport } from '../evaluate/index.ts';
import { specsOverlap } from '../data/index.ts';
import { isRecord, requireArgument } from '../errors/index.ts';
import { writeFileAtomic, type OutputFileKind } from '../files/index.ts';
import { agreementCurveChart, chartLibraryVersions, computeChart, exitChart, headroomChart, latencyChart, paretoChart } from './charts.ts';
import { lowerOrHigher, savedOrMore, setPercent, signedPct, targetAgreementPct } from '../tensor/index.ts';
import { verdictSentences } from './verdict.ts';

const require = createRequire(import.meta.url);
const versionOf = (pkg: string): string => {
  try {
    return (require(`${pkg}/package.json`) as { version: string }).version;
  } catch {
    return 'unknown';
  }
};

interface Point { agreement: number; latencyMs: number; macsPerSample: number }

function point(v: unknown): Point | null {
  const p = v as Partial<Point> | undefined;
  return p && typeof p.agreement === 'number' && typeof p.macsPerSample === 'number' ? { agreement: p.agreement, latencyMs: Number(p.latencyMs ?? NaN), macsPerSample: p.macsPerSample } : null;
}

const esc = (s: string): string => s.replace(/[&<>"]/g, (c) => ({ '&': '&amp;', '<': '&lt;', '>': '&gt;', '"': '&quot;' })[c]!);
const pct = (x: number | null, d = 1): string => (x === null || !Number.isFinite(x) ? '—' : `${(100 * x).toFixed(d)}%`);
/** An exit's agreement with the count it rests on: 71.43% (5 of 7); a share of few answers says little. */
const answeredAgreement = (agreement: number | null, answered: number): string =>
  (agreement === null ? '—' : `${pct(agreement, 2)} (${Math.round(agreement * answered).toLocaleString('en-US')} of ${answered.toLocaleString('en-US')})`);
const num = (x: number): string => (Math.abs(x) >= 1e6 ? `${(x / 1e6).toFixed(2)} M` : Math.abs(x) >= 1e3 ? `${(x / 1e3).toFixed(1)} k` : x.toFixed(0));

export interface ReportInput {
  readonly manifest: Manifest;
  readonly evaluation: EvalReport;
  /** Heading of the page. */
  readonly title: string;
}

/** Throws ARGUMENT_INVALID unless `input` has a report's parts. call: the public call, as a user writes it. */
function checkReportInput(call: string, input: ReportInput): void {
  requireArgument(call, 'input', input, 'object', "{ manifest, evaluation, title }, e.g. { manifest: bundle.manifest, evaluation: await evaluateBundle(…), title: 'ResNet-56' }");
  requireArgument(call, 'input.manifest', input.manifest, (v) => isRecord(v) && isRecord(v.source) && isRecord(v.metrics), "the bundle's manifest: (await loadBundle('bundle/')).manifest");
  requireArgument(call, 'input.evaluation', input.evaluation, (v) => isRecord(v) && isRecord(v.backbone) && isRecord(v.cached), "the evaluation of that bundle: await evaluateBundle(bundle, data, opts)");
  requireArgument(call, 'input.title', input.title, 'string', "the page's heading, e.g. 'ResNet-56'");
}

/** The report as one HTML document. */
export async function renderReport(input: ReportInput): Promise<string> {
  checkReportInput('renderReport(input)', input);
  const { manifest: m, evaluation: ev } = input;
  const builtOn = m.build.data;
  // true: the build saw (some of) the evaluation data; null: its data cannot be compared (live traffic, or none said).
  const overlap = typeof builtOn === 'string' ? await specsOverlap(ev.data, builtOn) : null;
  const overlapsBuild = overlap === true;
  // What the evaluation data is called: held out only when the build is known not to have seen it.
  const unseen = overlap === false;
  const measuredOn = unseen ? 'held out' : 'evaluation data';
  const these = unseen ? 'these held-out' : 'these';
  const metrics = m.metrics as Record<string, unknown>;
  const base = point({ agreement: 1, ...(metrics.backbone as object) });
  const baseMacs = m.source.totalMacs;
  const baseLat = base?.latencyMs ?? NaN;
  const saved = (p: Point): { macsSaved: number; latencySaved: number } => ({ macsSaved: 1 - p.macsPerSample / baseMacs, latencySaved: 1 - p.latencyMs / baseLat });
  const front = ((metrics.pareto as unknown[]) ?? []).map(point).filter((p): p is Point => p !== null).map((p) => ({ agreement: p.agreement, ...saved(p) }));
  const chosen = point(metrics.calibration);
  const paper = point(metrics.paperRule);
  const oracle = point({ agreement: 1, ...(metrics.oracle as object) });
  const heldOut = {
    name: `chosen, ${measuredOn}`,
    agreement: ev.cached.agreement,
    macsSaved: 1 - ev.cached.macsPerSample / ev.backbone.macsPerSample,
    latencySaved: 1 - ev.cached.latencyMs.mean / ev.backbone.latencyMs.mean,
  };
  const named = [
    ...(chosen ? [{ name: 'chosen, calibration', agreement: chosen.agreement, ...saved(chosen) }] : []),
    heldOut,
    ...(paper ? [{ name: "paper's rule, calibration", agreement: paper.agreement, ...saved(paper) }] : []),
    ...(oracle ? [{ name: 'oracle bound, calibration', agreement: 1, ...saved(oracle) }] : []),
  ];

  const exitRows = [
    ...m.exits.map((e, i) => ({ exit: `exit ${i}`, hitRate: ev.cached.exitRates[i] ?? 0, agreement: ev.cached.exitAgreement?.[i] ?? null })),
    { exit: 'backbone', hitRate: ev.cached.fullRate, agreement: ev.cached.fullRate > 0 ? 1 : null },
  ];
  let reach = 1;
  const computeRows = m.segments.map((s, i) => {
    const head = m.exits[i]?.head.macs ?? 0;
    const row = { segment: String(i), macsFull: s.macs + head, macsSpent: (s.macs + head) * reach };
    reach -= ev.cached.exitRates[i] ?? 0;
    return row;
  });

  // The agreement axis of the Pareto charts: ten tolerances below 100% (the front's bolder choices are left out), or
  // lower to show every named point.
  const tolerance = typeof m.build.tolerance === 'number' ? m.build.tolerance : null;
  const paretoFloor = tolerance === null ? 0 : Math.max(0, Math.min(1 - 10 * tolerance, ...named.map((p) => p.agreement - tolerance)));
  const hr = ev.headroom;
  // The agreement axis of the curves: 20 tolerances below 100%, so the crossing stays legible.
  const curveFloor = hr === null ? 0 : Math.max(0, 1 - 20 * hr.tolerance);
  const [paretoMacs, paretoLatency, exits, latency, compute, headroom, curves] = await Promise.all([
    paretoChart({ front, points: named }, 'macsSaved', paretoFloor),
    paretoChart({ front, points: named.map((p) => ({ ...p, latencySaved: Number.isFinite(p.latencySaved) ? p.latencySaved : null })) }, 'latencySaved', paretoFloor),
    exitChart(exitRows),
    latencyChart({ backbone: ev.latencyTrace.backbone, bundle: ev.latencyTrace.cached }),
    computeChart(computeRows),
    hr ? headroomChart(hr.exits, hr.tolerance) : Promise.resolve(''),
    hr ? agreementCurveChart(hr.exits, hr.tolerance, curveFloor) : Promise.resolve(''),
  ]);
  const b = ev.backbone;
  const c = ev.cached;
  const bundleSaved = 1 - c.macsPerSample / b.macsPerSample;
  const verdict = verdictSentences({
    macsSaved: bundleSaved, earlyRate: 1 - c.fullRate, agreement: c.agreement, tolerance, latency: ev.latencySaved,
    throughputRatio: c.throughputBatch64 / b.throughputBatch64, overlapsBuild, exits: m.exits.length,
  });
  const objective = (m.build as { objective?: unknown }).objective;
  const headroomCaption = hr === null ? '' : (() => {
    const best = 1 - hr.inSampleBest.macsPerSample / b.macsPerSample;
    const screened = hr.exits.filter((e) => !e.refined).length;
    const n = hr.inSampleBest.exits;
    return `Each candidate head on ${these} samples, scored as the bundle scores them. The best choice of exits and thresholds the search finds on these very samples `
      + `(so optimistic, and not a proven optimum) at ${setPercent(hr.tolerance)} tolerance, with MACs as the cost: ${pct(best)} of MACs saved with ${n} exit${n === 1 ? '' : 's'} `
      + `(${pct(hr.inSampleBest.agreement, 2)} agreement). The bundle, chosen on its build data${typeof objective === 'string' ? ` with ${objective} as the objective` : ''} and a safety margin: ${savedOrMore(bundleSaved)}. `
      + 'A bundle cannot expect to save more than the in-sample best with these heads; beyond it only heads that are confident on more samples help.'
      + (screened > 0 ? ` ${screened} of the ${hr.exits.length} candidates were only screened: their heads were trained briefly, and the build could not keep them.` : '');
  })();

  const summary = [
    ['agreement with the backbone', '100%', pct(c.agreement, 2)],
    ['accuracy vs labels', pct(b.accuracy), pct(c.accuracy)],
    ['MACs per sample (heads included)', num(b.macsPerSample), `${num(c.macsPerSample)} (${savedOrMore(bundleSaved)})`],
    ['batch-1 latency mean / p50 / p99, ms', `${b.latencyMs.mean.toFixed(3)} / ${b.latencyMs.p50.toFixed(3)} / ${b.latencyMs.p99.toFixed(3)}`,
      `${c.latencyMs.mean.toFixed(3)} / ${c.latencyMs.p50.toFixed(3)} / ${c.latencyMs.p99.toFixed(3)} (mean ${lowerOrHigher(ev.latencySaved.saved)}${ev.latencySaved.ci95 ? `; 95% interval of the saving ${signedPct(ev.latencySaved.ci95[0])} to ${signedPct(ev.latencySaved.ci95[1])} in this run, over ${ev.latencySaved.blocks} paired blocks` : ''})`],
    ['batch-64 throughput, samples/s', b.throughputBatch64.toFixed(0), `${c.throughputBatch64.toFixed(0)} (${(c.throughputBatch64 / b.throughputBatch64).toFixed(2)}×)`],
  ];
  const exitTable = m.exits.map((e, i) => [
    `exit ${i}`, e.tensor, pct(e.cumulativeMacs / baseMacs), `${e.head.spec.hidden > 0 ? `MLP ${e.head.spec.hidden}` : 'linear'} (${num(e.head.macs)} MACs)`,
    thresholdCondition(m.score.kind, e.threshold), pct(e.expectedHitRate), pct(c.exitRates[i] ?? 0), answeredAgreement(c.exitAgreement?.[i] ?? null, Math.round((c.exitRates[i] ?? 0) * ev.samples)),
  ]);
  const charting = await chartLibraryVersions();
  const settings: [string, string][] = [
    ['source model', `${m.source.file} (sha256 ${m.source.sha256.slice(0, 16)}…)`],
    ['built', `${m.createdAt} with layercache ${m.layercacheVersion}, bundle version ${m.version}`],
    ['evaluated on', `${ev.data} (${ev.samples} samples; batch-1 latency on ${ev.latencySamples})`],
    ...Object.entries(m.build).map(([k, v]) => [`build.${k}`, typeof v === 'object' ? JSON.stringify(v) : String(v)] as [string, string]),
    ['versions', `layercache ${versionOf('../..')}, onnxruntime-node ${versionOf('onnxruntime-node')}, vega ${charting.vega}, vega-lite ${charting.vegaLite}, Node ${process.version}`],
  ];
  const table = (head: string[], rows: string[][]): string =>
    `<div class="wide"><table><thead><tr>${head.map((h) => `<th>${esc(h)}</th>`).join('')}</tr></thead><tbody>${rows.map((r) => `<tr>${r.map((x) => `<td>${esc(x)}</td>`).join('')}</tr>`).join('')}</tbody></table></div>`;
  const figure = (id: string, title: string, svg: string, caption: string): string =>
    `<figure id="${id}" class="chart"><h2>${esc(title)}</h2>${svg}<figcaption>${esc(caption)}</figcaption></figure>`;

  return `<!doctype html>
<html lang="en"><head><meta charset="utf-8"><meta name="generator" content="layercache"><meta name="viewport" content="width=device-width, initial-scale=1">
<title>${esc(input.title)}</title>
<style>
body { font-family: system-ui, -apple-system, "Segoe UI", Roboto, sans-serif; margin: 2rem auto; max-width: 1000px; color: #222; padding: 0 1rem; }
h1 { font-size: 1.5rem; } h2 { font-size: 1.1rem; margin: 0 0 .5rem; } h1, p { overflow-wrap: anywhere; }
table { border-collapse: collapse; margin: .5rem 0 1.5rem; font-size: .9rem; } th, td { border-bottom: 1px solid #ddd; padding: .3rem .6rem; text-align: left; vertical-align: top; }
th { background: #f6f7f9; } td { overflow-wrap: break-word; } .wide { overflow-x: auto; }
.grid { display: grid; grid-template-columns: repeat(auto-fit, minmax(min(460px, 100%), 1fr)); gap: 1.5rem; }
figure { margin: 0; min-width: 0; } figcaption { font-size: .85rem; color: #555; margin-top: .3rem; } svg { max-width: 100%; height: auto; }
.verdict { font-size: 1.05rem; } .terms dt { font-weight: 600; } .terms dd { margin: 0 0 .4rem 1rem; font-size: .9rem; } .warning { background: #fff4e5; border-left: 4px solid #b35c00; padding: .5rem .8rem; }
</style></head><body>
<h1>${esc(input.title)}</h1>
<p class="verdict">${esc(verdict.slice(0, 2).join(' '))}</p>
${verdict.length > 2 ? `<p class="warning">${esc(verdict[2]!)}</p>` : ''}
<p>Backbone and bundle measured in the same run on the same ${ev.samples} ${unseen ? 'held-out ' : ''}samples (${esc(ev.data)}${overlapsBuild ? `, which overlap the build's ${esc(String(builtOn))}` : overlap === null ? `; the build's data, ${esc(typeof builtOn === 'string' ? builtOn : 'not recorded')}, cannot be compared with them` : ''}). Points marked “calibration” are the builder's out-of-fold estimates on its own data.</p>
${table(['', 'backbone', 'bundle'], summary)}
${m.exits.length > 0 ? table(['', 'tensor', 'share of MACs before it', 'head', 'answers when', 'hit rate, calibration', `hit rate, ${measuredOn}`, 'agreement of its answers'], exitTable) : '<p>The bundle keeps no exit: no exit met the agreement requirement on the calibration samples, so it runs the backbone alone.</p>'}
<div class="grid">
${figure('pareto-macs', 'Cost vs agreement: MACs', paretoMacs, `Each point of the front is a choice of exits and thresholds on the calibration samples, the cheapest at its agreement${typeof objective === 'string' ? ` in ${objective}, the build's objective` : ''}; both charts show those same choices, so the other cost need not fall as agreement rises. The chosen point keeps a safety margin and need not lie on the front.${front.some((p) => p.agreement < paretoFloor) ? ` The agreement axis starts at ${setPercent(paretoFloor)}: the front's bolder choices, which save more and agree less, are left out.` : ''} The oracle answers every sample at the earliest exit whose head agrees with the backbone.`)}
${figure('pareto-latency', 'Cost vs agreement: latency', paretoLatency, `Batch-1 latency saved, from the per-segment latencies measured at build time (${measuredOn}: timed in this run).`)}
${m.exits.length === 0 ? '' : figure('exits', 'Hit rate and agreement per exit', exits, `${unseen ? 'Held-out share' : 'Share'} of requests answered at each exit (and by the full backbone), and how often those answers agree with the backbone.`)}
${figure('latency', 'Batch-1 latency distributions', latency, `Backbone and bundle timed in alternating blocks of ${ev.latencySaved.blockSize} on the same inputs.`)}
${m.exits.length === 0 ? '' : figure('compute', 'Where the compute goes', compute, 'Per segment: MACs of a pass through it (with its head), and the average MACs spent per request given the share of requests that reach it.')}
${hr ? figure('headroom', 'Headroom per candidate exit', headroom, headroomCaption) : ''}
${hr ? figure('curves', 'Agreement vs hit rate per candidate exit', curves, `Each line is one candidate head on ${these} samples: answering its most confident samples first, the agreement of its answers with the backbone at each share answered. The dashed line is the ${targetAgreementPct(hr.tolerance)} agreement the bundle was built for; where a line crosses it is that exit's answerable share in the chart above. The axis starts at ${setPercent(curveFloor)}; lines below it are cut.`) : ''}
</div>
<h2>Terms</h2>
<dl class="terms">
<dt>backbone</dt><dd>the model as given; the bundle answers as it does, or from an exit.</dd>
<dt>exit, head</dt><dd>a cut inside the backbone where a small head (a classifier on the activations there) may answer; a candidate exit is one the build considered.</dd>
<dt>agreement</dt><dd>the share of samples the bundle answers with the backbone's class; the tolerance is the share it may differ on.</dd>
<dt>hit rate</dt><dd>the share of samples answered at an exit, before the rest of the backbone runs.</dd>
<dt>MACs</dt><dd>multiply-accumulate operations per sample, the model's arithmetic, heads included.</dd>
<dt>calibration</dt><dd>the build's estimates on its own data (out of fold); the other figures are measured on the evaluation data named at the top.</dd>
<dt>headroom, in-sample best</dt><dd>what choices of exits and thresholds made on the evaluation samples themselves would save: an optimistic ceiling for these heads.</dd>
</dl>
<h2>Settings and versions</h2>
${table(['setting', 'value'], settings)}
</body></html>
`;
}

/** A report file, as writeReport writes it (since session 20 with a generator tag; before, titled so by the CLI): what `--force` may replace. */
export const REPORT_OUTPUT: OutputFileKind = {
  what: 'a layercache report',
  recognise: (head) => /^<!doctype html>/i.test(head) && (head.includes('<meta name="generator" content="layercache">') || head.includes('<title>layercache report: ')),
};

/** Renders and writes the report atomically; returns the HTML. */
export async function writeReport(file: string, input: ReportInput): Promise<string> {
  requireArgument('writeReport(file, input)', 'file', file, 'path', "the HTML file to write, e.g. 'report.html'");
  checkReportInput('writeReport(file, input)', input);
  const html = await renderReport(input);
  await writeFileAtomic(file, html);
  return html;
}
