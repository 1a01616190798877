/**
 * Writes an experiment's folder from its finished cells: experiment.json (the resolved configuration),
 * cells.csv, summary.csv, summary.md, one chart per metric (SVG + PNG) and report.html. cells.jsonl is
 * written as cells finish (src/experiment/cell-log.ts); everything here is rebuilt from it on every run.
 */
import { readdirSync, rmSync, writeFileSync } from 'node:fs';
import { join } from 'node:path';
import { renderSvg, svgToPng } from '../report/chart.ts';
import { timelineSpec } from '../report/timeline-chart.ts';
import type { CellRow } from './cell-run.ts';
import { experimentCharts } from './charts.ts';
import type { Experiment } from './grid.ts';
import { type ReportTimeline, reportHtml } from './html.ts';
import { type GroupSummary, summarise, withRows } from './summary.ts';
import { cellsCsv, summaryCsv, summaryMarkdown } from './tables.ts';
import { recordTimelines, timelineCells } from './timelines.ts';

/** The files of an experiment's folder, by role. */
export const OUTPUT_FILES = {
  config: 'experiment.json',
  cells: 'cells.jsonl',
  cellsCsv: 'cells.csv',
  summaryCsv: 'summary.csv',
  summary: 'summary.md',
  report: 'report.html',
  timeline: 'timeline',
} as const;

/** The resolved configuration as written to experiment.json. */
export function resolvedConfig(experiment: Experiment): object {
  const f = experiment.file;
  return {
    name: f.name,
    ...(f.description ? { description: f.description } : {}),
    file: experiment.path,
    base: f.base ?? {},
    grid: f.grid ?? {},
    seeds: experiment.seeds,
    chart: experiment.chart,
    cells: experiment.cells.map((c) => ({
      key: c.key,
      group: c.group,
      seed: c.seed,
      policy: c.policy,
      scenario: c.scenario,
    })),
  };
}

/** Writes every output but cells.jsonl into `dir`; returns the group summaries. */
export async function writeOutputs(
  experiment: Experiment,
  rows: ReadonlyMap<string, CellRow>,
  dir: string,
  options: { png?: boolean } = {},
): Promise<GroupSummary[]> {
  const written = new Set<string>();
  const write = (name: string, data: string | Uint8Array) => {
    writeFileSync(join(dir, name), data);
    written.add(name);
  };
  const cells = withRows(experiment, rows);
  const groups = summarise(cells);
  const finished = cells.filter((c) => c.row).length;
  write(OUTPUT_FILES.config, `${JSON.stringify(resolvedConfig(experiment), null, 2)}\n`);
  write(OUTPUT_FILES.cellsCsv, cellsCsv(experiment, cells));
  write(OUTPUT_FILES.summaryCsv, summaryCsv(experiment, groups));
  write(OUTPUT_FILES.summary, summaryMarkdown(experiment, groups, { finished }));
  const charts = experimentCharts(experiment, groups);
  for (const c of charts) {
    const svg = await renderSvg(c.spec);
    write(`${c.name}.svg`, svg);
    if (options.png !== false) write(`${c.name}.png`, await svgToPng(svg));
  }
  const picked = timelineCells(experiment);
  const timelines = recordTimelines(picked);
  let timeline: ReportTimeline | undefined;
  if (timelines.length > 0 && picked[0]) {
    const where = picked[0].group.replace(/ ?policy=\S+/, '');
    const spec = timelineSpec(timelines, `run timelines: ${where ? `${where} ` : ''}seed=${picked[0].seed}`);
    const svg = await renderSvg(spec);
    write(`${OUTPUT_FILES.timeline}.svg`, svg);
    if (options.png !== false) write(`${OUTPUT_FILES.timeline}.png`, await svgToPng(svg));
    timeline = {
      spec,
      checkpoints: Object.fromEntries(timelines.map((t) => [t.policy, t.checkpoints.length])),
    };
  }
  write(OUTPUT_FILES.report, await reportHtml(experiment, groups, charts, finished, timeline));
  removeStaleImages(dir, written);
  return groups;
}

/** Images of an earlier run: `chart-METRIC` and `timeline`, as SVG or PNG. */
const IMAGE = new RegExp(`^(chart-[A-Za-z0-9]+|${OUTPUT_FILES.timeline})\\.(svg|png)$`);

/**
 * Removes the images an earlier run wrote and this one did not (a metric no longer charted, `--no-png`,
 * `timeline: false`), so that the folder shows only this run's outputs.
 */
function removeStaleImages(dir: string, written: ReadonlySet<string>): void {
  for (const name of readdirSync(dir))
    if (IMAGE.test(name) && !written.has(name)) rmSync(join(dir, name), { force: true });
}
