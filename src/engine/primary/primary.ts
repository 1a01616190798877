import type { Effect } from '../effects.ts';
import { ColoError, unexpected } from '../errors.ts';
import type { ColoParams } from '../params.ts';
import { parseInbound } from '../protocol/inbound.ts';
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
import { sendMessage } from './outbox.ts';
import type { PrimaryPhase, PrimaryState } from './state.ts';

/** What can happen to the primary. */
export type PrimaryInput =
  /** Time passed: run whatever is due (timers, deadlines, miscompares). */
  | { type: 'tick' }
  /** A message from the secondary (raw: validated here). */
  | { type: 'message'; message: unknown }
  /** A send finished leaving (`error` set if it failed). */
  | { type: 'send-complete'; sendId: number; error?: string }
  /** Someone asks for a checkpoint now (e.g. an operator). */
  | { type: 'request-checkpoint'; trigger: CheckpointTrigger };

const EXPECTED: Record<PrimaryPhase, SecondaryMessage['type'][]> = {
  'wait-ready': ['checkpoint-ready'],
  running: [],
  'ckpt-wait-reply': ['checkpoint-reply'],
  'ckpt-wait-received': ['vmstate-received'],
  'ckpt-wait-loaded': ['vmstate-loaded'],
  exited: [],
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
  if (state.phase === 'exited') return fx;
  const t = Math.max(now, state.lastNow);
  const miscompares = advanceGuest(state, params, t);
  switch (input.type) {
    case 'message':
      onMessage(state, params, t, input.message as SecondaryMessage, fx);
      break;
    case 'send-complete':
      onSendComplete(state, params, t, input.sendId, input.error, fx);
      break;
    case 'request-checkpoint':
      requestCheckpoint(state, params, t, input.trigger, fx);
      break;
    case 'tick':
      break;
  }
  for (let i = 0; i < miscompares; i++) requestCheckpoint(state, params, t, 'miscompare', fx);
  runDue(state, params, t, fx);
  if ((state.phase as PrimaryState['phase']) !== 'exited') fx.push({ type: 'wake', at: nextWake(state) });
  return fx;
}

function validate(state: PrimaryState, params: ColoParams, input: PrimaryInput): ColoError | undefined {
  if (input.type === 'send-complete') {
    if (!Number.isSafeInteger(input.sendId) || input.sendId <= 0 || input.sendId >= state.nextSendId) {
      return new ColoError('unknown-send', `send-complete for unknown send ${input.sendId}`);
    }
    return undefined;
  }
  if (input.type !== 'message') return undefined;
  const parsed = parseInbound(input.message, params, state.epoch, state.inSeq);
  if (parsed instanceof ColoError) return parsed;
  if (state.phase === 'exited')
    return new ColoError('exited', `replication has stopped; dropped ${parsed.type}`);
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

function onMessage(
  state: PrimaryState,
  params: ColoParams,
  now: number,
  msg: SecondaryMessage,
  fx: Effect[],
): void {
  state.inSeq++;
  fx.push(trace(now, 'colo_receive_message', { msg: msg.type, epoch: msg.epoch, seq: msg.seq }));
  switch (msg.type) {
    case 'checkpoint-ready':
      state.phase = 'running';
      state.vmRunning = true;
      fx.push(trace(now, 'colo_vm_state_change', { old: 'stop', new: 'run' }));
      state.nextCheckpointAt = now + params.checkpointDelayMs;
      if (params.policy !== 'none') state.nextPendingCheckAt = now + params.pendingCheckIntervalMs;
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
      onVmstateLoaded(state, params, now, msg, fx);
      break;
    case 'heartbeat':
      break;
  }
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
 * A checkpoint request: starts the transaction, or — while a background round is in flight — is latched
 * and starts the moment that round's send completes (the round shares the channel, so its pages are
 * already on their way; abandoning them would only resend them). Requests during a transaction coalesce.
 */
function requestCheckpoint(
  state: PrimaryState,
  params: ColoParams,
  now: number,
  trigger: CheckpointTrigger,
  fx: Effect[],
): void {
  if (state.phase !== 'running' || state.checkpointDue !== null) {
    state.coalesced++;
    fx.push(trace(now, 'colo_checkpoint_coalesced', { trigger }));
    return;
  }
  if (roundInFlight(state)) {
    state.checkpointDue = trigger;
    return;
  }
  beginCheckpoint(state, params, now, trigger, fx);
}

function runDue(state: PrimaryState, params: ColoParams, now: number, fx: Effect[]): void {
  if (state.txn && now >= state.txn.deadline) {
    exit(state, now, `timed out in ${state.phase} after ${params.checkpointTimeoutMs} ms`, fx);
    return;
  }
  if (state.phase === 'wait-ready' || state.phase === 'exited') return;
  // A checkpoint request wins over a background round falling due at the same instant.
  if (now >= state.nextCheckpointAt) {
    // The timer re-arms itself; starting the checkpoint re-arms it again from the request (as QEMU does).
    state.nextCheckpointAt = now + params.checkpointDelayMs;
    if (state.phase === 'running') requestCheckpoint(state, params, now, 'timer', fx);
  }
  if (now >= state.nextPendingCheckAt) {
    state.nextPendingCheckAt = now + params.pendingCheckIntervalMs;
    if (pendingCheck(state, params, now, fx)) requestCheckpoint(state, params, now, 'policy', fx);
  }
  if (now >= state.nextHeartbeatAt) {
    state.nextHeartbeatAt = now + params.heartbeatIntervalMs;
    if (state.phase === 'running') sendMessage(state, params, now, fx, { type: 'heartbeat' });
  }
}

function nextWake(state: PrimaryState): number {
  return Math.min(
    state.nextCheckpointAt,
    state.nextPendingCheckAt,
    state.nextHeartbeatAt,
    state.txn ? state.txn.deadline : Number.POSITIVE_INFINITY,
    nextMiscompareWake(state),
  );
}

/** Leaves COLO with an error (QEMU's COLO_EXIT reason error): the PVM goes on alone. */
function exit(state: PrimaryState, now: number, detail: string, fx: Effect[]): void {
  if (!state.vmRunning) {
    state.vmRunning = true;
    fx.push(trace(now, 'colo_vm_state_change', { old: 'stop', new: 'run' }));
  }
  state.phase = 'exited';
  state.txn = null;
  fx.push(trace(now, 'colo_exit', { reason: 'error', detail }));
  fx.push({ type: 'colo-exit', reason: 'error', detail });
}
