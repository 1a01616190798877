/**
 * The work of a tick chain whose ticks are claimed in a node document (tick-chain.ts `CLAIMED_IN_NODE`):
 * the work claims the tick in the save it makes anyway and queues the successor once that save committed;
 * when it cannot (it failed first, or met another invocation's long sends: `busy`), the tick is claimed in
 * the timer document as any other chain's, so that a chain never ends with its work.
 */
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import type { TickMessage, TimerName } from '../../adapters/contract.ts';
import type { ControlDocument } from './control.ts';
import type { TickConsumerDeps } from './deps.ts';
import { claimInTimerDocument } from './tick-chain.ts';
import type { TickWork } from './tick-consumer.ts';

/**
 * A tick for the work to claim in its node document (src/runtime/cloud/chain-claim.ts), with what to do
 * once the claim's save committed: queue the chain's successor.
 */
export interface WorkClaim {
  /** Chain (timer) name. */
  chain: TimerName;
  /** The tick's generation. */
  generation: number;
  /** The tick's sequence number. */
  seq: number;
  /** The delivering SQS message's id. */
  messageId: string;
  /** The timer document's last sequence number in this generation. */
  baseSeq: number;
  /** Queues the successor; the work calls it after the claim's save, before anything long. */
  onClaimed: () => Promise<void>;
}

/**
 * Runs the work on one candidate tick, which it claims in the node document and whose successor it queues
 * once that claim is saved. When the work fails before its claim committed, the tick is claimed in the
 * timer document instead (tick-chain.ts `claimInTimerDocument`): a failing work never ends the chain.
 *
 * @returns True when the record must be reported failed (its successor may not be queued: SQS redelivers
 *   it, and the redelivery is recognised by its claim).
 */
export async function claimingWork(
  deps: TickConsumerDeps,
  chain: Parameters<typeof claimInTimerDocument>[0],
  c: { messageId: string; tick: TickMessage; next: TickMessage; baseSeq: number },
  work: (control?: ControlDocument, claim?: WorkClaim) => Promise<TickWork | undefined>,
  control: ControlDocument | undefined,
): Promise<boolean> {
  const { logger, metrics } = deps.obs;
  let committed = false;
  let queued = false;
  const claim: WorkClaim = {
    // Only a VM's chain claims in a node document (CLAIMED_IN_NODE); a stack chain never comes here.
    chain: chain.timer as TimerName,
    generation: c.tick.generation,
    seq: c.tick.seq,
    messageId: c.messageId,
    baseSeq: c.baseSeq,
    onClaimed: async () => {
      committed = true;
      await deps.ticks.schedule(c.next, deps.now());
      queued = true;
    },
  };
  let busy = false;
  try {
    const verdict = (await work(control, claim))?.chainVerdict;
    logger.debug('tick', { verdict, generation: c.tick.generation, seq: c.tick.seq, next: c.next });
    if (verdict === 'dropped') {
      metrics.addMetric('TicksDropped', MetricUnit.Count, 1);
      return false;
    }
    if (queued) {
      metrics.addMetric('TicksClaimed', MetricUnit.Count, 1);
      return false;
    }
    // Busy (another invocation's long sends are in the document), or a work that took no claim: the
    // timer document claims, as for any other chain, and the work runs after it without a claim.
    busy = true;
  } catch (e) {
    const error = e instanceof Error ? { name: e.name, message: e.message } : String(e);
    if (committed) {
      if (!queued) {
        logger.warn('tick claimed but its successor not queued; the redelivery queues it', { error });
        return true;
      }
      metrics.addMetric('InvocationErrors', MetricUnit.Count, 1);
      logger.error('tick work failed; the next tick retries', { error });
      return false;
    }
    metrics.addMetric('InvocationErrors', MetricUnit.Count, 1);
    logger.error('tick work failed before its claim', { error });
  }
  // The work failed before its claim was saved, or could not claim: claim the tick where it costs a write
  // of its own.
  let claimed: boolean;
  try {
    claimed = await claimInTimerDocument(chain, c.tick, c.next, c.messageId, deps.now());
  } catch (e) {
    logger.warn('tick neither claimed nor its successor queued; SQS redelivers it', {
      error: e instanceof Error ? e.message : String(e),
    });
    return true;
  }
  metrics.addMetric(claimed ? 'TicksClaimed' : 'TicksDropped', MetricUnit.Count, 1);
  if (!busy) {
    logger.warn('tick claimed in the timer document', { seq: c.tick.seq, claimed });
    return false;
  }
  if (!claimed) return false;
  try {
    await work(control);
  } catch (e) {
    metrics.addMetric('InvocationErrors', MetricUnit.Count, 1);
    logger.error('tick work failed; the next tick retries', {
      error: e instanceof Error ? { name: e.name, message: e.message } : String(e),
    });
  }
  return false;
}
