/**
 * report.html in a real headless Chromium: the page loads from a file with no network request and no
 * console error, every chart draws the number of points and error bars its data has, and a hovered point
 * shows its figures (the charts are interactive, not pictures).
 */
import { mkdtempSync, rmSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { pathToFileURL } from 'node:url';
import puppeteer, { type Browser } from 'puppeteer-core';
import { afterAll, beforeAll, describe, expect, it } from 'vitest';
import { cli } from '../unit/cli/run-cli.ts';
import { chromiumPath } from './chromium.ts';

/** The bits of the DOM the page functions below use (the project compiles without the DOM library). */
interface PageElement {
  dataset: Record<string, string | undefined>;
  textContent: string | null;
  style: { display: string };
  querySelectorAll(selector: string): ArrayLike<PageElement> & Iterable<PageElement>;
}
declare const document: { body: PageElement; getElementById(id: string): PageElement | null };

const dir = mkdtempSync(join(tmpdir(), 'colo-browser-'));
let browser: Browser;

/** Two panels (workloads) × 3 thresholds × 2 policies, 2 seeds: 12 groups per chart, all with error bars. */
const GRID = `
name: browser
base: { guest: 16MiB, duration: 20s, checkpointDelay: 5s, payload: modelled }
grid:
  workload: ['hotcold:hotPages=256,hotRate=2000,coldRate=500', 'uniform:rate=1000']
  threshold: [512KiB, 2MiB, 8MiB]
  policy: [none, fixed]
seeds: 2
chart: { x: threshold, log: true, metrics: [downtimeP99Ms, backgroundMiB, wastedMiB] }
`;

beforeAll(async () => {
  const file = join(dir, 'browser.yaml');
  writeFileSync(file, GRID);
  const r = await cli(['experiment', file, '--out', join(dir, 'out'), '--quiet', '--no-png']);
  expect(r.err).toBe('');
  expect(r.code).toBe(0);
  browser = await puppeteer.launch({
    executablePath: chromiumPath(),
    headless: true,
    args: ['--no-sandbox', '--disable-gpu', '--disable-dev-shm-usage'],
  });
});

afterAll(async () => {
  await browser?.close();
  rmSync(dir, { recursive: true, force: true });
});

describe('report.html in headless Chromium', () => {
  it('loads offline with no console error and draws every chart with its marks', async () => {
    const page = await browser.newPage();
    const errors: string[] = [];
    const requests: string[] = [];
    page.on('console', (m) => {
      if (m.type() === 'error' || m.type() === 'warn') errors.push(`${m.type()}: ${m.text()}`);
    });
    page.on('pageerror', (e) => errors.push(`pageerror: ${e instanceof Error ? e.message : String(e)}`));
    page.on('request', (r) => {
      if (!r.url().startsWith('file:')) requests.push(r.url());
    });
    await page.goto(pathToFileURL(join(dir, 'out', 'report.html')).href, { waitUntil: 'load' });
    await page.waitForFunction(
      () => document.body.dataset.rendered !== undefined || document.body.dataset.error !== undefined,
      {
        timeout: 60_000,
      },
    );
    const state = await page.evaluate(() => ({ ...document.body.dataset }));
    expect(state.error).toBeUndefined();
    expect(state.rendered).toBe('4'); // three charts and the run timelines

    const charts = await page.$$eval('div.chart', (divs) =>
      divs.map((d) => {
        const metric = (d as unknown as PageElement).dataset.metric ?? '';
        const count = (name: string) =>
          [...(d as unknown as PageElement).querySelectorAll(`g.${name}_${metric}_marks`)].reduce(
            (a, g) => a + g.querySelectorAll('path, line').length,
            0,
          );
        return {
          metric,
          expectedPoints: Number((d as unknown as PageElement).dataset.points),
          expectedBars: Number((d as unknown as PageElement).dataset.errorBars),
          points: count('points'),
          bars: count('ci'),
          svg: (d as unknown as PageElement).querySelectorAll('svg').length,
        };
      }),
    );
    expect(charts.map((c) => c.metric)).toEqual(['downtimeP99Ms', 'backgroundMiB', 'wastedMiB']);
    for (const c of charts) {
      expect(c.svg, c.metric).toBe(1);
      expect(c.expectedPoints, c.metric).toBe(12);
      expect(c.points, c.metric).toBe(c.expectedPoints);
      expect(c.bars, c.metric).toBe(c.expectedBars);
    }
    const timeline = await page.$eval('#timeline', (d) => {
      const el = d as unknown as PageElement;
      const count = (name: string) =>
        [...el.querySelectorAll(`g.${name}_marks`)].reduce(
          (a, g) => a + g.querySelectorAll('path, line').length,
          0,
        );
      return {
        expected: JSON.parse(el.dataset.checkpoints ?? '{}') as Record<string, number>,
        none: count('checkpoints_none'),
        fixed: count('checkpoints_fixed'),
        rounds: count('rounds_fixed'),
      };
    });
    expect(timeline.expected).toEqual({ none: 3, fixed: 3 });
    expect(timeline.none).toBe(3);
    expect(timeline.fixed).toBe(3);
    expect(timeline.rounds).toBeGreaterThan(0);
    const rows = await page.$$eval('table tbody tr', (trs) => trs.length);
    expect(rows).toBe(12);
    expect(requests).toEqual([]);
    expect(errors).toEqual([]);
    await page.close();
  });

  it('a hovered point shows its figures', async () => {
    const page = await browser.newPage();
    await page.goto(pathToFileURL(join(dir, 'out', 'report.html')).href, { waitUntil: 'load' });
    await page.waitForFunction(() => document.body.dataset.rendered === '4', { timeout: 60_000 });
    const point = await page.$('#chart-downtimeP99Ms g.points_downtimeP99Ms_marks path');
    expect(point).not.toBeNull();
    await point?.hover();
    await page.waitForFunction(() => document.getElementById('tip')?.style.display === 'block', {
      timeout: 10_000,
    });
    const tip = await page.$eval('#tip', (t) => t.textContent ?? '');
    expect(tip).toMatch(/cells: workload=\S+ threshold=\S+ policy=(none|fixed)/);
    expect(tip).toMatch(/downtime p99 \(ms\): [\d,.]+/);
    expect(tip).toMatch(/seeds: 2/);
    await page.close();
  });
});
