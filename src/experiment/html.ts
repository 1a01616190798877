/**
 * report.html: one self-contained page per experiment — the vega runtime inlined from node_modules (no
 * network), each chart compiled to a Vega spec and drawn as SVG in the browser (legend picks a policy,
 * points show their figures on hover), and the summary table.
 *
 * Each chart sits in `<div class="chart" data-metric=M data-points=N data-error-bars=E>`; the page sets
 * `document.body.dataset.rendered` to the number of charts drawn, or `data-error` to what went wrong.
 */
import { readFileSync } from 'node:fs';
import { createRequire } from 'node:module';
import { dirname, join } from 'node:path';
import type { TopLevelSpec } from 'vega-lite';
import { compileSpec } from '../report/chart.ts';
import { label } from './axes.ts';
import type { ExperimentChart } from './charts.ts';
import type { Experiment } from './grid.ts';
import { METRICS } from './metrics.ts';
import type { GroupSummary } from './summary.ts';
import { meanCi, tableMetrics } from './tables.ts';

/** The minified vega runtime (read once). */
let vegaScript: string | undefined;
function vegaRuntime(): string {
  if (vegaScript === undefined) {
    const require = createRequire(import.meta.url);
    // The package exports only its module build; the browser bundle sits beside it.
    vegaScript = readFileSync(join(dirname(require.resolve('vega')), 'vega.min.js'), 'utf8');
  }
  return vegaScript;
}

/** Text safe inside HTML. */
function esc(s: string): string {
  return s.replace(/&/g, '&amp;').replace(/</g, '&lt;').replace(/>/g, '&gt;').replace(/"/g, '&quot;');
}

/** Script text safe inside a `<script>` element. */
function scriptSafe(s: string): string {
  return s.replace(/<\/(script)/gi, '<\\/$1').replace(/<!--/g, '<\\!--');
}

const STYLE = `
body { font-family: 'DejaVu Sans', system-ui, sans-serif; margin: 2rem; color: #222; max-width: 1400px; }
h1 { font-size: 1.4rem; } h2 { font-size: 1.1rem; margin-top: 2rem; }
.charts { display: flex; flex-wrap: wrap; gap: 1.5rem; }
table { border-collapse: collapse; font-size: 0.85rem; }
th, td { border: 1px solid #ddd; padding: 0.25rem 0.5rem; } td.n { text-align: right; font-variant-numeric: tabular-nums; }
#tip { position: fixed; pointer-events: none; background: #fff; border: 1px solid #999; padding: 0.3rem 0.5rem;
  font-size: 0.8rem; display: none; box-shadow: 0 1px 4px rgba(0,0,0,.2); }
`;

/** What the page runs: draws every chart, with a small tooltip, and records how it went on `<body>`. */
const BOOT = `
(async function () {
  const tip = document.getElementById('tip');
  const show = (handler, event, item, value) => {
    if (value == null || value === '') { tip.style.display = 'none'; return; }
    const rows = typeof value === 'object'
      ? Object.entries(value).map(([k, v]) => '<b>' + k + '</b>: ' + v).join('<br>')
      : String(value);
    tip.innerHTML = rows;
    tip.style.display = 'block';
    tip.style.left = (event.clientX + 12) + 'px';
    tip.style.top = (event.clientY + 12) + 'px';
  };
  const specs = JSON.parse(document.getElementById('specs').textContent);
  let drawn = 0;
  try {
    for (const [id, spec] of Object.entries(specs)) {
      const view = new vega.View(vega.parse(spec), { renderer: 'svg', container: '#' + id, hover: true });
      view.tooltip(show);
      await view.runAsync();
      drawn++;
    }
    document.body.dataset.rendered = String(drawn);
  } catch (e) {
    document.body.dataset.error = String(e && e.message || e);
    throw e;
  }
})();
`;

/** The summary table as HTML. */
function summaryTable(experiment: Experiment, groups: readonly GroupSummary[]): string {
  const metrics = tableMetrics(experiment);
  const head = [...experiment.axes, 'seeds', ...metrics.map((m) => METRICS[m]), 'verdicts'];
  const rows = groups.map(
    (g) =>
      `<tr>${experiment.axes.map((a) => `<td>${esc(label(g.values[a]))}</td>`).join('')}` +
      `<td class="n">${g.finished}</td>` +
      metrics.map((m) => `<td class="n">${esc(meanCi(g.metrics[m].mean, g.metrics[m].ci95))}</td>`).join('') +
      `<td>${esc(
        Object.entries(g.verdicts)
          .map(([v, n]) => `${n} ${v}`)
          .join(', ') || '—',
      )}</td></tr>`,
  );
  return `<table><thead><tr>${head.map((h) => `<th>${esc(h)}</th>`).join('')}</tr></thead><tbody>${rows.join('')}</tbody></table>`;
}

/** The run timelines a report shows: their spec and the checkpoints each policy's panel marks. */
export interface ReportTimeline {
  /** The timeline's Vega-Lite spec (src/report/timeline-chart.ts). */
  spec: TopLevelSpec;
  /** Checkpoints per policy (the `checkpoints_<policy>` marks). */
  checkpoints: Record<string, number>;
}

/** The report page of an experiment. */
export async function reportHtml(
  experiment: Experiment,
  groups: readonly GroupSummary[],
  charts: readonly ExperimentChart[],
  finished: number,
  timeline?: ReportTimeline,
): Promise<string> {
  const f = experiment.file;
  const specs: Record<string, object> = {};
  for (const c of charts) specs[`chart-${c.metric}`] = await compileSpec(c.spec);
  if (timeline) specs.timeline = await compileSpec(timeline.spec);
  const chartDivs = charts
    .map(
      (c) =>
        `<div class="chart" id="chart-${c.metric}" data-metric="${c.metric}" data-points="${c.points}" data-error-bars="${c.errorBars}"></div>`,
    )
    .join('\n');
  return `<!doctype html>
<html lang="en">
<head>
<meta charset="utf-8">
<title>Experiment ${esc(f.name)}</title>
<style>${STYLE}</style>
<script>${scriptSafe(vegaRuntime())}</script>
</head>
<body>
<h1>Experiment ${esc(f.name)}</h1>
${f.description ? `<p>${esc(f.description.trim())}</p>` : ''}
<p>${experiment.cells.length} cells (${groups.length} groups × ${experiment.seeds.length} seeds), ${finished} finished, embedded runtime.
Means over seeds with 95 % confidence intervals; click a legend entry to pick a policy, hover a point for its figures.</p>
<p>Base: <code>${esc(JSON.stringify(f.base ?? {}))}</code></p>
<h2>Charts</h2>
<div class="charts">
${chartDivs}
</div>
${
  timeline
    ? `<h2>Run timelines</h2>
<p>One cell per policy, run again with its timeline: pending dirty RAM against the threshold, background rounds (green),
checkpoints (red) with their downtime split into phases, and the pages each checkpoint wasted.</p>
<div class="timeline" id="timeline" data-checkpoints="${esc(JSON.stringify(timeline.checkpoints))}"></div>`
    : ''
}
<h2>Summary</h2>
${summaryTable(experiment, groups)}
<div id="tip"></div>
<script type="application/json" id="specs">${scriptSafe(JSON.stringify(specs))}</script>
<script>${BOOT}</script>
</body>
</html>
`;
}
