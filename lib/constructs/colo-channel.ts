/** `ColoChannel`: one direction of COLO messages, an SQS FIFO queue with its FIFO dead-letter queue. */
import { Duration } from 'aws-cdk-lib';
import * as sqs from 'aws-cdk-lib/aws-sqs';
import { Construct } from 'constructs';

/** Props of {@link ColoChannel}. */
export interface ColoChannelProps {
  /** How long a received message stays hidden from other consumers; at least the consumer's timeout. */
  readonly visibilityTimeout: Duration;
  /** Deliveries before a message moves to the dead-letter queue, 1…1 000. Default 5. */
  readonly maxReceiveCount?: number;
  /** How long the channel keeps a message. Default 1 day. */
  readonly retentionPeriod?: Duration;
}

/**
 * A FIFO queue carrying one direction of COLO messages (message group = VM id, deduplication ids set by the
 * sender), SQS-managed encryption, TLS enforced, high-throughput FIFO (deduplication and throughput per
 * message group), and a FIFO dead-letter queue (14 days) that receives a message after `maxReceiveCount`
 * failed deliveries.
 */
export class ColoChannel extends Construct {
  /** The FIFO channel queue. */
  readonly queue: sqs.Queue;
  /** Its FIFO dead-letter queue. */
  readonly deadLetterQueue: sqs.Queue;
  /** Deliveries before a message is dead-lettered. */
  readonly maxReceiveCount: number;

  /** Creates the queue pair. */
  constructor(scope: Construct, id: string, props: ColoChannelProps) {
    super(scope, id);
    const maxReceiveCount = props.maxReceiveCount ?? 5;
    if (!Number.isInteger(maxReceiveCount) || maxReceiveCount < 1 || maxReceiveCount > 1000) {
      throw new RangeError(`maxReceiveCount must be an integer in [1, 1000], got ${maxReceiveCount}`);
    }
    this.maxReceiveCount = maxReceiveCount;
    this.deadLetterQueue = new sqs.Queue(this, 'DeadLetterQueue', {
      fifo: true,
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      retentionPeriod: Duration.days(14),
    });
    this.queue = new sqs.Queue(this, 'Queue', {
      fifo: true,
      contentBasedDeduplication: false,
      deduplicationScope: sqs.DeduplicationScope.MESSAGE_GROUP,
      fifoThroughputLimit: sqs.FifoThroughputLimit.PER_MESSAGE_GROUP_ID,
      encryption: sqs.QueueEncryption.SQS_MANAGED,
      enforceSSL: true,
      visibilityTimeout: props.visibilityTimeout,
      retentionPeriod: props.retentionPeriod ?? Duration.days(1),
      deadLetterQueue: { queue: this.deadLetterQueue, maxReceiveCount },
    });
  }
}
