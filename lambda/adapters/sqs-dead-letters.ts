/**
 * Dead letters on an SQS FIFO dead-letter queue: a channel message the engine refused is forwarded there
 * by its consumer, with the reason as message attributes, so that the evidence lands where a redriven
 * message would — without redelivering it (which would block its FIFO group for visibility timeout ×
 * `maxReceiveCount`).
 */
import {
  type MessageAttributeValue,
  SendMessageBatchCommand,
  type SendMessageBatchRequestEntry,
  type SQSClient,
} from '@aws-sdk/client-sqs';
import { sqsClientFromEnv } from './env.ts';
import { DEFAULT_MAX_BATCH_BYTES, MAX_BATCH_ENTRIES, MAX_ID_LENGTH } from './sqs-channel.ts';

/** Message attribute names of a forwarded dead letter. */
export const DEAD_LETTER_ATTRIBUTES = {
  /** The engine's error code (`ColoError` code, e.g. `not-ram`, `invalid-delta`). */
  code: 'ColoErrorCode',
  /** The engine's error message (at most {@link MAX_DETAIL_CHARS} characters). */
  detail: 'ColoErrorMessage',
  /** SQS message id of the refused message on its channel. */
  sourceMessageId: 'ColoSourceMessageId',
  /** Service (function) that refused it, e.g. `secondary-apply`. */
  rejectedBy: 'ColoRejectedBy',
  /** When it was refused, ms since the Unix epoch. */
  rejectedAt: 'ColoRejectedAt',
} as const;

/** Longest error message kept in {@link DEAD_LETTER_ATTRIBUTES.detail}, characters. */
export const MAX_DETAIL_CHARS = 2048;

/** A refused channel message and why. */
export interface DeadLetter {
  /** The message body, unchanged. */
  body: string;
  /** FIFO message group it was sent in (the VM id). */
  groupId: string;
  /** Its SQS message id (makes the forward idempotent: the deduplication id derives from it). */
  messageId: string;
  /** Error code. */
  code: string;
  /** Error message. */
  detail: string;
  /** Service that refused it. */
  rejectedBy: string;
  /** When, ms since the Unix epoch. */
  at: number;
}

/** A letter that could not be forwarded, and why. */
export interface UnforwardedLetter {
  /** The letter. */
  letter: DeadLetter;
  /** Why it was not forwarded (bounded text). */
  error: string;
}

/** Where refused messages go. */
export interface DeadLetterSink {
  /**
   * Forwards refused messages, in order, in as few requests as the queue allows (a flood of refused
   * messages must cost one request per batch, not one per message). Never throws.
   *
   * @returns The letters that could not be forwarded (the caller keeps the evidence in its log instead).
   */
  forward(letters: readonly DeadLetter[]): Promise<UnforwardedLetter[]>;
}

/**
 * Deduplication id of a forwarded message: `rejected-<source message id>` (characters SQS does not allow
 * become `_`; at most 128). A forward repeated within SQS's 5-minute window is dropped by SQS.
 */
export function deadLetterDeduplicationId(messageId: string): string {
  const id = `rejected-${messageId}`.replace(/[^A-Za-z0-9!"#$%&'()*+,\-./:;<=>?@[\\\]^_`{|}~]/g, '_');
  return id.slice(0, MAX_ID_LENGTH);
}

/** The message attributes of a forwarded dead letter. */
export function deadLetterAttributes(letter: DeadLetter): Record<string, MessageAttributeValue> {
  const text = (value: string): MessageAttributeValue => ({ DataType: 'String', StringValue: value || '-' });
  return {
    [DEAD_LETTER_ATTRIBUTES.code]: text(letter.code),
    [DEAD_LETTER_ATTRIBUTES.detail]: text(letter.detail.slice(0, MAX_DETAIL_CHARS)),
    [DEAD_LETTER_ATTRIBUTES.sourceMessageId]: text(letter.messageId),
    [DEAD_LETTER_ATTRIBUTES.rejectedBy]: text(letter.rejectedBy),
    [DEAD_LETTER_ATTRIBUTES.rejectedAt]: { DataType: 'Number', StringValue: String(Math.round(letter.at)) },
  };
}

/** Options of {@link SqsDeadLetterQueue}. */
export interface SqsDeadLetterQueueOptions {
  /** URL of the FIFO dead-letter queue. */
  queueUrl: string;
  /** SQS client; default {@link sqsClientFromEnv}. */
  client?: SQSClient;
}

/** A {@link DeadLetterSink} on a FIFO SQS queue: same message group, body unchanged, reason in attributes. */
export class SqsDeadLetterQueue implements DeadLetterSink {
  /** URL of the dead-letter queue. */
  readonly queueUrl: string;
  readonly #client: SQSClient;

  /** Creates the sender. */
  constructor(options: SqsDeadLetterQueueOptions) {
    this.queueUrl = options.queueUrl;
    this.#client = options.client ?? sqsClientFromEnv();
  }

  /**
   * Sends the letters with `SendMessageBatch`: up to ten per request and at most
   * {@link DEFAULT_MAX_BATCH_BYTES} of bodies (a letter alone over that goes alone; SQS then decides).
   * The SDK retries transient errors; entries SQS refuses, and every entry of a request that failed, are
   * returned.
   */
  async forward(letters: readonly DeadLetter[]): Promise<UnforwardedLetter[]> {
    const failed: UnforwardedLetter[] = [];
    for (const chunk of batches(letters)) {
      const entries: SendMessageBatchRequestEntry[] = chunk.map((letter, i) => ({
        Id: String(i),
        MessageBody: letter.body,
        MessageGroupId: letter.groupId,
        MessageDeduplicationId: deadLetterDeduplicationId(letter.messageId),
        MessageAttributes: deadLetterAttributes(letter),
      }));
      try {
        const out = await this.#client.send(
          new SendMessageBatchCommand({ QueueUrl: this.queueUrl, Entries: entries }),
        );
        for (const f of out.Failed ?? []) {
          const letter = chunk[Number(f.Id)];
          if (letter)
            failed.push({ letter, error: `${f.Code ?? 'error'}: ${f.Message ?? ''}`.slice(0, 500) });
        }
      } catch (e) {
        const error = (e instanceof Error ? `${e.name}: ${e.message}` : String(e)).slice(0, 500);
        for (const letter of chunk) failed.push({ letter, error });
      }
    }
    return failed;
  }
}

/** Room a letter takes in a batch request, bytes: its body plus its attributes (detail at most 2 KiB). */
function letterBytes(letter: DeadLetter): number {
  return Buffer.byteLength(letter.body) + Math.min(letter.detail.length * 4, MAX_DETAIL_CHARS * 4) + 512;
}

/** Splits letters, in order, into batches of at most ten and {@link DEFAULT_MAX_BATCH_BYTES}. */
export function batches(letters: readonly DeadLetter[]): DeadLetter[][] {
  const out: DeadLetter[][] = [];
  let current: DeadLetter[] = [];
  let bytes = 0;
  for (const letter of letters) {
    const size = letterBytes(letter);
    if (
      current.length > 0 &&
      (current.length === MAX_BATCH_ENTRIES || bytes + size > DEFAULT_MAX_BATCH_BYTES)
    ) {
      out.push(current);
      current = [];
      bytes = 0;
    }
    current.push(letter);
    bytes += size;
  }
  if (current.length > 0) out.push(current);
  return out;
}
