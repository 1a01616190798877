import type { CheckpointTrigger } from '../protocol/messages.ts';

/** Downtime split into phases (QEMU's per-checkpoint breakdown), all ms. */
export interface DowntimePhases {
  /** Stop the VM and save device state into the buffer, ms. */
  prep: number;
  /** Send the remaining dirty RAM, ms. */
  memory: number;
  /** Send `vmstate-size` and the device state, ms. */
  vmstate: number;
  /** Wait for `vmstate-received` after the last byte left, ms (≈ one-way latency + secondary staging). */
  received: number;
  /** Secondary flush of the colo cache, ms. */
  applyMem: number;
  /** Secondary device-state load, ms. */
  applyDev: number;
  /** Whatever is left (latency of `vmstate-loaded`), ms. */
  other: number;
}

/** One completed checkpoint, as the primary saw it. */
export interface CheckpointRecord {
  /** Epoch this checkpoint committed. */
  epoch: number;
  /** What fired it. */
  trigger: CheckpointTrigger;
  /** When it was requested, ms. */
  requestedAt: number;
  /** `checkpoint-request` → `checkpoint-reply` round trip (VM still running), ms. */
  messageMs: number;
  /** PVM stop → resume, ms. */
  downtimeMs: number;
  /** Downtime by phase. */
  phases: DowntimePhases;
  /** Pages sent while stopped, pages. */
  pages: number;
  /** Of which zero pages, pages. */
  zeroPages: number;
  /** Modelled bytes sent while stopped (RAM + device state), bytes. */
  bytes: number;
  /** Pages re-sent because a background round of this epoch did not reach the colo cache, pages. */
  resentPages: number;
  /** Background rounds in this epoch. */
  rounds: number;
  /** Pages sent in background rounds this epoch, pages. */
  backgroundPages: number;
  /** Modelled background bytes this epoch, bytes. */
  backgroundBytes: number;
  /** Pages sent in the background and dirtied again before this checkpoint, pages. */
  wastedPages: number;
  /** Their modelled wire bytes, counted like `bytes` and `backgroundBytes` (a zero page is a header), bytes. */
  wastedBytes: number;
  /** Checkpoint requests coalesced into this one. */
  coalesced: number;
  /** Digest of the PVM's memory at the stop (what the SVM must hold after the commit). */
  digest: string;
}

/** One background round. */
export interface RoundRecord {
  /** Epoch it belongs to. */
  epoch: number;
  /** Round number within the epoch, from 1. */
  round: number;
  /** Pending dirty RAM when the round was decided, bytes. */
  pendingBytes: number;
  /** Start and end of the send, ms. */
  startedAt: number;
  /** End of the send (send-complete), ms. */
  endedAt: number;
  /** Pages sent, pages. */
  pages: number;
  /** Modelled bytes sent, bytes. */
  bytes: number;
  /** False when the send failed (its pages were marked dirty again). */
  ok: boolean;
}

/** One pending-RAM check. */
export interface PendingCheckRecord {
  /** When, ms. */
  at: number;
  /** Dirty RAM not yet sent, bytes. */
  pendingBytes: number;
  /** What the policy decided. */
  decision: 'none' | 'round' | 'checkpoint' | 'busy';
}

/**
 * Running totals of a run's background rounds, added to as each round is recorded: what a run's summary
 * reads of them, so a run can count its rounds without keeping every {@link RoundRecord}.
 */
export interface RoundTotals {
  /** Rounds recorded, failed sends included. */
  count: number;
  /** Rounds whose send succeeded. */
  ok: number;
  /** Modelled bytes of the rounds whose send succeeded, bytes (the sum in record order). */
  okBytes: number;
  /** Pages of every round recorded, failed sends included, pages. */
  pages: number;
}
