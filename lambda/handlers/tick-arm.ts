/**
 * `tick-arm`: the once-a-minute watchdog (EventBridge rule). For every registered VM and each timer it
 * starts the tick chain, or a new generation of a chain that has gone quiet; it does nothing for a VM that
 * has failed over. `createTickArmHandler` is the one-VM form (tests, and the fleet watchdog's building
 * block is the same `armAllChains`). Environment: stack-wide only — `BUCKET_NAME`, `CHECKPOINT_TICK_QUEUE_URL`,
 * `PENDING_CHECK_TICK_QUEUE_URL`, `HEARTBEAT_TICK_QUEUE_URL`.
 */
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { ENV, STACK_CHAIN_ID, TIMER_NAMES, type TimerName } from '../adapters/contract.ts';
import { COLO_METRICS } from '../adapters/metrics-contract.ts';
import { lazyHandler, periodOf, type WatchdogDeps } from './common/deps.ts';
import { registryFromEnv } from './common/fleet-entry.ts';
import { createFleetWatchdogHandler } from './common/fleet-watchdog.ts';
import { powertools } from './common/observability.ts';
import { stateStoreFromEnv, tickSchedulerFromEnv } from './common/ports.ts';
import { createSweepRequestHandler, sweepVms } from './common/state-sweep.ts';
import { type ArmVerdict, armAllChains, periodsOf } from './common/tick-chain.ts';
import { measurePart, VM_PART } from './common/usage-report.ts';

/** What the watchdog did. */
export interface TickArmResponse {
  /** VM id. */
  vmId: string;
  /** Per timer: `armed` (started or restarted), `healthy`, `stopped` (failed over), `raced`, `resent` (never from the watchdog), or `error`. */
  chains: Record<TimerName, ArmVerdict | 'error'>;
}

/**
 * The handler over explicit dependencies.
 *
 * @throws the first error met, after trying every timer (so one bad queue does not starve the others).
 */
export function createTickArmHandler(deps: WatchdogDeps): (event: unknown) => Promise<TickArmResponse> {
  return async (event) => {
    const { logger, metrics } = deps.obs;
    const vmId = deps.params.vmId;
    const named = (event as { vmId?: unknown } | null)?.vmId;
    const source = (event as { source?: unknown } | null)?.source;
    if (typeof named === 'string' && named !== vmId)
      logger.warn('watchdog event names another VM', { named });
    const now = deps.now();
    const chains = {} as Record<TimerName, ArmVerdict | 'error'>;
    let firstError: unknown;
    const periodMs = periodsOf((t) => periodOf(deps.params, t));
    const outcomes = await armAllChains({ state: deps.state, vmId, ticks: deps.ticks, periodMs }, now);
    for (const timer of TIMER_NAMES) {
      const r = outcomes[timer];
      chains[timer] = r.verdict;
      if (r.verdict === 'error') {
        firstError ??= r.error;
        logger.error('arming failed', {
          timer,
          error: r.error instanceof Error ? r.error.message : String(r.error),
        });
      } else if (r.verdict === 'armed') {
        metrics.addMetric('ChainsArmed', MetricUnit.Count, 1);
        // A generation after the first replaces a chain that went quiet: a repair, not a start.
        if ((r.generation ?? 1) > 1) metrics.addMetric(COLO_METRICS.chainsRepaired, MetricUnit.Count, 1);
        logger.info('tick chain armed', { timer, generation: r.generation });
      }
    }
    // `source` is the rule's constant input (`colo.watchdog`) when EventBridge invoked it.
    logger.info('watchdog', { chains, source: typeof source === 'string' ? source : null });
    metrics.publishStoredMetrics();
    if (firstError !== undefined) throw firstError;
    return { vmId, chains };
  };
}

/**
 * Lambda entry point (the stack's one EventBridge `rate(1 minute)` rule, or `colo vm add` naming VMs to arm
 * at once): the fleet watchdog over every VM registered on the stack (common/fleet-watchdog.ts), which also
 * sweeps the VMs due this minute; a `colo.sweep` event sweeps the VMs it names (common/state-sweep.ts).
 */
export const handler = lazyHandler(() => {
  const registry = registryFromEnv();
  const state = stateStoreFromEnv();
  const obs = powertools(process.env[ENV.serviceName] || 'tick-arm', STACK_CHAIN_ID);
  const sweepDeps = { registry, state, now: Date.now, obs };
  const watchdog = createFleetWatchdogHandler({
    registry,
    state,
    ticks: {
      checkpoint: tickSchedulerFromEnv('checkpoint'),
      'pending-check': tickSchedulerFromEnv('pending-check'),
      heartbeat: tickSchedulerFromEnv('heartbeat'),
    },
    now: Date.now,
    obs,
    sweep: (vmIds, budgetMs) => sweepVms(sweepDeps, vmIds, undefined, budgetMs),
    measureVms: (work) => measurePart(VM_PART, work),
  });
  return createSweepRequestHandler(sweepDeps, watchdog);
});
