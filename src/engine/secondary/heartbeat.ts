/**
 * Heartbeats outside the COLO sequence (docs/cloud-runtime.md, "Heartbeats without a save"): admission,
 * the freshness a heartbeat counts with, and the slack of the coarsely saved `lastHeardAt`. Pure: the send
 * times come in with the message.
 */
import { ColoError } from '../errors.ts';
import type { ColoParams } from '../params.ts';
import type { Heartbeat } from '../protocol/messages.ts';
import type { SecondaryState } from './state.ts';

/**
 * Farthest a heartbeat's send time (sealed or the queue's) may be ahead of the secondary's clock, ms:
 * beyond that it is refused as absurd; within it (clock skew) it counts as sent at the secondary's now.
 */
export const MAX_SENT_AHEAD_MS = 60_000;

/**
 * Slack `S` of the coarsely saved `lastHeardAt`, ms: a quarter of the heartbeat timeout. A heartbeat that
 * moves `lastHeardAt` less than `S` past the stored value is not saved, so a loaded value `L` satisfies
 * `L ≤ true lastHeardAt < L + S`, and the watchdog fires at `L + S + heartbeatTimeoutMs`: never earlier
 * than the true last heartbeat plus the timeout, at most `S` later.
 */
export function heartbeatSlackMs(params: ColoParams): number {
  return Math.floor(params.heartbeatTimeoutMs / 4);
}

/**
 * When the heartbeat watchdog fires, ms: `lastHeardAt + S + heartbeatTimeoutMs` (∞ with the watchdog off).
 * One sum for the test and the wake, so the two can never round apart.
 */
export function watchdogAt(state: SecondaryState, params: ColoParams): number {
  if (params.heartbeatTimeoutMs <= 0) return Number.POSITIVE_INFINITY;
  return state.lastHeardAt + heartbeatSlackMs(params) + params.heartbeatTimeoutMs;
}

/**
 * Why a heartbeat (schema, VM id and phase already checked) is refused whatever its send time, or
 * undefined. `inSeq` is the number the secondary expects next (one more past a background round's data
 * slot). Refused:
 * - `wrong-sequence` / `wrong-epoch`: numbered ahead of the secondary, or at its number in another epoch —
 *   no primary sends that;
 * - `stale-heartbeat`: overtaken by a message the secondary consumed since (`seq < inSeq`), or a `beat` not
 *   above the highest admitted (a duplicate or a replay). Harmless, and no evidence of a live primary:
 *   the later message, or the higher beat, already proved more. The runtimes acknowledge it as a duplicate.
 */
export function heartbeatOrderError(
  state: SecondaryState,
  msg: Heartbeat,
  inSeq = state.inSeq,
): ColoError | undefined {
  if (msg.seq > inSeq) {
    return new ColoError(
      'wrong-sequence',
      `heartbeat has sequence ${msg.seq}, ahead of the next expected ${inSeq}: a message before it has not arrived`,
    );
  }
  if (msg.epoch > state.epoch || (msg.seq === inSeq && msg.epoch !== state.epoch)) {
    return new ColoError(
      'wrong-epoch',
      `heartbeat at sequence ${msg.seq} is for epoch ${msg.epoch}, this secondary is in epoch ${state.epoch}`,
    );
  }
  if (msg.seq < inSeq) {
    return new ColoError(
      'stale-heartbeat',
      `heartbeat at sequence ${msg.seq} was overtaken: sequence ${inSeq - 1} was consumed since`,
    );
  }
  if (msg.beat <= state.lastBeat) {
    return new ColoError(
      'stale-heartbeat',
      `heartbeat beat ${msg.beat} is not above the highest admitted, ${state.lastBeat}: a duplicate or a replay`,
    );
  }
  return undefined;
}

/**
 * The time a heartbeat counts with at step time `now`, ms: the earliest of its sealed send time
 * (`msg.sentAt`, the primary's clock), the queue's send time (`queueSentAt`, SQS `SentTimestamp`, when
 * the runtime knows it) and `now`. The sealed time makes a replay count from its first send, the queue's
 * time bounds a primary clock running ahead, `now` bounds both. Refused when either is not a time, or
 * is more than {@link MAX_SENT_AHEAD_MS} ahead of `now`.
 */
export function heartbeatSentAt(
  msg: Heartbeat,
  queueSentAt: number | undefined,
  now: number,
): number | ColoError {
  let at = Math.min(msg.sentAt, now);
  for (const [what, t] of [
    ['sealed send time', msg.sentAt],
    ['queue send time', queueSentAt],
  ] as const) {
    if (t === undefined) continue;
    if (!Number.isFinite(t) || t < 0) {
      return new ColoError('invalid-message', `heartbeat ${what} ${t} is not a time in ms`);
    }
    if (t > now + MAX_SENT_AHEAD_MS) {
      return new ColoError(
        'invalid-message',
        `heartbeat ${what} ${t} ms is ${t - now} ms ahead of this secondary's clock (at most ${MAX_SENT_AHEAD_MS} ms is taken as skew)`,
      );
    }
    at = Math.min(at, t);
  }
  return at;
}

/**
 * What a runtime saw of the primary without a message (the cloud runtime: the primary's saved document,
 * read by the secondary's timer): at `at` (ms, the primary's clock — when that state was committed) the
 * primary's loop was replicating (running, not stopped, not exiting) in `epoch`, with `seq` the next
 * sequence number it would send. Exactly what a heartbeat it sent then would have carried.
 */
export interface PrimarySeen {
  /** When the primary's state was committed, ms (its clock). */
  at: number;
  /** The primary's epoch then. */
  epoch: number;
  /** The next sequence number the primary would send (`outSeq`) then. */
  seq: number;
}

/**
 * The time {@link PrimarySeen} evidence counts with at step time `now` (ms), undefined when it counts for
 * nothing, or the error it is refused with. It counts exactly when a heartbeat sent at that state would
 * have been admitted: the secondary is between checkpoints (`idle`, `bg-loading`), in the primary's epoch,
 * and has consumed everything the primary had numbered (`seq = inSeq`; in `bg-loading` also `inSeq + 1`,
 * the round's data slot — its data may still be on its way, so unlike a heartbeat numbered past the slot
 * it abandons nothing). Otherwise (a checkpoint in progress, messages still in flight, an older document)
 * it proves nothing the secondary can use and counts for nothing. The time is `min(at, now)`, as a
 * heartbeat's sealed send time.
 *
 * Refused (`invalid-message`) when a field is not a time or a count, or `at` is more than
 * {@link MAX_SENT_AHEAD_MS} ahead of `now`.
 */
export function primarySeenAt(
  state: SecondaryState,
  seen: PrimarySeen,
  now: number,
): number | undefined | ColoError {
  if (!Number.isFinite(seen.at) || seen.at < 0) {
    return new ColoError('invalid-message', `primary seen at ${seen.at}: not a time in ms`);
  }
  for (const [what, n] of [
    ['epoch', seen.epoch],
    ['seq', seen.seq],
  ] as const) {
    if (!Number.isSafeInteger(n) || n < 0) {
      return new ColoError('invalid-message', `primary seen with ${what} ${n}: not a count`);
    }
  }
  if (seen.at > now + MAX_SENT_AHEAD_MS) {
    return new ColoError(
      'invalid-message',
      `primary seen at ${seen.at} ms, ${seen.at - now} ms ahead of this secondary's clock (at most ${MAX_SENT_AHEAD_MS} ms is taken as skew)`,
    );
  }
  if (state.phase !== 'idle' && state.phase !== 'bg-loading') return undefined;
  if (seen.epoch !== state.epoch) return undefined;
  const atPosition =
    seen.seq === state.inSeq || (state.phase === 'bg-loading' && seen.seq === state.inSeq + 1);
  return atPosition ? Math.min(seen.at, now) : undefined;
}
