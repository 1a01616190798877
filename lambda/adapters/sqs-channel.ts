/**
 * `MessageChannel` on an SQS FIFO queue: one message group per VM, a deduplication id per
 * (vmId, epoch, seq, type, body), batches of at most 10 sent in order.
 */
import { createHash } from 'node:crypto';
import {
  SendMessageBatchCommand,
  type SendMessageBatchRequestEntry,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import type { MessageChannel, SendContext } from '../../src/engine/ports.ts';
import type { ColoMessage, Envelope } from '../../src/engine/protocol/messages.ts';
import { sqsClientFromEnv } from './env.ts';

/** Most entries SendMessageBatch accepts. */
export const MAX_BATCH_ENTRIES = 10;

/** Longest MessageGroupId / MessageDeduplicationId SQS accepts, characters. */
export const MAX_ID_LENGTH = 128;

/**
 * Default cap on the summed body size of one batch, bytes: 256 KiB, the smallest batch-payload limit
 * among SQS and its emulators. A single larger message is still sent, alone.
 */
export const DEFAULT_MAX_BATCH_BYTES = 262_144;

/** Characters SQS allows in group and deduplication ids: alphanumerics and ASCII punctuation. */
const ALLOWED_ID_CHAR = /[A-Za-z0-9!"#$%&'()*+,\-./:;<=>?@[\\\]^_`{|}~]/;

function sanitise(text: string): string {
  let out = '';
  for (const ch of text) out += ALLOWED_ID_CHAR.test(ch) ? ch : '_';
  return out;
}

/** Shortens `head` so that `head + tail` fits {@link MAX_ID_LENGTH}, keeping it unique with a hash. */
function fitId(head: string, tail: string, original: string): string {
  if (head.length + tail.length <= MAX_ID_LENGTH) return head + tail;
  const hash = createHash('sha256').update(original).digest('hex').slice(0, 16);
  const room = MAX_ID_LENGTH - tail.length - hash.length - 1;
  return `${head.slice(0, Math.max(0, room))}~${hash}${tail}`;
}

/**
 * The FIFO message group of a VM: its id, with characters SQS does not allow replaced by `_`, and
 * shortened with a hash suffix past 128 characters.
 */
export function messageGroupId(vmId: string): string {
  return fitId(sanitise(vmId), '', vmId);
}

/**
 * The SQS deduplication id of a message: `${vmId}-${epoch}-${seq}-${type}` (a heartbeat:
 * `${vmId}-${epoch}-${seq}-hb-${beat}`), and — given the body as sent —
 * `-` and the first 16 hex digits of the body's SHA-256; sanitised to SQS's charset and at most 128
 * characters (a long VM id is shortened with a hash; the rest is always kept). A resend of the same body
 * within SQS's 5-minute window is dropped by SQS. With the body's hash in it, the id of a sealed message
 * cannot be guessed without the key: someone who can send to the queue cannot squat the id of a genuine
 * message so that SQS drops it as a duplicate. `senderCreatedAt` (the sender's incarnation, ms) goes into
 * the hash with the body: a VM started afresh under the same id sends its first messages with the same
 * numbers and bodies as the old one, and SQS dropped them for 5 min (an outside review: a fresh re-add
 * after `colo vm remove --delete-state` waited forever in `wait-ready`).
 */
export function deduplicationId(
  message: Pick<Envelope, 'vmId' | 'epoch' | 'seq'> & { type: string; beat?: number },
  body?: string,
  senderCreatedAt?: number,
): string {
  const hash = (): string => {
    const h = createHash('sha256');
    if (senderCreatedAt !== undefined) h.update(`${senderCreatedAt}\n`);
    return h
      .update(body ?? '')
      .digest('hex')
      .slice(0, 16);
  };
  const digest = body === undefined ? '' : `-${hash()}`;
  // A heartbeat shares its `seq` with the next COLO message and with other heartbeats: its own number
  // keeps it from shadowing either within SQS's 5-minute window.
  const kind = message.type === 'heartbeat' ? `hb-${message.beat ?? 0}` : message.type;
  const tail = sanitise(`-${message.epoch}-${message.seq}-${kind}${digest}`);
  return fitId(sanitise(message.vmId), tail, message.vmId);
}

/** A send failed: entries were rejected past the retry budget, or rejected as the sender's fault. */
export class ChannelSendError extends Error {
  override readonly name = 'ChannelSendError';
  /** The rejected entries: deduplication id, SQS error code, whether SQS blamed the sender. */
  readonly failures: readonly { deduplicationId: string; code: string; senderFault: boolean }[];

  constructor(message: string, failures: ChannelSendError['failures']) {
    super(message);
    this.failures = failures;
  }
}

/**
 * A batch came back with an entry accepted after an earlier entry of the same message group was rejected:
 * the group's order on the queue is already broken and no resend can repair it.
 */
export class ChannelOrderError extends Error {
  override readonly name = 'ChannelOrderError';
}

/** Options of {@link SqsChannel}. */
export interface SqsChannelOptions {
  /** URL of the FIFO queue. */
  queueUrl: string;
  /** SQS client; default {@link sqsClientFromEnv}. */
  client?: SQSClient;
  /**
   * Message body encoder; default `JSON.stringify`. May be asynchronous (a sealing encoder first gets the
   * current replication key: `sealingSerializer` in lambda/handlers/common/ports.ts).
   */
  serialize?: (message: ColoMessage) => string | Promise<string>;
  /** Sends of a batch with rejected entries before giving up, including the first; default 5. */
  maxAttempts?: number;
  /** Backoff before retry `n` (1-based) is `retryBaseMs × 2^(n−1)`, capped at 2 000 ms; default 50 ms. */
  retryBaseMs?: number;
  /** Cap on summed body bytes per batch; default {@link DEFAULT_MAX_BATCH_BYTES}. */
  maxBatchBytes?: number;
  /** Waits `ms` milliseconds; default a timer (tests inject a no-op). */
  sleep?: (ms: number) => Promise<void>;
}

interface Entry {
  body: string;
  bytes: number;
  groupId: string;
  dedupId: string;
}

const defaultSleep = (ms: number): Promise<void> => new Promise((resolve) => setTimeout(resolve, ms));

/** {@link MessageChannel} over an SQS FIFO queue. */
export class SqsChannel implements MessageChannel {
  /** URL of the FIFO queue this channel sends to. */
  readonly queueUrl: string;
  readonly #client: SQSClient;
  readonly #serialize: (message: ColoMessage) => string | Promise<string>;
  readonly #maxAttempts: number;
  readonly #retryBaseMs: number;
  readonly #maxBatchBytes: number;
  readonly #sleep: (ms: number) => Promise<void>;

  /** Creates a channel; see {@link SqsChannelOptions} for the defaults. */
  constructor(options: SqsChannelOptions) {
    this.queueUrl = options.queueUrl;
    this.#client = options.client ?? sqsClientFromEnv();
    this.#serialize = options.serialize ?? ((message) => JSON.stringify(message));
    this.#maxAttempts = Math.max(1, options.maxAttempts ?? 5);
    this.#retryBaseMs = options.retryBaseMs ?? 50;
    this.#maxBatchBytes = options.maxBatchBytes ?? DEFAULT_MAX_BATCH_BYTES;
    this.#sleep = options.sleep ?? defaultSleep;
  }

  /**
   * Sends `messages` in order, at most 10 per SendMessageBatch call. Rejected entries are resent (with the
   * entries after them) up to `maxAttempts` times; ids make resends idempotent.
   *
   * @throws ChannelSendError when entries are still rejected after the retries, or rejected as the sender's
   *   fault (not worth retrying).
   * @throws ChannelOrderError when SQS accepted an entry after rejecting an earlier one of the same group.
   */
  async send(messages: readonly ColoMessage[], context: SendContext = {}): Promise<void> {
    const bodies: string[] = [];
    for (const message of messages) bodies.push(await this.#serialize(message));
    let pending: Entry[] = messages.map((message, i) => {
      const body = bodies[i] as string;
      return {
        body,
        bytes: Buffer.byteLength(body, 'utf8'),
        groupId: messageGroupId(message.vmId),
        dedupId: deduplicationId(message, body, context.senderCreatedAt),
      };
    });
    let attempt = 1;
    while (pending.length > 0) {
      const batch = this.#takeBatch(pending);
      const entries: SendMessageBatchRequestEntry[] = batch.map((entry, i) => ({
        Id: `m${i}`,
        MessageBody: entry.body,
        MessageGroupId: entry.groupId,
        MessageDeduplicationId: entry.dedupId,
      }));
      const result = await this.#client.send(
        new SendMessageBatchCommand({ QueueUrl: this.queueUrl, Entries: entries }),
      );
      const succeeded = new Set((result.Successful ?? []).map((s) => s.Id));
      const failed = new Map((result.Failed ?? []).map((f) => [f.Id, f]));
      const retry: Entry[] = [];
      const blockedGroups = new Set<string>();
      const failures: { deduplicationId: string; code: string; senderFault: boolean }[] = [];
      batch.forEach((entry, i) => {
        const id = `m${i}`;
        if (succeeded.has(id) && !failed.has(id)) {
          if (blockedGroups.has(entry.groupId)) {
            throw new ChannelOrderError(
              `SQS accepted ${entry.dedupId} after rejecting an earlier message of group ${entry.groupId}`,
            );
          }
          return;
        }
        const failure = failed.get(id);
        blockedGroups.add(entry.groupId);
        retry.push(entry);
        failures.push({
          deduplicationId: entry.dedupId,
          code: failure?.Code ?? 'MissingFromResponse',
          senderFault: failure?.SenderFault ?? false,
        });
      });
      if (retry.length === 0) {
        pending = pending.slice(batch.length);
        attempt = 1;
        continue;
      }
      const summary = failures.map((f) => `${f.deduplicationId}: ${f.code}`).join(', ');
      if (failures.some((f) => f.senderFault)) {
        throw new ChannelSendError(`SQS rejected messages as the sender's fault: ${summary}`, failures);
      }
      if (attempt >= this.#maxAttempts) {
        throw new ChannelSendError(`SQS rejected messages after ${attempt} attempts: ${summary}`, failures);
      }
      await this.#sleep(Math.min(2000, this.#retryBaseMs * 2 ** (attempt - 1)));
      attempt += 1;
      pending = [...retry, ...pending.slice(batch.length)];
    }
  }

  /** The longest prefix of `pending` within the entry and byte caps (never empty). */
  #takeBatch(pending: readonly Entry[]): Entry[] {
    const batch: Entry[] = [];
    let bytes = 0;
    for (const entry of pending) {
      if (batch.length === MAX_BATCH_ENTRIES) break;
      if (batch.length > 0 && bytes + entry.bytes > this.#maxBatchBytes) break;
      batch.push(entry);
      bytes += entry.bytes;
    }
    return batch;
  }
}
