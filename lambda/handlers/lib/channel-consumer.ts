/**
 * A channel consumer (the `primary` and `secondary-apply` functions): one SQS FIFO batch → one node
 * invocation with the records as message inputs, in order → a partial-batch answer.
 */
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import type { InputOutcome, InvocationOptions, InvocationResult } from '../../../src/runtime/cloud/index.ts';
import type { NodeHandlerDeps } from './deps.ts';
import { reportInvocation } from './observability.ts';
import { fifoBatchResponse } from './sqs.ts';

/** What consuming a batch produced. */
export interface ConsumedBatch<S> {
  /** The answer for Lambda. */
  response: SQSBatchResponse;
  /** The invocation's result, unless it failed as a whole. */
  result?: InvocationResult<S>;
}

/**
 * Invocation options of a channel consumer: with `rejected: 'retry'` the invocation stops at the first
 * refused message, so that it and everything after it are delivered again in order.
 */
export function channelOptions(deps: NodeHandlerDeps): InvocationOptions {
  return {
    ...deps.options,
    ...(deps.sleep ? { sleep: deps.sleep } : {}),
    ...(deps.rejected === 'retry' ? { stopAtRejection: true } : {}),
  };
}

/** Why a record must be delivered again, or undefined when it is done with. */
export function redeliveryReason(o: InputOutcome | undefined, deps: NodeHandlerDeps): string | undefined {
  if (!o) return 'not processed';
  if (o.status === 'failed') return `failed: ${o.detail ?? o.code ?? 'error'}`;
  if (o.status === 'rejected' && deps.rejected === 'retry') return `rejected: ${o.code}: ${o.detail}`;
  return undefined;
}

/**
 * Runs `invoke` on the batch's bodies and answers: records the invocation failed to process (and, with
 * `rejected: 'retry'`, records the engine refused), plus every later record of the FIFO group, are reported
 * as `batchItemFailures`; an invocation that failed as a whole reports every record.
 */
export async function consumeChannelBatch<S>(
  deps: NodeHandlerDeps,
  event: SQSEvent,
  invoke: (inputs: { type: 'message'; body: string }[]) => Promise<InvocationResult<S>>,
): Promise<ConsumedBatch<S>> {
  const { logger, metrics } = deps.obs;
  const records = event.Records;
  let result: InvocationResult<S>;
  try {
    result = await invoke(records.map((r) => ({ type: 'message', body: r.body })));
  } catch (e) {
    logger.error('invocation failed; the whole batch will be delivered again', {
      error: e instanceof Error ? { name: e.name, message: e.message } : String(e),
      messageIds: records.map((r) => r.messageId),
    });
    metrics.addMetric('InvocationErrors', MetricUnit.Count, 1);
    metrics.publishStoredMetrics();
    return { response: { batchItemFailures: records.map((r) => ({ itemIdentifier: r.messageId })) } };
  }
  reportInvocation(deps.obs, result);
  const byId = new Map(records.map((r, i) => [r.messageId, result.outcomes[i]]));
  const response = await fifoBatchResponse(event, (record) =>
    redeliveryReason(byId.get(record.messageId), deps),
  );
  if (response.batchItemFailures.length > 0) {
    metrics.addMetric('BatchItemFailures', MetricUnit.Count, response.batchItemFailures.length);
  }
  metrics.publishStoredMetrics();
  return { response, result };
}
