import { codec } from '../codec.ts';
import { ColoError } from '../errors.ts';
import type { ColoParams } from '../params.ts';
import type { ColoMessage } from './messages.ts';

/**
 * First gate for any inbound message: schema (strict), then VM id, epoch and sequence. Returns the typed
 * message or the error that rejects it.
 */
export function parseInbound(
  raw: unknown,
  params: ColoParams,
  epoch: number,
  seq: number,
): ColoMessage | ColoError {
  const msg = parseOwn(raw, params);
  if (msg instanceof ColoError) return msg;
  if (msg.seq !== seq) {
    return new ColoError('wrong-sequence', `message ${msg.type} has sequence ${msg.seq}, expected ${seq}`);
  }
  if (msg.epoch !== epoch) {
    return new ColoError('wrong-epoch', `message ${msg.type} is for epoch ${msg.epoch}, expected ${epoch}`);
  }
  return msg;
}

/** Schema (strict) and VM id of an inbound message: the checks every message passes, in sequence or not. */
export function parseOwn(raw: unknown, params: ColoParams): ColoMessage | ColoError {
  let msg: ColoMessage;
  try {
    msg = codec().parseMessage(raw);
  } catch (e) {
    return new ColoError('invalid-message', e instanceof Error ? e.message : String(e));
  }
  if (msg.vmId !== params.vmId) {
    return new ColoError('wrong-vm', `message ${msg.type} for VM ${msg.vmId}, this is VM ${params.vmId}`);
  }
  return msg;
}

/** The `type` a raw message claims (≤ 40 characters), for error texts; never throws on hostile values. */
export function messageTypeOf(raw: unknown): string {
  try {
    const type = (raw as { type?: unknown } | null)?.type;
    return typeof type === 'string' ? type.slice(0, 40) : 'message';
  } catch {
    return 'message';
  }
}
