/**
 * `pending-check-timer`: the stack's **pulse** (docs/cloud.md "The pulse and the monitor"). Consumes the
 * pulse chain on the pending-check tick queue — one tick a second for the whole stack, claimed once — and
 * steps the primary of every registered VM whose pending check is due (common/pulse.ts): the pending-RAM
 * check runs (and may start a background round: page deltas go to the delta store), and so does anything
 * else due; a quiet step saves nothing. The pulse document it writes is each primary's liveness evidence.
 * `createPendingCheckTimerHandler` is the one-VM consumer of a VM's own pending-check chain (the handler
 * tests and the simulator drive it; a stack no longer arms that chain).
 * Environment: stack-wide — `BUCKET_NAME`, `P2S_QUEUE_URL`, the tick queue URLs, the key's secret ARN.
 */
import type { SQSBatchResponse } from 'aws-lambda';
import { ENV } from '../adapters/contract.ts';
import { lazyHandler, type TickConsumerDeps, tickConsumerDepsFromEnv } from './common/deps.ts';
import { createPrimaryTimerHandler } from './common/primary-timer.ts';
import { runPulse } from './common/pulse.ts';
import { stackChainFromEnv } from './common/stack-entry.ts';

/** The one-VM handler of a VM's own pending-check chain, over explicit dependencies (tests). */
export function createPendingCheckTimerHandler(
  deps: TickConsumerDeps,
): (event: unknown) => Promise<SQSBatchResponse> {
  return createPrimaryTimerHandler('pending-check', deps);
}

/** Lambda entry point (SQS event source on the pending-check tick queue, which carries the pulse). */
export const handler = lazyHandler<unknown, SQSBatchResponse>(() => {
  const env = process.env;
  const { handle } = stackChainFromEnv(
    env,
    'pulse',
    env[ENV.serviceName] || 'pending-check-timer',
    (vmEnv) => tickConsumerDepsFromEnv('primary', 'pending-check', 'pending-check-timer', vmEnv),
    runPulse,
  );
  return (event) => handle(event as Parameters<typeof handle>[0]);
});
