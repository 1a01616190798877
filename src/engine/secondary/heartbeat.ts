/**
 * Heartbeats outside the COLO sequence (docs/cloud-runtime.md, "Heartbeats without a save"): admission
 * and the slack of the coarsely saved `lastHeardAt`. Pure: the send time comes in with the message.
 */
import { ColoError } from '../errors.ts';
import type { ColoParams } from '../params.ts';
import type { Heartbeat } from '../protocol/messages.ts';
import type { SecondaryState } from './state.ts';

/**
 * Farthest a heartbeat's send time may be ahead of the secondary's clock, ms: beyond that it is refused as
 * absurd; within it (clock skew between the queue and this node) it counts as sent at the secondary's now.
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
 * Why a heartbeat (schema, VM id and phase already checked) is refused whatever its send time, or undefined.
 * Admitted: any epoch and sequence number the secondary has reached (`epoch ≤ epoch`, `seq ≤ inSeq`): a
 * duplicate, a redelivery or one overtaken by later messages is harmless, as `lastHeardAt` only moves up.
 */
export function heartbeatOrderError(state: SecondaryState, msg: Heartbeat): ColoError | undefined {
  if (msg.epoch > state.epoch) {
    return new ColoError(
      'wrong-epoch',
      `heartbeat is for epoch ${msg.epoch}, ahead of this secondary's epoch ${state.epoch}`,
    );
  }
  if (msg.seq > state.inSeq) {
    return new ColoError(
      'wrong-sequence',
      `heartbeat has sequence ${msg.seq}, ahead of the next expected ${state.inSeq}: a message before it has not arrived`,
    );
  }
  return undefined;
}

/**
 * The send time a heartbeat counts with at step time `now`, ms, given the queue's `sentAt`, ms (undefined:
 * `now`, for a runtime that cannot tell): clamped to `now` when the queue's clock is ahead, so it can never
 * delay the watchdog past `now + S + timeout`; refused when not a time or absurdly far ahead.
 */
export function heartbeatSentAt(sentAt: number | undefined, now: number): number | ColoError {
  if (sentAt === undefined) return now;
  if (!Number.isFinite(sentAt) || sentAt < 0) {
    return new ColoError('invalid-message', `heartbeat send time ${sentAt} is not a time in ms`);
  }
  if (sentAt > now + MAX_SENT_AHEAD_MS) {
    return new ColoError(
      'invalid-message',
      `heartbeat sent at ${sentAt} ms, ${sentAt - now} ms ahead of this secondary's clock (at most ${MAX_SENT_AHEAD_MS} ms is taken as skew)`,
    );
  }
  return Math.min(sentAt, now);
}
