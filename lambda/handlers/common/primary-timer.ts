/** The primary's two timers (`checkpoint-timer`, `pending-check-timer`): a tick chain whose work is a primary tick. */
import type { SQSBatchResponse } from 'aws-lambda';
import { primaryInvocation } from '../../../src/runtime/cloud/index.ts';
import type { TimerName } from '../../adapters/contract.ts';
import type { TickConsumerDeps } from './deps.ts';
import { reportInvocation } from './observability.ts';
import { parseSqsEvent } from './sqs.ts';
import { consumeTicks } from './tick-consumer.ts';

/** A tick-queue handler for one of the primary's timers. */
export function createPrimaryTimerHandler(
  timer: Extract<TimerName, 'checkpoint' | 'pending-check'>,
  deps: TickConsumerDeps,
): (event: unknown) => Promise<SQSBatchResponse> {
  return async (event) =>
    consumeTicks(deps, timer, parseSqsEvent(event), async (control, claim) => {
      // The tick's claim rides in the save the tick makes anyway (tick-chain.ts CLAIMED_IN_NODE).
      const result = await primaryInvocation(deps.ports, deps.params, deps.now, [{ type: 'tick' }], {
        ...deps.options,
        ...(deps.sleep ? { sleep: deps.sleep } : {}),
        ...(control ? { control } : {}),
        ...(claim ? { chainTick: claim } : {}),
      });
      reportInvocation(deps.obs, result);
      return result.chainVerdict ? { chainVerdict: result.chainVerdict } : undefined;
    });
}
