/**
 * The report of a run, whichever runtime ran it (docs/report-format.md): the resolved scenario, one entry per
 * policy with its figures, verification and outcome, and the verdict the exit code follows. Runtimes
 * produce it; the CLI prints and writes it.
 */
import type { CostSection } from '../cost/section.ts';
import type { RunSummary } from '../engine/metrics/summary.ts';
import type { ColoParams, PolicyName } from '../engine/params.ts';
import type { FaultModel, FaultStats } from './embedded/faults.ts';
import type { LinkParams } from './embedded/link.ts';

/** A resolved scenario: engine parameters, link, duration and the policies to compare. */
export interface Scenario {
  /** Display name; says which keys the flags changed when they changed a named scenario. */
  name: string;
  /** Engine parameters (the `policy` field is replaced per run). */
  params: ColoParams;
  /** Modelled link. */
  link: LinkParams;
  /** Simulated time, ms. */
  durationMs: number;
  /** Policies to run, in order. */
  policies: PolicyName[];
  /** Seeded faults (`--faults`, the `faults` key), absent when none. */
  faults?: FaultModel;
  /** A fleet (`--vms` above 1): that many VMs sharing the link, starts spread over `staggerMs`; absent for one VM. */
  fleet?: { vms: number; staggerMs: number };
}

/** Where replication stands at the end of a run. */
export type OutcomeState = 'replicating' | 'ending' | 'primary-alone' | 'secondary-took-over';

/** The outcome of one run (report field `outcome`). */
export interface RunOutcome {
  /**
   * `replicating`: no side gave up; `ending`: a side is claiming the VM and no answer came before the run
   * ended; `primary-alone`: the primary won the fence and runs alone (secondary fenced);
   * `secondary-took-over`: the secondary won the fence and runs from its last commit (primary fenced).
   */
  state: OutcomeState;
  /** One line for humans. */
  text: string;
  /** When replication ended (the fence was decided), ms of run time; null if it did not (or is ending). */
  at: number | null;
  /** Why, as the side that claimed the VM said it; null if replication did not end. */
  reason: string | null;
  /** Final phases of both nodes. */
  primaryPhase: string;
  secondaryPhase: string;
  /** Why, in words a user acts on (which timeout, what the link had to carry); null while replicating. */
  cause?: string | null;
}

/**
 * How a run ended, as the exit code tells it: `consistent` (replicating to the end, replicas verified),
 * `failed-over` (replication ended — one side took the VM — and the committed image verified) or
 * `diverged` (the replicas did not verify).
 */
export type Verdict = 'consistent' | 'failed-over' | 'diverged';

/** A run's verdict from its verification and outcome. */
export function verdictOf(run: { verification: { consistent: boolean }; outcome?: RunOutcome }): Verdict {
  if (!run.verification.consistent) return 'diverged';
  if (run.outcome && run.outcome.state !== 'replicating') return 'failed-over';
  return 'consistent';
}

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
  /** A fleet run (`--vms` above 1): per-VM spreads and what the VMs shared; `summary` is fleet-wide. */
  fleet?: FleetReport;
}

/** A figure's spread over the VMs of a fleet (nearest-rank percentiles over VMs). */
export interface Spread {
  /** Median VM. */
  p50: number;
  /** 99th-percentile VM. */
  p99: number;
  /** Worst VM. */
  max: number;
}

/**
 * Figures of a fleet run. The policy's `summary` is fleet-wide (every checkpoint of every VM); these say how
 * the VMs differ and what their sharing of one link cost.
 */
export interface FleetReport {
  /** VMs simulated. */
  vms: number;
  /** Their starts were spread over this, ms. */
  staggerMs: number;
  /** Each VM's own downtime p50 and p99, spread over the VMs, ms. */
  perVmDowntimeP50Ms: Spread;
  perVmDowntimeP99Ms: Spread;
  /** Checkpoint latency (request → resume: the request round trip plus the downtime) over every checkpoint, ms. */
  latencyMs: Spread;
  /** VMs by where replication stood at the end. */
  outcomes: Partial<Record<OutcomeState, number>>;
  /** VMs whose replicas did not verify. */
  diverged: number;
  /** Share of the run the primary → secondary direction of the shared link was busy, 0..1. */
  linkUtilisation: number;
  /** MiB the shared link carried each way. */
  linkMiB: { toSecondary: number; toPrimary: number };
  /** The shared delta store's peak: objects held and their modelled MiB. */
  storePeakObjects: number;
  storePeakMiB: number;
  /** Delta objects left over at the end (the secondary could not delete them: `delete-fail`), and their MiB. */
  storeLeftoverObjects: number;
  storeLeftoverMiB: number;
  /** Simulation events processed. */
  events: number;
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
  /**
   * Backend `localstack` only: the AWS cost per protected VM-month from the requests the functions made
   * during the run (src/cost/), or why it could not be measured.
   */
  cost?: CostSection | { error: string };
}
