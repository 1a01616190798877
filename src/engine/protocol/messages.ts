/**
 * COLO messages as they cross the channels (SQS bodies in the cloud runtime, in-process frames in the
 * embedded runtime). Names follow QEMU's QAPI `COLOMessage`, plus the seed's `migrate-ram-background`,
 * a `heartbeat` for automatic failover, and `delta`, the claim check that announces page data kept
 * in the delta store (S3 in the cloud).
 */

/** Wire version of the message envelope. */
export const MESSAGE_VERSION = 1 as const;

/** Most entries in `checkpoint-reply.appliedRounds` (the secondary refuses a round past it in one epoch). */
export const MAX_APPLIED_ROUNDS = 10_000;

/** Why a checkpoint was requested. `policy` = requested early by the background policy (cap reached). */
export type CheckpointTrigger = 'timer' | 'miscompare' | 'policy' | 'request';

/** Kinds of page-delta object. A background transfer may only carry `background-ram`. */
export type DeltaKind = 'background-ram' | 'checkpoint-ram' | 'device-state';

/** Claim check for an object in the delta store: key, exact size in bytes, SHA-256 (lower-case hex). */
export interface ClaimCheck {
  /** Object key in the delta store, `<vmId>/<epoch>/<seq>-<kind>`. */
  key: string;
  /** Exact object size in bytes. */
  size: number;
  /** SHA-256 of the whole object, 64 lower-case hex digits. */
  sha256: string;
}

/** Fields every message carries. */
export interface Envelope {
  /** Envelope version, always {@link MESSAGE_VERSION}. */
  v: typeof MESSAGE_VERSION;
  /** VM being replicated (the FIFO message group). */
  vmId: string;
  /** Epoch the sender is in: the number of the checkpoint being built (first checkpoint = epoch 1). */
  epoch: number;
  /** Per-direction sequence number, starting at 0 and increasing by exactly 1 per message. */
  seq: number;
}

/** S → P: the secondary is ready; COLO may start. */
export interface CheckpointReady extends Envelope {
  type: 'checkpoint-ready';
}
/** P → S: start a checkpoint. */
export interface CheckpointRequest extends Envelope {
  type: 'checkpoint-request';
  /** What fired the checkpoint. */
  trigger: CheckpointTrigger;
}
/** S → P: the SVM is stopped. Lists the background rounds of this epoch that reached the colo cache. */
export interface CheckpointReply extends Envelope {
  type: 'checkpoint-reply';
  /** Round numbers (this epoch) that were applied to the colo cache, ascending. */
  appliedRounds: number[];
}
/** P → S: the PVM is stopped; the epoch's RAM and device state follow. */
export interface VmstateSend extends Envelope {
  type: 'vmstate-send';
}
/** P → S: size in bytes of the device state that follows. */
export interface VmstateSize extends Envelope {
  type: 'vmstate-size';
  /** Device-state length in bytes. */
  size: number;
}
/** S → P: all data of the epoch is local. */
export interface VmstateReceived extends Envelope {
  type: 'vmstate-received';
}
/** S → P: the epoch is committed. Carries the secondary's measured apply phases. */
export interface VmstateLoaded extends Envelope {
  type: 'vmstate-loaded';
  /** Time spent flushing the colo cache into SVM memory, ms. */
  applyMemMs: number;
  /** Time spent loading device state, ms. */
  applyDevMs: number;
}
/** P → S: a background round follows (seed patch); RAM pages only. */
export interface MigrateRamBackground extends Envelope {
  type: 'migrate-ram-background';
  /** Round number within the epoch, from 1. */
  round: number;
}
/** P → S: a page-delta object is in the delta store (claim check). */
export interface DeltaMessage extends Envelope {
  type: 'delta';
  /** What the object holds; must match the object's own kind. */
  kind: DeltaKind;
  /** Background round number for `background-ram`, 0 otherwise. */
  round: number;
  /** Where the object is and how to check it. */
  claim: ClaimCheck;
}
/**
 * P → S: liveness signal, outside the COLO sequence. Its `seq` is the sender's next *unused* number (it
 * consumes none), its `epoch` the sender's epoch; the receiver judges it by the earliest of its sealed
 * `sentAt`, the queue's send time and its own clock, and admits each `beat` once.
 */
export interface Heartbeat extends Envelope {
  type: 'heartbeat';
  /**
   * The heartbeat's own number (the sender's send id): strictly increasing per sender state, so two
   * heartbeats at the same `seq` never share a deduplication id and the receiver can refuse a replay.
   */
  beat: number;
  /**
   * When the sender made it, ms on the sender's clock. Inside the sealed body, so a replay carries its
   * first send time: the freshness of a heartbeat is never later than this.
   */
  sentAt: number;
}
/**
 * Either direction: this sequence number is retired. Sent in place of a message that could not be made
 * deliverable (a `delta` whose object could not be stored), so the receiver's sequence stays whole and it
 * knows the data never comes.
 */
export interface Skip extends Envelope {
  type: 'skip';
  /** Type of the message this one stands in for. */
  retired: 'delta';
  /** Why it was retired (≤ 200 characters). */
  reason: string;
}

/** Messages the primary sends. */
export type PrimaryMessage =
  | CheckpointRequest
  | VmstateSend
  | VmstateSize
  | MigrateRamBackground
  | DeltaMessage
  | Heartbeat
  | Skip;
/** Messages the secondary sends. */
export type SecondaryMessage =
  | CheckpointReady
  | CheckpointReply
  | VmstateReceived
  | VmstateLoaded
  | Heartbeat
  | Skip;
/** Any COLO message. */
export type ColoMessage = PrimaryMessage | SecondaryMessage;
/** Message type names. */
export type ColoMessageType = ColoMessage['type'];

/** All message type names, in QAPI order followed by this project's additions. */
export const COLO_MESSAGE_TYPES: readonly ColoMessageType[] = [
  'checkpoint-ready',
  'checkpoint-request',
  'checkpoint-reply',
  'vmstate-send',
  'vmstate-size',
  'vmstate-received',
  'vmstate-loaded',
  'migrate-ram-background',
  'delta',
  'heartbeat',
  'skip',
];
