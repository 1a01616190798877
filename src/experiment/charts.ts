/**
 * The charts of an experiment, as Vega-Lite specs: one per metric, its mean over seeds against the chart's
 * x axis with the 95 % confidence interval as an error bar, a colour per policy, a column per value of
 * the other axes. In report.html the legend picks a policy and points show their figures.
 *
 * Mark names (what tests and the browser check count): `points_<metric>` (one per group with a finished
 * cell), `ci_<metric>` (one per group with two or more seeds).
 */
import type { TopLevelSpec } from 'vega-lite';
import { POLICY_NAMES, type PolicyName } from '../engine/params.ts';
import { axisScale, label, POLICY_AXIS } from './axes.ts';
import type { Experiment } from './grid.ts';
import { METRICS, type MetricName } from './metrics.ts';
import type { GroupSummary } from './summary.ts';

/** One colour per policy, the same on every chart. */
const POLICY_COLOURS: Record<PolicyName, string> = { none: '#e45756', fixed: '#4c78a8', adaptive: '#54a24b' };

/** One chart: its metric, file base name and spec, and how many points and error bars it draws. */
export interface ExperimentChart {
  /** The metric charted. */
  metric: MetricName;
  /** File base name (`chart-downtimeP99Ms`). */
  name: string;
  /** The Vega-Lite spec. */
  spec: TopLevelSpec;
  /** Points it draws (groups with a finished cell). */
  points: number;
  /** Error bars it draws (groups with two or more finished seeds). */
  errorBars: number;
}

/** The chart data of one group: where it sits and what it shows. */
function datum(experiment: Experiment, g: GroupSummary, metric: MetricName) {
  const { x } = experiment.chart;
  const scale = axisScale(x);
  const others = experiment.axes.filter((a) => a !== x && a !== POLICY_AXIS);
  const e = g.metrics[metric];
  return {
    x: scale.plot(g.values[x]),
    xLabel: label(g.values[x]),
    policy: label(g.values[POLICY_AXIS]),
    panel: others.map((a) => `${a}=${label(g.values[a])}`).join(' ') || 'all',
    mean: e.mean,
    lo: Number.isNaN(e.ci95) ? e.mean : e.mean - e.ci95,
    hi: Number.isNaN(e.ci95) ? e.mean : e.mean + e.ci95,
    ci95: Number.isNaN(e.ci95) ? null : e.ci95,
    n: e.n,
    group: g.group,
  };
}

/** The charts of an experiment from its group summaries. */
export function experimentCharts(experiment: Experiment, groups: readonly GroupSummary[]): ExperimentChart[] {
  const { x, log } = experiment.chart;
  const finished = groups.filter((g) => g.finished > 0);
  const scale = axisScale(x);
  const xValues = (experiment.file.grid?.[x] ?? []).map((v) => scale.plot(v));
  const numeric = finished.length > 0 && finished.every((g) => typeof scale.plot(g.values[x]) === 'number');
  const hasPanels = experiment.axes.some((a) => a !== x && a !== POLICY_AXIS);
  // Panels in the order the file lists their values (grid order).
  const panels = [...new Set(finished.map((g) => datum(experiment, g, 'checkpoints').panel))];
  return experiment.chart.metrics.map((metric) => {
    const values = finished.map((g) => datum(experiment, g, metric));
    const xEnc = numeric
      ? {
          field: 'x',
          type: 'quantitative',
          title: scale.title,
          scale: { type: log ? 'log' : 'linear', nice: false, zero: false },
          // Ticks at the grid's values, so every measured point sits on a labelled tick.
          axis: { values: xValues.filter((v) => typeof v === 'number'), labelOverlap: true },
        }
      : { field: 'xLabel', type: 'ordinal', title: scale.title, sort: xValues.map(String) };
    const present = POLICY_NAMES.filter((p) => values.some((v) => v.policy === p));
    const color = {
      field: 'policy',
      type: 'nominal',
      title: 'policy',
      scale: { domain: present, range: present.map((p) => POLICY_COLOURS[p]) },
    };
    const opacity = { condition: { param: `pick_${metric}`, value: 1 }, value: 0.15 };
    const tooltip = [
      { field: 'group', title: 'cells' },
      { field: 'mean', title: METRICS[metric], format: ',.2f' },
      { field: 'ci95', title: '± 95 % CI', format: ',.2f' },
      { field: 'n', title: 'seeds' },
    ];
    const layer = [
      {
        name: `ci_${metric}`,
        transform: [{ filter: 'datum.n > 1' }],
        mark: { type: 'rule', strokeWidth: 1.5 },
        encoding: { x: xEnc, y: { field: 'lo', type: 'quantitative' }, y2: { field: 'hi' }, color, opacity },
      },
      {
        name: `line_${metric}`,
        mark: { type: 'line', strokeWidth: 1.5 },
        encoding: { x: xEnc, y: { field: 'mean', type: 'quantitative' }, color, opacity },
      },
      {
        name: `points_${metric}`,
        params: [{ name: `pick_${metric}`, select: { type: 'point', fields: ['policy'] }, bind: 'legend' }],
        mark: { type: 'point', filled: true, size: 60 },
        encoding: {
          x: xEnc,
          y: { field: 'mean', type: 'quantitative', title: METRICS[metric] },
          color,
          opacity,
          tooltip,
        },
      },
    ];
    const inner = { width: 300, height: 220, layer };
    const body = hasPanels
      ? { facet: { column: { field: 'panel', type: 'nominal', title: null, sort: panels } }, spec: inner }
      : inner;
    const spec = {
      $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
      title: {
        text: `${METRICS[metric]} — mean over seeds ± 95 % CI${metric.endsWith('MiB') ? ' (total over the run)' : ''}`,
        anchor: 'start',
        fontSize: 13,
      },
      config: { font: 'DejaVu Sans' },
      data: { values },
      ...body,
    } as unknown as TopLevelSpec;
    return {
      metric,
      name: `chart-${metric}`,
      spec,
      points: values.length,
      errorBars: values.filter((v) => v.n > 1).length,
    };
  });
}
