/**
 * A channel consumer (the `primary` and `secondary-apply` functions): one SQS FIFO batch → one node
 * invocation with the records as message inputs, in order → a partial-batch answer.
 */
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import type { SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import type { InputOutcome, InvocationOptions, InvocationResult } from '../../../src/runtime/cloud/index.ts';
import { truncateText } from '../../../src/runtime/cloud/text.ts';
import type { DeadLetter } from '../../adapters/sqs-dead-letters.ts';
import { type AuthenticatedBatch, authenticateRecords } from './authenticate-records.ts';
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
 * Refusals the protocol itself produces as replication ends (a reply after the primary's deadline, or after
 * it left COLO): not forwarded under the `unexpected` dead-letter scope.
 */
export const EXPECTED_REFUSALS: ReadonlySet<string> = new Set(['timeout', 'exited']);

/**
 * Forwards the records refused (by authentication or by the engine) to `deps.deadLetters` (body unchanged,
 * same message group, the error as attributes), in order, batched: a batch of refused records costs one
 * request. A letter that cannot be forwarded is logged at error level with its body and reason — the
 * evidence is kept in the function's log instead — and counted; it never fails the batch, because
 * redelivering a refused record cannot succeed and would block its FIFO group.
 *
 * @returns How many records were forwarded.
 */
export async function forwardRejected(
  deps: NodeHandlerDeps,
  records: readonly SQSRecord[],
  outcomes: readonly (InputOutcome | undefined)[],
): Promise<number> {
  const sink = deps.deadLetters;
  if (!sink || deps.rejected !== 'ack') return 0;
  const { logger, metrics } = deps.obs;
  const skipExpected = deps.deadLetterScope === 'unexpected';
  const letters: DeadLetter[] = [];
  for (const [i, record] of records.entries()) {
    const o = outcomes[i];
    if (o?.status !== 'rejected') continue;
    if (skipExpected && EXPECTED_REFUSALS.has(o.code ?? '')) continue;
    letters.push({
      body: record.body,
      groupId: record.attributes?.MessageGroupId || deps.params.vmId,
      messageId: record.messageId,
      code: o.code ?? 'rejected',
      detail: o.detail ?? '',
      rejectedBy: deps.service ?? 'unknown',
      at: deps.now(),
    });
  }
  if (letters.length === 0) return 0;
  const failed = await sink.forward(letters);
  for (const f of failed) {
    logger.error('refused message could not be forwarded to the dead-letter queue; it is kept here', {
      error: f.error,
      letter: { ...f.letter, body: truncateText(f.letter.body, 64 * 1024) },
    });
  }
  if (failed.length > 0) metrics.addMetric('DeadLetterForwardFailures', MetricUnit.Count, failed.length);
  const forwarded = letters.length - failed.length;
  if (forwarded > 0) {
    metrics.addMetric('RejectedForwarded', MetricUnit.Count, forwarded);
    logger.warn('refused messages forwarded to the dead-letter queue', { count: forwarded });
  }
  return forwarded;
}

/** Seconds until a record the consumer failed is visible again (instead of the queue's visibility timeout). */
export const REDELIVERY_SECONDS = 1;

/**
 * Shortens the visibility of failed records to {@link REDELIVERY_SECONDS}, so SQS hands them over again
 * almost at once. Best effort: when it fails the queue's own visibility timeout still brings them back.
 */
export async function redeliverSoon(deps: NodeHandlerDeps, records: readonly SQSRecord[]): Promise<void> {
  if (!deps.redelivery || records.length === 0) return;
  try {
    const n = await deps.redelivery.soon(records, REDELIVERY_SECONDS);
    deps.obs.metrics.addMetric('FastRedeliveries', MetricUnit.Count, n);
  } catch (e) {
    deps.obs.logger.warn('could not shorten the visibility of failed records', {
      error: e instanceof Error ? { name: e.name, message: e.message } : String(e),
    });
  }
}

/** A channel record as a node's message input. */
export interface ChannelInput {
  type: 'message';
  /** The record's body. */
  body: string;
  /** When it first arrived, ms (never later than the handler's now). */
  arrivedAt?: number;
  /**
   * When SQS accepted it (`SentTimestamp`), ms, as SQS states it: the same for every delivery of the record
   * (a copy sent again is a new record, which the heartbeat's sealed `sentAt` bounds instead).
   */
  sentAt?: number;
}

/**
 * A record as a message input stamped with its first arrival (SQS `ApproximateFirstReceiveTimestamp`, else
 * `SentTimestamp`; never later than `now`), so a redelivered record is judged by when it first arrived,
 * and with its send time (`SentTimestamp`), which bounds a heartbeat's freshness with its sealed `sentAt`.
 */
export function arrival(record: SQSRecord, now: number): ChannelInput {
  const attrs = record.attributes as unknown as Partial<Record<string, string>> | undefined;
  const sent = Number(attrs?.SentTimestamp ?? Number.NaN);
  const input: ChannelInput = { type: 'message', body: record.body };
  // Absent: left out, and the engine uses the step time. Unreadable: passed on, and the engine refuses it.
  if (attrs?.SentTimestamp !== undefined) input.sentAt = sent;
  const stamp = Number(attrs?.ApproximateFirstReceiveTimestamp ?? attrs?.SentTimestamp ?? Number.NaN);
  if (Number.isFinite(stamp) && stamp > 0) input.arrivedAt = Math.min(stamp, now);
  return input;
}

/**
 * Authenticates every record first ({@link authenticateRecords}: a record that fails is refused as
 * `unauthenticated` and never reaches `invoke`), runs `invoke` on the bodies of the others (not at all when
 * none is left) and answers: records the invocation failed to process (and, with `rejected: 'retry'`,
 * records refused), plus every later record of the FIFO group, are reported as `batchItemFailures`; an
 * invocation that failed as a whole — or keys that could not be loaded — reports every record. With
 * `rejected: 'ack'` and a dead-letter sink, refused records are forwarded there ({@link forwardRejected})
 * before the answer acknowledges them.
 */
export async function consumeChannelBatch<S>(
  deps: NodeHandlerDeps,
  event: SQSEvent,
  invoke: (inputs: ChannelInput[]) => Promise<InvocationResult<S>>,
): Promise<ConsumedBatch<S>> {
  const { logger, metrics } = deps.obs;
  const records = event.Records;
  let result: InvocationResult<S> | undefined;
  let batch: AuthenticatedBatch;
  await deps.faults?.begin();
  try {
    await deps.faults?.gate('channel');
    batch = await authenticateRecords(deps, records);
    if (batch.admitted.length > 0) {
      result = await invoke(batch.admitted.map((a) => ({ ...arrival(a.record, deps.now()), body: a.body })));
    }
  } catch (e) {
    logger.error('invocation failed; the whole batch will be delivered again', {
      error:
        e instanceof Error ? { name: e.name, message: truncateText(e.message) } : truncateText(String(e)),
      messageIds: records.map((r) => r.messageId),
    });
    metrics.addMetric('InvocationErrors', MetricUnit.Count, 1);
    await deps.faults?.capture(records, 'failed');
    await redeliverSoon(deps, records);
    metrics.publishStoredMetrics();
    return { response: { batchItemFailures: records.map((r) => ({ itemIdentifier: r.messageId })) } };
  }
  if (result) {
    reportInvocation(
      deps.obs,
      result,
      batch.admitted.map((a) => a.record.messageId),
    );
  }
  // One outcome per record, in batch order: refused ones, and the invocation's for the admitted ones.
  const outcomes: (InputOutcome | undefined)[] = records.map((_, i) => batch.refused.get(i));
  for (const [j, a] of batch.admitted.entries()) {
    const o = result?.outcomes[j];
    outcomes[a.index] = o ? { ...o, index: a.index } : undefined;
  }
  const byId = new Map(records.map((r, i) => [r.messageId, outcomes[i]]));
  const response = await fifoBatchResponse(event, (record) =>
    redeliveryReason(byId.get(record.messageId), deps),
  );
  // A refused record that is also delivered again (it came after a failed one in the FIFO group) is
  // forwarded when it is finally done with, not at every delivery.
  const again = new Set(response.batchItemFailures.map((f) => f.itemIdentifier));
  await forwardRejected(
    deps,
    records,
    outcomes.map((o, i) => (again.has(records[i]?.messageId ?? '') ? undefined : o)),
  );
  await deps.faults?.capture(records, outcomes);
  if (response.batchItemFailures.length > 0) {
    metrics.addMetric('BatchItemFailures', MetricUnit.Count, response.batchItemFailures.length);
    const failed = new Set(response.batchItemFailures.map((f) => f.itemIdentifier));
    await redeliverSoon(
      deps,
      records.filter((r) => failed.has(r.messageId)),
    );
  }
  metrics.publishStoredMetrics();
  return result ? { response, result } : { response };
}
