/**
 * One replayed step: one invocation of one node on the cloud runtime, at a virtual time, with the primary's
 * send completions left to the caller (they come from the schedule). The in-process replay calls it
 * directly; the deployed `primary` and `secondary-apply` functions call it for a virtual-clock event
 * (`lambda/handlers/test/virtual-clock.ts`), so both run exactly this code.
 */
import type { ColoParams } from '../../engine/params.ts';
import type { PrimaryInput } from '../../engine/primary/primary.ts';
import type { PrimaryState } from '../../engine/primary/state.ts';
import type { VirtualClock } from '../cloud/clock.ts';
import type { CloudPorts } from '../cloud/cloud-ports.ts';
import {
  type InvocationOptions,
  type InvocationResult,
  type NodeSpec,
  type PreparedInput,
  runInvocation,
} from '../cloud/driver.ts';
import { parseBody } from '../cloud/inbound.ts';
import { PRIMARY_SPEC } from '../cloud/primary-invocation.ts';
import { secondaryInvocation } from '../cloud/secondary-invocation.ts';
import type { Node } from '../embedded/run.ts';

/** An input of a replayed step (a message is its body, as it came off the channel). */
export type StepInput =
  | { type: 'start' }
  | { type: 'tick' }
  | { type: 'failover' }
  | { type: 'message'; body: string }
  | { type: 'send-complete'; sendId: number; error?: string };

/** Options of {@link replayStep}. */
export interface StepOptions {
  /**
   * Let the runtime complete the primary's sends right after performing them (its behaviour in Lambda)
   * instead of leaving them to `send-complete` inputs. Default false.
   */
  runtimeCompletions?: boolean;
  /** Further invocation options (e.g. the state layout); the step's clock always provides `sleep`. */
  invocation?: InvocationOptions;
}

/** The primary as a replay drives it: the runtime's own spec, but completions come from the schedule. */
const SCHEDULED_COMPLETIONS_SPEC: NodeSpec<PrimaryState, PrimaryInput> = {
  ...PRIMARY_SPEC,
  completion: undefined,
};

function preparePrimary(input: StepInput): PreparedInput<PrimaryInput> {
  switch (input.type) {
    case 'tick':
      return { index: 0, resolve: () => ({ type: 'tick' }) };
    case 'send-complete':
      return {
        index: 0,
        resolve: () =>
          input.error === undefined
            ? { type: 'send-complete', sendId: input.sendId }
            : { type: 'send-complete', sendId: input.sendId, error: input.error },
      };
    case 'message': {
      const parsed = parseBody(input.body);
      if (!parsed.ok) return { index: 0, invalid: parsed.error, resolve: () => ({ type: 'tick' }) };
      return {
        index: 0,
        ...(parsed.envelope ? { envelope: parsed.envelope } : {}),
        resolve: () => ({ type: 'message', message: parsed.raw }),
      };
    }
    default:
      throw new RangeError(`the primary takes no ${input.type} input`);
  }
}

/**
 * Runs `input` on `node` as one cloud-runtime invocation on `ports`, at `clock`'s time (the secondary's
 * commit settles on it: the clock moves forward inside the invocation).
 *
 * @throws RangeError for an input the node does not take (`start`/`failover` to the primary,
 *   `send-complete` to the secondary); whatever the invocation throws.
 */
export function replayStep(
  node: Node,
  ports: CloudPorts,
  params: ColoParams,
  clock: VirtualClock,
  input: StepInput,
  options: StepOptions = {},
): Promise<InvocationResult<unknown>> {
  // The replay stops the VM's chains with the control flag and is itself the VM's clock: its engine runs.
  const opts = { ...options.invocation, sleep: clock.sleep, ignoreStop: true };
  if (node === 'primary') {
    const spec = options.runtimeCompletions ? PRIMARY_SPEC : SCHEDULED_COMPLETIONS_SPEC;
    return runInvocation(spec, ports, params, clock.now, [preparePrimary(input)], opts);
  }
  if (input.type === 'send-complete') throw new RangeError('the secondary takes no send-complete input');
  return secondaryInvocation(ports, params, clock.now, [input], opts);
}
