/**
 * `primary`: consumes the secondary → primary FIFO channel (batches of ≤ 10, one message group per VM) and
 * runs them through the primary's engine in order; answers with the records to deliver again.
 * Every record is authenticated first (lib/channel-consumer.ts): one that fails is refused as
 * `unauthenticated` unread and forwarded to the S → P dead-letter queue.
 * Environment: the stack parameters (`VM_ID` … `HEARTBEAT_TIMEOUT_MS`), `BUCKET_NAME`, `P2S_QUEUE_URL`,
 * `S2P_DLQ_URL`, `REPLICATION_KEY_SECRET_ARN`, optional `REJECTED_MESSAGES` (`ack` | `retry`).
 */
import type { SQSBatchResponse } from 'aws-lambda';
import { primaryInvocation } from '../../src/runtime/cloud/index.ts';
import { channelOptions, consumeChannelBatch } from './common/channel-consumer.ts';
import { lazyHandler, type NodeHandlerDeps, primaryConsumerDepsFromEnv } from './common/deps.ts';
import { parseSqsEvent } from './common/sqs.ts';

/** The handler over explicit dependencies (tests pass in-memory ports and a virtual clock). */
export function createPrimaryHandler(deps: NodeHandlerDeps): (event: unknown) => Promise<SQSBatchResponse> {
  return async (event) => {
    const sqs = parseSqsEvent(event);
    const { response } = await consumeChannelBatch(deps, sqs, (inputs) =>
      primaryInvocation(deps.ports, deps.params, deps.now, inputs, channelOptions(deps)),
    );
    return response;
  };
}

/**
 * Lambda entry point (SQS event source on the S → P queue, `ReportBatchItemFailures`). The conformance stack deploys
 * `test/primary-replay.ts` instead, which also answers the virtual-clock event.
 */
export const handler = lazyHandler(() => {
  const deps = primaryConsumerDepsFromEnv();
  return createPrimaryHandler(deps);
});
