import assert from 'node:assert/strict';
import { promises as fs } from 'node:fs';
import { after, before, describe, it } from 'node:test';
import { tinyReport } from '../../test/support/tiny-report.ts';
import { agreementCurveChart, paretoChart } from './charts.ts';
import { renderReport } from './report.ts';

let html: string;
let dir: string;
let input: Awaited<ReturnType<typeof tinyReport>>['input'];

before(async () => {
  ({ html, dir, input } = await tinyReport());
});

after(async () => {
  await fs.rm(dir, { recursive: true, force: true });
});

describe('HTML report', () => {
  it('is one self-contained page: no scripts, no external resources, the title escaped', () => {
    assert.match(html, /^<!doctype html>/);
    assert.doesNotMatch(html, /<script/i);
    assert.doesNotMatch(html, /(src|href)=["']?(https?:)?\/\//i);
    assert.match(html, /<title>tiny &lt;report&gt;<\/title>/);
  });

  it('has the seven charts, each with drawn marks', () => {
    const figures = [...html.matchAll(/<figure id="([a-z-]+)" class="chart">([\s\S]*?)<\/figure>/g)];
    assert.deepEqual(figures.map((f) => f[1]), ['pareto-macs', 'pareto-latency', 'exits', 'latency', 'compute', 'headroom', 'curves']);
    for (const [, id, body] of figures) {
      assert.match(body!, /<svg[^>]*class="marks"/, `${id}: no SVG`);
      // A mark group with at least one drawn path, rect or symbol.
      const marks = [...body!.matchAll(/<g class="mark-(rect|symbol|line|area)[^"]*role-mark[^"]*"[^>]*>([\s\S]*?)<\/g>/g)];
      assert.ok(marks.some((m) => /<path|<rect/.test(m[2]!)), `${id}: no drawn marks`);
    }
  });

  it('shows the side-by-side figures, the exit table and the settings', () => {
    assert.match(html, /agreement with the backbone/);
    assert.match(html, /MACs per sample \(heads included\)/);
    assert.match(html, /<td>exit 0<\/td><td>b1_out<\/td>/);
    assert.match(html, /build\.tolerance<\/td><td>0\.2<\/td>/);
    assert.match(html, /onnxruntime-node \d+\.\d+\.\d+/);
    // The words the page uses, explained.
    for (const term of ['backbone', 'exit, head', 'agreement', 'hit rate', 'MACs', 'calibration', 'headroom, in-sample best']) assert.match(html, new RegExp(`<dt>${term}</dt><dd>`));
    // The headroom caption names the build tolerance (0.2) and the in-sample best found on these samples.
    // The curves' caption names the agreement the bundle was built for (1 − 0.2).
    assert.match(html, /The dashed line is the 80% agreement the bundle was built for/);
    assert.match(html, /at 20% tolerance, with MACs as the cost: -?\d+\.\d% of MACs saved with \d+ exits? \(\d+\.\d\d% agreement\)/);
  });
});

describe('the evaluation data', () => {
  it('is called held out, under a verdict, when it does not overlap the build\'s; otherwise a warning says so and nothing says held out', async () => {
    assert.match(html, /<p class="verdict">The bundle answers [\d.]+% of these samples early and (saves [\d.]+% of the backbone's MACs per sample|spends [\d.]+% more MACs per sample than the backbone \(its heads cost more than its exits save\)), agreeing with the backbone on [\d.]+% of them \(built for at least 80%: (not )?met on these samples\)\. Timed beside the backbone in this run: /);
    assert.match(html, /on the same 100 held-out samples \(raw:/);
    assert.doesNotMatch(html, /class="warning"/);
    const built = String(input.manifest.build.data);
    const overlapping = built.replace('#0-199', '#150-249');
    assert.notEqual(overlapping, built);
    const page = await renderReport({ ...input, evaluation: { ...input.evaluation, data: overlapping } });
    assert.match(page, /<p class="warning">Warning: these samples overlap the records the bundle was built from/);
    assert.match(page, /on the same 100 samples \(raw:.*#150-249, which overlap the build's raw:.*#0-199\)/);
    assert.doesNotMatch(page, /held.out/i);
    // A retrained bundle's build data is live traffic: not known to be held out, and no warning either.
    const retrained = await renderReport({ ...input, manifest: { ...input.manifest, build: { ...input.manifest.build, data: 'live traffic (5000 buffered samples)' } } });
    assert.match(retrained, /on the same 100 samples \(raw:.*#200-299; the build's data, live traffic \(5000 buffered samples\), cannot be compared with them\)/);
    assert.doesNotMatch(retrained, /held.out|class="warning"/i);
  });
});

describe('exits', () => {
  it('give each exit\'s agreement with the number of answers it rests on; a bundle without exits draws no exit or compute chart', async () => {
    const n = Math.round(input.evaluation.cached.exitRates[0]! * input.evaluation.samples);
    const agreeing = Math.round(input.evaluation.cached.exitAgreement![0]! * n);
    assert.ok(n > 0);
    assert.match(html, new RegExp(`<td>\\d+\\.\\d\\d% \\(${agreeing} of ${n}\\)</td></tr>`));
    const none = await renderReport({ ...input, manifest: { ...input.manifest, exits: [] } });
    assert.deepEqual([...none.matchAll(/<figure id="([a-z-]+)"/g)].map((f) => f[1]), ['pareto-macs', 'pareto-latency', 'latency', 'headroom', 'curves']);
    assert.match(none, /<p class="verdict">The bundle keeps no exit: it runs the backbone alone and saves nothing\./);
  });
});

describe('captions', () => {
  it('give the timing blocks the evaluation used', async () => {
    assert.match(html, /alternating blocks of 50 on the same inputs/);
    const few = await renderReport({ ...input, evaluation: { ...input.evaluation, latencySaved: { ...input.evaluation.latencySaved, blockSize: 7 } } });
    assert.match(few, /alternating blocks of 7 on the same inputs/);
  });
});

describe('charts', () => {
  it('draws the Pareto front as a staircase that drops at each point: between two points only the higher-agreement saving is reached', async () => {
    const svg = await paretoChart({ front: [{ agreement: 0.5, macsSaved: 0.9, latencySaved: 0.9 }, { agreement: 0.9, macsSaved: 0.2, latencySaved: 0.2 }], points: [] }, 'macsSaved');
    const d = svg.match(/aria-roledescription="line mark" d="([^"]+)"/)?.[1] ?? '';
    // From the first point straight down to the second's saving, then across to it (not across at 90% first).
    const [start, down, across] = [...d.matchAll(/[ML]([\d.]+),([\d.]+)/g)].map((m): [number, number] => [Number(m[1]), Number(m[2])]);
    assert.ok(start && down && across, d);
    assert.equal(down[0], start[0], `vertical first: ${d}`);
    assert.equal(across[1], down[1], d);
    assert.ok(across[0] > start[0], d);
  });

  it('starts the agreement axis at the floor asked for, leaving out the front below it and fitting the savings axis to what is shown', async () => {
    const front = [{ agreement: 0.5, macsSaved: 0.9, latencySaved: 0.9 }, { agreement: 0.95, macsSaved: 0.3, latencySaved: 0.3 }, { agreement: 0.99, macsSaved: 0.1, latencySaved: 0.1 }];
    const labels = (svg: string): number[] => [...svg.matchAll(/<text[^>]*>(\d+(?:\.\d)?)%<\/text>/g)].map((t) => Number(t[1]));
    const whole = labels(await paretoChart({ front, points: [] }, 'macsSaved'));
    assert.ok(whole.includes(90) && Math.min(...whole) <= 50, `ticks ${whole.join(' ')}`);
    const zoomed = labels(await paretoChart({ front, points: [] }, 'macsSaved', 0.9));
    // Agreement ticks from 90%, savings ticks up to 30%: nothing of the 50% point is left.
    assert.ok(zoomed.filter((v) => v >= 90).length >= 3 && !zoomed.some((v) => v > 30 && v < 90), `ticks ${zoomed.join(' ')}`);
  });

  it('labels a narrow agreement axis with the digits that tell its ticks apart', async () => {
    const svg = await agreementCurveChart([{ candidate: 0, macsBefore: 0.3, curve: { hitRate: [0, 0.5, 1], agreement: [1, 0.999, 0.99] } }], 0.0001, 0.998);
    const ticks = [...svg.matchAll(/<text[^>]*>(99\.\d+%|100\.\d+%)<\/text>/g)].map((m) => m[1]);
    assert.ok(ticks.length >= 3, svg.slice(0, 200));
    assert.equal(new Set(ticks).size, ticks.length, `duplicate tick labels: ${ticks.join(' ')}`);
  });

});
