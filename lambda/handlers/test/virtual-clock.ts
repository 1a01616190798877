/**
 * The virtual-clock event of the `primary` and `secondary-apply` functions, for conformance runs that
 * replay an embedded run's schedule inside the deployed functions (docs/conformance.md). Invoked directly:
 *
 * ```json
 * { "source": "colo.virtual-clock", "vmId": "conf-lambda", "now": 2779.37,
 *   "input": { "type": "message", "body": "{…}" } }
 * ```
 *
 * The function runs one cloud-runtime invocation of its node with that one input at virtual time `now` (ms;
 * the secondary's commit settles on the same clock) instead of the wall clock, and with the primary's send
 * completions left to `send-complete` inputs — `replayStep` in `src/runtime/localstack/step.ts`, the very
 * code the in-process replay runs. Inputs: `tick`, `message` (a sealed channel body, authenticated first
 * as the channel consumer does), `send-complete` (primary), `start` and `failover` (secondary).
 *
 * **Test-only, and off by default.** Only the replay entries beside this file (`primary-replay.ts`,
 * `secondary-apply-replay.ts`) answer the event, and the stack deploys them only with context
 * `virtualClock=allow` (the conformance stack); the production entries never import this module. Even
 * then the function honours the event only when its environment has `COLO_VIRTUAL_CLOCK=allow`, which the
 * stack never sets; the conformance test sets it on its own stack (UpdateFunctionConfiguration). Otherwise the event is refused with {@link VirtualClockRefusedError}, so
 * a stray invocation can never move a live VM's clock.
 */
import { MetricUnit } from '@aws-lambda-powertools/metrics';
import { z } from 'zod';
import { authenticateBodies } from '../../../src/runtime/cloud/authenticate.ts';
import { VirtualClock } from '../../../src/runtime/cloud/clock.ts';
import type { InputOutcome } from '../../../src/runtime/cloud/driver.ts';
import { prettify } from '../../../src/runtime/cloud/zod-errors.ts';
import type { MessageKey } from '../../../src/runtime/localstack/schedule.ts';
import { replayStep, type StepInput } from '../../../src/runtime/localstack/step.ts';
import type { Env } from '../../adapters/env.ts';
import type { NodeHandlerDeps } from '../common/deps.ts';
import { reportInvocation } from '../common/observability.ts';

/** `source` of a virtual-clock event. */
export const VIRTUAL_CLOCK_SOURCE = 'colo.virtual-clock';

/** Environment variable that enables the event (value `allow`). */
export const VIRTUAL_CLOCK_ENV = 'COLO_VIRTUAL_CLOCK';

/** The event was not honoured (not enabled, malformed, another VM, an input this node does not take). */
export class VirtualClockRefusedError extends Error {
  override readonly name = 'VirtualClockRefusedError';
}

const inputSchema = z.discriminatedUnion('type', [
  z.strictObject({ type: z.literal('start') }),
  z.strictObject({ type: z.literal('tick') }),
  z.strictObject({ type: z.literal('failover') }),
  z.strictObject({ type: z.literal('message'), body: z.string() }),
  z.strictObject({
    type: z.literal('send-complete'),
    sendId: z.int().min(1),
    error: z.string().optional(),
  }),
]);

const eventSchema = z.strictObject({
  source: z.literal(VIRTUAL_CLOCK_SOURCE),
  vmId: z.string().min(1),
  now: z.number().finite().min(0),
  input: inputSchema,
});

/** A virtual-clock event. */
export type VirtualClockEvent = z.infer<typeof eventSchema>;

/** What the function answers. */
export interface VirtualClockResponse {
  /** VM and node. */
  vmId: string;
  node: 'primary' | 'secondary';
  /** The virtual clock when the invocation ended, ms. */
  clock: number;
  /** The invocation's outcome for its input. */
  outcomes: Omit<InputOutcome, 'index'>[];
  /** Messages sent, in order: type, epoch, seq. */
  sent: Omit<MessageKey, 'from'>[];
}

/** True when `event` claims to be a virtual-clock event (it is validated by {@link virtualClockStep}). */
export function isVirtualClockEvent(event: unknown): boolean {
  return (event as { source?: unknown } | null)?.source === VIRTUAL_CLOCK_SOURCE;
}

/** True when the environment enables virtual-clock events. */
export function virtualClockAllowed(env: Env = process.env): boolean {
  return env[VIRTUAL_CLOCK_ENV]?.trim() === 'allow';
}

/**
 * Validates a virtual-clock event for `node` of VM `vmId` (the decoder of {@link virtualClockStep}).
 *
 * @throws VirtualClockRefusedError when malformed, for another VM, or an input the node does not take.
 */
export function parseVirtualClockEvent(
  event: unknown,
  vmId: string,
  node: 'primary' | 'secondary',
): VirtualClockEvent {
  const parsed = eventSchema.safeParse(event);
  if (!parsed.success)
    throw new VirtualClockRefusedError(`malformed virtual-clock event: ${prettify(parsed.error)}`);
  const e = parsed.data;
  if (e.vmId !== vmId) {
    throw new VirtualClockRefusedError(`virtual-clock event for VM ${e.vmId}; this is VM ${vmId}`);
  }
  const takes =
    node === 'primary' ? ['tick', 'message', 'send-complete'] : ['start', 'tick', 'failover', 'message'];
  if (!takes.includes(e.input.type)) {
    throw new VirtualClockRefusedError(`the ${node} takes no ${e.input.type} input`);
  }
  return e;
}

/**
 * Runs a virtual-clock event on `node`.
 *
 * @throws VirtualClockRefusedError when not enabled, malformed, for another VM, or an input the node does
 *   not take; whatever the invocation throws.
 */
export async function virtualClockStep(
  deps: NodeHandlerDeps,
  node: 'primary' | 'secondary',
  event: unknown,
  env: Env = process.env,
): Promise<VirtualClockResponse> {
  if (!virtualClockAllowed(env)) {
    throw new VirtualClockRefusedError(
      `virtual-clock events are off for this function (set ${VIRTUAL_CLOCK_ENV}=allow to enable them)`,
    );
  }
  const e = parseVirtualClockEvent(event, deps.params.vmId, node);
  const clock = new VirtualClock(e.now);
  let input = e.input as StepInput;
  if (input.type === 'message') {
    // As on the channel: the body is authenticated before anything else, and one that fails changes nothing.
    const [opened] = await authenticateBodies(deps.keys, [input.body]);
    if (!opened?.ok) {
      const detail = opened ? opened.error.message : 'not opened';
      deps.obs.logger.error('message refused: authentication failed, nothing of it was read', { detail });
      deps.obs.metrics.addMetric('InputsUnauthenticated', MetricUnit.Count, 1);
      deps.obs.metrics.publishStoredMetrics();
      return {
        vmId: e.vmId,
        node,
        clock: clock.now(),
        outcomes: [{ status: 'rejected', code: 'unauthenticated', detail }],
        sent: [],
      };
    }
    input = { type: 'message', body: opened.body };
  }
  const result = await replayStep(node, deps.ports, deps.params, clock, input);
  reportInvocation(deps.obs, result);
  deps.obs.metrics.publishStoredMetrics();
  return {
    vmId: e.vmId,
    node,
    clock: clock.now(),
    outcomes: result.outcomes.map((o) => ({
      status: o.status,
      ...(o.code !== undefined ? { code: o.code } : {}),
      ...(o.detail !== undefined ? { detail: o.detail } : {}),
    })),
    sent: result.sent.map((m) => ({ type: m.type, epoch: m.epoch, seq: m.seq })),
  };
}

/**
 * Wraps a channel consumer's handler so that it also answers virtual-clock events (when enabled); every
 * other event goes to `handler` unchanged.
 */
export function withVirtualClock<R>(
  handler: (event: unknown) => Promise<R>,
  deps: NodeHandlerDeps,
  node: 'primary' | 'secondary',
  env: Env = process.env,
): (event: unknown) => Promise<R | VirtualClockResponse> {
  return (event) => (isVirtualClockEvent(event) ? virtualClockStep(deps, node, event, env) : handler(event));
}
