import type { Effect, Payload } from '../effects.ts';
import type { ColoParams } from '../params.ts';
import { MESSAGE_WIRE_BYTES } from '../params.ts';
import { type Body, stamp } from '../protocol/envelope.ts';
import type { PrimaryMessage } from '../protocol/messages.ts';
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
