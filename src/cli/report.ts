/** The summary table of a report (the report's types: src/runtime/report.ts). */
import { formatCostSection } from '../cost/format.ts';
import type { RunSummary } from '../engine/metrics/summary.ts';
import { formatBandwidth, formatBytes, formatDuration } from '../parameters/units.ts';
import { formatWorkload } from '../parameters/workload.ts';
import type { FaultStats } from '../runtime/embedded/faults.ts';
import { type PolicyReport, REPORT_VERSION, type RunReport } from '../runtime/report.ts';
import { formatFaultSpec } from './fault-spec.ts';
import { OUTCOME_LABEL, type Verdict, verdictOf } from './outcome.ts';

export { type PolicyReport, REPORT_VERSION, type RunReport };

const VERDICT_LABEL: Record<Verdict, string> = {
  consistent: 'consistent',
  'failed-over': 'failed over',
  diverged: 'DIVERGED',
};

/** Renders the side-by-side summary table. */
export function renderTable(report: RunReport): string {
  const { scenario } = report;
  const p = scenario.params;
  const ls = report.localstack;
  const time = ls
    ? `${(scenario.durationMs / 1000).toFixed(0)} s wall-clock on LocalStack (${ls.endpoint}, stack ${ls.stackName}, VM ${ls.vmId}), modelled link`
    : `${(scenario.durationMs / 1000).toFixed(0)} s simulated, link`;
  const head = [
    `scenario ${scenario.name}: guest ${formatBytes(p.guestBytes)}, workload ${formatWorkload(p.workload)}, ` +
      `${time} ${formatBandwidth(scenario.link.bandwidthBytesPerSec)} ` +
      `+ ${formatDuration(scenario.link.latencyMs)}, checkpoint every ${formatDuration(p.checkpointDelayMs)}, ` +
      `pending check every ${formatDuration(p.pendingCheckIntervalMs)}, threshold ${formatBytes(p.thresholdBytes)}, ` +
      `seed ${p.seed}, ${p.payload} payloads`,
  ];
  if (scenario.faults) head.push(`faults: ${formatFaultSpec(scenario.faults)}`);
  if (scenario.fleet) {
    head.push(
      `fleet: ${scenario.fleet.vms} VMs (seeds derived from ${p.seed}) sharing one link and delta store, ` +
        `starts spread over ${formatDuration(scenario.fleet.staggerMs)}; figures over every VM's checkpoints`,
    );
  }
  const measured = ls ? ' measured' : '';
  const rows: [string, (r: PolicyReport) => string][] = [
    ['checkpoints', (r) => String(r.summary.checkpoints)],
    [`downtime p50${measured} (ms)`, (r) => r.summary.downtimeMs.p50.toFixed(1)],
    [`downtime p99${measured} (ms)`, (r) => r.summary.downtimeMs.p99.toFixed(1)],
    [`downtime max${measured} (ms)`, (r) => r.summary.downtimeMs.max.toFixed(1)],
    ['MiB at checkpoints', (r) => r.summary.checkpointMiB.toFixed(1)],
    ['MiB in background', (r) => r.summary.backgroundMiB.toFixed(1)],
    ['MiB wasted', (r) => r.summary.wastedMiB.toFixed(1)],
    ['background rounds', (r) => String(r.summary.rounds)],
    [
      'verification',
      // Nothing verified is not a pass (review E: "ok (0)" beside a failover before the first checkpoint).
      (r) =>
        !r.verification.consistent
          ? 'FAILED'
          : r.verification.checkpointsVerified === 0
            ? 'nothing to check (0)'
            : `ok (${r.verification.checkpointsVerified})`,
    ],
    ['wall time (s)', (r) => (r.wallMs / 1000).toFixed(1)],
  ];
  if (report.runs.some((r) => r.outcome)) {
    rows.splice(rows.length - 1, 0, ['outcome', (r) => (r.outcome ? OUTCOME_LABEL[r.outcome.state] : '-')]);
  }
  rows.splice(rows.length - 1, 0, ['verdict', (r) => VERDICT_LABEL[r.verdict ?? verdictOf(r)]]);
  if (report.runs.some((r) => r.faultStats)) {
    const f = (k: keyof FaultStats) => (r: PolicyReport) => (r.faultStats ? String(r.faultStats[k]) : '-');
    rows.splice(
      rows.length - 1,
      0,
      ['faults: lost deliveries', f('lost')],
      ['faults: dead-lettered', f('deadLettered')],
      ['faults: duplicated', f('duplicated')],
      ['faults: delayed', f('delayed')],
      ['faults: consumers killed', f('crashed')],
      ['faults: puts failed', f('retired')],
      ['faults: puts stalled', f('stalled')],
      ['faults: deletes failed', f('kept')],
      ['faults: outage-deferred', f('deferred')],
      ['rejected inputs', (r) => String(r.rejections ?? '-')],
    );
  }
  if (report.runs.some((r) => r.fleet)) {
    const f = (g: (x: NonNullable<PolicyReport['fleet']>) => string) => (r: PolicyReport) =>
      r.fleet ? g(r.fleet) : '-';
    rows.splice(
      rows.length - 1,
      0,
      ['VMs (sharing the link)', f((x) => String(x.vms))],
      ['per-VM downtime p99: median VM (ms)', f((x) => x.perVmDowntimeP99Ms.p50.toFixed(1))],
      ['per-VM downtime p99: worst VM (ms)', f((x) => x.perVmDowntimeP99Ms.max.toFixed(1))],
      ['checkpoint latency p99 (ms)', f((x) => x.latencyMs.p99.toFixed(1))],
      ['link busy to secondary (%)', f((x) => (x.linkUtilisation * 100).toFixed(1))],
      ['VMs replicating at the end', f((x) => String(x.outcomes.replicating ?? 0))],
      ['delta store peak (MiB)', f((x) => x.storePeakMiB.toFixed(1))],
      ['delta objects left over', f((x) => String(x.storeLeftoverObjects))],
    );
  }
  if (report.runs.some((r) => r.modelled)) {
    const m = (f: (s: RunSummary) => string) => (r: PolicyReport) => (r.modelled ? f(r.modelled) : '-');
    rows.push(
      ['modelled checkpoints', m((s) => String(s.checkpoints))],
      ['modelled downtime p50 (ms)', m((s) => s.downtimeMs.p50.toFixed(1))],
      ['modelled downtime max (ms)', m((s) => s.downtimeMs.max.toFixed(1))],
      ['modelled background rounds', m((s) => String(s.rounds))],
    );
  }
  const cols = report.runs.map((r) => r.policy);
  const w0 = Math.max(...rows.map(([k]) => k.length));
  const cells = rows.map(([k, f]) => [k, ...report.runs.map(f)]);
  const widths = cols.map((c, i) => Math.max(c.length, ...cells.map((row) => (row[i + 1] ?? '').length)));
  const line = (k: string, vals: string[]) =>
    `${k.padEnd(w0)}  ${vals.map((v, i) => v.padStart(widths[i] ?? 0)).join('  ')}`;
  const out = [...head, '', line('', cols), ...cells.map(([k, ...vals]) => line(k ?? '', vals))];
  for (const r of report.runs) {
    if (!r.outcome || r.outcome.state === 'replicating') continue;
    out.push(`  ${r.policy}: ${r.outcome.text}`);
    if (r.outcome.cause) out.push(`  ${' '.repeat(r.policy.length)}  why: ${r.outcome.cause}`);
  }
  for (const r of report.runs) {
    for (const problem of r.verification.problems.slice(0, 5)) out.push(`  ${r.policy}: ${problem}`);
  }
  if (report.cost) {
    out.push('');
    if ('error' in report.cost) out.push(`cost: not measured: ${report.cost.error}`);
    else out.push(...formatCostSection(report.cost));
  }
  return out.join('\n');
}
