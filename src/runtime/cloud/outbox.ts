/**
 * Performing an outbox, in order: for each send, put its object (create-only, identical bytes on a retry)
 * and then send its message (FIFO deduplication ids make a resend a no-op); consecutive messages without
 * an object go out in one ordered `send`. Each step is retried in place with a short backoff, and each is
 * idempotent, so an outbox may be performed any number of times, by any invocation.
 *
 * A message is never dropped: one that cannot be sent stays in the persisted outbox and the next
 * invocation sends it first. An object that cannot be stored retires its sequence number: the caller
 * replaces the `delta` by a `skip` with the same envelope and persists that decision before it is sent.
 * The log records are appended separately ({@link performLog}); a failing log never holds messages back.
 */
import type { Effect, Payload, SendEffect } from '../../engine/effects.ts';
import type { ColoParams } from '../../engine/params.ts';
import type { SendContext } from '../../engine/ports.ts';
import type { DeltaMessage, Skip } from '../../engine/protocol/messages.ts';
import type { Sleep } from './clock.ts';
import type { CloudPorts } from './cloud-ports.ts';
import type { Outbox, OutboxSend } from './document.ts';
import type { NodeRole } from './keys.ts';
import type { LogRecord } from './log-record.ts';
import { appendLog, type LogLayout } from './metrics-log.ts';
import { payloadBytes, rebuildPayload, recipeOf } from './payload-recipe.ts';

/**
 * Payloads built in this invocation, by message sequence number (so a first perform needs no rebuild).
 * Counts the bytes it holds and their peak: the memory bound of streaming (one chunk plus device state).
 */
export class HotPayloads {
  readonly #map = new Map<number, Payload>();
  #held = 0;
  /** Most payload bytes held at once. */
  peak = 0;

  /** Bytes a payload occupies here (a modelled delta is not encoded: 0). */
  static size(p: Payload): number {
    return p.bytes?.byteLength ?? 0;
  }

  /** Holds `p` for the message with sequence number `seq`. */
  set(seq: number, p: Payload): void {
    this.delete(seq);
    this.#map.set(seq, p);
    this.#held += HotPayloads.size(p);
    this.peak = Math.max(this.peak, this.#held);
  }

  /** The payload of `seq`, if held. */
  get(seq: number): Payload | undefined {
    return this.#map.get(seq);
  }

  /** Lets go of the payload of `seq`. */
  delete(seq: number): void {
    const p = this.#map.get(seq);
    if (!p) return;
    this.#map.delete(seq);
    this.#held -= HotPayloads.size(p);
  }

  /** Bytes held now. */
  get held(): number {
    return this.#held;
  }
}

/** The outbox entry for a send effect; remembers its payload in `hot`. */
export function outboxSendOf(e: SendEffect, hot: HotPayloads): OutboxSend {
  if (!e.payload) return { sendId: e.sendId, message: e.message, payload: null };
  if (e.message.type !== 'delta') {
    throw new TypeError(`send ${e.sendId} carries a payload but its message is ${e.message.type}, not delta`);
  }
  hot.set(e.message.seq, e.payload);
  return { sendId: e.sendId, message: e.message, payload: recipeOf(e.payload, e.message) };
}

/** Longest `skip` reason, characters (the message schema's bound). */
const MAX_SKIP_REASON = 200;

/** The `skip` that retires a delta's sequence number: same envelope, the reason cut to 200 characters. */
export function skipFor(message: DeltaMessage, reason: string): Skip {
  const { v, vmId, epoch, seq } = message;
  return { v, vmId, epoch, seq, type: 'skip', retired: 'delta', reason: reason.slice(0, MAX_SKIP_REASON) };
}

/** How hard to try each call before giving up on it (for now). */
export interface RetryOptions {
  /** Waits between tries. */
  sleep: Sleep;
  /** Tries of one `channel.send` before the outbox is left for the next invocation; default 4. */
  sendAttempts: number;
  /** Tries of one object put before its sequence number is retired with a `skip`; default 4. */
  putAttempts: number;
  /** First backoff, ms; each next one is 3× longer (100 → 100, 300, 900 ms: 1.3 s for 4 tries). */
  backoffMs: number;
}

/** Default retries: 4 tries over 1.3 s for sends and puts. */
export const DEFAULT_RETRY = { sendAttempts: 4, putAttempts: 4, backoffMs: 100 } as const;

/**
 * Runs `call` up to `attempts` times, waiting `backoff × 3^(k−1)` before try k + 1; `before` runs ahead of
 * every try, and what it throws ends the retries at once.
 */
async function retrying<T>(
  call: () => Promise<T>,
  attempts: number,
  retry: RetryOptions,
  before: () => Promise<void> = async () => undefined,
): Promise<{ ok: true; value: T } | { ok: false; error: unknown; tries: number }> {
  let error: unknown;
  for (let k = 1; k <= Math.max(1, attempts); k++) {
    if (k > 1) await retry.sleep(retry.backoffMs * 3 ** (k - 2));
    await before();
    try {
      return { ok: true, value: await call() };
    } catch (e) {
      error = e;
    }
  }
  return { ok: false, error, tries: Math.max(1, attempts) };
}

function describe(e: unknown): string {
  return e instanceof Error ? `${e.name}: ${e.message}` : String(e);
}

/** What performing an outbox did. */
export interface PerformReport {
  /** Objects put. */
  puts: number;
  /** Of which rebuilt from their recipe (a replay). */
  rebuilt: number;
  /** Messages sent (a retired delta's `skip` included). */
  messages: number;
  /** Sends whose object could not be stored, retired with a `skip`. */
  retired: number;
}

/** Thrown when a message could not be sent after every retry; the outbox stays for the next invocation. */
export class OutboxSendError extends Error {
  override name = 'OutboxSendError';
}

/**
 * Performs the sends of `outbox` through `ports`, in order (see the module comment). The log records are
 * not touched.
 *
 * @param context - The sender (its document's creation time), for the channel's deduplication.
 * @param retire - Called when send `index`'s object could not be stored after every try, with the `skip`
 *   that replaces it. It must put the skip into `outbox.sends[index]` and persist that decision (and may
 *   throw, e.g. a `StateConflictError`, to stop here) before the skip is sent.
 * @param stillWanted - Called before every put and send try (default: nothing); may throw (e.g.
 *   `FenceDecidedError` once replication has ended) to stop the perform there, with what it names.
 * @throws OutboxSendError when a message cannot be sent (the messages before it were); whatever `retire`
 *   throws; whatever `stillWanted` throws; OutboxRebuildError when a replayed payload cannot be rebuilt
 *   exactly.
 */
export async function performOutbox(
  ports: CloudPorts,
  params: ColoParams,
  outbox: Outbox,
  hot: HotPayloads,
  retry: RetryOptions,
  retire: (index: number, skip: Skip) => Promise<void>,
  context: SendContext = {},
  stillWanted?: (unsent: number) => Promise<void>,
): Promise<PerformReport> {
  const report: PerformReport = { puts: 0, rebuilt: 0, messages: 0, retired: 0 };
  let batch: OutboxSend['message'][] = [];
  // Sends not yet on the channel (the batch's messages included) when a check stops the perform.
  let done = 0;
  const check = async (): Promise<void> => stillWanted?.(outbox.sends.length - done);
  const flush = async (): Promise<void> => {
    if (batch.length === 0) return;
    const messages = batch;
    const r = await retrying(() => ports.channel.send(messages, context), retry.sendAttempts, retry, check);
    if (!r.ok) {
      const m = messages[0];
      throw new OutboxSendError(
        `could not send ${messages.length} message(s) from seq ${m?.seq} after ${r.tries} tries: ${describe(r.error)}`,
        { cause: r.error },
      );
    }
    report.messages += messages.length;
    done += messages.length;
    batch = [];
  };
  for (let i = 0; i < outbox.sends.length; i++) {
    const s = outbox.sends[i] as OutboxSend;
    if (s.payload && s.message.type === 'delta') {
      // The object before its message; the messages before it leave first (the receiver can start).
      await flush();
      const message = s.message;
      let payload = hot.get(message.seq);
      if (!payload) {
        payload = rebuildPayload(params, s.payload, message);
        report.rebuilt++;
        hot.set(message.seq, payload);
      }
      const key = s.payload.key;
      const bytes = payloadBytes(payload);
      const r = await retrying(() => ports.deltas.put(key, bytes), retry.putAttempts, retry, check);
      hot.delete(message.seq);
      if (r.ok) report.puts++;
      else {
        const skip = skipFor(message, `put ${key} failed ${r.tries} times: ${describe(r.error)}`);
        await retire(i, skip);
        report.retired++;
      }
    }
    batch.push((outbox.sends[i] as OutboxSend).message);
  }
  await flush();
  return report;
}

/** Appends log records (merged by number, so a repeat is harmless). */
export async function performLog(
  ports: CloudPorts,
  params: ColoParams,
  node: NodeRole,
  records: readonly LogRecord[],
  log: LogLayout,
): Promise<void> {
  if (records.length > 0) await appendLog(ports.state, params.vmId, node, records, log);
}

/** Send effects among `effects`. */
export function sendsOf(effects: readonly Effect[]): SendEffect[] {
  return effects.filter((e): e is SendEffect => e.type === 'send');
}
