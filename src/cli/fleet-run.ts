/**
 * One policy of a fleet scenario (`colo run --vms N`, N > 1) on the embedded runtime: N VMs sharing one
 * link and delta store (src/runtime/embedded/fleet.ts), turned into one policy report whose summary is
 * fleet-wide and whose `fleet` section gives the per-VM spreads and what the sharing cost.
 */
import type { CheckpointRecord } from '../engine/metrics/records.ts';
import { emptyRoundTotals, percentile, summarise } from '../engine/metrics/summary.ts';
import type { PolicyName } from '../engine/params.ts';
import { PAGE_SIZE } from '../engine/protocol/delta.ts';
import { PendingSampler } from '../report/timeline.ts';
import { runFleet } from '../runtime/embedded/fleet.ts';
import type { FleetReport, OutcomeState, RunOutcome, Spread } from '../runtime/report.ts';
import { verifyRun } from '../runtime/verify.ts';
import { outcomeOf, verdictOf } from './outcome.ts';
import { explainReason, type Figures } from './plan.ts';
import type { PolicyReport } from './report.ts';
import { type Recording, type RunOptions, recordingOf } from './run-command.ts';
import type { Scenario } from './scenario.ts';

/** Problems listed per fleet run (the rest are counted). */
const MAX_PROBLEMS = 20;
/** Pending-RAM samples on VM 0's timeline. */
const TIMELINE_SAMPLES = 2000;

/** The nearest-rank p50, p99 and max of `values` (zeros when empty). */
export function spreadOf(values: number[]): Spread {
  if (values.length === 0) return { p50: 0, p99: 0, max: 0 };
  const sorted = Float64Array.from(values).sort();
  const at = (p: number) => sorted[Math.max(1, Math.ceil((p / 100) * sorted.length)) - 1] ?? 0;
  return { p50: at(50), p99: at(99), max: sorted[sorted.length - 1] ?? 0 };
}

/** Runs one policy of a fleet scenario; returns its report and VM 0's recording when asked for. */
export function runFleetPolicy(
  scenario: Scenario,
  policy: PolicyName,
  figures: Figures,
  options: RunOptions = {},
): { report: PolicyReport; recording: Recording } {
  const fleet = scenario.fleet ?? { vms: 1, staggerMs: 0 };
  const record = options.record ?? {};
  const clock = options.now ?? (() => performance.now());
  const params = { ...scenario.params, policy };
  const sampler = record.timeline ? new PendingSampler(scenario.durationMs / TIMELINE_SAMPLES) : undefined;
  // Each VM's PVM digest at every checkpoint stop (transactions its primary gave up on included).
  const stopDigests: Map<number, string>[] = Array.from({ length: fleet.vms }, () => new Map());
  const t0 = clock();
  const result = runFleet({
    params,
    link: scenario.link,
    durationMs: scenario.durationMs,
    vms: fleet.vms,
    staggerMs: fleet.staggerMs,
    ...(scenario.faults ? { faultModel: scenario.faults } : {}),
    ...(record.timeline || record.trace ? { vm0: { trace: record.trace === true } } : {}),
    // The report reads each VM's round totals; only VM 0's timeline lists rounds.
    keep: { rounds: false },
    onProgress: (f) => options.progress?.(policy, f),
    observe: (vm, at, p) => {
      if (p.txn?.digest) stopDigests[vm]?.set(p.epoch, p.txn.digest);
      if (vm === 0) sampler?.offer(at, p.dirty.count * PAGE_SIZE);
    },
  });
  const checkpoints: CheckpointRecord[] = [];
  const rounds = emptyRoundTotals();
  const perVmP50: number[] = [];
  const perVmP99: number[] = [];
  const latencies: number[] = [];
  const outcomes: Partial<Record<OutcomeState, number>> = {};
  const problems: string[] = [];
  let verified = 0;
  let diverged = 0;
  let rejections = 0;
  let messages = 0;
  let firstEnded: { vmId: string; outcome: RunOutcome } | undefined;
  for (const [i, vm] of result.vms.entries()) {
    const r = vm.result;
    for (const c of r.checkpoints) {
      checkpoints.push(c);
      latencies.push(c.messageMs + c.downtimeMs);
    }
    // Exact in any order: round bytes are whole numbers, their sum far below 2^53.
    rounds.count += r.roundTotals.count;
    rounds.ok += r.roundTotals.ok;
    rounds.okBytes += r.roundTotals.okBytes;
    rounds.pages += r.roundTotals.pages;
    const downtimes = r.checkpoints.map((c) => c.downtimeMs);
    perVmP50.push(percentile(downtimes, 50));
    perVmP99.push(percentile(downtimes, 99));
    const v = verifyRun(r, vm.params, {
      expectRejections: scenario.faults !== undefined,
      stopDigests: stopDigests[i] ?? new Map(),
    });
    verified += v.checkpointsVerified;
    if (!v.consistent) diverged++;
    for (const p of v.problems) {
      if (problems.length < MAX_PROBLEMS) problems.push(`${vm.params.vmId}: ${p}`);
    }
    const outcome = outcomeOf(r);
    outcomes[outcome.state] = (outcomes[outcome.state] ?? 0) + 1;
    if (!firstEnded && outcome.state !== 'replicating') firstEnded = { vmId: vm.params.vmId, outcome };
    rejections += r.rejections.length;
    messages += r.messagesSent;
  }
  const vm0 = result.vms[0]?.result;
  if (!vm0) throw new Error('a fleet run returned no VM');
  const more = problems.length < MAX_PROBLEMS ? 0 : diverged;
  if (more > 0) problems.push(`… (${diverged} VMs did not verify)`);
  // The report's outcome: the first VM whose replication ended, else VM 0's (every VM replicating).
  let outcome = outcomeOf(vm0);
  if (firstEnded) {
    outcome = { ...firstEnded.outcome, text: `${firstEnded.vmId}: ${firstEnded.outcome.text}` };
    outcome.cause =
      outcome.reason === null ? null : explainReason(outcome.reason, outcome.at, scenario, figures);
  }
  const verification = { consistent: diverged === 0, checkpointsVerified: verified, problems };
  const MiB = 1024 * 1024;
  const fleetReport: FleetReport = {
    vms: fleet.vms,
    staggerMs: fleet.staggerMs,
    perVmDowntimeP50Ms: spreadOf(perVmP50),
    perVmDowntimeP99Ms: spreadOf(perVmP99),
    latencyMs: spreadOf(latencies),
    outcomes,
    diverged,
    linkUtilisation: result.linkUtilisation,
    linkMiB: { toSecondary: result.linkBytes.toSecondary / MiB, toPrimary: result.linkBytes.toPrimary / MiB },
    storePeakObjects: result.store.peakObjects,
    storePeakMiB: result.store.peakBytes / MiB,
    storeLeftoverObjects: result.store.leftoverObjects,
    storeLeftoverMiB: result.store.leftoverBytes / MiB,
    events: result.events,
  };
  const report: PolicyReport = {
    policy,
    verdict: verdictOf({ verification, outcome }),
    summary: summarise(checkpoints, rounds),
    verification,
    outcome,
    rejections,
    final: vm0.final,
    messages,
    wallMs: clock() - t0,
    fleet: fleetReport,
  };
  const recording = recordingOf(
    { policy, durationMs: scenario.durationMs, thresholdBytes: params.thresholdBytes },
    vm0,
    sampler,
    record.trace === true,
  );
  return { report, recording };
}
