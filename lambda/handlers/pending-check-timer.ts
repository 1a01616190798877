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
import { registryFromEnv } from './common/fleet-entry.ts';
import { powertools } from './common/observability.ts';
import { stateStoreFromEnv, tickSchedulerFromEnv } from './common/ports.ts';
import { createPrimaryTimerHandler } from './common/primary-timer.ts';
import { runPulse } from './common/pulse.ts';
import { cachedVmList, createStackTickHandler, vmDepsDirectory } from './common/stack-entry.ts';
import { measurePart, VM_PART } from './common/usage-report.ts';

/** The one-VM handler of a VM's own pending-check chain, over explicit dependencies (tests). */
export function createPendingCheckTimerHandler(
  deps: TickConsumerDeps,
): (event: unknown) => Promise<SQSBatchResponse> {
  return createPrimaryTimerHandler('pending-check', deps);
}

/** Lambda entry point (SQS event source on the pending-check tick queue, which carries the pulse). */
export const handler = lazyHandler<unknown, SQSBatchResponse>(() => {
  const env = process.env;
  const registry = registryFromEnv(env);
  const state = stateStoreFromEnv(env);
  const obs = powertools(env[ENV.serviceName] || 'pending-check-timer', 'fleet');
  const vms = cachedVmList(registry);
  const vmDeps = vmDepsDirectory(registry, env, (vmEnv) =>
    tickConsumerDepsFromEnv('primary', 'pending-check', 'pending-check-timer', vmEnv),
  );
  const h = createStackTickHandler(
    'pulse',
    {
      state,
      ticks: {
        pulse: tickSchedulerFromEnv('pending-check', env),
        monitor: tickSchedulerFromEnv('heartbeat', env),
      },
      now: Date.now,
      obs,
    },
    () => runPulse({ state, vms, vmDeps, now: Date.now, obs, measureSteps: (w) => measurePart(VM_PART, w) }),
    obs,
  );
  return (event) => h(event as Parameters<typeof h>[0]);
});
