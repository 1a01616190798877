import { summarise } from '../engine/metrics/summary.ts';
import type { PolicyName } from '../engine/params.ts';
import { PAGE_SIZE } from '../engine/protocol/delta.ts';
import { durationFlag, formatDuration } from '../parameters/units.ts';
import { PendingSampler, type Timeline, type TimelineSource, timelineOf } from '../report/timeline.ts';
import { type RecordedTrace, type TraceLine, traceLines } from '../report/trace-lines.ts';
import { runEmbedded, TOTALS_ONLY } from '../runtime/embedded/run.ts';
import { verifyRun } from '../runtime/verify.ts';
import { runFleetPolicy } from './fleet-run.ts';
import { outcomeOf, verdictOf } from './outcome.ts';
import { explainReason, type Figures, figuresOf, planWarnings } from './plan.ts';
import { type PolicyReport, REPORT_VERSION, type RunReport } from './report.ts';
import type { Scenario } from './scenario.ts';

/** Options of a run. */
export interface RunOptions {
  /** Called as simulated time passes, with the policy and the fraction of its run done (0..1). */
  progress?: (policy: string, fraction: number) => void;
  /** Wall clock for `wallMs`, ms (default `performance.now`). */
  now?: () => number;
  /** What to record beyond the report (`--timeline`, `--trace`). */
  record?: RecordRequest;
}

/** What a run should record beyond its report. */
export interface RecordRequest {
  /** The timeline (`colo run --timeline`). */
  timeline?: boolean;
  /** The QEMU-named trace events (`colo run --trace`). */
  trace?: boolean;
}

/** What a run recorded beyond its report (the parts asked for). */
export interface Recording {
  /** The run's timeline. */
  timeline?: Timeline;
  /** The run's trace events, as trace-file lines. */
  trace?: TraceLine[];
}

/** Warnings about one finished run: figures that are zeros rather than measurements. */
export function runWarnings(run: PolicyReport, scenario: Scenario): string[] {
  if (run.summary.checkpoints > 0) return [];
  const o = run.outcome;
  const why =
    o && o.at !== null
      ? `replication ended at ${formatDuration(o.at)}, before the first checkpoint completed`
      : scenario.durationMs <= scenario.params.checkpointDelayMs
        ? `the run (${durationFlag(scenario.durationMs)}) ended before the first checkpoint (${durationFlag(scenario.params.checkpointDelayMs)})`
        : 'no checkpoint completed';
  return [`${run.policy}: ${why}: downtime and MiB at checkpoints are zeros, not measurements`];
}

/** Runs one policy of a scenario on the embedded runtime. */
export function runPolicy(
  scenario: Scenario,
  policy: PolicyName,
  options: RunOptions = {},
  figures: Figures = figuresOf(scenario),
): PolicyReport {
  return runPolicyRecorded(scenario, policy, options, figures).report;
}

/** Pending-RAM samples per run on a timeline (plus every drop). */
const TIMELINE_SAMPLES = 2000;

/**
 * What a run recorded beyond its report: the timeline from the sampled pending RAM (when sampled) and the
 * trace lines (when asked for), of one VM's run (a fleet's VM 0).
 */
export function recordingOf(
  run: { policy: PolicyName; durationMs: number; thresholdBytes: number },
  source: TimelineSource & { trace: readonly RecordedTrace[] },
  sampler: PendingSampler | undefined,
  trace: boolean,
): Recording {
  const recording: Recording = {};
  if (sampler) recording.timeline = timelineOf(run, source, sampler.samples);
  if (trace) recording.trace = traceLines(run.policy, source.trace);
  return recording;
}

/** Runs one policy of a scenario on the embedded runtime; returns its report and what `options.record` asked for. */
export function runPolicyRecorded(
  scenario: Scenario,
  policy: PolicyName,
  options: RunOptions = {},
  figures: Figures = figuresOf(scenario),
): { report: PolicyReport; recording: Recording } {
  if (scenario.fleet) {
    const fleet = runFleetPolicy(scenario, policy, figures, options);
    fleet.report.warnings = runWarnings(fleet.report, scenario);
    return fleet;
  }
  const record = options.record ?? {};
  const sampler = record.timeline ? new PendingSampler(scenario.durationMs / TIMELINE_SAMPLES) : undefined;
  const clock = options.now ?? (() => performance.now());
  const params = { ...scenario.params, policy };
  const t0 = clock();
  // The PVM's digest at every checkpoint stop, including transactions the primary gave up on.
  const stopDigests = new Map<number, string>();
  const result = runEmbedded({
    params,
    link: scenario.link,
    durationMs: scenario.durationMs,
    onProgress: (f) => options.progress?.(policy, f),
    ...(scenario.faults ? { faults: { model: scenario.faults } } : {}),
    ...(record.trace ? { trace: true } : {}),
    // The report reads totals only; a timeline also lists every round and pending check.
    keep: record.timeline ? { rounds: true, pendingChecks: true, messages: false } : TOTALS_ONLY,
    observe: (at, p) => {
      if (p.txn?.digest) stopDigests.set(p.epoch, p.txn.digest);
      sampler?.offer(at, p.dirty.count * PAGE_SIZE);
    },
  });
  // Injected faults cause rejections (duplicates, copies after a redelivery): they are counted, not failures.
  const verification = verifyRun(result, params, {
    expectRejections: scenario.faults !== undefined,
    stopDigests,
  });
  const outcome = outcomeOf(result);
  outcome.cause =
    outcome.reason === null ? null : explainReason(outcome.reason, outcome.at, scenario, figures);
  const run: PolicyReport = {
    policy,
    verdict: verdictOf({ verification, outcome }),
    summary: summarise(result.checkpoints, result.roundTotals),
    verification,
    outcome,
    ...(scenario.faults ? { faultStats: result.faultStats } : {}),
    rejections: result.rejections.length,
    final: result.final,
    messages: result.messagesSent,
    wallMs: clock() - t0,
  };
  run.warnings = runWarnings(run, scenario);
  const recording = recordingOf(
    { policy, durationMs: scenario.durationMs, thresholdBytes: params.thresholdBytes },
    result,
    sampler,
    record.trace === true,
  );
  return { report: run, recording };
}

/** Runs a scenario once per policy on the embedded runtime, all on the same seed. */
export function runScenario(scenario: Scenario, options: RunOptions = {}): RunReport {
  const figures = figuresOf(scenario);
  const runs = scenario.policies.map((policy) => runPolicy(scenario, policy, options, figures));
  return newReport(scenario, runs, planWarnings(scenario, figures));
}

/** A report of the embedded backend from finished runs. */
export function newReport(scenario: Scenario, runs: PolicyReport[], warnings: string[]): RunReport {
  return { version: REPORT_VERSION, backend: 'embedded', scenario, warnings, runs };
}
