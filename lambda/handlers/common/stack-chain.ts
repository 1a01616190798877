/**
 * The stack's two chains (docs/cloud.md "The pulse and the monitor"): `pulse` (1 s, on the pending-check
 * tick queue, consumed by `pending-check-timer`) and `monitor` (2 s, on the heartbeat tick queue, consumed
 * by `heartbeat-monitor`). Their ticks name the stack ({@link STACK_CHAIN_ID}) and follow the tick-chain
 * protocol of a VM's chain (tick-chain.ts `handleTick`): claimed once by compare-and-swap on the chain's
 * timer document (`_fleet/timers/<timer>.json`), the successor queued before the work, the work run once
 * per batch. They repair each other within seconds (the sub-minute repair), and the minute watchdog
 * (`tick-arm`) starts them and repairs them as it does a VM's chains.
 */
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import type { StateStore } from '../../../src/engine/ports.ts';
import { STACK_CHAIN_ID, STACK_TIMER_NAMES, type StackTimerName } from '../../adapters/contract.ts';
import { COLO_METRICS } from '../../adapters/metrics-contract.ts';
import type { Observability } from './observability.ts';
import { standardBatchResponse } from './sqs.ts';
import {
  type ArmOutcome,
  armChain,
  checksSibling,
  handleTick,
  siblingStaleAfterMs,
  type TickScheduler,
} from './tick-chain.ts';

/** Each stack chain's period, ms. */
export const STACK_PERIOD_MS: Readonly<Record<StackTimerName, number>> = { pulse: 1_000, monitor: 2_000 };

/** What a stack chain's consumer needs. */
export interface StackChainDeps {
  /** The stack's state store (the chains' timer documents). */
  state: StateStore;
  /** The two chains' tick queues. */
  ticks: Readonly<Record<StackTimerName, TickScheduler>>;
  /** Wall clock, ms since the Unix epoch. */
  now: () => number;
  /** Logger and metrics. */
  obs: Observability;
}

function chainDeps(deps: StackChainDeps, timer: StackTimerName) {
  return {
    state: deps.state,
    ticks: deps.ticks[timer],
    vmId: STACK_CHAIN_ID,
    timer,
    periodMs: STACK_PERIOD_MS[timer],
  };
}

/** The other stack chain. */
function sibling(timer: StackTimerName): StackTimerName {
  return timer === 'pulse' ? 'monitor' : 'pulse';
}

/**
 * Handles a batch of one stack chain's ticks: claims them (a malformed tick, or one whose successor could
 * not be queued, is reported as failed: redelivered, then dead-lettered), checks the other stack chain
 * when due (replaced when it claimed no tick for {@link siblingStaleAfterMs}), and runs `work` once if any
 * tick was claimed. A failure of the work is logged and counted, not reported: the next tick is queued.
 */
export async function consumeStackTicks(
  deps: StackChainDeps,
  timer: StackTimerName,
  event: SQSEvent,
  work: () => Promise<unknown>,
): Promise<SQSBatchResponse> {
  const { logger, metrics } = deps.obs;
  const chain = chainDeps(deps, timer);
  let claimed = 0;
  let newest: number | undefined;
  const { batchItemFailures } = await standardBatchResponse(event, async (record) => {
    const r = await handleTick(chain, record.body, record.messageId, deps.now());
    if (r.tick.vmId !== STACK_CHAIN_ID)
      throw new Error(`a tick of VM ${r.tick.vmId} on the stack's ${timer} chain`);
    if (r.verdict === 'claimed' || r.verdict === 'redelivered') claimed++;
    if (r.verdict === 'claimed') newest = Math.max(newest ?? 0, r.tick.seq);
    else if (r.verdict !== 'redelivered')
      metrics.addMetric(`Ticks${r.verdict[0]?.toUpperCase()}${r.verdict.slice(1)}`, MetricUnit.Count, 1);
  });
  const response: SQSBatchResponse = { batchItemFailures: [...batchItemFailures] };
  for (const f of response.batchItemFailures)
    logger.warn('stack tick failed', { timer, messageId: f.itemIdentifier });
  if (newest !== undefined) await repairSibling(deps, timer, newest);
  if (claimed > 0) {
    metrics.addMetric('TicksClaimed', MetricUnit.Count, claimed);
    try {
      await work();
    } catch (e) {
      metrics.addMetric('InvocationErrors', MetricUnit.Count, 1);
      logger.error(`${timer} failed; the next tick retries`, {
        error: e instanceof Error ? { name: e.name, message: e.message } : String(e),
      });
    }
  }
  metrics.publishStoredMetrics();
  return response;
}

/** The sub-minute repair between the two stack chains; logs what it did, never throws. */
async function repairSibling(deps: StackChainDeps, timer: StackTimerName, seq: number): Promise<void> {
  const other = sibling(timer);
  if (!checksSibling(seq, STACK_PERIOD_MS[timer], STACK_PERIOD_MS[other])) return;
  try {
    const r = await armChain(chainDeps(deps, other), deps.now(), {
      staleAfterMs: siblingStaleAfterMs(STACK_PERIOD_MS[other]),
      startMissing: false,
      controlChecked: true,
    });
    if (r.verdict === 'armed') {
      deps.obs.metrics.addMetric(COLO_METRICS.chainsRepaired, MetricUnit.Count, 1);
      deps.obs.logger.warn('stack chain repaired by its sibling', {
        timer: other,
        by: timer,
        generation: r.generation,
      });
    }
  } catch (e) {
    deps.obs.logger.warn('stack sibling chain check failed; the minute watchdog still repairs', {
      timer: other,
      error: e instanceof Error ? e.message : String(e),
    });
  }
}

/**
 * The minute watchdog's work for the stack chains (`tick-arm`): starts each, or a new generation of one
 * that claimed no tick for the watchdog's bound. One chain's error does not stop the other.
 *
 * @param now - Current time, ms since the Unix epoch.
 */
export async function armStackChains(
  state: StateStore,
  ticks: Readonly<Record<StackTimerName, TickScheduler>>,
  now: number,
): Promise<Record<StackTimerName, ArmOutcome>> {
  const out = {} as Record<StackTimerName, ArmOutcome>;
  for (const timer of STACK_TIMER_NAMES) {
    try {
      out[timer] = await armChain(
        { state, ticks: ticks[timer], vmId: STACK_CHAIN_ID, timer, periodMs: STACK_PERIOD_MS[timer] },
        now,
        { controlChecked: true },
      );
    } catch (error) {
      out[timer] = { verdict: 'error', error };
    }
  }
  return out;
}
