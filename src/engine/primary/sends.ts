import type { Effect, Payload } from '../effects.ts';
import type { ColoParams } from '../params.ts';
import { MESSAGE_WIRE_BYTES } from '../params.ts';
import { type Body, stamp } from '../protocol/envelope.ts';
import { type Heartbeat, MESSAGE_VERSION, type PrimaryMessage } from '../protocol/messages.ts';
import { trace } from '../trace.ts';
import type { PrimaryState } from './state.ts';

/**
 * Appends a send of the next message in sequence to `fx` and returns its send id.
 * Every message gets the VM id, the current epoch and the next sequence number.
 */
export function sendMessage(
  state: PrimaryState,
  params: ColoParams,
  now: number,
  fx: Effect[],
  body: Body<PrimaryMessage>,
  extra: { payload?: Payload; wireBytes?: number; afterMs?: number } = {},
): number {
  const message = stamp<PrimaryMessage>(state, params.vmId, body);
  const sendId = state.nextSendId++;
  fx.push({
    type: 'send',
    sendId,
    message,
    ...(extra.payload ? { payload: extra.payload } : {}),
    wireBytes: extra.wireBytes ?? MESSAGE_WIRE_BYTES,
    afterMs: extra.afterMs ?? 0,
  });
  fx.push(trace(now, 'colo_send_message', { msg: message.type, epoch: message.epoch, seq: message.seq }));
  return sendId;
}

/**
 * Appends the send of a heartbeat to `fx`: outside the COLO sequence, so it carries the next *unused*
 * sequence number and consumes none (`outSeq` is unchanged), its send id as its own number `beat`
 * (strictly increasing) and `now` as its sealed send time `sentAt` (ms): the secondary counts it from no
 * later than that, so a copy replayed later proves nothing newer.
 *
 * @returns The send id (also the heartbeat's `beat`).
 */
export function sendHeartbeat(state: PrimaryState, params: ColoParams, now: number, fx: Effect[]): number {
  const sendId = state.nextSendId++;
  const message: Heartbeat = {
    v: MESSAGE_VERSION,
    vmId: params.vmId,
    epoch: state.epoch,
    seq: state.outSeq,
    type: 'heartbeat',
    beat: sendId,
    sentAt: now,
  };
  fx.push({ type: 'send', sendId, message, wireBytes: MESSAGE_WIRE_BYTES, afterMs: 0 });
  fx.push(trace(now, 'colo_send_message', { msg: message.type, epoch: message.epoch, seq: message.seq }));
  return sendId;
}
