/**
 * Dead letters on an SQS FIFO dead-letter queue: a channel message the engine refused is forwarded there
 * by its consumer, with the reason as message attributes, so that the evidence lands where a redriven
 * message would — without redelivering it (which would block its FIFO group for visibility timeout ×
 * `maxReceiveCount`).
 */
import { type MessageAttributeValue, SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { sqsClientFromEnv } from './env.ts';
import { MAX_ID_LENGTH } from './sqs-channel.ts';

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

/** Where refused messages go. */
export interface DeadLetterSink {
  /** Forwards one refused message. @throws on failure (the caller logs the evidence instead). */
  forward(letter: DeadLetter): Promise<void>;
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

  /** Sends `letter` (one `SendMessage`; the SDK retries transient errors). */
  async forward(letter: DeadLetter): Promise<void> {
    await this.#client.send(
      new SendMessageCommand({
        QueueUrl: this.queueUrl,
        MessageBody: letter.body,
        MessageGroupId: letter.groupId,
        MessageDeduplicationId: deadLetterDeduplicationId(letter.messageId),
        MessageAttributes: deadLetterAttributes(letter),
      }),
    );
  }
}
