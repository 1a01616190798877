import type { Effect } from '../effects.ts';
import { memoryDigest } from '../memory/digest.ts';
import { type ColoParams, maxDeltaPages } from '../params.ts';
import { ewma } from '../policy/policy.ts';
import type { CheckpointReply, CheckpointTrigger, VmstateLoaded } from '../protocol/messages.ts';
import { stepAt } from '../step-schedule.ts';
import { trace } from '../trace.ts';
import { buildDeviceState, buildRamDelta } from '../transfer/build-delta.ts';
import { backgroundBytesThisEpoch } from './background-round.ts';
import { runGuest } from './guest.ts';
import { sendMessage } from './sends.ts';
import type { PrimaryState, TransactionState } from './state.ts';

/**
 * The primary side of the checkpoint transaction, in QEMU's order (`colo_do_checkpoint_transaction`):
 *   1. send `checkpoint-request`                 → wait `checkpoint-reply` (PVM still running)
 *   2. stop the PVM (downtime starts), save device state, send `vmstate-send`, the remaining dirty RAM,
 *      `vmstate-size` and the device state      → wait `vmstate-received`
 *   3.                                            → wait `vmstate-loaded` (the secondary committed)
 *   4. resume the PVM (downtime ends). Requests before `vmstate-received` were coalesced into this one;
 *      one after it starts the next checkpoint at once (QEMU resets its checkpoint event there).
 */

/**
 * Step 1: request a checkpoint. The periodic timer is not touched: QEMU re-arms it only in its callback
 * (`colo_checkpoint_notify`, see the primary's `requestCheckpoint`), never when a checkpoint starts.
 * `wakeMs` delays the request's departure (the loop's wake-up, `costs.wakeMs`, when it was waiting): the
 * transaction holds the event from `now`, and the PVM runs until the reply as before.
 */
export function beginCheckpoint(
  state: PrimaryState,
  params: ColoParams,
  now: number,
  trigger: CheckpointTrigger,
  fx: Effect[],
  wakeMs = 0,
): void {
  const coalesced = state.coalesced;
  state.coalesced = 0;
  state.checkpointDue = null;
  // The checkpoint carries every dirty page; an unfinished background pass ends here.
  state.passRest = [];
  state.phase = 'ckpt-wait-reply';
  state.txn = {
    trigger,
    coalesced,
    requestedAt: now,
    replyAt: Number.NaN,
    stopAt: Number.NaN,
    ramStartAt: Number.NaN,
    ramDoneAt: Number.NaN,
    deviceDoneAt: Number.NaN,
    receivedAt: Number.NaN,
    ramSendId: 0,
    deviceSendId: 0,
    ramRest: [],
    pages: 0,
    zeroPages: 0,
    bytes: 0,
    resentPages: 0,
    digest: '',
    deadline: now + params.checkpointTimeoutMs,
  };
  sendMessage(state, params, now, fx, { type: 'checkpoint-request', trigger }, { afterMs: wakeMs });
}

/** Pages of this epoch's rounds that the secondary did not apply; they must cross again now. */
function resendUnapplied(state: PrimaryState, applied: readonly number[]): number {
  const ok = new Set(applied);
  let resent = 0;
  for (const r of state.rounds) {
    if (ok.has(r.round)) continue;
    for (const p of r.pages) {
      state.bgCurrent.clear(p);
      if (state.dirty.set(p)) resent++;
    }
  }
  return resent;
}

/** Step 2: the SVM is stopped; stop the PVM and send the epoch. */
export function onCheckpointReply(
  state: PrimaryState,
  params: ColoParams,
  now: number,
  reply: CheckpointReply,
  fx: Effect[],
): void {
  const txn = state.txn as TransactionState;
  txn.replyAt = now;
  txn.resentPages = resendUnapplied(state, reply.appliedRounds);
  state.vmRunning = false;
  txn.stopAt = now;
  fx.push(trace(now, 'colo_vm_state_change', { old: 'run', new: 'stop' }));
  txn.digest = memoryDigest(params.seed, state.versions);
  sendMessage(state, params, now, fx, { type: 'vmstate-send' }, { afterMs: params.costs.prepMs });
  txn.ramStartAt = now + params.costs.prepMs;
  // The remaining dirty RAM, in chunks of at most maxDeltaPages (always at least one, possibly empty),
  // streamed: one chunk now, the next when this one's send completes (sendNextRamChunk).
  const pages = state.dirty.indices();
  state.dirty.reset();
  txn.pages = pages.length;
  txn.zeroPages = 0;
  txn.bytes = 0;
  txn.ramRest = pages;
  state.phase = 'ckpt-wait-received';
  txn.deadline = now + params.checkpointTimeoutMs;
  sendNextRamChunk(state, params, now, fx);
}

/**
 * Sends the next chunk of the epoch's RAM (the pages' versions are the stop's: the PVM does not run until
 * the resume). After the last chunk come `vmstate-size` and the device state, in the same step.
 * Returns false when no chunk was left (everything has been sent).
 */
export function sendNextRamChunk(
  state: PrimaryState,
  params: ColoParams,
  now: number,
  fx: Effect[],
): boolean {
  const txn = state.txn as TransactionState;
  const first = txn.ramSendId === 0;
  if (!first && txn.ramRest.length === 0) return false;
  const chunk = maxDeltaPages(params);
  const part = txn.ramRest.length > chunk ? txn.ramRest.slice(0, chunk) : txn.ramRest;
  txn.ramRest = txn.ramRest.length > chunk ? txn.ramRest.slice(chunk) : [];
  const ram = buildRamDelta(params, state.versions, part, 'checkpoint-ram', state.epoch, state.outSeq);
  txn.ramSendId = sendDelta(state, params, now, fx, 'checkpoint-ram', ram);
  txn.zeroPages += ram.zeroPages;
  txn.bytes += ram.wireBytes;
  if (txn.ramRest.length > 0) return true;
  sendMessage(state, params, now, fx, { type: 'vmstate-size', size: params.deviceStateBytes });
  const dev = buildDeviceState(params, state.epoch, state.outSeq);
  txn.deviceSendId = sendDelta(state, params, now, fx, 'device-state', dev);
  txn.bytes += dev.wireBytes;
  return true;
}

/** Sends a built checkpoint object (a RAM chunk or the device state) as a `delta`; returns its send id. */
function sendDelta(
  state: PrimaryState,
  params: ColoParams,
  now: number,
  fx: Effect[],
  kind: 'checkpoint-ram' | 'device-state',
  built: ReturnType<typeof buildRamDelta>,
): number {
  return sendMessage(
    state,
    params,
    now,
    fx,
    { type: 'delta', kind, round: 0, claim: built.claim },
    { payload: built.payload, wireBytes: built.wireBytes },
  );
}

/** Step 3: the whole epoch is on the secondary. */
export function onVmstateReceived(state: PrimaryState, params: ColoParams, now: number): void {
  const txn = state.txn as TransactionState;
  txn.receivedAt = now;
  state.phase = 'ckpt-wait-loaded';
  txn.deadline = now + params.checkpointTimeoutMs;
}

/**
 * Step 4: the secondary committed; resume, record the checkpoint, start the next epoch. The guest has already
 * run `costs.vmStartRunMs` (or the `costs.vmStartRuns` step in force; at most the pause) inside the resume:
 * those writes belong to the next epoch.
 * Returns the miscompares of that run.
 */
export function onVmstateLoaded(
  state: PrimaryState,
  params: ColoParams,
  now: number,
  loaded: VmstateLoaded,
  fx: Effect[],
): number {
  const txn = state.txn as TransactionState;
  state.vmRunning = true;
  fx.push(trace(now, 'colo_vm_state_change', { old: 'stop', new: 'run' }));
  const downtimeMs = now - txn.stopAt;
  const prep = params.costs.prepMs;
  const ramDone = Number.isNaN(txn.ramDoneAt) ? txn.ramStartAt : txn.ramDoneAt;
  const devDone = Number.isNaN(txn.deviceDoneAt) ? ramDone : txn.deviceDoneAt;
  const memory = Math.max(0, ramDone - txn.ramStartAt);
  const vmstate = Math.max(0, devDone - ramDone);
  const received = Math.max(0, txn.receivedAt - devDone);
  const other = Math.max(
    0,
    downtimeMs - prep - memory - vmstate - received - loaded.applyMemMs - loaded.applyDevMs,
  );
  const backgroundPages = state.rounds.reduce((n, r) => n + r.pages.length, 0);
  fx.push({
    type: 'checkpoint',
    record: {
      epoch: state.epoch,
      trigger: txn.trigger,
      requestedAt: txn.requestedAt,
      messageMs: txn.replyAt - txn.requestedAt,
      downtimeMs,
      phases: {
        prep,
        memory,
        vmstate,
        received,
        applyMem: loaded.applyMemMs,
        applyDev: loaded.applyDevMs,
        other,
      },
      pages: txn.pages,
      zeroPages: txn.zeroPages,
      bytes: txn.bytes,
      resentPages: txn.resentPages,
      rounds: state.rounds.length,
      backgroundPages,
      backgroundBytes: backgroundBytesThisEpoch(state),
      wastedPages: state.wastedPages,
      wastedBytes: state.wastedBytes,
      coalesced: txn.coalesced,
      digest: txn.digest,
    },
  });
  learn(state, txn, memory, downtimeMs, backgroundPages);
  state.epoch++;
  state.rounds = [];
  state.bgCurrent.reset();
  state.wastedPages = 0;
  state.wastedBytes = 0;
  state.txn = null;
  state.phase = 'running';
  const inside = stepAt(params.costs.vmStartRuns, now)?.runMs ?? params.costs.vmStartRunMs ?? 0;
  return runGuest(state, params, Math.min(inside, downtimeMs));
}

/** Feeds the adaptive policy's EWMAs from a completed checkpoint. */
function learn(
  state: PrimaryState,
  txn: TransactionState,
  memoryMs: number,
  downtimeMs: number,
  backgroundPages: number,
): void {
  const e = state.estimates;
  // Like a round, a checkpoint measures the link only when it moved at least 1 MiB (less is latency-bound).
  if (memoryMs > 0 && txn.bytes >= 1024 * 1024) e.bandwidth = ewma(e.bandwidth, txn.bytes / memoryMs);
  e.fixedCost = ewma(e.fixedCost, Math.max(0, downtimeMs - memoryMs));
  if (backgroundPages > 0) e.redirty = ewma(e.redirty, state.wastedPages / backgroundPages);
  // An epoch without rounds teaches nothing about waste: let the estimate decay so rounds are retried.
  else e.redirty *= 0.7;
}
