/** The figures `colo experiment` records per cell and summarises over seeds. */
import type { PolicyReport } from '../cli/report.ts';

/**
 * Metrics of one cell, each with its title (units included) for tables and charts. MiB figures are totals
 * over the run: `checkpointMiB` RAM + device state sent while the VM was stopped, `backgroundMiB` sent in
 * background rounds, `wastedMiB` of those sent and dirtied again before their checkpoint.
 */
export const METRICS = {
  checkpoints: 'checkpoints',
  downtimeP50Ms: 'downtime p50 (ms)',
  downtimeP99Ms: 'downtime p99 (ms)',
  downtimeMaxMs: 'downtime max (ms)',
  downtimeMeanMs: 'downtime mean (ms)',
  checkpointMiB: 'MiB at checkpoints',
  backgroundMiB: 'MiB in background',
  wastedMiB: 'MiB wasted',
  rounds: 'background rounds',
  simPerWall: 'simulated s / wall s',
  vmDowntimeP99WorstMs: 'worst VM downtime p99 (ms)',
  latencyP99Ms: 'checkpoint latency p99 (ms)',
  linkBusyPct: 'link busy to secondary (%)',
  vmsEnded: 'VMs whose replication ended',
} as const;

/** A metric's name. */
export type MetricName = keyof typeof METRICS;

/** Every metric name, in table order. */
export const METRIC_NAMES = Object.keys(METRICS) as MetricName[];

/** Metrics charted when the experiment file names none. */
export const DEFAULT_CHART_METRICS: readonly MetricName[] = [
  'downtimeP99Ms',
  'checkpointMiB',
  'backgroundMiB',
  'wastedMiB',
];

/**
 * The metrics of a finished run. A fleet run (`vms` above 1) gives every metric; a single VM's run has no
 * checkpoint latency or link share (NaN, written as null and left out of summaries) — its worst VM is itself.
 */
export function metricsOf(run: PolicyReport, simulatedMs: number): Record<MetricName, number> {
  const s = run.summary;
  const f = run.fleet;
  return {
    checkpoints: s.checkpoints,
    downtimeP50Ms: s.downtimeMs.p50,
    downtimeP99Ms: s.downtimeMs.p99,
    downtimeMaxMs: s.downtimeMs.max,
    downtimeMeanMs: s.downtimeMs.mean,
    checkpointMiB: s.checkpointMiB,
    backgroundMiB: s.backgroundMiB,
    wastedMiB: s.wastedMiB,
    rounds: s.rounds,
    simPerWall: run.wallMs > 0 ? simulatedMs / run.wallMs : 0,
    vmDowntimeP99WorstMs: f ? f.perVmDowntimeP99Ms.max : s.downtimeMs.p99,
    latencyP99Ms: f ? f.latencyMs.p99 : Number.NaN,
    linkBusyPct: f ? f.linkUtilisation * 100 : Number.NaN,
    vmsEnded: f
      ? f.vms - (f.outcomes.replicating ?? 0)
      : run.outcome && run.outcome.state !== 'replicating'
        ? 1
        : 0,
  };
}
