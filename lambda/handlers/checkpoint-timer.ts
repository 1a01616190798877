/**
 * `checkpoint-timer`: consumer of the checkpoint tick chain (period `CHECKPOINT_DELAY_MS`). Claims each
 * tick, enqueues the next, then ticks the primary, which requests a checkpoint when one is due (any other
 * timer that is due runs too; a tick is harmless when nothing is).
 * Environment: the stack parameters, `BUCKET_NAME`, `P2S_QUEUE_URL`, `CHECKPOINT_TICK_QUEUE_URL`.
 */
import type { SQSBatchResponse } from 'aws-lambda';
import { type TickConsumerDeps, tickConsumerDepsFromEnv } from './common/deps.ts';
import { fleetHandler } from './common/fleet-entry.ts';
import { createPrimaryTimerHandler } from './common/primary-timer.ts';

/** The handler over explicit dependencies (tests pass in-memory ports and a virtual clock). */
export function createCheckpointTimerHandler(
  deps: TickConsumerDeps,
): (event: unknown) => Promise<SQSBatchResponse> {
  return createPrimaryTimerHandler('checkpoint', deps);
}

/** Lambda entry point (SQS event source on the checkpoint tick queue). */
export const handler = fleetHandler<SQSBatchResponse>('checkpoint-timer', { kind: 'tick' }, (env) =>
  createPrimaryTimerHandler(
    'checkpoint',
    tickConsumerDepsFromEnv('primary', 'checkpoint', 'checkpoint-timer', env),
  ),
);
