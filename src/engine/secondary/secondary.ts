import type { Effect, FenceOwner } from '../effects.ts';
import { ColoError, unexpected } from '../errors.ts';
import { memoryDigest, SVM_AUTHOR_BIT } from '../memory/digest.ts';
import { digestTrackerOf, trackDigest } from '../memory/digest-tracker.ts';
import { type ColoParams, MESSAGE_WIRE_BYTES, pageCount } from '../params.ts';
import type { PageDelta } from '../protocol/delta.ts';
import { type Body, stamp } from '../protocol/envelope.ts';
import { messageTypeOf, parseInbound, parseOwn } from '../protocol/inbound.ts';
import {
  type DeltaKind,
  MAX_APPLIED_ROUNDS,
  type PrimaryMessage,
  type SecondaryMessage,
} from '../protocol/messages.ts';
import { trace } from '../trace.ts';
import { deltaKey } from '../transfer/build-delta.ts';
import { makeWorkload, type WriteGenerator } from '../workload/workload.ts';
import {
  discardCache,
  flushCache,
  flushMs,
  flushSet,
  stageInCache,
  stagingBytes,
  stagingEnd,
} from './colo-cache.ts';
import {
  heartbeatOrderError,
  heartbeatSentAt,
  MAX_SENT_AHEAD_MS,
  type PrimarySeen,
  primarySeenAt,
  watchdogAt,
} from './heartbeat.ts';
import type { SecondaryPhase, SecondaryState } from './state.ts';
import { validateDelta } from './validation.ts';

/** What can happen to the secondary. */
export type SecondaryInput =
  /** Enter COLO: tell the primary we are ready. */
  | { type: 'start' }
  /** Time passed: deadlines, the heartbeat watchdog, the end of a commit. */
  | { type: 'tick' }
  /**
   * A message from the primary (raw), with the object its claim check names when it is a `delta` — or the
   * `ColoError` the runtime refused that object with unread (e.g. larger than the claim), which a delta
   * the engine would otherwise accept is rejected with.
   */
  | {
      type: 'message';
      message: unknown;
      payload?: Uint8Array | PageDelta | ColoError;
      /**
       * When the queue accepted the message, ms (SQS `SentTimestamp`; the embedded runtime's send time),
       * the same for every delivery of it. A heartbeat counts with the earlier of it and its own sealed
       * `sentAt`, never with its arrival; without it (a runtime that cannot tell) the sealed time alone.
       */
      sentAt?: number;
    }
  /**
   * The primary seen replicating without a message (the cloud runtime's heartbeat: its saved document,
   * read by the secondary's timer; `primarySeenAt` in ./heartbeat.ts says when it counts). Moves only the
   * watchdog's evidence, never fires the watchdog itself.
   */
  | ({ type: 'primary-seen' } & PrimarySeen)
  /** Take over now (QEMU's `x-colo-lost-heartbeat`). */
  | { type: 'failover' }
  /**
   * Bytes of the next message are arriving (a long transfer in progress). A wait's deadline bounds
   * silence, not transfer size: progress pushes it to `now + applyTimeoutMs`.
   */
  | { type: 'progress' }
  /** The VM's fencing decision (answer to a `claim`, or found in the control document): `owner` alone runs. */
  | { type: 'fence'; owner: FenceOwner }
  /**
   * The VM was stopped by its operator and started again at `at`, ms (the cloud runtime's `colo vm add`
   * after a `remove`): the silence of the pause is not the primary's, so the watchdog counts from `at`
   * (never from later than now). One more than {@link MAX_SENT_AHEAD_MS} ahead of now is refused.
   */
  | { type: 'resumed'; at: number };

const EXPECTED: Record<SecondaryPhase, string[]> = {
  starting: [],
  idle: ['checkpoint-request', 'migrate-ram-background', 'heartbeat', 'skip'],
  'bg-loading': ['delta(background-ram)', 'heartbeat', 'skip'],
  'ckpt-wait-vmstate-send': ['vmstate-send'],
  'ckpt-wait-ram': ['delta(checkpoint-ram)', 'skip'],
  'ckpt-wait-vmstate-size': ['delta(checkpoint-ram)', 'vmstate-size', 'skip'],
  'ckpt-wait-device': ['delta(device-state)', 'skip'],
  committing: [],
  claiming: [],
  'failed-over': [],
  fenced: [],
};

/** Phases in which replication is over or ending: nothing from the primary is taken any more. */
const ENDING: readonly SecondaryPhase[] = ['starting', 'claiming', 'failed-over', 'fenced'];

/** How often a claim that got no answer is made again, ms. */
export const SECONDARY_CLAIM_RETRY_MS = 1000;

const DELTA_KIND: Partial<Record<SecondaryPhase, DeltaKind>> = {
  'bg-loading': 'background-ram',
  'ckpt-wait-ram': 'checkpoint-ram',
  'ckpt-wait-vmstate-size': 'checkpoint-ram',
  'ckpt-wait-device': 'device-state',
};

const SVM_SALT = 0x51c0_0d;
const generators = new WeakMap<ColoParams, WriteGenerator>();

/**
 * The secondary's transition function: applies `input` at `now` (ms) to `state` (updated in place) and
 * returns effects. Every input is validated in full first; a rejected one leaves the state unchanged.
 */
export function secondaryStep(
  state: SecondaryState,
  params: ColoParams,
  now: number,
  input: SecondaryInput,
): Effect[] {
  const fx: Effect[] = [];
  const t = Math.max(now, state.lastNow);
  if (input.type === 'fence') {
    if (input.owner !== 'primary' && input.owner !== 'secondary') {
      const error = new ColoError('invalid-message', 'fence owner must be primary or secondary');
      fx.push(
        { type: 'rejected', error },
        trace(t, 'colo_reject', { code: error.code, detail: error.message }),
      );
      return fx;
    }
    advanceSvm(state, params, t);
    onFence(state, params, t, input.owner, fx);
    if (isLive(state)) fx.push({ type: 'wake', at: nextWake(state, params) });
    return fx;
  }
  if (input.type === 'resumed') {
    // Before anything falls due: the pause must not be judged as the primary's silence first.
    if (!Number.isFinite(input.at) || input.at > t + MAX_SENT_AHEAD_MS) {
      const error = new ColoError(
        'invalid-message',
        `resumed at ${input.at} ms, more than ${MAX_SENT_AHEAD_MS} ms ahead of the secondary's clock (${t} ms)`,
      );
      fx.push(
        { type: 'rejected', error },
        trace(t, 'colo_reject', { code: error.code, detail: error.message }),
      );
      return fx;
    }
    if (isWatching(state)) state.lastHeardAt = Math.max(state.lastHeardAt, Math.min(input.at, t));
    if (isLive(state)) fx.push({ type: 'wake', at: nextWake(state, params) });
    return fx;
  }
  // A wait deadline or a commit's end that fell due before this input arrived acts first: an input is
  // judged against the state its arrival time implies — a late answer never revives an expired wait.
  if (input.type !== 'tick' && dueAt(state) <= t) {
    advanceSvm(state, params, t);
    runDue(state, params, t, fx);
  }
  let accepted: Accepted | undefined;
  if (input.type === 'message') {
    const result = validateMessage(state, params, t, input);
    if (result instanceof ColoError) {
      fx.push({ type: 'rejected', error: result });
      fx.push(trace(t, 'colo_reject', { code: result.code, detail: result.message }));
      return fx;
    }
    accepted = result;
  }
  let seenAt: number | undefined;
  if (input.type === 'primary-seen') {
    const result = primarySeenAt(state, input, t);
    if (result instanceof ColoError) {
      fx.push({ type: 'rejected', error: result });
      fx.push(trace(t, 'colo_reject', { code: result.code, detail: result.message }));
      return fx;
    }
    seenAt = result;
  }
  advanceSvm(state, params, t);
  // A heartbeat too: one numbered past the data slot was sent after the slot was used.
  if (accepted && state.phase === 'bg-loading' && accepted.msg.seq === state.inSeq + 1) {
    abandonRound(state, t, 'its data never arrived or was refused', fx);
  }
  switch (input.type) {
    case 'start':
      if (state.phase === 'starting') {
        state.phase = 'idle';
        state.lastHeardAt = t;
        resumeSvm(state, params, t, fx);
        send(state, params, t, fx, { type: 'checkpoint-ready' });
      }
      break;
    case 'message':
      if (accepted?.sentAt !== undefined) {
        // Outside the sequence: nothing consumed; only the watchdog's evidence and the highest beat move.
        // Only the first one, which arms the watchdog, is traced (a runtime saves a step with effects
        // beyond its wake).
        state.lastHeardAt = Math.max(state.lastHeardAt, accepted.sentAt);
        if (accepted.msg.type === 'heartbeat') state.lastBeat = Math.max(state.lastBeat, accepted.msg.beat);
        if (!state.heard) {
          state.heard = true;
          const { epoch, seq } = accepted.msg;
          fx.push(trace(t, 'colo_receive_message', { msg: 'heartbeat', epoch, seq }));
        }
      } else if (accepted) onMessage(state, params, t, accepted.msg, accepted.delta, fx);
      break;
    case 'primary-seen':
      // As a heartbeat: the first one that counts arms the watchdog, and only that one is traced (a runtime
      // saves a step with effects beyond its wake).
      if (seenAt !== undefined) {
        state.lastHeardAt = Math.max(state.lastHeardAt, seenAt);
        if (!state.heard) {
          state.heard = true;
          fx.push(trace(t, 'colo_primary_seen', { epoch: input.epoch, seq: input.seq }));
        }
      }
      break;
    case 'failover':
      requestFailover(state, t, 'requested', fx);
      break;
    case 'tick':
      // An unanswered claim is made again (the invocation that made it may have died).
      if (state.phase === 'claiming') claim(state, state.claimReason, fx);
      break;
    case 'progress':
      if (state.phase === 'bg-loading' || state.phase.startsWith('ckpt-wait')) {
        state.deadline = Math.max(state.deadline, t + params.applyTimeoutMs);
      }
      break;
  }
  // A message never fires the watchdog: one handed over late, or a heartbeat sent long ago and queued
  // behind others, is no silence of the primary's — the later ones in the queue may be fresh. Ticks judge.
  runDue(state, params, t, fx, input.type !== 'message' && input.type !== 'primary-seen');
  if (isLive(state)) fx.push({ type: 'wake', at: nextWake(state, params) });
  return fx;
}

/** True while the secondary has anything left to do. */
function isLive(state: SecondaryState): boolean {
  return state.phase !== 'failed-over' && state.phase !== 'fenced';
}

/**
 * The earliest wait deadline or commit end, ms. The heartbeat watchdog is left out on purpose: an input
 * from the primary is itself proof that it was not silent, however late the runtime hands it over.
 */
function dueAt(state: SecondaryState): number {
  if (!isLive(state) || state.phase === 'claiming') return Number.POSITIVE_INFINITY;
  return Math.min(state.deadline, state.commitDoneAt);
}

/** A message the secondary takes: with its page data (a delta) or the send time it counts with (a heartbeat). */
interface Accepted {
  msg: PrimaryMessage;
  delta?: PageDelta;
  sentAt?: number;
}

function validateMessage(
  state: SecondaryState,
  params: ColoParams,
  now: number,
  input: Extract<SecondaryInput, { type: 'message' }>,
): Accepted | ColoError {
  const { payload } = input;
  const admitted = admit(state, params, input.message);
  if (admitted instanceof ColoError) return admitted;
  const { msg, kind } = admitted;
  if (msg.type === 'heartbeat') {
    const sentAt = heartbeatSentAt(msg, input.sentAt, now);
    return sentAt instanceof ColoError ? sentAt : { msg, sentAt };
  }
  if (msg.type !== 'delta' || kind === undefined) return { msg };
  const delta = validateDelta(params, pageCount(params), msg, payload, kind, state.deviceSize);
  if (delta instanceof ColoError) return delta;
  return { msg, delta };
}

/**
 * Why the secondary would refuse `raw` whatever its payload, or undefined when only the payload is left to
 * check: schema, VM id, sequence, epoch, whether the phase takes that message at all, a delta's kind, round,
 * claim key and announced size, a background round's number. A runtime asks this before it reads a delta's
 * object, so a message that cannot be accepted costs no read (and a missing object cannot block it).
 */
export function admissionError(
  state: SecondaryState,
  params: ColoParams,
  raw: unknown,
): ColoError | undefined {
  const admitted = admit(state, params, raw);
  return admitted instanceof ColoError ? admitted : undefined;
}

/** Everything {@link admissionError} checks; the accepted message and, for a delta, the kind it must be. */
function admit(
  state: SecondaryState,
  params: ColoParams,
  raw: unknown,
): { msg: PrimaryMessage; kind?: DeltaKind } | ColoError {
  // A secondary that left replication takes nothing: say so, not "wrong sequence" for every queued message.
  if (ENDING.includes(state.phase)) {
    const what = messageTypeOf(raw);
    return new ColoError('exited', `secondary is ${state.phase}; dropped ${what}`);
  }
  if (messageTypeOf(raw) === 'heartbeat') return admitHeartbeat(state, params, raw);
  let phase = state.phase;
  let seq = state.inSeq;
  // In a background load, the next message after the round's data slot means that data was lost or
  // refused: the round is abandoned and the message is handled as in idle (never stuck on a bad round).
  if (phase === 'bg-loading' && (raw as { seq?: unknown } | null)?.seq === state.inSeq + 1) {
    phase = 'idle';
    seq = state.inSeq + 1;
  }
  const parsed = parseInbound(raw, params, state.epoch, seq);
  if (parsed instanceof ColoError) return parsed;
  const msg = parsed as PrimaryMessage;
  const expected = EXPECTED[phase];
  if (ENDING.includes(phase)) {
    return new ColoError('exited', `secondary is ${phase}; dropped ${msg.type}`);
  }
  const kind = DELTA_KIND[phase];
  if (msg.type === 'delta') {
    if (!kind) return unexpected(`delta(${msg.kind})`, expected);
    if (kind === 'background-ram' && msg.kind === 'background-ram' && msg.round !== state.loadingRound) {
      return new ColoError(
        'stale-transfer',
        `delta for round ${msg.round}, loading round ${state.loadingRound}`,
      );
    }
    if (msg.kind !== kind) {
      return kind === 'background-ram'
        ? new ColoError('not-ram', `background transfer carries ${msg.kind}; only RAM pages are accepted`)
        : unexpected(`delta(${msg.kind})`, [`delta(${kind})`]);
    }
    // The claim must name this message's own object: `<vmId>/<epoch>/<seq>-<kind>` of this VM.
    const own = deltaKey(params.vmId, msg.epoch, msg.seq, msg.kind);
    if (msg.claim.key !== own) {
      return new ColoError(
        'claim-mismatch',
        `claim names object ${msg.claim.key}; this message's object is ${own}`,
      );
    }
    if (params.payload === 'materialised' && msg.claim.size > params.maxObjectBytes) {
      return new ColoError(
        'invalid-delta',
        `claim announces ${msg.claim.size} bytes, over maxObjectBytes ${params.maxObjectBytes}`,
      );
    }
    return { msg, kind };
  }
  if (!expected.includes(msg.type)) return unexpected(msg.type, expected);
  if (msg.type === 'migrate-ram-background') {
    const bad = roundError(state, msg.round);
    if (bad) return bad;
  }
  return { msg };
}

/** A heartbeat, outside the sequence: schema, VM id, a phase that takes it, an epoch and number reached. */
function admitHeartbeat(
  state: SecondaryState,
  params: ColoParams,
  raw: unknown,
): { msg: PrimaryMessage } | ColoError {
  const parsed = parseOwn(raw, params);
  if (parsed instanceof ColoError) return parsed;
  if (parsed.type !== 'heartbeat')
    return new ColoError('invalid-message', `expected a heartbeat, got ${parsed.type}`);
  const expected = EXPECTED[state.phase];
  if (!expected.includes('heartbeat')) return unexpected('heartbeat', expected);
  // Numbered past a background round's data slot: that data was lost or refused, as for any message.
  const past = state.phase === 'bg-loading' && parsed.seq === state.inSeq + 1;
  return heartbeatOrderError(state, parsed, past ? state.inSeq + 1 : state.inSeq) ?? { msg: parsed };
}

/**
 * A background round must fit the epoch's history: numbered above every round already in the colo cache
 * (the primary numbers them 1, 2, 3, … per epoch; abandoned ones leave gaps), and no more of them than a
 * `checkpoint-reply` can list — so the reply this epoch ends with is always sendable.
 */
function roundError(state: SecondaryState, round: number): ColoError | undefined {
  const last = state.appliedRounds[state.appliedRounds.length - 1] ?? 0;
  if (!Number.isSafeInteger(round) || round < 1 || round <= last) {
    return new ColoError(
      'stale-transfer',
      `round ${round} of epoch ${state.epoch} comes after round ${last}; rounds must increase`,
    );
  }
  if (state.appliedRounds.length >= MAX_APPLIED_ROUNDS) {
    return new ColoError(
      'stale-transfer',
      `epoch ${state.epoch} already has ${state.appliedRounds.length} rounds in the colo cache; a checkpoint-reply lists at most ${MAX_APPLIED_ROUNDS} rounds`,
    );
  }
  return undefined;
}

function onMessage(
  state: SecondaryState,
  params: ColoParams,
  now: number,
  msg: PrimaryMessage,
  delta: PageDelta | undefined,
  fx: Effect[],
): void {
  state.inSeq++;
  state.lastHeardAt = Math.max(state.lastHeardAt, now);
  state.heard = true;
  fx.push(trace(now, 'colo_receive_message', { msg: msg.type, epoch: msg.epoch, seq: msg.seq }));
  const wait = now + params.applyTimeoutMs;
  const checkpointWait = now + checkpointWaitMs(params);
  switch (msg.type) {
    case 'heartbeat':
      return; // admitted outside the sequence: never here
    case 'skip':
      onSkip(state, now, msg.reason, fx);
      return;
    case 'migrate-ram-background':
      state.phase = 'bg-loading';
      state.loadingRound = msg.round;
      state.loadingSeq = msg.seq + 1;
      state.deadline = wait;
      return;
    case 'checkpoint-request':
      stopSvm(state, now, fx);
      send(state, params, now, fx, { type: 'checkpoint-reply', appliedRounds: [...state.appliedRounds] });
      state.phase = 'ckpt-wait-vmstate-send';
      state.deadline = checkpointWait;
      return;
    case 'vmstate-send':
      state.phase = 'ckpt-wait-ram';
      state.deadline = checkpointWait;
      return;
    case 'vmstate-size':
      state.deviceSize = msg.size;
      state.phase = 'ckpt-wait-device';
      state.deadline = checkpointWait;
      return;
    case 'delta':
      onDelta(state, params, now, msg.kind, msg.round, delta as PageDelta, fx);
      return;
  }
}

function onDelta(
  state: SecondaryState,
  params: ColoParams,
  now: number,
  kind: DeltaKind,
  round: number,
  delta: PageDelta,
  fx: Effect[],
): void {
  if (kind === 'background-ram') {
    // Staging costs time, after whatever is still being staged; a load that cannot finish before its
    // deadline is abandoned whole.
    const end = stagingEnd(state, params, now, stagingBytes(params, delta));
    if (end > state.deadline) {
      abandonRound(state, now, `load would end at ${end} ms, deadline ${state.deadline} ms`, fx);
      return;
    }
    stageInCache(state, delta);
    state.stagedAt = end;
    state.appliedRounds.push(round);
    state.phase = 'idle';
    state.deadline = Number.POSITIVE_INFINITY;
    return;
  }
  if (kind === 'checkpoint-ram') {
    stageInCache(state, delta);
    state.stagedAt = stagingEnd(state, params, now, stagingBytes(params, delta));
    state.phase = 'ckpt-wait-vmstate-size';
    state.deadline = now + checkpointWaitMs(params);
    return;
  }
  // Device state: the whole epoch is here. Once its RAM is staged, acknowledge and commit (flush + device
  // load): `vmstate-received` leaves when the staging ends (QEMU sends it after loading the epoch into the
  // colo cache), so the primary's downtime includes the staging the link did not hide.
  const staged = Math.max(now, state.stagedAt);
  state.stagedAt = staged;
  send(state, params, now, fx, { type: 'vmstate-received' }, staged - now);
  state.phase = 'committing';
  state.deadline = Number.POSITIVE_INFINITY;
  state.applyMemMs = flushMs(flushSet(state), params.costs.flushBytesPerMs);
  state.applyDevMs = params.costs.deviceLoadMs;
  state.commitDoneAt = staged + state.applyMemMs + state.applyDevMs;
}

/** A retired sequence number: the message it stands for never comes. */
function onSkip(state: SecondaryState, now: number, reason: string, fx: Effect[]): void {
  if (state.phase === 'bg-loading') {
    // onMessage counted the skip; abandonRound moves past the round's data slot, which the skip was.
    state.inSeq--;
    abandonRound(state, now, `its data was retired by the primary: ${reason}`, fx);
    return;
  }
  if (state.phase.startsWith('ckpt-wait')) {
    // Part of the epoch will never arrive: it cannot commit, so replication ends here.
    requestFailover(state, now, `checkpoint data retired by the primary: ${reason}`, fx);
  }
}

/**
 * How long the secondary waits for the next message of a checkpoint, ms: the apply timeout, but never less
 * than the heartbeat timeout. Between checkpoints the primary may be silent for `heartbeatTimeoutMs`
 * before the secondary takes over; inside one, the same silence is the same evidence — and a redelivered
 * record (a consumer that failed, a function that was down) costs a checkpoint exactly what it costs between
 * checkpoints. QEMU's secondary has no deadline of its own there at all: it blocks on the channel until
 * the heartbeat is lost. With `heartbeatTimeoutMs = 0` (no automatic failover) the apply timeout alone
 * bounds the wait, so a secondary never stays stuck in a checkpoint.
 *
 * @returns The wait, ms.
 */
export function checkpointWaitMs(params: ColoParams): number {
  return Math.max(params.applyTimeoutMs, params.heartbeatTimeoutMs);
}

/** Gives up a background round whole: nothing of it reaches the cache, and its data slot is skipped. */
function abandonRound(state: SecondaryState, now: number, why: string, fx: Effect[]): void {
  fx.push(trace(now, 'colo_background_round_abandoned', { round: state.loadingRound, why }));
  // The round's data is the message right after `migrate-ram-background`; skip its sequence number.
  state.inSeq = state.loadingSeq + 1;
  state.phase = 'idle';
  state.deadline = Number.POSITIVE_INFINITY;
}

/** The commit: atomic from the outside — the flush and the device load land together. */
function commit(state: SecondaryState, params: ColoParams, now: number, fx: Effect[]): void {
  fx.push(trace(now, 'colo_flush_ram_cache_begin', { dirty_pages: flushSet(state) }));
  const flushed = flushCache(state);
  fx.push(trace(now, 'colo_flush_ram_cache_end', {}));
  const epoch = state.epoch;
  state.committedEpoch = epoch;
  state.appliedRounds = [];
  state.commitDoneAt = Number.POSITIVE_INFINITY;
  fx.push({
    type: 'commit',
    epoch,
    flushedPages: flushed,
    digest: memoryDigest(params.seed, state.committed),
  });
  if (state.failoverDeferred) {
    state.epoch++;
    state.failoverDeferred = false;
    state.phase = 'idle';
    requestFailover(state, now, state.claimReason || 'deferred until the commit ended', fx);
    return;
  }
  // QEMU resumes the SVM first and then sends vmstate-loaded (colo_incoming_process_checkpoint).
  resumeSvm(state, params, now, fx);
  send(state, params, now, fx, {
    type: 'vmstate-loaded',
    applyMemMs: state.applyMemMs,
    applyDevMs: state.applyDevMs,
  });
  state.epoch++;
  state.phase = 'idle';
}

function runDue(state: SecondaryState, params: ColoParams, now: number, fx: Effect[], watchdog = true): void {
  if (state.phase === 'committing' && now >= state.commitDoneAt) commit(state, params, now, fx);
  if (now >= state.deadline) {
    if (state.phase === 'bg-loading') {
      abandonRound(state, now, `no data within ${params.applyTimeoutMs} ms`, fx);
    } else if (state.phase.startsWith('ckpt-wait')) {
      // The epoch cannot complete: never stay stuck — claim the VM and take over from the last commit.
      fx.push(trace(now, 'colo_exit', { reason: 'error', detail: `timed out in ${state.phase}` }));
      requestFailover(state, now, `timed out in ${state.phase} after ${checkpointWaitMs(params)} ms`, fx);
      return;
    }
  }
  // The same sum as the wake time (watchdogAt): a difference could round just short of it and wake forever.
  if (watchdog && isWatching(state) && now >= watchdogAt(state, params)) {
    requestFailover(state, now, `no message from the primary for ${now - state.lastHeardAt} ms`, fx);
  }
}

/**
 * The heartbeat watchdog runs between checkpoints once the primary has been heard (its first message
 * accepted): like QEMU's secondary, which waits for the incoming migration without a timeout and watches
 * for a lost heartbeat only once COLO runs, a secondary never takes over a VM that was never replicated —
 * a primary slow to start (a cold start on a loaded machine) is not a failure. A checkpoint's own waits
 * time out from the first checkpoint on (an outside review saw a new VM fail over there): both replicas
 * hold the initial guest (epoch 0), so a takeover then is to that state, as any takeover is to the last
 * committed one.
 */
function isWatching(state: SecondaryState): boolean {
  return (state.phase === 'idle' || state.phase === 'bg-loading') && (state.heard || state.inSeq > 0);
}

/**
 * When the heartbeat watchdog would fail the primary over, ms (∞ while it is not watching: before the
 * primary was first heard, inside a checkpoint, after the end). A runtime that drives the wakes tells by it
 * whether a secondary's next wake is a judgement of silence or a wait deadline.
 */
export function heartbeatWatchdogAt(state: SecondaryState, params: ColoParams): number {
  return isWatching(state) ? watchdogAt(state, params) : Number.POSITIVE_INFINITY;
}

function nextWake(state: SecondaryState, params: ColoParams): number {
  if (state.phase === 'claiming') return state.lastNow + SECONDARY_CLAIM_RETRY_MS;
  return Math.min(state.deadline, state.commitDoneAt, heartbeatWatchdogAt(state, params));
}

/**
 * Failover: during a commit it waits for the commit (QEMU's relaunch); otherwise the secondary claims the
 * VM's fence and takes over only if the claim wins — the primary may be claiming it at the same moment.
 */
function requestFailover(state: SecondaryState, now: number, why: string, fx: Effect[]): void {
  if (ENDING.includes(state.phase)) return;
  if (state.phase === 'committing') {
    state.failoverDeferred = true;
    state.claimReason = why;
    fx.push(trace(now, 'colo_failover_set_state', { state: 'relaunch', why }));
    return;
  }
  state.phase = 'claiming';
  state.deadline = Number.POSITIVE_INFINITY;
  state.claimReason = why;
  fx.push(trace(now, 'colo_failover_set_state', { state: 'claiming', role: 'secondary', why }));
  claim(state, why, fx);
}

function claim(state: SecondaryState, reason: string, fx: Effect[]): void {
  state.claimReason = reason;
  fx.push({ type: 'claim', role: 'secondary', reason });
}

/** The fencing decision: take over when it names this secondary, stop for good when it names the primary. */
function onFence(
  state: SecondaryState,
  _params: ColoParams,
  now: number,
  owner: FenceOwner,
  fx: Effect[],
): void {
  if (!isLive(state)) return;
  if (owner === 'secondary') {
    if (state.phase === 'committing') {
      // The commit is atomic: it ends first, then the takeover runs from the new committed image.
      state.failoverDeferred = true;
      state.claimReason ||= 'the fence names the secondary';
      return;
    }
    failover(state, now, state.claimReason || 'the fence names the secondary', fx);
    return;
  }
  const dropped = discardCache(state);
  state.phase = 'fenced';
  state.deadline = Number.POSITIVE_INFINITY;
  state.commitDoneAt = Number.POSITIVE_INFINITY;
  state.failoverDeferred = false;
  if (state.vmRunning) {
    state.vmRunning = false;
    fx.push(trace(now, 'colo_vm_state_change', { old: 'run', new: 'stop', vm: 'svm' }));
  }
  const detail = 'the primary runs alone; this secondary is fenced and stays stopped';
  fx.push(trace(now, 'colo_failover_set_state', { state: 'fenced', dropped_pages: dropped }));
  fx.push(trace(now, 'colo_exit', { reason: 'fenced', detail }));
  fx.push({ type: 'colo-exit', reason: 'fenced', detail });
}

/**
 * Takes over: the uncommitted cache is discarded, never flushed, so the SVM continues from the last
 * committed checkpoint (plus its own writes when it was running) — never a mix of epochs.
 */
function failover(state: SecondaryState, now: number, why: string, fx: Effect[]): void {
  const dropped = discardCache(state);
  state.phase = 'failed-over';
  state.deadline = Number.POSITIVE_INFINITY;
  state.commitDoneAt = Number.POSITIVE_INFINITY;
  state.failoverDeferred = false;
  fx.push(trace(now, 'colo_failover_set_state', { state: 'completed', why, dropped_pages: dropped }));
  fx.push({ type: 'colo-exit', reason: 'failover', detail: why });
  state.vmRunning = true;
}

function stopSvm(state: SecondaryState, now: number, fx: Effect[]): void {
  if (!state.vmRunning) return;
  state.vmRunning = false;
  fx.push(trace(now, 'colo_vm_state_change', { old: 'run', new: 'stop', vm: 'svm' }));
}

function resumeSvm(state: SecondaryState, params: ColoParams, now: number, fx: Effect[]): void {
  if (params.secondaryMode !== 'running' || state.vmRunning) return;
  state.vmRunning = true;
  fx.push(trace(now, 'colo_vm_state_change', { old: 'stop', new: 'run', vm: 'svm' }));
}

/** Runs the SVM's own workload (running mode): its writes go to running memory only. */
function advanceSvm(state: SecondaryState, params: ColoParams, now: number): void {
  const dt = now - state.lastNow;
  if (dt <= 0) return;
  state.lastNow = now;
  if (!state.vmRunning || state.phase === 'failed-over' || params.secondaryMode !== 'running') return;
  let g = generators.get(params);
  if (!g) {
    g = makeWorkload(params.secondaryWorkload, state.running.length, params.seed, SVM_SALT);
    generators.set(params, g);
  }
  const t0 = state.guestTime;
  state.guestTime = t0 + dt;
  if (state.running === state.committed) unshareRunning(state);
  const { running, svmDirty } = state;
  const tracker = digestTrackerOf(running);
  g(t0, t0 + dt, (p) => {
    tracker?.noteWrite(p, running[p] ?? 0);
    const v = ((running[p] ?? 0) & 0x7fff_ffff) + 1;
    running[p] = ((v & 0x7fff_ffff) | SVM_AUTHOR_BIT) >>> 0;
    svmDirty.set(p);
  });
}

/**
 * Gives running memory an array of its own before the SVM writes to it (a state built as a passive one's,
 * with one array for both images): a copy, tracked for digests if the committed image is.
 */
function unshareRunning(state: SecondaryState): void {
  const tracker = digestTrackerOf(state.committed);
  state.running = state.committed.slice();
  if (tracker) trackDigest(tracker.seed, state.running);
}

function send(
  state: SecondaryState,
  params: ColoParams,
  now: number,
  fx: Effect[],
  body: Body<SecondaryMessage>,
  afterMs = 0,
): void {
  const message = stamp<SecondaryMessage>(state, params.vmId, body);
  fx.push({ type: 'send', sendId: 0, message, wireBytes: MESSAGE_WIRE_BYTES, afterMs });
  fx.push(trace(now, 'colo_send_message', { msg: message.type, epoch: message.epoch, seq: message.seq }));
}
