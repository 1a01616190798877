import { type ContentMix, DEFAULT_CONTENT_MIX } from './memory/page-content.ts';
import { PAGE_SIZE } from './protocol/delta.ts';
import type { WorkloadSpec } from './workload/spec.ts';

/** Background-migration policy: `none` = upstream COLO, `fixed` = the seed, `adaptive` = bandwidth-aware. */
export type PolicyName = 'none' | 'fixed' | 'adaptive';

/** All policy names. */
export const POLICY_NAMES: readonly PolicyName[] = ['none', 'fixed', 'adaptive'];

/** How page data is carried: real bytes built, sent and verified, or page versions only (bytes counted). */
export type PayloadMode = 'materialised' | 'modelled';

/** Whether the secondary VM executes between checkpoints (COLO) or only holds the replica (Remus-style). */
export type SecondaryMode = 'passive' | 'running';

/** Modelled costs of local work, used by the engine to time phases it cannot measure. */
export interface CostModel {
  /** Stopping the VM and saving device state into the buffer, ms. */
  prepMs: number;
  /** Secondary flush of the colo cache into SVM memory, bytes per ms. */
  flushBytesPerMs: number;
  /** Secondary device-state load, ms. */
  deviceLoadMs: number;
  /**
   * Secondary verification and staging of received RAM into the colo cache, bytes per ms — bytes counted as
   * on the wire (a page header each, a payload for non-zero pages). One pipeline for background and
   * checkpoint deltas; a checkpoint's commit starts when its staging has ended.
   */
  applyBytesPerMs: number;
  /**
   * The COLO loop's wake-up, ms (0 when absent): a checkpoint event set while the loop waits for it starts
   * the transaction this much later — QEMU's thread, woken by the timer callback's `qemu_event_set`, waits
   * for a CPU as the callback itself did. An event set while a transaction finishes (back-to-back) or a
   * round is sent finds the loop awake and costs nothing.
   */
  wakeMs?: number;
  /**
   * The checkpoint timer's callback lateness over time (none when absent): a tick due at or after an entry's
   * `fromMs` (and before the next entry's) fires that entry's `lateMs` late and re-arms from then, as QEMU's
   * `colo_checkpoint_notify` does on a loaded host (its main loop wakes late). Entries in ascending `fromMs`.
   */
  timerLateness?: readonly TimerLateness[];
  /**
   * How long the PVM's vCPU runs inside the resume before the resume completes, ms (0 when absent): QEMU's
   * `vm_start` resumes the vCPUs and only then does the COLO thread trace `run` and look at its event, so
   * on a busy host the guest has run (and dirtied pages) for this long when a back-to-back checkpoint
   * starts. The engine runs the guest this much (at most the pause) at the resume; the timing is unchanged.
   */
  vmStartRunMs?: number;
  /**
   * The same run resume by resume (none when absent): a resume at or after an entry's `fromMs` (and before the
   * next entry's) runs that entry's `runMs` instead of `vmStartRunMs` — on a loaded host it moves from a few
   * µs to tens of ms between one resume and the next. Entries in ascending `fromMs`.
   */
  vmStartRuns?: readonly VmStartRunStep[];
}

/** One step of {@link CostModel.vmStartRuns}: from runtime time `fromMs` on, a resume's vCPU run, ms. */
export interface VmStartRunStep {
  /** Runtime time from which this run holds, ms. */
  fromMs: number;
  /** How long the PVM's vCPU runs inside a resume from then, ms. */
  runMs: number;
}

/** One step of {@link CostModel.timerLateness}: from runtime time `fromMs` on, ticks fire `lateMs` late, ms. */
export interface TimerLateness {
  /** Runtime time from which this lateness holds, ms. */
  fromMs: number;
  /** How late a tick due from then fires, ms; negative: early (at most half the delay). */
  lateMs: number;
  /**
   * The COLO loop's wake-up for a tick that fires from `fromMs` on and finds the loop waiting, ms: its request
   * leaves this long after the tick (the tick, and the chain re-armed from it, stay put). Absent: `wakeMs` of
   * the cost model.
   */
  wakeMs?: number;
}

/** Every parameter of a replicated VM. Times in ms, sizes in bytes unless the name says pages. */
export interface ColoParams {
  /** VM id (FIFO message group, key prefix). */
  vmId: string;
  /** Seed for workloads and page contents. */
  seed: number;
  /** Guest RAM size, bytes (a multiple of the 4 KiB page size). */
  guestBytes: number;
  /** Content classes of guest pages. */
  contentMix: ContentMix;
  /** How the PVM dirties its RAM. */
  workload: WorkloadSpec;
  /** Passive or running secondary. */
  secondaryMode: SecondaryMode;
  /** The SVM's own writes when `secondaryMode` is `running`. */
  secondaryWorkload: WorkloadSpec;
  /** Output divergences (colo-compare miscompares) per second of guest time. */
  miscompareRatePerSec: number;
  /** Periodic checkpoint delay (`x-checkpoint-delay`), ms. */
  checkpointDelayMs: number;
  /** Pending-RAM check period (the seed's `DEFAULT_RAM_PENDING_CHECK`), ms. */
  pendingCheckIntervalMs: number;
  /** Pending dirty RAM that triggers a background round (the seed's `THRESHOLD_PENDING_SIZE`), bytes. */
  thresholdBytes: number;
  /** Background policy. */
  policy: PolicyName;
  /** Adaptive policy: downtime budget (QEMU's `downtime-limit`), ms. */
  downtimeBudgetMs: number;
  /** Adaptive policy: checkpoint early when pending + sent this epoch exceeds this, bytes (0 = never). */
  epochCapBytes: number;
  /**
   * Deadline of the secondary's wait for a background round's data, ms; inside a checkpoint each wait is
   * the longer of this and `heartbeatTimeoutMs` (`checkpointWaitMs`, src/engine/secondary/secondary.ts).
   */
  applyTimeoutMs: number;
  /** Deadline for every primary wait inside a checkpoint transaction, ms. */
  checkpointTimeoutMs: number;
  /** Primary heartbeat period, ms. */
  heartbeatIntervalMs: number;
  /**
   * Secondary declares the primary lost after this much silence, ms (0 = no automatic failover). The
   * default, 10 s, rides out a failed delivery redelivered within ~1–2 s twice over (docs/reliability.md,
   * failure budget).
   */
  heartbeatTimeoutMs: number;
  /** Device-state size per checkpoint, bytes. */
  deviceStateBytes: number;
  /** Real bytes or modelled payloads. */
  payload: PayloadMode;
  /** Largest delta object the secondary accepts, bytes. */
  maxObjectBytes: number;
  /**
   * Most page data one delta object carries, bytes: larger checkpoints are sent as several
   * `delta(checkpoint-ram)` chunks, and a background round carries at most this much (the next round
   * follows at once). Keeps objects within what a Lambda can hold in memory.
   */
  maxDeltaBytes: number;
  /** Local work costs. */
  costs: CostModel;
}

/** Defaults: QEMU's where QEMU has one (checkpoint delay 20 000 ms, seed's 1000 ms and 100 MiB). */
export const DEFAULT_PARAMS: ColoParams = {
  vmId: 'vm-0',
  seed: 1,
  guestBytes: 256 * 1024 * 1024,
  contentMix: DEFAULT_CONTENT_MIX,
  workload: { kind: 'hotcold', hotPages: 2048, hotRate: 2000, coldRate: 6000 },
  secondaryMode: 'passive',
  secondaryWorkload: { kind: 'uniform', rate: 500 },
  miscompareRatePerSec: 0,
  checkpointDelayMs: 20_000,
  pendingCheckIntervalMs: 1000,
  thresholdBytes: 100 * 1024 * 1024,
  policy: 'fixed',
  downtimeBudgetMs: 300,
  epochCapBytes: 0,
  applyTimeoutMs: 5000,
  checkpointTimeoutMs: 30_000,
  heartbeatIntervalMs: 1000,
  heartbeatTimeoutMs: 10_000,
  deviceStateBytes: 256 * 1024,
  payload: 'materialised',
  maxObjectBytes: 1024 * 1024 * 1024,
  maxDeltaBytes: 64 * 1024 * 1024,
  costs: { prepMs: 2, flushBytesPerMs: 4 * 1024 * 1024, deviceLoadMs: 5, applyBytesPerMs: 1024 * 1024 },
};

/** Most pages one delta object carries (at least 1). */
export function maxDeltaPages(p: ColoParams): number {
  return Math.max(1, Math.floor(p.maxDeltaBytes / PAGE_SIZE));
}

/** Guest size in pages. */
export function pageCount(p: ColoParams): number {
  return Math.floor(p.guestBytes / PAGE_SIZE);
}

/** Modelled size on the wire of a control message, bytes. */
export const MESSAGE_WIRE_BYTES = 64;
/** Modelled per-page header on the wire (index, version, flags), bytes. */
export const PAGE_HEADER_WIRE_BYTES = 16;

/** Modelled wire size of a RAM delta: header + per-page entries + non-zero payloads, bytes. */
export function ramWireBytes(pages: number, zeroPages: number): number {
  return MESSAGE_WIRE_BYTES + pages * PAGE_HEADER_WIRE_BYTES + (pages - zeroPages) * PAGE_SIZE;
}
