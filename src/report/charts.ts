/**
 * Charts of the report as vega-lite specifications, rendered to SVG in Node by vega
 * (no browser, no canvas, no network). Each chart function takes plain figures and
 * returns an SVG string.
 * Invariant: every chart draws at least one mark when its data is non-empty; empty data
 * gives a chart with a "no data" note instead of an empty frame.
 */
import type * as Vega from 'vega';
import type * as VegaLite from 'vega-lite';
import type { TopLevelSpec } from 'vega-lite';
import { percentile, targetAgreementPct } from '../tensor/index.ts';

type ChartLibraries = { readonly vega: typeof Vega; readonly vegaLite: typeof VegaLite };
let libraries: Promise<ChartLibraries> | null = null;

/**
 * vega and vega-lite, loaded on first use rather than with layercache: vega's canvas probe uses top-level
 * await, which would make `require('layercache')` fail, and the two take about half a second to load.
 */
function chartLibraries(): Promise<ChartLibraries> {
  return (libraries ??= Promise.all([import('vega'), import('vega-lite')]).then(([vega, vegaLite]) => ({ vega, vegaLite })));
}

/** The versions of vega and vega-lite that draw the charts. */
export async function chartLibraryVersions(): Promise<{ vega: string; vegaLite: string }> {
  const { vega, vegaLite } = await chartLibraries();
  return { vega: vega.version, vegaLite: vegaLite.version };
}

const CONFIG = {
  font: 'system-ui, -apple-system, Segoe UI, Roboto, sans-serif',
  axis: { labelFontSize: 11, titleFontSize: 12, grid: true, gridColor: '#eee' },
  legend: { labelFontSize: 11, titleFontSize: 12, labelLimit: 260, orient: 'bottom', direction: 'vertical' },
  view: { stroke: null },
};

async function toSvg(spec: TopLevelSpec): Promise<string> {
  const { vega, vegaLite } = await chartLibraries();
  const compiled = vegaLite.compile({ ...spec, config: CONFIG } as TopLevelSpec).spec;
  const view = new vega.View(vega.parse(compiled), { renderer: 'none' });
  try {
    return await view.toSVG();
  } finally {
    view.finalize();
  }
}

export interface ParetoInput {
  /** Calibration (out-of-fold) Pareto front. */
  readonly front: readonly { agreement: number; macsSaved: number; latencySaved: number }[];
  readonly points: readonly { name: string; agreement: number; macsSaved: number; latencySaved: number | null }[];
}

/**
 * MACs saved (or latency saved) vs agreement: the front as a line, named points on top. floor: where the agreement
 * axis starts (0: the whole front); the front's points below it are left out, its staircase entering at the floor
 * with the saving of the first point above it, so that the savings axis fits what is shown.
 */
export async function paretoChart(input: ParetoInput, y: 'macsSaved' | 'latencySaved', floor = 0): Promise<string> {
  const title = y === 'macsSaved' ? 'MACs saved (heads included)' : 'batch-1 latency saved (cost model)';
  const points = input.points.filter((p) => p[y] !== null);
  const shown = input.front.filter((p) => p.agreement >= floor);
  const front = shown.length < input.front.length && shown.length > 0 ? [{ ...shown[0]!, agreement: floor }, ...shown] : shown;
  return toSvg({
    width: 420, height: 260,
    layer: [
      {
        data: { values: front.map((p) => ({ agreement: p.agreement, saved: p[y], series: 'Pareto front (calibration)' })) },
        // A staircase that drops at each point: at an agreement between two points only the saving of the
        // higher-agreement one is reached (step-after drew the lower one's saving across the gap).
        mark: { type: 'line', point: true, interpolate: 'step-before' },
        encoding: {
          x: { field: 'agreement', type: 'quantitative', title: 'agreement with the backbone', scale: floor > 0 ? { domain: [floor, 1] } : { zero: false }, axis: { format: '.1%' } },
          y: { field: 'saved', type: 'quantitative', title, axis: { format: '.0%' } },
          color: { field: 'series', type: 'nominal', title: null, scale: { range: ['#7f8c9d'] } },
        },
      },
      {
        data: { values: points.map((p) => ({ agreement: p.agreement, saved: p[y], name: p.name })) },
        mark: { type: 'point', filled: true, size: 110 },
        encoding: {
          x: { field: 'agreement', type: 'quantitative' },
          y: { field: 'saved', type: 'quantitative' },
          shape: { field: 'name', type: 'nominal', title: null },
          color: { field: 'name', type: 'nominal', title: null, scale: { scheme: 'category10' } },
        },
      },
    ],
    resolve: { scale: { color: 'independent', shape: 'independent' } },
  } as TopLevelSpec);
}

/** Per exit (and the backbone): share of rows answered, and agreement of those rows. */
export async function exitChart(rows: readonly { exit: string; hitRate: number; agreement: number | null }[]): Promise<string> {
  return toSvg({
    data: { values: rows.flatMap((r) => [
      { exit: r.exit, measure: 'share of requests answered', value: r.hitRate },
      ...(r.agreement === null ? [] : [{ exit: r.exit, measure: 'agreement of its answers', value: r.agreement }]),
    ]) },
    mark: 'bar',
    encoding: {
      x: { field: 'exit', type: 'nominal', title: 'answered at', sort: null, axis: { labelAngle: 0 } },
      xOffset: { field: 'measure', type: 'nominal' },
      y: { field: 'value', type: 'quantitative', title: null, axis: { format: '.0%' }, scale: { domain: [0, 1] } },
      color: { field: 'measure', type: 'nominal', title: null, scale: { range: ['#4c78a8', '#d9730d'] } },
      tooltip: [{ field: 'exit' }, { field: 'measure' }, { field: 'value', format: '.2%' }],
    },
    width: 420, height: 240,
  } as TopLevelSpec);
}

/**
 * Per candidate exit, by the share of the backbone's MACs before it: its head's agreement with
 * the backbone, and the share of samples it could answer at the required agreement.
 */
export async function headroomChart(rows: readonly { macsBefore: number; agreement: number; answerable: number }[], tolerance: number): Promise<string> {
  const answerable = `answerable at ≥ ${targetAgreementPct(tolerance)} agreement`;
  return toSvg({
    data: { values: rows.flatMap((r) => [
      { macsBefore: r.macsBefore, measure: 'head agreement (all samples)', value: r.agreement },
      { macsBefore: r.macsBefore, measure: answerable, value: r.answerable },
    ]) },
    mark: { type: 'line', point: true },
    encoding: {
      x: { field: 'macsBefore', type: 'quantitative', title: "share of the backbone's MACs before the exit", axis: { format: '.0%' }, scale: { domain: [0, 1] } },
      y: { field: 'value', type: 'quantitative', title: null, axis: { format: '.0%' }, scale: { domain: [0, 1] } },
      color: { field: 'measure', type: 'nominal', title: null, sort: null, scale: { range: ['#7f8c9d', '#4c78a8'] } },
      tooltip: [{ field: 'measure' }, { field: 'macsBefore', format: '.1%' }, { field: 'value', format: '.1%' }],
    },
    width: 420, height: 240,
  } as TopLevelSpec);
}

/**
 * Per candidate exit, the agreement of its most confident answers at each share answered
 * (hit rate), coloured by the share of the backbone's MACs before the exit, with the required
 * agreement as a rule: where a curve crosses the rule is that exit's answerable share. The
 * agreement axis starts at `floor` (lines below it are clipped).
 */
export async function agreementCurveChart(
  exits: readonly { candidate: number; macsBefore: number; curve: { hitRate: readonly number[]; agreement: readonly number[] } }[],
  tolerance: number, floor: number,
): Promise<string> {
  const values = exits.flatMap((e) => e.curve.hitRate.map((h, k) => ({ candidate: `candidate ${e.candidate}`, macsBefore: e.macsBefore, hitRate: h, agreement: e.curve.agreement[k]! })));
  // Enough decimals that the ticks of a narrow axis (from 99.8% at a tolerance of 0.01%) differ.
  const span = 1 - floor;
  const digits = span >= 0.05 ? 1 : span >= 0.005 ? 2 : 3;
  const y = { field: 'agreement', type: 'quantitative', title: 'agreement of the answered samples', axis: { format: `.${digits}%` }, scale: { domain: [floor, 1] } };
  return toSvg({
    layer: [
      {
        data: { values },
        mark: { type: 'line', clip: true, strokeWidth: 1.5 },
        encoding: {
          x: { field: 'hitRate', type: 'quantitative', title: 'share of samples answered, most confident first', axis: { format: '.0%' }, scale: { domain: [0, 1] } },
          y,
          color: { field: 'macsBefore', type: 'quantitative', title: 'candidate exit: share of MACs before it', scale: { scheme: 'viridis', domain: [0, 1] }, legend: { format: '.0%', direction: 'horizontal', titleLimit: 320 } },
          detail: { field: 'candidate', type: 'nominal' },
          tooltip: [{ field: 'candidate' }, { field: 'macsBefore', format: '.1%' }, { field: 'hitRate', format: '.1%' }, { field: 'agreement', format: '.2%' }],
        },
      },
      {
        data: { values: [{ agreement: 1 - tolerance }] },
        mark: { type: 'rule', color: '#d62728', strokeDash: [4, 3] },
        encoding: { y },
      },
    ],
    width: 420, height: 240,
  } as TopLevelSpec);
}

/** Batch-1 latency distributions of the backbone and the bundle, measured side by side. */
export async function latencyChart(traces: { backbone: readonly number[]; bundle: readonly number[] }): Promise<string> {
  const clip = traces.backbone.length + traces.bundle.length === 0 ? 0 : percentile([...traces.backbone, ...traces.bundle], 0.99);
  const values = [
    ...traces.backbone.map((ms) => ({ system: 'backbone', ms: Math.min(ms, clip) })),
    ...traces.bundle.map((ms) => ({ system: 'bundle', ms: Math.min(ms, clip) })),
  ];
  return toSvg({
    data: { values },
    mark: { type: 'bar', opacity: 0.6, binSpacing: 0 },
    encoding: {
      x: { field: 'ms', type: 'quantitative', bin: { maxbins: 40 }, title: `ms per request (over p99, ${clip.toFixed(3)} ms, in the last bin)` },
      y: { aggregate: 'count', type: 'quantitative', title: 'requests', stack: null },
      color: { field: 'system', type: 'nominal', title: null, scale: { range: ['#7f8c9d', '#d9730d'] } },
    },
    width: 420, height: 240,
  } as TopLevelSpec);
}

/**
 * Where the compute goes: per segment, the MACs of one full pass (segment + its head) and
 * the MACs actually spent per request (scaled by the share of requests that reach it).
 */
export async function computeChart(rows: readonly { segment: string; macsFull: number; macsSpent: number }[]): Promise<string> {
  return toSvg({
    data: { values: rows.flatMap((r) => [
      { segment: r.segment, kind: 'per request that reaches it', macs: r.macsFull },
      { segment: r.segment, kind: 'spent per request (average)', macs: r.macsSpent },
    ]) },
    mark: 'bar',
    encoding: {
      x: { field: 'segment', type: 'nominal', sort: null, title: 'segment (+ the head at its end)', axis: { labelAngle: 0 } },
      xOffset: { field: 'kind', type: 'nominal' },
      y: { field: 'macs', type: 'quantitative', title: 'MACs', axis: { format: '~s' } },
      color: { field: 'kind', type: 'nominal', title: null, scale: { range: ['#7f8c9d', '#54a24b'] } },
    },
    width: 420, height: 240,
  } as TopLevelSpec);
}


