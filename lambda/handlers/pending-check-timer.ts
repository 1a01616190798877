/**
 * `pending-check-timer`: consumer of the pending-check tick chain (period `PENDING_CHECK_INTERVAL_MS`).
 * Claims each tick, enqueues the next, then ticks the primary: the pending-RAM check runs when due (and may
 * start a background round: page deltas go to the delta store), and so do heartbeats and anything else due.
 * Environment: the stack parameters, `BUCKET_NAME`, `P2S_QUEUE_URL`, `PENDING_CHECK_TICK_QUEUE_URL`.
 */
import type { SQSBatchResponse } from 'aws-lambda';
import { type TickConsumerDeps, tickConsumerDepsFromEnv } from './common/deps.ts';
import { fleetHandler } from './common/fleet-entry.ts';
import { createPrimaryTimerHandler } from './common/primary-timer.ts';

/** The handler over explicit dependencies (tests pass in-memory ports and a virtual clock). */
export function createPendingCheckTimerHandler(
  deps: TickConsumerDeps,
): (event: unknown) => Promise<SQSBatchResponse> {
  return createPrimaryTimerHandler('pending-check', deps);
}

/** Lambda entry point (SQS event source on the pending-check tick queue). */
export const handler = fleetHandler<SQSBatchResponse>('pending-check-timer', { kind: 'tick' }, (env) =>
  createPrimaryTimerHandler(
    'pending-check',
    tickConsumerDepsFromEnv('primary', 'pending-check', 'pending-check-timer', env),
  ),
);
