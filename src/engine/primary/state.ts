import { DirtyBitmap } from '../memory/dirty-bitmap.ts';
import { type ColoParams, pageCount } from '../params.ts';
import { createRegionModel, type RegionModel } from '../policy/adaptive.ts';
import type { Estimates } from '../policy/policy.ts';
import type { CheckpointTrigger } from '../protocol/messages.ts';
import { nextMiscompareAt } from '../workload/workload.ts';

/** Where the primary is in the COLO loop (`colo_process_checkpoint`). */
export type PrimaryPhase =
  | 'wait-ready'
  | 'running'
  | 'ckpt-wait-reply'
  | 'ckpt-wait-received'
  | 'ckpt-wait-loaded'
  /** Replication must end (deadline, failed send): claiming the fence; the PVM stays as it was. */
  | 'claiming'
  /** Won the fence: the PVM runs alone (QEMU's COLO exit on error). */
  | 'exited'
  /** Lost the fence: the secondary took over; the PVM is stopped for good. */
  | 'fenced';

/** A background round that has been sent or is being sent. */
export interface RoundState {
  /** Round number within the epoch, from 1. */
  round: number;
  /** Pages it carries, ascending. */
  pages: number[];
  /** Send id of its delta; the round is in flight until that send completes. */
  sendId: number;
  /** Pending bytes when decided. */
  pendingBytes: number;
  /** When it started, ms. */
  startedAt: number;
  /** Modelled bytes. */
  bytes: number;
  /** True once its send completed successfully. */
  done: boolean;
}

/** The checkpoint transaction in progress. */
export interface TransactionState {
  /** What fired it. */
  trigger: CheckpointTrigger;
  /** Requests coalesced into it. */
  coalesced: number;
  /** Times, ms (NaN until reached). */
  requestedAt: number;
  replyAt: number;
  stopAt: number;
  ramStartAt: number;
  ramDoneAt: number;
  deviceDoneAt: number;
  receivedAt: number;
  /** Send ids of the RAM chunk in flight (the last one once all are sent) and the device state. */
  ramSendId: number;
  deviceSendId: number;
  /**
   * Pages of the stop's dirty set not sent yet. The epoch's RAM is streamed one delta object at a time:
   * the next chunk is built when the previous one's send completes, so a runtime holds one chunk at once.
   * The PVM is stopped meanwhile, so the pages' versions are those of the stop.
   */
  ramRest: number[];
  /** Pages and bytes sent while stopped. */
  pages: number;
  zeroPages: number;
  bytes: number;
  resentPages: number;
  /** Digest of PVM memory at the stop. */
  digest: string;
  /** When the current wait times out, ms. */
  deadline: number;
}

/** Everything the primary keeps. Updated in place by `primaryStep`; serialisable for the cloud runtime. */
export interface PrimaryState {
  /** Loop phase. */
  phase: PrimaryPhase;
  /** True while the PVM runs (false from stop to resume). */
  vmRunning: boolean;
  /** Epoch being built (the next checkpoint commits it). */
  epoch: number;
  /** Next outbound sequence number. */
  outSeq: number;
  /** Next expected inbound sequence number. */
  inSeq: number;
  /** Next send id. */
  nextSendId: number;
  /** Page versions of PVM memory. */
  versions: Uint32Array;
  /** Pages dirtied since they were last sent. */
  dirty: DirtyBitmap;
  /** Pages whose background copy (this epoch) is still current; a write here is waste. */
  bgCurrent: DirtyBitmap;
  /** Pages written since the previous pending check (the adaptive policy's cold filter). */
  touched: DirtyBitmap;
  /** Guest running time, ms, and the runtime time it was last advanced to, ms. */
  guestTime: number;
  lastNow: number;
  /** Index and guest time of the next miscompare. */
  miscompareK: number;
  miscompareAt: number;
  /** Deadlines, ms. */
  nextCheckpointAt: number;
  nextPendingCheckAt: number;
  nextHeartbeatAt: number;
  /** Background rounds of this epoch (the last may be in flight). */
  rounds: RoundState[];
  /**
   * Pages of the current background pass not sent yet. A pass (the seed's one iteration over the dirty
   * RAM) larger than one delta object is sent as consecutive rounds of at most `maxDeltaBytes`.
   */
  passRest: number[];
  /** A pending check fired while a round was in flight: check again when it ends. */
  recheckAfterRound: boolean;
  /**
   * The checkpoint event, set and not yet taken by a transaction: a request that came while a round was in
   * flight (starts when the round ends) or after the last transaction's `vmstate-received` (starts when the
   * PVM resumes). QEMU's event is also set during a transaction up to `vmstate-received`; that part is the
   * phase (`ckpt-wait-reply`, `ckpt-wait-received`).
   */
  checkpointDue: CheckpointTrigger | null;
  /** Requests that arrived while one was already due or running. */
  coalesced: number;
  /** Background waste this epoch, pages. */
  wastedPages: number;
  /** Background waste this epoch, bytes as they were on the wire (a zero page costs its header only). */
  wastedBytes: number;
  /** The transaction in progress. */
  txn: TransactionState | null;
  /** Adaptive policy estimates. */
  estimates: Estimates;
  /** What the adaptive policy learned per region of RAM (policy/adaptive.ts). */
  regions: RegionModel;
  /** Why the primary is claiming the fence (phase `claiming`), else ''. */
  claimReason: string;
  /**
   * Replication was stopped by the operator (the runtime's `stop`): no checkpoint, background round or
   * heartbeat starts any more; a transaction or round already in flight finishes. Absent while running.
   */
  stopped?: true;
}

/** A fresh primary: waiting for `checkpoint-ready`, memory at version 0 everywhere (the initial sync). */
export function createPrimary(params: ColoParams, now = 0): PrimaryState {
  const n = pageCount(params);
  return {
    phase: 'wait-ready',
    vmRunning: false,
    epoch: 1,
    outSeq: 0,
    inSeq: 0,
    nextSendId: 1,
    versions: new Uint32Array(n),
    dirty: new DirtyBitmap(n),
    bgCurrent: new DirtyBitmap(n),
    touched: new DirtyBitmap(n),
    guestTime: 0,
    lastNow: now,
    miscompareK: 0,
    miscompareAt: nextMiscompareAt(params.seed, params.miscompareRatePerSec, 0, 0),
    nextCheckpointAt: Number.POSITIVE_INFINITY,
    nextPendingCheckAt: Number.POSITIVE_INFINITY,
    nextHeartbeatAt: Number.POSITIVE_INFINITY,
    rounds: [],
    passRest: [],
    recheckAfterRound: false,
    checkpointDue: null,
    coalesced: 0,
    wastedPages: 0,
    wastedBytes: 0,
    txn: null,
    estimates: { bandwidth: 0, fixedCost: 0, redirty: 0 },
    regions: createRegionModel(n),
    claimReason: '',
  };
}
