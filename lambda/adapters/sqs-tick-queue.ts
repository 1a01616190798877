/**
 * The sub-minute timer's transport: a standard SQS queue carrying delayed tick messages
 * (`DelaySeconds`, 1 s granularity, at most 900 s). See docs/cloud.md for the chain and watchdog protocol.
 */
import { SendMessageCommand, type SQSClient } from '@aws-sdk/client-sqs';
import { showValue } from '../../src/runtime/cloud/text.ts';
import {
  isStackTimer,
  STACK_CHAIN_ID,
  TIMER_NAMES,
  type TickMessage,
  tickDelaySeconds,
  VM_ID_PATTERN,
} from './contract.ts';
import { sqsClientFromEnv } from './env.ts';

/** Options of {@link SqsTickQueue}. */
export interface SqsTickQueueOptions {
  /** URL of the (standard, non-FIFO) tick queue. */
  queueUrl: string;
  /** SQS client; default {@link sqsClientFromEnv}. */
  client?: SQSClient;
}

function isVmTimer(timer: string): boolean {
  return (TIMER_NAMES as readonly string[]).includes(timer);
}

/**
 * Parses and checks a tick message body: a VM's timer with a VM id, or a stack chain's (`pulse`,
 * `monitor`) with {@link STACK_CHAIN_ID}.
 *
 * @throws Error (never a subclass: not JSON is an `Error` too) describing the first problem when the body is
 *   not a valid {@link TickMessage}.
 */
export function parseTick(body: string): TickMessage {
  let raw: unknown;
  try {
    raw = JSON.parse(body);
  } catch (e) {
    throw new Error(`tick body is not JSON: ${e instanceof Error ? e.message : String(e)}`);
  }
  if (typeof raw !== 'object' || raw === null) throw new Error('tick body is not an object');
  const t = raw as Record<string, unknown>;
  // showValue, not String: String({"toString": 1}) throws a TypeError.
  if (t.v !== 1) throw new Error(`tick version must be 1, got ${showValue(t.v)}`);
  const stack = t.vmId === STACK_CHAIN_ID;
  if (typeof t.vmId !== 'string' || !(stack || VM_ID_PATTERN.test(t.vmId)))
    throw new Error('tick vmId is malformed');
  if (typeof t.timer !== 'string' || !(stack ? isStackTimer(t.timer) : isVmTimer(t.timer))) {
    // A stack chain's timer only with the stack's id, and a VM's only with a VM's.
    throw new Error(`unknown tick timer ${showValue(t.timer)}${stack ? ' for a stack chain' : ''}`);
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
   * @param minDelaySeconds - Delay at least this long, s (a tick put back for a write it arrived before).
   * @returns The delay applied, seconds.
   */
  async schedule(tick: TickMessage, now: number, minDelaySeconds = 0): Promise<number> {
    const delaySeconds = Math.max(tickDelaySeconds(tick.dueAt, now), minDelaySeconds);
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
