/**
 * The timeline as a Vega-Lite spec: per policy, three panels on one time axis —
 * pending dirty RAM (with the threshold, background rounds as bands, checkpoints and a failover as
 * rules), each checkpoint's downtime stacked by phase, and the pages each checkpoint wasted. Several
 * policies stack their panels one under the other (one SVG, a title per policy).
 *
 * Mark names (what a test or a browser counts): `pending`, `threshold`, `rounds`, `checkpoints`,
 * `failover`, `downtime` (one bar segment per checkpoint and phase), `wasted` (one bar per checkpoint),
 * each suffixed `_<policy>`.
 */
import type { TopLevelSpec } from 'vega-lite';
import type { DowntimePhases } from '../engine/metrics/records.ts';
import type { Timeline } from './timeline.ts';

const MiB = 1024 * 1024;

/** The downtime phases in stacking order, with the words the legend shows. */
export const PHASES: readonly [keyof DowntimePhases, string][] = [
  ['prep', 'prep (stop, save devices)'],
  ['memory', 'RAM'],
  ['vmstate', 'device state'],
  ['received', 'wait vmstate-received'],
  ['applyMem', 'flush colo cache'],
  ['applyDev', 'load devices'],
  ['other', 'other'],
];

const PHASE_COLOURS = ['#9c755f', '#4c78a8', '#72b7b2', '#b279a2', '#f58518', '#54a24b', '#bab0ac'];

const WIDTH = 720;

type Layer = Record<string, unknown>;

function timeAxis(t: Timeline, title: string | null): Record<string, unknown> {
  return {
    type: 'quantitative',
    title,
    scale: { domain: [0, t.durationMs / 1000], nice: false },
  };
}

/** Panel 1: pending RAM, threshold, rounds, checkpoints, failover. */
function pendingPanel(t: Timeline): Layer {
  const id = t.policy;
  const x = timeAxis(t, null);
  const layers: Layer[] = [
    {
      name: `rounds_${id}`,
      data: {
        values: t.rounds.map((r) => ({
          start: r.startMs / 1000,
          end: Math.max(r.endMs, r.startMs + t.durationMs / 2000) / 1000,
          MiB: r.bytes / MiB,
          ok: r.ok,
        })),
      },
      mark: { type: 'rect', color: '#54a24b', opacity: 0.3, clip: true },
      encoding: {
        x: { field: 'start', ...x },
        x2: { field: 'end' },
        tooltip: [
          { field: 'start', title: 'round from (s)', format: '.3f' },
          { field: 'end', title: 'to (s)', format: '.3f' },
          { field: 'MiB', title: 'MiB sent', format: '.1f' },
          { field: 'ok', title: 'reached the cache' },
        ],
      },
    },
    {
      name: `pending_${id}`,
      data: { values: t.pending.map((p) => ({ t: p.atMs / 1000, MiB: p.bytes / MiB })) },
      mark: { type: 'line', color: '#4c78a8', interpolate: 'step-after', clip: true },
      encoding: {
        x: { field: 't', ...x },
        y: { field: 'MiB', type: 'quantitative', title: 'pending dirty RAM (MiB)' },
      },
    },
    {
      name: `checkpoints_${id}`,
      data: {
        values: t.checkpoints.map((c) => ({
          t: c.stopMs / 1000,
          epoch: c.epoch,
          trigger: c.trigger,
          downtime: c.downtimeMs,
        })),
      },
      mark: { type: 'rule', color: '#e45756', strokeWidth: 1.5 },
      encoding: {
        x: { field: 't', ...x },
        tooltip: [
          { field: 'epoch', title: 'checkpoint (epoch)' },
          { field: 'trigger' },
          { field: 't', title: 'stop at (s)', format: '.3f' },
          { field: 'downtime', title: 'downtime (ms)', format: '.1f' },
        ],
      },
    },
  ];
  if (t.thresholdBytes !== null) {
    layers.push({
      name: `threshold_${id}`,
      data: { values: [{ MiB: t.thresholdBytes / MiB }] },
      mark: { type: 'rule', color: '#f58518', strokeDash: [6, 4] },
      encoding: {
        y: { field: 'MiB', type: 'quantitative' },
        tooltip: [{ field: 'MiB', title: 'threshold (MiB)' }],
      },
    });
  }
  if (t.failover !== null) {
    const f = t.failover;
    const values = [{ t: f.atMs / 1000, label: `failover: ${f.owner} took the VM`, reason: f.reason }];
    layers.push(
      {
        name: `failover_${id}`,
        data: { values },
        mark: { type: 'rule', color: 'black', strokeWidth: 2.5, strokeDash: [2, 2] },
        encoding: {
          x: { field: 't', ...x },
          tooltip: [{ field: 'label' }, { field: 'reason' }, { field: 't', title: 'at (s)', format: '.3f' }],
        },
      },
      {
        name: `failoverlabel_${id}`,
        data: { values },
        mark: { type: 'text', align: 'left', baseline: 'top', dx: 4, dy: 2, y: 0, fontSize: 10 },
        encoding: { x: { field: 't', ...x }, text: { field: 'label' } },
      },
    );
  }
  return { width: WIDTH, height: 150, layer: layers };
}

/** Panel 2: each checkpoint's downtime, stacked by phase. */
function downtimePanel(t: Timeline): Layer {
  const values = t.checkpoints.flatMap((c) =>
    PHASES.map(([key, label], order) => ({
      t: c.stopMs / 1000,
      epoch: c.epoch,
      phase: label,
      order,
      ms: c.phases[key],
      total: c.downtimeMs,
    })),
  );
  return {
    name: `downtime_${t.policy}`,
    width: WIDTH,
    height: 90,
    data: { values },
    mark: { type: 'bar', width: 8 },
    encoding: {
      x: { field: 't', ...timeAxis(t, null) },
      y: { field: 'ms', type: 'quantitative', title: 'downtime (ms)', stack: 'zero' },
      color: {
        field: 'phase',
        type: 'nominal',
        title: 'downtime phase',
        legend: { labelLimit: 220 },
        scale: { domain: PHASES.map(([, l]) => l), range: PHASE_COLOURS },
      },
      order: { field: 'order' },
      tooltip: [
        { field: 'epoch', title: 'checkpoint (epoch)' },
        { field: 'phase' },
        { field: 'ms', title: 'phase (ms)', format: '.2f' },
        { field: 'total', title: 'downtime (ms)', format: '.1f' },
      ],
    },
  };
}

/** Panel 3: what each checkpoint's background rounds wasted (pages sent and dirtied again). */
function wastedPanel(t: Timeline): Layer {
  return {
    name: `wasted_${t.policy}`,
    width: WIDTH,
    height: 60,
    data: {
      values: t.checkpoints.map((c) => ({
        t: c.stopMs / 1000,
        epoch: c.epoch,
        pages: c.wastedPages,
        MiB: c.wastedBytes / MiB,
      })),
    },
    mark: { type: 'bar', width: 8, color: '#b279a2' },
    encoding: {
      x: { ...timeAxis(t, 'simulated time (s)'), field: 't' },
      y: {
        field: 'pages',
        type: 'quantitative',
        title: 'wasted pages',
        axis: { format: ',d', tickMinStep: 1 },
      },
      tooltip: [
        { field: 'epoch', title: 'checkpoint (epoch)' },
        { field: 'pages', title: 'wasted pages' },
        { field: 'MiB', title: 'wasted MiB', format: '.2f' },
      ],
    },
  };
}

/** The Vega-Lite spec of one or more runs' timelines (one group of panels per policy, top to bottom). */
export function timelineSpec(timelines: readonly Timeline[], title?: string): TopLevelSpec {
  const groups = timelines.map((t) => ({
    title: {
      text: `${t.policy}: ${t.checkpoints.length} checkpoints, ${t.rounds.filter((r) => r.ok).length} background rounds${t.failover ? `, failover at ${(t.failover.atMs / 1000).toFixed(1)} s` : ''}`,
      anchor: 'start',
      fontSize: 13,
    },
    vconcat: [pendingPanel(t), downtimePanel(t), wastedPanel(t)],
    spacing: 6,
  }));
  return {
    $schema: 'https://vega.github.io/schema/vega-lite/v6.json',
    ...(title ? { title: { text: title, anchor: 'start', fontSize: 14 } } : {}),
    config: { font: 'DejaVu Sans', view: { stroke: '#ddd' } },
    vconcat: groups,
    spacing: 24,
  } as unknown as TopLevelSpec;
}
