/**
 * SQS events in and partial-batch responses out: a zod check of the event shape (only what the handlers
 * read), and Powertools batch processors for the `batchItemFailures` answer.
 */
import {
  BatchProcessor,
  EventType,
  processPartialResponse,
  SqsFifoPartialProcessorAsync,
} from '@aws-lambda-powertools/batch';
import type { SQSBatchResponse, SQSEvent, SQSRecord } from 'aws-lambda';
import { z } from 'zod';
import { prettify } from '../../../src/runtime/cloud/zod-errors.ts';

/** The event is not what the function's trigger delivers. */
export class InvalidEventError extends Error {
  override readonly name = 'InvalidEventError';
}

const recordSchema = z.looseObject({
  messageId: z.string().min(1),
  body: z.string(),
  eventSource: z.literal('aws:sqs'),
  // Every attribute a handler reads (channel-consumer.ts `arrival`, the test hook's capture) is a string:
  // `Number()` of a non-string could throw (`{"toString": 1}`) or mean nothing.
  attributes: z
    .looseObject({
      MessageGroupId: z.string().optional(),
      MessageDeduplicationId: z.string().optional(),
      ApproximateReceiveCount: z.string().optional(),
      ApproximateFirstReceiveTimestamp: z.string().optional(),
      SentTimestamp: z.string().optional(),
    })
    .optional(),
});

const eventSchema = z.looseObject({ Records: z.array(recordSchema).min(1) });

/** True when `event` looks like an SQS event (has a `Records` array whose first record is from SQS). */
export function looksLikeSqsEvent(event: unknown): boolean {
  const records = (event as { Records?: unknown } | null)?.Records;
  return (
    Array.isArray(records) && (records[0] as { eventSource?: unknown } | undefined)?.eventSource === 'aws:sqs'
  );
}

/**
 * Validates an SQS event (every record: `messageId`, `body`, `eventSource: "aws:sqs"`; the attributes the
 * handlers read, when present, are strings).
 *
 * @throws InvalidEventError listing the problems.
 */
export function parseSqsEvent(event: unknown): SQSEvent {
  const r = eventSchema.safeParse(event);
  if (!r.success) throw new InvalidEventError(`not an SQS event: ${prettify(r.error)}`);
  return event as SQSEvent;
}

/**
 * The answer for a FIFO batch whose records were processed in order: the records `failure` names (it returns
 * a reason) and every record after the first of them are reported failed (`SqsFifoPartialProcessorAsync`), so
 * SQS redelivers them in order and nothing after a failure is lost or reordered.
 */
export function fifoBatchResponse(
  event: SQSEvent,
  failure: (record: SQSRecord) => string | undefined,
): Promise<SQSBatchResponse> {
  return processPartialResponse(
    event,
    async (record: SQSRecord) => {
      const why = failure(record);
      if (why !== undefined) throw new Error(why);
    },
    new SqsFifoPartialProcessorAsync(),
    { throwOnFullBatchFailure: false },
  );
}

/** The answer for a standard-queue batch: each record handled on its own; a throw fails that record only. */
export function standardBatchResponse(
  event: SQSEvent,
  handle: (record: SQSRecord) => Promise<void>,
): Promise<SQSBatchResponse> {
  return processPartialResponse(event, handle, new BatchProcessor(EventType.SQS), {
    throwOnFullBatchFailure: false,
  });
}
