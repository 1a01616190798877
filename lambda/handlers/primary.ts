/**
 * `primary`: consumes the secondary → primary FIFO channel (batches of ≤ 10, one message group per VM) and
 * runs them through the primary's engine in order; answers with the records to deliver again.
 * Every record is authenticated first (lib/channel-consumer.ts): one that fails is refused as
 * `unauthenticated` unread and forwarded to the S → P dead-letter queue.
 * Serves every VM registered on the stack: records are split by message group (= VM id) and each VM's run
 * with its registered config (common/fleet-entry.ts); a group of an unregistered VM is dead-lettered.
 * Environment: stack-wide only — `BUCKET_NAME`, `P2S_QUEUE_URL`, `S2P_DLQ_URL`,
 * `REPLICATION_KEY_SECRET_ARN`, optional `REJECTED_MESSAGES` (`ack` | `retry`).
 */
import type { SQSBatchResponse } from 'aws-lambda';
import { primaryInvocation } from '../../src/runtime/cloud/index.ts';
import { ENV } from '../adapters/contract.ts';
import { channelOptions, consumeChannelBatch } from './common/channel-consumer.ts';
import { type NodeHandlerDeps, primaryConsumerDepsFromEnv } from './common/deps.ts';
import { fleetHandler } from './common/fleet-entry.ts';
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
export const handler = fleetHandler<SQSBatchResponse>(
  'primary',
  { kind: 'channel', dlqVariable: ENV.s2pDlqUrl },
  (env) => createPrimaryHandler(primaryConsumerDepsFromEnv(env)),
);
