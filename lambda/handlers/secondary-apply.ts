/**
 * `secondary-apply`: consumes the primary → secondary FIFO channel and applies each message in order on the
 * secondary (a `delta` has its object fetched from the delta store and validated; the apply deadline runs on
 * the real clock; a commit completes in the same invocation). A refused message leaves the state unchanged,
 * is forwarded to the channel's dead-letter queue (`P2S_DLQ_URL`: body unchanged, the error code and
 * message as attributes) and acknowledged — or, with `REJECTED_MESSAGES=retry`, delivered again; a record
 * that could not be processed, and every later record of the group, is reported in `batchItemFailures`.
 * On failover the control flag is set so the timers stop.
 * Environment: the stack parameters, `BUCKET_NAME`, `S2P_QUEUE_URL`, `P2S_DLQ_URL`, optional
 * `REJECTED_MESSAGES`, and the default-off test hook `COLO_TEST_FETCH_DELAY_MS` (lib/test-hooks.ts).
 */
import type { SQSBatchResponse } from 'aws-lambda';
import { secondaryInvocation } from '../../src/runtime/cloud/index.ts';
import { ENV } from '../adapters/contract.ts';
import { channelOptions, consumeChannelBatch } from './common/channel-consumer.ts';
import { type NodeHandlerDeps, secondaryApplyDepsFromEnv } from './common/deps.ts';
import { recordFailover } from './common/failover.ts';
import { fleetHandler } from './common/fleet-entry.ts';
import { parseSqsEvent } from './common/sqs.ts';

/** The handler over explicit dependencies. */
export function createSecondaryApplyHandler(
  deps: NodeHandlerDeps,
): (event: unknown) => Promise<SQSBatchResponse> {
  return async (event) => {
    const sqs = parseSqsEvent(event);
    const { response, result } = await consumeChannelBatch(deps, sqs, (inputs) =>
      secondaryInvocation(deps.ports, deps.params, deps.now, inputs, channelOptions(deps)),
    );
    if (result) await recordFailover(deps, result.document);
    return response;
  };
}

/**
 * Lambda entry point (SQS event source on the P → S queue, `ReportBatchItemFailures`). The conformance stack deploys
 * `test/secondary-apply-replay.ts` instead, which also answers the virtual-clock event.
 */
export const handler = fleetHandler<SQSBatchResponse>(
  'secondary-apply',
  { kind: 'channel', dlqVariable: ENV.p2sDlqUrl },
  (env) => createSecondaryApplyHandler(secondaryApplyDepsFromEnv(env)),
);
