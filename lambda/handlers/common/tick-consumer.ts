/**
 * A tick consumer (`checkpoint-timer`, `pending-check-timer`, `heartbeat-monitor`): claims each tick of its
 * chain and enqueues the next one (tick-chain.ts), then, if any tick was claimed, checks the VM's other
 * chains (the sub-minute repair) and does the timer's work once. A failure of the work is logged, not
 * reported: the next tick is already queued. A chain that follows its node's wake (`heartbeat-monitor`)
 * queues its next tick at its longest gap before the work too, and after the work an early copy of it
 * when the node's wake falls sooner (the first copy to arrive claims, the other is dropped). The primary's
 * chains (tick-chain.ts `CLAIMED_IN_NODE`) hand each tick to the work to claim in the primary's node document
 * with the save it makes anyway; the work queues the successor once that save committed.
 */
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import type { TickMessage, TimerName } from '../../adapters/contract.ts';
import { TIMER_NAMES, tickDelaySeconds } from '../../adapters/contract.ts';
import { COLO_METRICS } from '../../adapters/metrics-contract.ts';
import { redeliverSoon } from './channel-consumer.ts';
import { claimingWork, type WorkClaim } from './claiming-work.ts';
import { type ControlDocument, readControl } from './control.ts';
import { configuredPeriodOf, periodOf, type TickConsumerDeps } from './deps.ts';
import { standardBatchResponse } from './sqs.ts';
import { CLAIMED_IN_NODE, followWake, handleTick, repairSiblings } from './tick-chain.ts';

export type { WorkClaim } from './claiming-work.ts';

/**
 * What a timer's work may report: the node's next wake, ms (a chain that follows the wake schedules its
 * next tick there; tick-chain.ts `followWake`).
 */
export interface TickWork {
  /** The node's next wake after the work, ms since the Unix epoch (∞: nothing due); default unknown. */
  wakeAt?: number;
  /** What the node document made of the {@link WorkClaim} the work was given (`busy`: claim elsewhere). */
  chainVerdict?: 'claimed' | 'redelivered' | 'dropped' | 'busy';
}

/** Metric: early copies of a successor sent at the node's wake (each costs one more tick delivery). */
export const TICK_EARLY_COPIES_METRIC = 'TickEarlyCopies';

/** How a chain's consumer schedules. */
export interface ConsumeOptions {
  /**
   * The chain's period is its longest gap: each successor is enqueued before the work at that gap, as for
   * every chain, and after the work an early copy of it at the node's next wake when that falls sooner (at
   * least one configured period after the tick: tick-chain.ts `followWake`). The heartbeat chain does
   * this: a quiet secondary needs a tick only every 2 s. The successor never waits for the work, so a
   * process that dies in the work — a fleet batch's invocation killed by another VM's work — ends no chain.
   */
  followWake?: boolean;
}

/** Handles a batch of ticks of `timer`; runs `work` once if any was claimed. */
export async function consumeTicks(
  deps: TickConsumerDeps,
  timer: TimerName,
  event: SQSEvent,
  work: (control?: ControlDocument, claim?: WorkClaim) => Promise<TickWork | undefined>,
  options: ConsumeOptions = {},
): Promise<SQSBatchResponse> {
  const { logger, metrics } = deps.obs;
  const followsWake = options.followWake === true;
  const chain = {
    state: deps.ports.state,
    ticks: deps.ticks,
    vmId: deps.params.vmId,
    timer,
    periodMs: periodOf(deps.params, timer),
  };
  let claimed = 0;
  let stopped = 0;
  // The newest tick this batch claimed first (not a redelivery): it decides which siblings to check.
  let checkSeq: number | undefined;
  // The control document as the last claim read it: the work's invocation takes the fence from it.
  let control: ControlDocument | undefined;
  // Claimed ticks whose successor may get an early copy after the work (options.followWake).
  const claimedTicks: { tick: TickMessage; next: TickMessage }[] = [];
  // Ticks the work claims in the node document (a chain in CLAIMED_IN_NODE), in delivery order.
  const candidates: { messageId: string; tick: TickMessage; next: TickMessage; baseSeq: number }[] = [];
  const claimInNode = CLAIMED_IN_NODE[timer];
  // The default-off fault hook: a frozen primary waits here, before it claims anything.
  await deps.faults?.begin();
  await deps.faults?.gate('tick');
  // A copy: Powertools answers a batch without failures with one shared object, never to be changed.
  const { batchItemFailures } = await standardBatchResponse(event, async (record) => {
    const r = await handleTick(
      claimInNode ? { ...chain, claimInNode } : chain,
      record.body,
      record.messageId,
      deps.now(),
    );
    logger.debug('tick', {
      verdict: r.verdict,
      generation: r.tick.generation,
      seq: r.tick.seq,
      next: r.next,
    });
    if (r.verdict === 'candidate' && r.next) {
      candidates.push({
        messageId: record.messageId,
        tick: r.tick,
        next: r.next,
        baseSeq: r.baseSeq ?? 0,
      });
      control = r.control;
      return;
    }
    if (r.verdict === 'claimed' || r.verdict === 'redelivered') {
      claimed++;
      control = r.control;
      if (followsWake && r.next) claimedTicks.push({ tick: r.tick, next: r.next });
    }
    if (r.verdict === 'claimed') checkSeq = Math.max(checkSeq ?? 0, r.tick.seq);
    else if (r.verdict === 'stopped') stopped++;
    if (r.verdict !== 'claimed' && r.verdict !== 'redelivered')
      metrics.addMetric(`Ticks${r.verdict[0]?.toUpperCase()}${r.verdict.slice(1)}`, MetricUnit.Count, 1);
  });
  const response: SQSBatchResponse = { batchItemFailures: [...batchItemFailures] };
  // Before the work, while the claim's read of the control document is fresh: a failover made by the work
  // (heartbeat-monitor) must not be followed by restarting a chain that the failover ends. A candidate the
  // work will claim counts (one that turns out a duplicate costs a sibling read at most).
  for (const c of candidates) checkSeq = Math.max(checkSeq ?? 0, c.tick.seq);
  if (checkSeq !== undefined) await repair(deps, timer, checkSeq);
  for (const c of candidates) {
    if (await claimingWork(deps, chain, c, work, control)) {
      response.batchItemFailures.push({ itemIdentifier: c.messageId });
    }
  }
  // A chain that ends because a side won the fence runs its node once more, so that a loser learns it
  // lost (it records `fenced` and stops) even though no timer will wake it again.
  const lastRun = claimed === 0 && stopped > 0 && (await fenceDecided(deps));
  let wakeAt = Number.NaN;
  if (claimed > 0 || lastRun) {
    if (claimed > 0) metrics.addMetric('TicksClaimed', MetricUnit.Count, claimed);
    try {
      // The claim's read of the control document is moments old: the work does not read it again
      // (the sibling repair in between never sets a fence). The last run after a stop reads it afresh.
      wakeAt = (await work(claimed > 0 ? control : undefined))?.wakeAt ?? Number.NaN;
    } catch (e) {
      metrics.addMetric('InvocationErrors', MetricUnit.Count, 1);
      logger.error('tick work failed; the next tick retries', {
        error: e instanceof Error ? { name: e.name, message: e.message } : String(e),
      });
    }
  }
  // A chain that follows the wake sends an early copy of a successor when the wake falls in an earlier
  // second than the copy already queued. A failed send is only logged: that copy still comes.
  for (const c of claimedTicks) {
    const now = deps.now();
    const early = followWake(c.tick, c.next, wakeAt, configuredPeriodOf(deps.params, timer), now);
    if (tickDelaySeconds(early.dueAt, now) >= tickDelaySeconds(c.next.dueAt, now)) continue;
    try {
      await deps.ticks.schedule(early, now);
      metrics.addMetric(TICK_EARLY_COPIES_METRIC, MetricUnit.Count, 1);
    } catch (e) {
      logger.warn('early tick not sent; the tick at the longest gap follows', {
        seq: early.seq,
        error: e instanceof Error ? e.message : String(e),
      });
    }
  }
  for (const f of response.batchItemFailures) logger.warn('tick failed', { messageId: f.itemIdentifier });
  if (response.batchItemFailures.length > 0) {
    // A failed tick (its successor could not be enqueued) comes back in a second, not after the queue's
    // visibility timeout: the chain, and the heartbeats it drives, stall for a second at most.
    const failed = new Set(response.batchItemFailures.map((f) => f.itemIdentifier));
    await redeliverSoon(
      deps,
      event.Records.filter((r) => failed.has(r.messageId)),
    );
  }
  metrics.publishStoredMetrics();
  return response;
}

/** The sub-minute repair of the VM's other chains (tick-chain.ts `repairSiblings`); logs what it did. */
async function repair(deps: TickConsumerDeps, timer: TimerName, seq: number): Promise<void> {
  if (!deps.chains) return;
  const { logger, metrics } = deps.obs;
  const periodMs = Object.fromEntries(TIMER_NAMES.map((t) => [t, periodOf(deps.params, t)])) as Record<
    TimerName,
    number
  >;
  const outcomes = await repairSiblings(
    { state: deps.ports.state, vmId: deps.params.vmId, ticks: deps.chains, periodMs },
    timer,
    seq,
    deps.now(),
    deps.siblings,
  );
  for (const [sibling, r] of Object.entries(outcomes)) {
    if (r.verdict === 'armed') {
      metrics.addMetric(COLO_METRICS.chainsRepaired, MetricUnit.Count, 1);
      logger.warn('tick chain repaired by a sibling', {
        timer: sibling,
        by: timer,
        generation: r.generation,
      });
    } else if (r.verdict === 'resent') {
      logger.warn("a repaired chain's first tick sent again by a sibling", {
        timer: sibling,
        by: timer,
        generation: r.generation,
      });
    } else if (r.verdict === 'error') {
      logger.warn('sibling chain check failed; the minute watchdog still repairs', {
        timer: sibling,
        error: r.error instanceof Error ? r.error.message : String(r.error),
      });
    }
  }
}

async function fenceDecided(deps: TickConsumerDeps): Promise<boolean> {
  try {
    return (await readControl(deps.ports.state, deps.params.vmId)).owner !== null;
  } catch {
    return false;
  }
}
