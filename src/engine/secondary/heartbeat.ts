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
