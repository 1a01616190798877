/**
 * The sub-minute timer's transport: a standard SQS queue carrying delayed tick messages
 * (`DelaySeconds`, 1 s granularity, at most 900 s). See docs/cloud.md for the chain and watchdog protocol.
 */
import { SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { TIMER_NAMES, type TickMessage, tickDelaySeconds, VM_ID_PATTERN } from './contract.ts';
import { sqsClientFromEnv } from './env.ts';

/** Options of {@link SqsTickQueue}. */
export interface SqsTickQueueOptions {
  /** URL of the (standard, non-FIFO) tick queue. */
  queueUrl: string;
  /** SQS client; default {@link sqsClientFromEnv}. */
  client?: SQSClient;
}

/**
 * Parses and checks a tick message body.
 *
 * @throws Error describing the first problem when the body is not a valid {@link TickMessage}.
 */
export function parseTick(body: string): TickMessage {
  const raw: unknown = JSON.parse(body);
  if (typeof raw !== 'object' || raw === null) throw new Error('tick body is not an object');
  const t = raw as Record<string, unknown>;
  if (t.v !== 1) throw new Error(`tick version must be 1, got ${String(t.v)}`);
  if (typeof t.vmId !== 'string' || !VM_ID_PATTERN.test(t.vmId)) throw new Error('tick vmId is malformed');
  if (typeof t.timer !== 'string' || !(TIMER_NAMES as readonly string[]).includes(t.timer)) {
    throw new Error(`unknown tick timer ${String(t.timer)}`);
  }
  for (const field of ['generation', 'seq', 'dueAt'] as const) {
    const value = t[field];
    if (typeof value !== 'number' || !Number.isSafeInteger(value) || value < 0) {
      throw new Error(`tick ${field} must be a non-negative integer`);
    }
  }
  return raw as TickMessage;
}

/** Enqueues delayed tick messages on one tick queue. */
export class SqsTickQueue {
  /** URL of the tick queue. */
  readonly queueUrl: string;
  readonly #client: SQSClient;

  /** Creates a tick queue sender. */
  constructor(options: SqsTickQueueOptions) {
    this.queueUrl = options.queueUrl;
    this.#client = options.client ?? sqsClientFromEnv();
  }

  /**
   * Enqueues `tick`, delayed until its `dueAt` (rounded up to whole seconds, at most 900 s).
   *
   * @param tick - The tick to deliver.
   * @param now - Current time, ms since the Unix epoch.
   * @returns The delay applied, seconds.
   */
  async schedule(tick: TickMessage, now: number): Promise<number> {
    const delaySeconds = tickDelaySeconds(tick.dueAt, now);
    await this.#client.send(
      new SendMessageCommand({
        QueueUrl: this.queueUrl,
        MessageBody: JSON.stringify(tick),
        DelaySeconds: delaySeconds,
      }),
    );
    return delaySeconds;
  }
}
