/**
 * The HTML report in a real browser: headless Debian Chromium (via playwright-core) renders
 * it with the network cut off; no console errors, no request leaves the page, every chart
 * has drawn marks of non-zero size, and a screenshot is saved to a temporary directory.
 * Skips with a reason where /usr/bin/chromium is absent (`.ci/run` installs it).
 */
import assert from 'node:assert/strict';
import { existsSync, promises as fs } from 'node:fs';
import os from 'node:os';
import path from 'node:path';
import { describe, it } from 'node:test';
import { chromium } from 'playwright-core';
import { tinyReport } from '../support/tiny-report.ts';

const CHROMIUM = '/usr/bin/chromium';
const SKIP = existsSync(CHROMIUM) ? false : `${CHROMIUM} not found (apt-get install chromium); skipping the browser test of the report`;
if (SKIP) console.log(`# ${SKIP}`);

describe('report in headless Chromium', { skip: SKIP }, () => {
  it('renders every chart with marks, without console errors or network requests', async () => {
    const { html, dir } = await tinyReport();
    const file = path.join(dir, 'report.html');
    await fs.writeFile(file, html);
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
      assert.deepEqual(charts.map((c) => c.id), ['pareto-macs', 'pareto-latency', 'exits', 'latency', 'compute']);
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
