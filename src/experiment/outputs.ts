/**
 * Writes an experiment's folder from its finished cells: experiment.json (the resolved configuration),
 * cells.csv, summary.csv, summary.md, one chart per metric (SVG + PNG) and report.html. cells.jsonl is
 * written as cells finish (src/experiment/cell-log.ts); everything here is rebuilt from it on every run.
 */
import { writeFileSync } from 'node:fs';
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
  const cells = withRows(experiment, rows);
  const groups = summarise(cells);
  const finished = cells.filter((c) => c.row).length;
  writeFileSync(join(dir, OUTPUT_FILES.config), `${JSON.stringify(resolvedConfig(experiment), null, 2)}\n`);
  writeFileSync(join(dir, OUTPUT_FILES.cellsCsv), cellsCsv(experiment, cells));
  writeFileSync(join(dir, OUTPUT_FILES.summaryCsv), summaryCsv(experiment, groups));
  writeFileSync(join(dir, OUTPUT_FILES.summary), summaryMarkdown(experiment, groups, { finished }));
  const charts = experimentCharts(experiment, groups);
  for (const c of charts) {
    const svg = await renderSvg(c.spec);
    writeFileSync(join(dir, `${c.name}.svg`), svg);
    if (options.png !== false) writeFileSync(join(dir, `${c.name}.png`), await svgToPng(svg));
  }
  const picked = timelineCells(experiment);
  const timelines = recordTimelines(picked);
  let timeline: ReportTimeline | undefined;
  if (timelines.length > 0 && picked[0]) {
    const where = picked[0].group.replace(/ ?policy=\S+/, '');
    const spec = timelineSpec(timelines, `run timelines: ${where ? `${where} ` : ''}seed=${picked[0].seed}`);
    const svg = await renderSvg(spec);
    writeFileSync(join(dir, `${OUTPUT_FILES.timeline}.svg`), svg);
    if (options.png !== false) writeFileSync(join(dir, `${OUTPUT_FILES.timeline}.png`), await svgToPng(svg));
    timeline = {
      spec,
      checkpoints: Object.fromEntries(timelines.map((t) => [t.policy, t.checkpoints.length])),
    };
  }
  writeFileSync(
    join(dir, OUTPUT_FILES.report),
    await reportHtml(experiment, groups, charts, finished, timeline),
  );
  return groups;
}
