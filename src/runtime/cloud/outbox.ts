/**
 * Performing an outbox: put every payload (create-only, identical bytes on a retry), send every message in
 * order (FIFO deduplication ids make a resend a no-op), append the log records (merged by number). Each
 * step is idempotent, so an outbox may be performed any number of times, by any invocation.
 */
import type { Effect, Payload, SendEffect } from '../../engine/effects.ts';
import type { ColoParams } from '../../engine/params.ts';
import type { DeltaMessage } from '../../engine/protocol/messages.ts';
import type { CloudPorts } from './cloud-ports.ts';
import type { Outbox, OutboxSend } from './document.ts';
import type { NodeRole } from './keys.ts';
import { appendLog, type LogLayout } from './metrics-log.ts';
import { payloadBytes, rebuildPayload, recipeOf } from './payload-recipe.ts';

/** Payloads built in this invocation, by message sequence number (so a first perform needs no rebuild). */
export type HotPayloads = Map<number, Payload>;

/** The outbox entry for a send effect; remembers its payload in `hot`. */
export function outboxSendOf(e: SendEffect, hot: HotPayloads): OutboxSend {
  if (!e.payload) return { sendId: e.sendId, message: e.message, payload: null };
  if (e.message.type !== 'delta') {
    throw new TypeError(`send ${e.sendId} carries a payload but its message is ${e.message.type}, not delta`);
  }
  hot.set(e.message.seq, e.payload);
  return { sendId: e.sendId, message: e.message, payload: recipeOf(e.payload, e.message) };
}

/** What performing an outbox did. */
export interface PerformReport {
  /** Objects put. */
  puts: number;
  /** Of which rebuilt from their recipe (a replay). */
  rebuilt: number;
  /** Messages sent. */
  messages: number;
}

/**
 * Performs `outbox` through `ports`: payloads, then messages (one ordered `send`), then log records.
 *
 * @throws whatever a port throws, or OutboxRebuildError when a replayed payload cannot be rebuilt exactly.
 */
export async function performOutbox(
  ports: CloudPorts,
  params: ColoParams,
  node: NodeRole,
  outbox: Outbox,
  hot: HotPayloads,
  log: LogLayout,
): Promise<PerformReport> {
  let rebuilt = 0;
  const puts = outbox.sends.flatMap((s) => {
    if (!s.payload) return [];
    const message = s.message as DeltaMessage;
    let payload = hot.get(message.seq);
    if (!payload) {
      payload = rebuildPayload(params, s.payload, message);
      rebuilt++;
    }
    return [{ key: s.payload.key, bytes: payloadBytes(payload) }];
  });
  await Promise.all(puts.map((p) => ports.deltas.put(p.key, p.bytes)));
  if (outbox.sends.length > 0) await ports.channel.send(outbox.sends.map((s) => s.message));
  if (outbox.records.length > 0) await appendLog(ports.state, params.vmId, node, outbox.records, log);
  return { puts: puts.length, rebuilt, messages: outbox.sends.length };
}

/** Send effects among `effects`. */
export function sendsOf(effects: readonly Effect[]): SendEffect[] {
  return effects.filter((e): e is SendEffect => e.type === 'send');
}
