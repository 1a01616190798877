import type { RunSummary } from '../engine/metrics/summary.ts';
import type { PolicyName } from '../engine/params.ts';
import { formatBandwidth, formatBytes, formatDuration } from '../parameters/units.ts';
import { formatWorkload } from '../parameters/workload.ts';
import type { FaultStats } from '../runtime/embedded/faults.ts';
import { formatFaultSpec } from './fault-spec.ts';
import { OUTCOME_LABEL, type RunOutcome, type Verdict, verdictOf } from './outcome.ts';
import type { Scenario } from './scenario.ts';

/** Report format version (docs/report-format.md). */
export const REPORT_VERSION = 1;

/** One policy's run in a report. */
export interface PolicyReport {
  /** Policy name. */
  policy: PolicyName;
  /** How the run ended: `consistent`, `failed-over` or `diverged` (the exit code follows the worst). */
  verdict?: Verdict;
  /** Figures of this run that are not measurements (e.g. no checkpoint completed), one line each. */
  warnings?: string[];
  /** Headline figures. */
  summary: RunSummary;
  /** Replica checks. */
  verification: { consistent: boolean; checkpointsVerified: number; problems: string[] };
  /** Final memory digests and committed epoch. */
  final: { primaryDigest: string; committedDigest: string; runningDigest: string; committedEpoch: number };
  /**
   * Backend `embedded`: how the run ended — still replicating, or which side won the VM (the fence), when
   * and why. A fenced failover is an outcome, not a verification failure.
   */
  outcome?: RunOutcome;
  /** Backend `embedded` with faults: what the fault model injected. */
  faultStats?: FaultStats;
  /** Backend `embedded`: inputs the nodes rejected (faults cause some: duplicates, late copies). */
  rejections?: number;
  /** Protocol messages sent (both directions). */
  messages: number;
  /** Wall-clock time the run took, ms. */
  wallMs: number;
  /**
   * Backend `localstack` only: the embedded runtime's figures for the same parameters and duration on the
   * modelled link, next to the measured `summary` (whose times are wall-clock on LocalStack).
   */
  modelled?: RunSummary;
}

/** The machine-readable report `colo run --json` writes. */
export interface RunReport {
  /** Format version. */
  version: typeof REPORT_VERSION;
  /** Where it ran. */
  backend: 'embedded' | 'localstack';
  /** The resolved scenario. */
  scenario: Scenario;
  /** Warnings derived from the scenario before it ran (`--dry-run` prints them too), one line each. */
  warnings?: string[];
  /** One entry per policy, in the order run (only the finished ones when interrupted). */
  runs: PolicyReport[];
  /** Set when the run was interrupted (Ctrl-C): the policies that did not finish. */
  interrupted?: { notRun: PolicyName[] };
  /** Backend `localstack` only: the emulator endpoint, the stack and the VM the run used. */
  localstack?: { endpoint: string; stackName: string; vmId: string };
}

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
      (r) => (r.verification.consistent ? `ok (${r.verification.checkpointsVerified})` : 'FAILED'),
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
      ['faults: outage-deferred', f('deferred')],
      ['rejected inputs', (r) => String(r.rejections ?? '-')],
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
  return out.join('\n');
}
