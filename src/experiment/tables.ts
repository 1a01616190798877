/** The experiment's tables: cells.csv, summary.csv and summary.md. */
import { label, POLICY_AXIS } from './axes.ts';
import type { Experiment } from './grid.ts';
import { METRIC_NAMES, METRICS, type MetricName } from './metrics.ts';
import type { CellWithRow, GroupSummary } from './summary.ts';

/** A CSV field: quoted when it holds a comma, quote or line break. */
function csvField(v: unknown): string {
  const s = typeof v === 'number' ? (Number.isNaN(v) ? '' : String(v)) : label(v ?? '');
  return /[",\n\r]/.test(s) ? `"${s.replace(/"/g, '""')}"` : s;
}

function csv(rows: readonly (readonly unknown[])[]): string {
  return rows.map((r) => `${r.map(csvField).join(',')}\n`).join('');
}

/** cells.csv: one row per finished cell of the current grid, in grid order. */
export function cellsCsv(experiment: Experiment, cells: readonly CellWithRow[]): string {
  const axes = experiment.axes.filter((a) => a !== POLICY_AXIS);
  const head = [
    'key',
    ...axes,
    'policy',
    'seed',
    'verdict',
    'outcome',
    ...METRIC_NAMES,
    'simulatedMs',
    'wallMs',
  ];
  const rows = cells.flatMap(({ cell, row }) =>
    row
      ? [
          [
            cell.key,
            ...axes.map((a) => cell.values[a]),
            cell.policy,
            cell.seed,
            row.verdict,
            row.outcome,
            ...METRIC_NAMES.map((m) => row.metrics[m]),
            row.simulatedMs,
            row.wallMs,
          ],
        ]
      : [],
  );
  return csv([head, ...rows]);
}

/** summary.csv: one row per group — its axes, seeds finished, and each metric's mean and 95 % half-width. */
export function summaryCsv(experiment: Experiment, groups: readonly GroupSummary[]): string {
  const axes = experiment.axes;
  const head = [...axes, 'seeds', ...METRIC_NAMES.flatMap((m) => [`${m}_mean`, `${m}_ci95`])];
  const rows = groups.map((g) => [
    ...axes.map((a) => g.values[a]),
    g.finished,
    ...METRIC_NAMES.flatMap((m) => [g.metrics[m].mean, g.metrics[m].ci95]),
  ]);
  return csv([head, ...rows]);
}

/** A mean with its 95 % half-width, e.g. `340.7 ± 2.1` (`—` when nothing finished). */
export function meanCi(mean: number, ci95: number): string {
  if (Number.isNaN(mean)) return '—';
  const digits = Number.isInteger(mean) ? 0 : Math.abs(mean) >= 100 ? 1 : Math.abs(mean) >= 1 ? 2 : 3;
  // No spread over the seeds (or one seed): the mean alone.
  if (Number.isNaN(ci95) || ci95 === 0) return mean.toFixed(digits);
  const ciDigits = Math.max(digits, Math.abs(mean) >= 100 ? 1 : Math.abs(mean) >= 1 ? 2 : 3);
  return `${mean.toFixed(ciDigits)} ± ${ci95.toFixed(ciDigits)}`;
}

/** The metrics the summary table shows: the charted ones, then checkpoints and rounds. */
export function tableMetrics(experiment: Experiment): MetricName[] {
  return [...new Set<MetricName>([...experiment.chart.metrics, 'checkpoints', 'rounds'])];
}

/** summary.md: what ran, then one table row per group with mean ± 95 % CI over seeds. */
export function summaryMarkdown(
  experiment: Experiment,
  groups: readonly GroupSummary[],
  run: { finished: number },
): string {
  const f = experiment.file;
  const metrics = tableMetrics(experiment);
  const axes = experiment.axes;
  const lines = [
    `# Experiment ${f.name}`,
    '',
    ...(f.description ? [f.description.trim(), ''] : []),
    `${experiment.cells.length} cells (${groups.length} groups × ${experiment.seeds.length} seeds: ${experiment.seeds.join(', ')}), ` +
      `${run.finished} finished; embedded runtime. Figures are means over seeds ± the half-width of their 95 % ` +
      "confidence interval (Student's t); MiB figures are totals over the run.",
    '',
    `Base: \`${JSON.stringify(f.base ?? {})}\``,
    '',
    `| ${[...axes, 'seeds', ...metrics.map((m) => METRICS[m]), 'verdicts'].join(' | ')} |`,
    `| ${[...axes.map(() => '---'), '---:', ...metrics.map(() => '---:'), '---'].join(' | ')} |`,
    ...groups.map(
      (g) =>
        `| ${[
          ...axes.map((a) => label(g.values[a])),
          String(g.finished),
          ...metrics.map((m) => meanCi(g.metrics[m].mean, g.metrics[m].ci95)),
          Object.entries(g.verdicts)
            .map(([v, n]) => `${n} ${v}`)
            .join(', ') || '—',
        ].join(' | ')} |`,
    ),
    '',
    ...experiment.chart.metrics.map((m) => `![${METRICS[m]}](chart-${m}.svg)`),
    '',
  ];
  return lines.join('\n');
}
