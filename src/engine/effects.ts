import type { ColoError } from './errors.ts';
import type { CheckpointRecord, PendingCheckRecord, RoundRecord } from './metrics/records.ts';
import type { PageDelta } from './protocol/delta.ts';
import type { ColoMessage } from './protocol/messages.ts';

/** Trace event names, as QEMU's trace-events name them where QEMU has one. */
export type TraceName =
  | 'colo_send_message'
  | 'colo_receive_message'
  | 'colo_vm_state_change'
  | 'colo_flush_ram_cache_begin'
  | 'colo_flush_ram_cache_end'
  | 'colo_need_migrate_ram_background'
  | 'colo_background_round_end'
  | 'colo_background_round_abandoned'
  | 'colo_checkpoint_coalesced'
  | 'colo_failover_set_state'
  | 'colo_reject'
  | 'colo_exit'
  /** The cloud runtime's evidence of a replicating primary first counted (no QEMU event: QEMU has no heartbeat). */
  | 'colo_primary_seen';

/** Page data to put in the delta store before the message that claims it is sent. */
export interface Payload {
  /** Delta-store key named by the message's claim check. */
  key: string;
  /** Encoded object (materialised mode). */
  bytes?: Uint8Array;
  /** The delta itself (modelled mode: never encoded). */
  delta?: PageDelta;
}

/** Send a message (after putting its payload, if any). The runtime answers with `send-complete`. */
export interface SendEffect {
  type: 'send';
  /** Id the matching `send-complete` input names. */
  sendId: number;
  /** The message. */
  message: ColoMessage;
  /** Object to store first (claim check). */
  payload?: Payload;
  /** Modelled bytes this puts on the link (message + payload), bytes. */
  wireBytes: number;
  /** Modelled local work before the send can start (e.g. stop + device save), ms. */
  afterMs: number;
}

/** Ask to be woken (a `tick` input) at `at` ms; replaces any earlier wake request of this node. */
export interface WakeEffect {
  type: 'wake';
  /** Absolute time, ms. */
  at: number;
}

/** A trace event. */
export interface TraceEffect {
  type: 'trace';
  /** Event name. */
  name: TraceName;
  /** When, ms. */
  at: number;
  /** Event fields. */
  fields: Record<string, string | number | boolean>;
}

/** An input was rejected; the node's state is exactly as before the input. */
export interface RejectEffect {
  type: 'rejected';
  /** Why. */
  error: ColoError;
}

/** A checkpoint completed (primary). */
export interface CheckpointEffect {
  type: 'checkpoint';
  /** Its figures. */
  record: CheckpointRecord;
}

/** A background round ended (primary). */
export interface RoundEffect {
  type: 'round';
  /** Its figures. */
  record: RoundRecord;
}

/** A pending-RAM check ran (primary). */
export interface PendingCheckEffect {
  type: 'pending-check';
  /** Its figures. */
  record: PendingCheckRecord;
}

/** Which node may run the VM alone once replication ends: the fencing decision. */
export type FenceOwner = 'primary' | 'secondary';

/**
 * Ask to become the only active side of the VM: the runtime compare-and-swaps the VM's control document
 * from "replicating" to `role` (one decision per VM, first claim wins) and answers with a `fence` input
 * naming the owner — this node or the other. Until then the node stays inactive. Repeated on every tick
 * while unanswered, so a claim lost with a crashed invocation is made again.
 */
export interface ClaimEffect {
  type: 'claim';
  /** The role this node claims. */
  role: FenceOwner;
  /** Why replication must end. */
  reason: string;
}

/** Replication stopped on this node (error, or failover completed, or fenced out by the other side). */
export interface ExitEffect {
  type: 'colo-exit';
  /**
   * `error` = the primary won the fence and runs alone after a deadline or send failure; `failover` = the
   * secondary won the fence and took over; `fenced` = this node lost the fence and stopped for good.
   */
  reason: 'error' | 'failover' | 'fenced';
  /** Human-readable detail. */
  detail: string;
}

/** Secondary committed an epoch. */
export interface CommitEffect {
  type: 'commit';
  /** The epoch that became the committed image. */
  epoch: number;
  /** Pages flushed from the colo cache (union of PVM- and SVM-dirtied), pages. */
  flushedPages: number;
  /** Digest of the committed image after the flush. */
  digest: string;
}

/** Anything a node asks its runtime to do. */
export type Effect =
  | SendEffect
  | WakeEffect
  | TraceEffect
  | RejectEffect
  | CheckpointEffect
  | RoundEffect
  | PendingCheckEffect
  | ExitEffect
  | ClaimEffect
  | CommitEffect;
