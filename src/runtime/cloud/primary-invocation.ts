/** The primary's invocation: timer ticks, messages from the secondary, operator checkpoint requests. */
import { installCodec } from '../../engine/codec.ts';
import type { ColoParams } from '../../engine/params.ts';
import { type PrimaryInput, primaryStep } from '../../engine/primary/primary.ts';
import { createPrimary, type PrimaryState } from '../../engine/primary/state.ts';
import type { CheckpointTrigger } from '../../engine/protocol/messages.ts';
import { WIRE_CODEC } from '../../wire/engine-codec.ts';
import type { TimeSource } from './clock.ts';
import type { CloudPorts } from './cloud-ports.ts';
import { decodePrimaryDocument } from './document.ts';
import {
  type InvocationOptions,
  type InvocationResult,
  type NodeSpec,
  type PreparedInput,
  runInvocation,
} from './driver.ts';
import { parseBody } from './inbound.ts';
import { PRIMARY_PAGED } from './paged-fields.ts';
import { checkPrimaryState } from './state-codec.ts';

installCodec(WIRE_CODEC);

/** What can be fed to the primary from outside (`send-complete` is the runtime's own business). */
export type PrimaryCloudInput =
  /** A timer fired: run whatever is due (harmless when nothing is). */
  | { type: 'tick' }
  /** A secondary → primary message body (JSON text, e.g. an SQS body), and when it first arrived, ms. */
  | { type: 'message'; body: string; arrivedAt?: number }
  /** Request a checkpoint now. */
  | { type: 'request-checkpoint'; trigger: CheckpointTrigger };

/** The primary as the generic driver sees it. */
export const PRIMARY_SPEC: NodeSpec<PrimaryState, PrimaryInput> = {
  node: 'primary',
  create: (params, now) => createPrimary(params, now),
  decode: decodePrimaryDocument,
  paged: PRIMARY_PAGED,
  check: (tree, pages, what) => checkPrimaryState(tree, pages, what),
  step: primaryStep,
  clock: (s) => s.lastNow,
  tick: { type: 'tick' },
  fence: (owner) => ({ type: 'fence', owner }),
  // Offered until taken; a primary that left COLO or is claiming has nothing to stop.
  stop: (s) =>
    s.stopped || s.phase === 'exited' || s.phase === 'fenced' || s.phase === 'claiming'
      ? undefined
      : { type: 'stop' },
  // A stop that is over (the control document no longer says so) is lifted.
  resume: (s) => (s.stopped ? { type: 'resumed' } : undefined),
  completion: (sendId, error) =>
    error === undefined ? { type: 'send-complete', sendId } : { type: 'send-complete', sendId, error },
  inSeq: (s) => s.inSeq,
  busy: () => false,
  // The checkpoint timer firing, a request held for the end of a transaction, a transaction's deadline or
  // a fence claim change the state with at most a trace: such a tick is always saved.
  quietTick: (s, now) =>
    now < s.nextCheckpointAt &&
    s.checkpointDue === null &&
    (s.txn === null || now < s.txn.deadline) &&
    s.phase !== 'claiming' &&
    s.stopped !== true,
};

function prepare(input: PrimaryCloudInput, index: number): PreparedInput<PrimaryInput> {
  if (input.type === 'tick') return { index, tick: true, resolve: () => input };
  if (input.type !== 'message') return { index, resolve: () => input };
  const parsed = parseBody(input.body);
  if (!parsed.ok) return { index, invalid: parsed.error, resolve: () => ({ type: 'tick' }) };
  return {
    index,
    ...(parsed.envelope ? { envelope: parsed.envelope } : {}),
    ...(input.arrivedAt !== undefined ? { arrivedAt: input.arrivedAt } : {}),
    resolve: () => ({ type: 'message', message: parsed.raw }),
  };
}

/**
 * One invocation of the primary: loads its document from `ports.state` (creating it at the first call),
 * performs any outbox left behind, steps `inputs` in order at the current time, persists with
 * compare-and-swap, performs the resulting sends (payload puts, then messages on `ports.channel`), feeds
 * their completions back and persists again, until nothing is left to send.
 *
 * @param now - Time source, ms (the system clock in Lambda; a virtual clock in tests).
 * @returns Per-input outcomes (a duplicate message is acknowledged; a rejected one left the state unchanged),
 *   committed effects, messages sent, log records, and the saved document.
 * @throws CasExhaustedError, StateDocumentError, or a port error (the outbox then stays for the next call).
 */
export function primaryInvocation(
  ports: CloudPorts,
  params: ColoParams,
  now: TimeSource,
  inputs: readonly PrimaryCloudInput[],
  options: InvocationOptions = {},
): Promise<InvocationResult<PrimaryState>> {
  return runInvocation(PRIMARY_SPEC, ports, params, now, inputs.map(prepare), options);
}
