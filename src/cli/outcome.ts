/** How a run ended, in words a user reads: still replicating, or which side won the VM, when and why. */
import type { EmbeddedResult } from '../runtime/embedded/run.ts';
import { type OutcomeState, type RunOutcome, type Verdict, verdictOf } from '../runtime/report.ts';

export { type OutcomeState, type RunOutcome, type Verdict, verdictOf };

/** Exit codes of `colo run` (README, `colo run --help`). */
export const EXIT = {
  /** Every run consistent and measured. */
  ok: 0,
  /** Bad input (flag, scenario file, output path) or the backend could not be reached: nothing ran. */
  usage: 1,
  /** A run's replicas diverged. */
  diverged: 2,
  /** No run diverged, but replication ended in a failover in at least one. */
  failedOver: 3,
  /** Every run consistent, but at least one measured nothing (no checkpoint completed). */
  nothingMeasured: 4,
  /** An internal error (a bug): `COLO_DEBUG=1` shows the stack. */
  internal: 70,
  /** Interrupted (Ctrl-C); the finished policies were printed. */
  interrupted: 130,
  /** Stopped by SIGTERM; what finished was kept, as for Ctrl-C. */
  terminated: 143,
} as const;

/** The exit codes with their meaning, for help and docs. */
export const EXIT_CODES: readonly [number, string][] = [
  [EXIT.ok, 'every run consistent: replicating to the end, replicas verified'],
  [EXIT.usage, 'bad input (flag, scenario file, output path) or backend unreachable; nothing ran'],
  [EXIT.diverged, 'the replicas diverged in at least one run'],
  [EXIT.failedOver, 'no divergence, but replication ended in a failover (consistent image) in a run'],
  [EXIT.nothingMeasured, 'consistent, but a run completed no checkpoint: its figures are zeros'],
  [EXIT.internal, 'internal error (a bug; COLO_DEBUG=1 prints the stack)'],
  [EXIT.interrupted, 'interrupted by Ctrl-C; the finished policies were printed'],
  [EXIT.terminated, 'stopped by SIGTERM; the finished policies were printed, as for Ctrl-C'],
];

/**
 * The exit code of a set of runs: the worst verdict wins (diverged, then failed-over), then runs that
 * measured nothing (no checkpoint).
 */
export function exitCodeOf(
  runs: readonly {
    verdict?: Verdict;
    verification: { consistent: boolean };
    outcome?: RunOutcome;
    summary: { checkpoints: number };
  }[],
): number {
  const verdicts = runs.map((r) => r.verdict ?? verdictOf(r));
  if (verdicts.includes('diverged')) return EXIT.diverged;
  if (verdicts.includes('failed-over')) return EXIT.failedOver;
  if (runs.some((r) => r.summary.checkpoints === 0)) return EXIT.nothingMeasured;
  return EXIT.ok;
}

/** Labels of the outcome states (table cells). */
export const OUTCOME_LABEL: Record<OutcomeState, string> = {
  replicating: 'replicating',
  ending: 'ending (claiming)',
  'primary-alone': 'primary alone',
  'secondary-took-over': 'SVM took over',
};

const seconds = (ms: number) => `${(ms / 1000).toFixed(1)} s`;

/** Rounds the long decimals float arithmetic leaves in a reason (`9999.999999999998 ms` → `10000 ms`). */
export function tidyReason(reason: string): string {
  return reason.replace(/\d+\.\d{4,}/g, (n) => String(+Number(n).toFixed(1)));
}

/** Reads the outcome off an embedded run. */
export function outcomeOf(result: EmbeddedResult): RunOutcome {
  const primaryPhase = result.primary.phase;
  const secondaryPhase = result.secondary.phase;
  const phases = { primaryPhase, secondaryPhase };
  const fence = result.fence;
  if (fence === null) {
    const claimer =
      primaryPhase === 'claiming' ? 'primary' : secondaryPhase === 'claiming' ? 'secondary' : undefined;
    if (claimer === undefined) {
      return { state: 'replicating', text: 'replicating', at: null, reason: null, ...phases };
    }
    const reason =
      (claimer === 'primary' ? result.primary.claimReason : result.secondary.claimReason) || 'unknown';
    return {
      state: 'ending',
      text: `replication ending: the ${claimer} is claiming the VM, no answer by the end of the run (${tidyReason(reason)})`,
      at: null,
      reason,
      ...phases,
    };
  }
  const loser = fence.owner === 'primary' ? 'secondary' : 'primary';
  const loserPhase = loser === 'primary' ? primaryPhase : secondaryPhase;
  const stopped = loserPhase === 'fenced' ? `${loser} fenced` : `${loser} not yet told (${loserPhase})`;
  const what = fence.owner === 'primary' ? 'primary runs alone' : 'secondary took over';
  return {
    state: fence.owner === 'primary' ? 'primary-alone' : 'secondary-took-over',
    text: `replication ended at ${seconds(fence.at)}: ${what} (${stopped}) — ${tidyReason(fence.reason)}`,
    at: fence.at,
    reason: fence.reason,
    ...phases,
  };
}
