/**
 * The timeline of one run: what `colo run --timeline` draws — pending dirty RAM over time, the threshold,
 * background rounds, checkpoints with their downtime phases, wasted pages and the failover, if any. Built
 * from the records the engine emits (src/engine/metrics/records.ts) plus samples of the dirty bitmap the
 * runtime takes as it steps; small and structured-clonable, so a worker thread can hand it back.
 */
import type { FenceOwner } from '../engine/effects.ts';
import type {
  CheckpointRecord,
  DowntimePhases,
  PendingCheckRecord,
  RoundRecord,
} from '../engine/metrics/records.ts';

/** One sample of the primary's pending (dirty, not yet sent) RAM. */
export interface PendingSample {
  /** Simulated time, ms. */
  atMs: number;
  /** Dirty RAM not yet sent, bytes. */
  bytes: number;
}

/** One checkpoint on the timeline. */
export interface TimelineCheckpoint {
  /** Epoch it committed. */
  epoch: number;
  /** What fired it (`periodic`, `miscompare`, …). */
  trigger: string;
  /** When the PVM stopped, ms. */
  stopMs: number;
  /** PVM stop → resume, ms. */
  downtimeMs: number;
  /** Downtime by phase, ms. */
  phases: DowntimePhases;
  /** RAM + device state sent while stopped, bytes. */
  bytes: number;
  /** Pages sent in the background this epoch and dirtied again before the checkpoint, pages. */
  wastedPages: number;
  /** Their wire bytes, bytes. */
  wastedBytes: number;
}

/** Everything the timeline of one policy's run shows. */
export interface Timeline {
  /** The policy that ran. */
  policy: string;
  /** Simulated time of the run, ms. */
  durationMs: number;
  /** The pending-RAM threshold that starts a background round — `fixed` only (others ignore it), bytes. */
  thresholdBytes: number | null;
  /** Pending RAM over time, in time order. */
  pending: PendingSample[];
  /** Background rounds: send start and end, ms; bytes; whether the send succeeded. */
  rounds: { startMs: number; endMs: number; bytes: number; ok: boolean }[];
  /** Completed checkpoints. */
  checkpoints: TimelineCheckpoint[];
  /** When replication ended, which side won the VM and why; null while replicating. */
  failover: { atMs: number; owner: FenceOwner; reason: string } | null;
}

/**
 * Samples pending RAM as a run steps: at most one sample per `stepMs` of simulated time, plus every drop
 * (a checkpoint's stop, a round), so the saw-tooth keeps its edges.
 */
export class PendingSampler {
  /** The samples so far, in time order. */
  readonly samples: PendingSample[] = [];
  private lastAt = Number.NEGATIVE_INFINITY;
  private lastBytes = 0;

  /** @param stepMs shortest gap between two samples that are not drops, ms. */
  constructor(private readonly stepMs: number) {}

  /** Offers the pending RAM at `atMs` (bytes); keeps it if it is due or a drop. */
  offer(atMs: number, bytes: number): void {
    const due = atMs >= this.lastAt + this.stepMs;
    const drop = bytes < this.lastBytes && atMs > this.lastAt;
    if (!due && !drop) return;
    this.samples.push({ atMs, bytes });
    this.lastAt = atMs;
    this.lastBytes = bytes;
  }
}

/** What a run produced that the timeline reads (the embedded runtime's result has all of it). */
export interface TimelineSource {
  /** Completed checkpoints. */
  checkpoints: readonly CheckpointRecord[];
  /** Background rounds. */
  rounds: readonly RoundRecord[];
  /** Pending-RAM checks (their readings join the samples). */
  pendingChecks: readonly PendingCheckRecord[];
  /** The fence, if replication ended. */
  fence: { owner: FenceOwner; at: number; reason: string } | null;
}

/** Builds the timeline of one run from its records and the pending-RAM samples taken while it ran. */
export function timelineOf(
  run: { policy: string; durationMs: number; thresholdBytes: number },
  source: TimelineSource,
  samples: readonly PendingSample[],
): Timeline {
  const pending = [
    ...samples,
    ...source.pendingChecks.map((c) => ({ atMs: c.at, bytes: c.pendingBytes })),
  ].sort((a, b) => a.atMs - b.atMs);
  return {
    policy: run.policy,
    durationMs: run.durationMs,
    thresholdBytes: run.policy === 'fixed' ? run.thresholdBytes : null,
    pending,
    rounds: source.rounds.map((r) => ({ startMs: r.startedAt, endMs: r.endedAt, bytes: r.bytes, ok: r.ok })),
    checkpoints: source.checkpoints.map((c) => ({
      epoch: c.epoch,
      trigger: c.trigger,
      stopMs: c.requestedAt + c.messageMs,
      downtimeMs: c.downtimeMs,
      phases: { ...c.phases },
      bytes: c.bytes,
      wastedPages: c.wastedPages,
      wastedBytes: c.wastedBytes,
    })),
    failover: source.fence
      ? { atMs: source.fence.at, owner: source.fence.owner, reason: source.fence.reason }
      : null,
  };
}
