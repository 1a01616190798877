/**
 * `TickChain`: the sub-minute timer. A standard SQS queue of delayed tick messages drives one consumer
 * function, which enqueues the next tick itself; see docs/cloud.md for the protocol.
 */
import { Duration } from 'aws-cdk-lib';
import * as lambda from 'aws-cdk-lib/aws-lambda';
import { SqsEventSource } from 'aws-cdk-lib/aws-lambda-event-sources';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';
import { TICK_QUEUE_ENV, type TimerName } from '../../lambda/adapters/contract.ts';
import { addPollers, eventSourceVisibilityTimeout } from './event-source-limits.ts';

/** Props of {@link TickChain}. */
export interface TickChainProps {
  /** Which timer this chain drives. */
  readonly timer: TimerName;
  /** The tick consumer; it receives the queue URL in its environment and may send to the queue. */
  readonly consumer: lambda.Function;
  /** Tick period, ms (documentation and outputs; the consumer reads its period from its environment). */
  readonly periodMs: number;
  /** Deliveries of one tick before it is dead-lettered. Default 3. */
  readonly maxReceiveCount?: number;
  /** Most concurrent invocations of the consumer by this queue's event source, 2…1 000. Default: no cap. */
  readonly maxConcurrency?: number;
  /**
   * Event-source mappings on the queue, 1…8 (default 1): the first on the consumer, the others on its
   * aliases `poller-2`, … (one mapping per function ARN). Only for LocalStack, whose SQS event source runs
   * one invocation at a time per mapping (docs/localstack.md, quirk 18).
   */
  readonly pollers?: number;
}

/**
 * A standard (non-FIFO: FIFO queues have no per-message delay) tick queue, SQS-managed encryption, TLS
 * enforced, visibility 6 × the consumer's timeout (AWS's guidance), a dead-letter queue for poison ticks, and
 * an event-source mapping to the consumer (batches of up to 10, partial batch failures reported, optionally a
 * concurrency cap). The consumer gets `sqs:SendMessage` on the queue to enqueue
 * the next tick, and its recursive-loop detection must be off (`RecursiveLoop.ALLOW`), which this
 * construct checks: Lambda stops an SQS → Lambda → same-queue loop after about 16 turns otherwise.
 */
export class TickChain extends Construct {
  /** The timer name. */
  readonly timer: TimerName;
  /** The tick queue. */
  readonly queue: sqs.Queue;
  /** Its dead-letter queue. */
  readonly deadLetterQueue: sqs.Queue;
  /** Tick period, ms. */
  readonly periodMs: number;

  /** Creates the queues and the event-source mapping, and grants the consumer. */
  constructor(scope: Construct, id: string, props: TickChainProps) {
    super(scope, id);
    const cfn = props.consumer.node.defaultChild as lambda.CfnFunction | undefined;
    if (cfn?.recursiveLoop !== lambda.RecursiveLoop.ALLOW) {
      throw new Error(
        `${props.consumer.node.path}: a tick consumer re-enqueues its own trigger; create it with recursiveLoop: RecursiveLoop.ALLOW`,
      );
    }
    const timeout = props.consumer.timeout ?? Duration.seconds(3);
    this.timer = props.timer;
    this.periodMs = props.periodMs;
    this.deadLetterQueue = new sqs.Queue(this, 'DeadLetterQueue', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    this.queue = new sqs.Queue(this, 'Queue', {
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      // Stale ticks are worthless (the watchdog starts a new chain), but a tick may wait up to 900 s delayed.
      retentionPeriod: Duration.hours(1),
      visibilityTimeout: eventSourceVisibilityTimeout(timeout),
      deadLetterQueue: { queue: this.deadLetterQueue, maxReceiveCount: props.maxReceiveCount ?? 3 },
    });
    const source = (): SqsEventSource =>
      new SqsEventSource(this.queue, {
        batchSize: 10,
        reportBatchItemFailures: true,
        ...(props.maxConcurrency !== undefined ? { maxConcurrency: props.maxConcurrency } : {}),
      });
    // Further mappings poll beside the first (LocalStack invokes one batch at a time per mapping, so one
    // slow tick would hold every VM's ticks of this timer). A tick two invocations see is claimed once.
    const pollers = props.pollers ?? 1;
    if (!Number.isInteger(pollers) || pollers < 1 || pollers > 8) {
      throw new RangeError(`${this.node.path}: pollers must be an integer 1…8, got ${pollers}`);
    }
    addPollers(this, props.consumer, pollers, source);
    this.queue.grantSendMessages(props.consumer);
    props.consumer.addEnvironment(TICK_QUEUE_ENV[props.timer], this.queue.queueUrl);
  }
}
