/**
 * The first thing a channel consumer does with a batch: authenticate every record (src/runtime/cloud/
 * authenticate.ts). A record that fails is refused as `unauthenticated` — logged at error level, counted
 * (`InputsUnauthenticated`) — and never reaches the invocation: no state is read for it, nothing changes.
 */
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import type { SQSRecord } from 'aws-lambda';
import { authenticateBodies, type InputOutcome } from '../../../src/runtime/cloud/index.ts';
import { truncateText } from '../../../src/runtime/cloud/text.ts';
import type { NodeHandlerDeps } from './deps.ts';

/** A batch after authentication. */
export interface AuthenticatedBatch {
  /** Records that opened, in order, with their position in the batch and their message body. */
  admitted: { index: number; record: SQSRecord; body: string }[];
  /** Outcomes of the records that did not reach the invocation, by position in the batch. */
  refused: Map<number, InputOutcome>;
}

/**
 * Opens every record of the batch. A record deferred for a key not loaded yet is `failed` (delivered again)
 * and holds back the records after it; so does a refused one with `rejected: 'retry'`.
 *
 * @throws KeyringUnavailableError when the keys cannot be loaded (the caller has the batch delivered again).
 */
export async function authenticateRecords(
  deps: NodeHandlerDeps,
  records: readonly SQSRecord[],
): Promise<AuthenticatedBatch> {
  const { logger, metrics } = deps.obs;
  const opened = await authenticateBodies(
    deps.keys,
    records.map((r) => r.body),
  );
  const batch: AuthenticatedBatch = { admitted: [], refused: new Map() };
  let stoppedAt: number | undefined;
  for (const [index, o] of opened.entries()) {
    const record = records[index] as SQSRecord;
    if (stoppedAt !== undefined) {
      batch.refused.set(index, {
        index,
        status: 'failed',
        code: 'after-rejection',
        detail: `not processed: input ${stoppedAt} was rejected or deferred first`,
      });
      continue;
    }
    if (o.ok) {
      batch.admitted.push({ index, record, body: o.body });
      continue;
    }
    if (o.deferred) {
      // Sealed with a key id not loaded yet, and no reload possible just now: maybe a fresh rotation.
      // Delivered again (with everything after it, keeping the order) rather than refused.
      batch.refused.set(index, {
        index,
        status: 'failed',
        code: 'KeyNotLoadedError',
        detail: truncateText(o.error.message),
      });
      logger.warn('message sealed with a key not loaded yet; it will be delivered again', {
        index,
        messageId: record.messageId,
        detail: truncateText(o.error.message),
      });
      stoppedAt = index;
      continue;
    }
    const claimed = o.claimed ? { type: truncateText(o.claimed.type, 64), seq: o.claimed.seq } : undefined;
    batch.refused.set(index, {
      index,
      status: 'rejected',
      code: o.error.code,
      detail: truncateText(o.error.message),
      ...(claimed ? { message: claimed } : {}),
    });
    logger.error('message refused: authentication failed, nothing of it was read', {
      index,
      messageId: record.messageId,
      code: o.error.code,
      failure: o.failure,
      detail: truncateText(o.error.message),
      // What the unverified header claims (bounded fields of a strict pattern), for the investigation.
      ...(o.claimed ? { claimed: o.claimed } : {}),
    });
    if (deps.rejected === 'retry') stoppedAt = index;
  }
  const count = [...batch.refused.values()].filter((r) => r.status === 'rejected').length;
  if (count > 0) metrics.addMetric('InputsUnauthenticated', MetricUnit.Count, count);
  return batch;
}
