import type { Effect, FenceOwner } from '../effects.ts';
import { ColoError, unexpected } from '../errors.ts';
import type { ColoParams } from '../params.ts';
import { SAMPLE_PERIOD_MS } from '../policy/adaptive.ts';
import { messageTypeOf, parseInbound } from '../protocol/inbound.ts';
import type { CheckpointTrigger, SecondaryMessage } from '../protocol/messages.ts';
import { trace } from '../trace.ts';
import { continuePass, finishRound, pendingCheck, roundInFlight } from './background-round.ts';
import {
  beginCheckpoint,
  onCheckpointReply,
  onVmstateLoaded,
  onVmstateReceived,
  sendNextRamChunk,
} from './checkpoint-transaction.ts';
import { advanceGuest, nextMiscompareWake } from './guest.ts';
import { sendHeartbeat } from './sends.ts';
import type { PrimaryPhase, PrimaryState } from './state.ts';
import { nextTickAt, wakeAfterTick } from './timer.ts';

/** What can happen to the primary. */
export type PrimaryInput =
  /** Time passed: run whatever is due (timers, deadlines, miscompares). */
  | { type: 'tick' }
  /** A message from the secondary (raw: validated here). */
  | { type: 'message'; message: unknown }
  /** A send finished leaving (`error` set if it failed). */
  | { type: 'send-complete'; sendId: number; error?: string }
  /** Someone asks for a checkpoint now (e.g. an operator). */
  | { type: 'request-checkpoint'; trigger: CheckpointTrigger }
  /**
   * The VM's fencing decision, as the runtime found it (the answer to a `claim`, or the control document
   * read at the start of an invocation): `owner` alone may run the VM from now on.
   */
  | { type: 'fence'; owner: FenceOwner }
  /**
   * Stop replicating (an operator's stop, as the runtime found it in the control document): start nothing
   * new — no checkpoint, round or heartbeat — but finish what is in flight. Idempotent.
   */
  | { type: 'stop' }
  /**
   * The operator's stop is over (the runtime found the control document's stop flag cleared: `colo vm add`
   * after a `remove`): replicate as before — what fell due meanwhile runs now. Idempotent.
   */
  | { type: 'resumed' };

const EXPECTED: Record<PrimaryPhase, SecondaryMessage['type'][]> = {
  'wait-ready': ['checkpoint-ready'],
  running: [],
  'ckpt-wait-reply': ['checkpoint-reply'],
  'ckpt-wait-received': ['vmstate-received'],
  'ckpt-wait-loaded': ['vmstate-loaded'],
  claiming: [],
  exited: [],
  fenced: [],
};

/**
 * The primary's transition function: applies `input` at time `now` (ms) to `state` (updated in place) and
 * returns the effects for the runtime to perform. A rejected input yields a `rejected` effect and leaves
 * the state exactly as it was (validation happens before anything is touched).
 */
export function primaryStep(
  state: PrimaryState,
  params: ColoParams,
  now: number,
  input: PrimaryInput,
): Effect[] {
  const fx: Effect[] = [];
  const error = validate(state, params, input);
  if (error) {
    fx.push({ type: 'rejected', error });
    fx.push(trace(now, 'colo_reject', { code: error.code, detail: error.message }));
    return fx;
  }
  if (state.phase === 'exited' || state.phase === 'fenced') return fx;
  const t = Math.max(now, state.lastNow);
  if (input.type === 'fence') {
    advanceGuest(state, params, t);
    onFence(state, t, input.owner, fx);
    if (isLive(state)) fx.push({ type: 'wake', at: nextWake(state) });
    return fx;
  }
  // A deadline that passed before this input arrived acts first: an answer after it is too late.
  if (input.type === 'message' && state.txn && t >= state.txn.deadline) {
    advanceGuest(state, params, t);
    runDue(state, params, t, fx);
    const late = new ColoError('timeout', `message arrived after the deadline; replication is ending`);
    fx.push({ type: 'rejected', error: late });
    fx.push(trace(t, 'colo_reject', { code: late.code, detail: late.message }));
    if (isLive(state)) fx.push({ type: 'wake', at: nextWake(state) });
    return fx;
  }
  if (state.phase === 'claiming') {
    // Nothing but the guest moves while the fence is undecided; the claim is made again in case it was lost.
    advanceGuest(state, params, t);
    if (input.type === 'tick') claim(state, t, state.claimReason, fx);
    fx.push({ type: 'wake', at: nextWake(state) });
    return fx;
  }
  let miscompares = advanceGuest(state, params, t);
  switch (input.type) {
    case 'message':
      miscompares += onMessage(state, params, t, input.message as SecondaryMessage, fx);
      break;
    case 'send-complete':
      onSendComplete(state, params, t, input.sendId, input.error, fx);
      break;
    case 'request-checkpoint':
      requestCheckpoint(state, params, t, input.trigger, fx);
      break;
    case 'stop':
      // Without this, a VM whose checkpoints overrun their delay never goes quiet: each vmstate-loaded finds
      // the next checkpoint due and starts it, messages carrying the VM on with no timer at all.
      state.stopped = true;
      state.checkpointDue = null;
      state.passRest = [];
      state.recheckAfterRound = false;
      break;
    case 'resumed':
      // Left set, a VM added again would never checkpoint or send again: its secondary failed it over.
      delete state.stopped;
      break;
    case 'tick':
      break;
  }
  for (let i = 0; i < miscompares; i++) requestCheckpoint(state, params, t, 'miscompare', fx);
  runDue(state, params, t, fx);
  if (isLive(state)) fx.push({ type: 'wake', at: nextWake(state) });
  return fx;
}

/** True while the primary has anything left to do (not exited, not fenced). */
function isLive(state: PrimaryState): boolean {
  return state.phase !== 'exited' && state.phase !== 'fenced';
}

function validate(state: PrimaryState, params: ColoParams, input: PrimaryInput): ColoError | undefined {
  if (input.type === 'send-complete') {
    if (!Number.isSafeInteger(input.sendId) || input.sendId <= 0 || input.sendId >= state.nextSendId) {
      return new ColoError('unknown-send', `send-complete for unknown send ${input.sendId}`);
    }
    return undefined;
  }
  if (input.type === 'fence') {
    return input.owner === 'primary' || input.owner === 'secondary'
      ? undefined
      : new ColoError('invalid-message', `fence owner must be primary or secondary`);
  }
  if (input.type !== 'message') return undefined;
  if (state.phase === 'exited' || state.phase === 'fenced' || state.phase === 'claiming') {
    // Checked before the sequence: every message queued behind the first is refused for the same reason.
    const what = messageTypeOf(input.message);
    return new ColoError('exited', `replication is ending (${state.phase}); dropped ${what}`);
  }
  const parsed = parseInbound(input.message, params, state.epoch, state.inSeq);
  if (parsed instanceof ColoError) return parsed;
  const expected = EXPECTED[state.phase];
  if (!expected.includes(parsed.type as SecondaryMessage['type'])) {
    return unexpected(parsed.type, expected.length ? expected : ['nothing (no transaction in progress)']);
  }
  if (parsed.type === 'checkpoint-reply') {
    const known = new Set(state.rounds.map((r) => r.round));
    const bad = parsed.appliedRounds.find((r) => !known.has(r));
    if (bad !== undefined)
      return new ColoError('invalid-message', `checkpoint-reply names unknown round ${bad}`);
  }
  input.message = parsed;
  return undefined;
}

/** Applies a validated message; returns the miscompares of guest time it ran (the resume's, see onVmstateLoaded). */
function onMessage(
  state: PrimaryState,
  params: ColoParams,
  now: number,
  msg: SecondaryMessage,
  fx: Effect[],
): number {
  state.inSeq++;
  fx.push(trace(now, 'colo_receive_message', { msg: msg.type, epoch: msg.epoch, seq: msg.seq }));
  switch (msg.type) {
    case 'checkpoint-ready':
      state.phase = 'running';
      state.vmRunning = true;
      fx.push(trace(now, 'colo_vm_state_change', { old: 'stop', new: 'run' }));
      state.nextCheckpointAt = nextTickAt(params, now);
      if (params.policy !== 'none') state.nextPendingCheckAt = now + firstCheckMs(params);
      // First heartbeat at once: the secondary's watchdog has run since it sent checkpoint-ready.
      if (params.heartbeatTimeoutMs > 0) state.nextHeartbeatAt = now;
      break;
    case 'checkpoint-reply':
      onCheckpointReply(state, params, now, msg, fx);
      break;
    case 'vmstate-received':
      onVmstateReceived(state, params, now);
      break;
    case 'vmstate-loaded':
      return onVmstateLoaded(state, params, now, msg, fx);
    case 'heartbeat':
      break;
  }
  return 0;
}

function onSendComplete(
  state: PrimaryState,
  params: ColoParams,
  now: number,
  sendId: number,
  error: string | undefined,
  fx: Effect[],
): void {
  const round = roundInFlight(state);
  if (round && round.sendId === sendId) {
    finishRound(state, round, now, error, fx);
    if (state.checkpointDue) beginCheckpoint(state, params, now, state.checkpointDue, fx);
    else if (error === undefined && continuePass(state, params, now, fx)) {
      // The pass goes on; a coalesced check still runs after its last round.
    } else if (state.recheckAfterRound) {
      state.recheckAfterRound = false;
      if (pendingCheck(state, params, now, fx)) requestCheckpoint(state, params, now, 'policy', fx);
    }
    return;
  }
  const txn = state.txn;
  if (txn && error === undefined) {
    if (sendId === txn.ramSendId) {
      // The next chunk of the epoch's RAM leaves when this one has; the wait bounds silence, not size.
      if (sendNextRamChunk(state, params, now, fx)) txn.deadline = now + params.checkpointTimeoutMs;
      else txn.ramDoneAt = now;
    }
    if (sendId === txn.deviceSendId) {
      txn.deviceDoneAt = now;
      // The wait for vmstate-received starts when the epoch has left, however long it took to send.
      txn.deadline = now + params.checkpointTimeoutMs;
    }
  }
  if (error !== undefined && state.phase !== 'running') {
    exit(state, now, `checkpoint send failed: ${error}`, fx);
  }
}

/**
 * A checkpoint request — QEMU's `colo_checkpoint_notify`: it re-arms the periodic timer from now (fixed rate
 * from the callback, whatever the loop is doing) and sets the checkpoint event, a binary event the COLO loop
 * waits on. The event stays set from the request that starts a transaction until the primary resets it
 * after `vmstate-received`, so a request in that window is lost (coalesced); one after the reset (while
 * waiting for `vmstate-loaded`) stays set and starts the next checkpoint the moment the PVM resumes,
 * back-to-back. While a background round is in flight the request is latched and starts when that round's
 * send completes (the round shares the channel, so its pages are already on their way). Only a request that
 * finds the loop waiting pays its wake-up (`costs.wakeMs`, or the timer schedule's where it names one):
 * back-to-back and latched starts find it awake.
 */
function requestCheckpoint(
  state: PrimaryState,
  params: ColoParams,
  now: number,
  trigger: CheckpointTrigger,
  fx: Effect[],
): void {
  if (state.stopped) return;
  // Before checkpoint-ready the COLO loop (and its timer) has not started.
  if (state.phase !== 'wait-ready') state.nextCheckpointAt = nextTickAt(params, now);
  if (state.checkpointDue !== null || eventHeldByTransaction(state) || state.phase !== 'running') {
    if (state.phase === 'ckpt-wait-loaded' && state.checkpointDue === null) {
      state.checkpointDue = trigger;
      return;
    }
    state.coalesced++;
    fx.push(trace(now, 'colo_checkpoint_coalesced', { trigger, phase: state.phase }));
    return;
  }
  if (roundInFlight(state)) {
    state.checkpointDue = trigger;
    return;
  }
  // The loop was waiting on the event: it wakes that much later (its request leaves then).
  beginCheckpoint(state, params, now, trigger, fx, wakeAfterTick(params, now));
}

/** True while the event that started the transaction is still set (until the reset after `vmstate-received`). */
function eventHeldByTransaction(state: PrimaryState): boolean {
  return state.phase === 'ckpt-wait-reply' || state.phase === 'ckpt-wait-received';
}

function runDue(state: PrimaryState, params: ColoParams, now: number, fx: Effect[]): void {
  if (state.txn && now >= state.txn.deadline) {
    exit(state, now, `timed out in ${state.phase} after ${params.checkpointTimeoutMs} ms`, fx);
    return;
  }
  if (state.phase === 'wait-ready' || !isLive(state) || state.phase === 'claiming' || state.stopped) return;
  // A checkpoint request wins over a background round falling due at the same instant.
  // The timer fires whatever the loop is doing (a tick inside a transaction is lost or held, see requestCheckpoint).
  if (now >= state.nextCheckpointAt) requestCheckpoint(state, params, now, 'timer', fx);
  // The loop's event wait: an event set while the last checkpoint finished starts the next one at once.
  if (state.phase === 'running' && state.checkpointDue !== null && !roundInFlight(state)) {
    beginCheckpoint(state, params, now, state.checkpointDue, fx);
  }
  if (now >= state.nextPendingCheckAt) {
    state.nextPendingCheckAt = now + params.pendingCheckIntervalMs;
    if (pendingCheck(state, params, now, fx)) requestCheckpoint(state, params, now, 'policy', fx);
  }
  if (now >= state.nextHeartbeatAt) {
    state.nextHeartbeatAt = now + params.heartbeatIntervalMs;
    if (state.phase === 'running') sendHeartbeat(state, params, now, fx);
  }
}

function nextWake(state: PrimaryState): number {
  // While claiming, a tick repeats the claim: often enough to finish quickly, rarely enough to be cheap.
  if (state.phase === 'claiming') return state.lastNow + CLAIM_RETRY_MS;
  // Stopped: only an in-flight transaction's deadline is left to watch.
  if (state.stopped) return state.txn ? state.txn.deadline : Number.POSITIVE_INFINITY;
  return Math.min(
    state.nextCheckpointAt,
    state.nextPendingCheckAt,
    state.nextHeartbeatAt,
    state.txn ? state.txn.deadline : Number.POSITIVE_INFINITY,
    nextMiscompareWake(state),
  );
}

/** When the first pending check runs after `checkpoint-ready`, ms: `adaptive` samples sooner to learn sooner. */
function firstCheckMs(params: ColoParams): number {
  return params.policy === 'adaptive'
    ? Math.min(params.pendingCheckIntervalMs, SAMPLE_PERIOD_MS)
    : params.pendingCheckIntervalMs;
}

/** How often a claim that got no answer is made again, ms. */
export const CLAIM_RETRY_MS = 1000;

/**
 * Replication must end (QEMU's COLO_EXIT reason error). QEMU would let the PVM go on alone; here that is
 * only allowed once the fence says so, because the secondary may be taking over at the same moment. The
 * PVM stays as it is until then: stopped in a checkpoint (no output leaves), running otherwise.
 */
function exit(state: PrimaryState, now: number, detail: string, fx: Effect[]): void {
  state.phase = 'claiming';
  state.txn = null;
  state.checkpointDue = null;
  state.claimReason = detail;
  fx.push(trace(now, 'colo_failover_set_state', { state: 'claiming', role: 'primary', why: detail }));
  claim(state, now, detail, fx);
}

function claim(state: PrimaryState, _now: number, reason: string, fx: Effect[]): void {
  fx.push({ type: 'claim', role: 'primary', reason });
  state.claimReason = reason;
}

/** The fencing decision: the winner alone may run the VM; the loser stops for good and says so. */
function onFence(state: PrimaryState, now: number, owner: FenceOwner, fx: Effect[]): void {
  state.lastNow = Math.max(state.lastNow, now);
  if (owner === 'primary') {
    const detail = state.claimReason || 'the fence names the primary';
    if (!state.vmRunning) {
      state.vmRunning = true;
      fx.push(trace(now, 'colo_vm_state_change', { old: 'stop', new: 'run' }));
    }
    state.phase = 'exited';
    state.txn = null;
    fx.push(trace(now, 'colo_exit', { reason: 'error', detail }));
    fx.push({ type: 'colo-exit', reason: 'error', detail });
    return;
  }
  if (state.vmRunning) {
    state.vmRunning = false;
    fx.push(trace(now, 'colo_vm_state_change', { old: 'run', new: 'stop' }));
  }
  state.phase = 'fenced';
  state.txn = null;
  const detail = 'the secondary took over; this primary is fenced and stays stopped';
  fx.push(trace(now, 'colo_exit', { reason: 'fenced', detail }));
  fx.push({ type: 'colo-exit', reason: 'fenced', detail });
}
