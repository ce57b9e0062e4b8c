/**
 * The demo's HTML report in a real browser: `runDemo` (the whole job of `layercache demo`:
 * train the digits backbone, build, evaluate, write the report) into a temporary directory,
 * then headless Debian Chromium (via playwright-core) renders the report with the network
 * cut off; no console errors, no request leaves the page, every chart has drawn marks of
 * non-zero size, and a screenshot is saved next to the report.
 * Skips with a reason where /usr/bin/chromium is absent (`.ci/run` installs it).
 */
import assert from 'node:assert/strict';
import { existsSync, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { chromium } from 'playwright-core';
import { loadConfig } from '../../src/config/index.ts';
import { runDemo } from '../../src/demo/index.ts';
import { SILENT } from '../../src/progress/index.ts';
import { tempDir } from '../support/temp-dir.ts';

const CHROMIUM = '/usr/bin/chromium';
const SKIP = existsSync(CHROMIUM) ? false : `${CHROMIUM} not found (apt-get install chromium); skipping the browser test of the report`;
if (SKIP) console.log(`# ${SKIP}`);

// Skipped on the test, not the suite: node's summary counts a skipped test, but not a skipped suite ('skipped 0').
describe('report in headless Chromium', () => {
  it('renders the demo report: every chart with marks, no console errors, no network requests', { skip: SKIP }, async () => {
    const dir = await tempDir('demo');
    const demo = await runDemo(dir, loadConfig({}, {}), SILENT, { latencySamples: 200 });
    const file = demo.reportFile;
    // A working demo: a backbone that learned the digits and a bundle that exits early while agreeing with it.
    // (The exact figures on this machine are in BENCHMARKS.md, "The demo"; floating-point
    // differences between CPUs may move a few decisions, so the bounds here leave room.)
    assert.ok(demo.evaluation.backbone.accuracy! >= 0.94, `backbone accuracy ${demo.evaluation.backbone.accuracy}`);
    assert.ok(demo.evaluation.cached.agreement >= 0.98, `agreement ${demo.evaluation.cached.agreement}`);
    assert.ok(1 - demo.evaluation.cached.macsPerSample / demo.evaluation.backbone.macsPerSample >= 0.4, 'the bundle saves under 40% of MACs');
    const profile = await fs.mkdtemp(path.join(os.tmpdir(), 'layercache-chromium-'));
    const context = await chromium.launchPersistentContext(profile, {
      executablePath: CHROMIUM,
      headless: true,
      args: ['--headless', '--no-sandbox', '--disable-gpu', '--disable-background-networking', '--disable-component-update', '--disable-sync', '--no-first-run'],
    });
    try {
      const page = await context.newPage();
      const errors: string[] = [];
      const requests: string[] = [];
      page.on('console', (m) => {
        if (m.type() === 'error') errors.push(m.text());
      });
      page.on('pageerror', (e) => errors.push(e.message));
      await page.route('**/*', (route) => {
        const url = route.request().url();
        if (url.startsWith('file:')) return route.continue();
        requests.push(url);
        return route.abort();
      });
      await page.goto(`file://${file}`, { waitUntil: 'load' });
      const charts = await page.$$eval('figure.chart', (figs) => figs.map((f) => {
        const svg = f.querySelector('svg');
        const box = svg?.getBoundingClientRect();
        const drawn = [...f.querySelectorAll('g.role-mark path, g.role-mark rect')].filter((el) => {
          const b = (el as unknown as { getBBox(): { width: number; height: number } }).getBBox();
          return b.width > 0 || b.height > 0;
        }).length;
        return { id: f.id, width: box?.width ?? 0, height: box?.height ?? 0, drawn };
      }));
      assert.deepEqual(charts.map((c) => c.id), ['pareto-macs', 'pareto-latency', 'exits', 'latency', 'compute', 'headroom', 'curves']);
      for (const c of charts) {
        assert.ok(c.width > 100 && c.height > 100, `${c.id}: chart is ${c.width}×${c.height}`);
        assert.ok(c.drawn > 0, `${c.id}: no drawn marks`);
      }
      assert.deepEqual(errors, []);
      assert.deepEqual(requests, []);
      const shot = path.join(dir, 'report.png');
      await page.screenshot({ path: shot, fullPage: true });
      assert.ok((await fs.stat(shot)).size > 10_000);
      console.log(`screenshot: ${shot}`);
    } finally {
      await context.close();
      await fs.rm(profile, { recursive: true, force: true });
    }
  });
});
