/** The secondary's invocation: messages from the primary (payloads fetched), ticks, start, failover. */
import { installCodec } from '../../engine/codec.ts';
import { ColoError } from '../../engine/errors.ts';
import type { ColoParams } from '../../engine/params.ts';
import { type DeltaStore, ObjectMissingError, ObjectTooLargeError } from '../../engine/ports.ts';
import type { PageDelta } from '../../engine/protocol/delta.ts';
import type { ClaimCheck } from '../../engine/protocol/messages.ts';
import { heartbeatSlackMs, type PrimarySeen } from '../../engine/secondary/heartbeat.ts';
import { admissionError, type SecondaryInput, secondaryStep } from '../../engine/secondary/secondary.ts';
import { createSecondary, type SecondaryState } from '../../engine/secondary/state.ts';
import { sha256Hex } from '../../wire/delta-codec.ts';
import { WIRE_CODEC } from '../../wire/engine-codec.ts';
import { parseMessageObject } from '../../wire/message-schema.ts';
import { type Sleep, systemSleep, type TimeSource } from './clock.ts';
import type { CloudPorts } from './cloud-ports.ts';
import { claimFence } from './control.ts';
import { consumedDeltaKeys, type DeltaRetirement, retireDeltas } from './delta-retire.ts';
import { decodeSecondaryDocument } from './document.ts';
import {
  type InvocationOptions,
  type InvocationResult,
  type NodeSpec,
  type PreparedInput,
  runInvocation,
} from './driver.ts';
import { FailoverWithoutStateError, StateDocumentError } from './errors.ts';
import { parseBody } from './inbound.ts';
import { decodeModelledDelta } from './modelled-codec.ts';
import { SECONDARY_PAGED } from './paged-fields.ts';
import { payloadCap, refusedPayload } from './payload-cap.ts';
import { UnauthenticatedObjectError } from './sealed-delta-store.ts';
import { checkSecondaryState } from './state-codec.ts';
import { truncateText } from './text.ts';

installCodec(WIRE_CODEC);

/** What can be fed to the secondary. */
export type SecondaryCloudInput =
  /** Enter COLO (sends `checkpoint-ready`); harmless once started. */
  | { type: 'start' }
  /** Time passed: deadlines, the heartbeat watchdog, the end of a commit. */
  | { type: 'tick' }
  /** Take over now (`x-colo-lost-heartbeat`); waits for a commit in progress. */
  | { type: 'failover' }
  /**
   * The primary as its saved document showed it (primary-seen.ts `readPrimarySeen`): the heartbeat of the
   * cloud runtime. Saved coarsely, like a heartbeat message.
   */
  | ({ type: 'primary-seen' } & PrimarySeen)
  /**
   * A primary → secondary message body (JSON text); a `delta` has its object fetched from the store.
   * `arrivedAt`: when it first arrived, ms (deadlines judge it by that time). `sentAt`: when the queue
   * accepted it (SQS `SentTimestamp`), ms — a heartbeat counts with the earlier of it and its sealed `sentAt`.
   */
  | { type: 'message'; body: string; arrivedAt?: number; sentAt?: number };

/** The secondary as the generic driver sees it. */
export const SECONDARY_SPEC: NodeSpec<SecondaryState, SecondaryInput> = {
  node: 'secondary',
  create: (params, now) => createSecondary(params, now),
  decode: decodeSecondaryDocument,
  paged: SECONDARY_PAGED,
  check: (tree, pages, what) => checkSecondaryState(tree, pages, what),
  step: secondaryStep,
  clock: (s) => s.lastNow,
  tick: { type: 'tick' },
  fence: (owner) => ({ type: 'fence', owner }),
  // Only where the watchdog runs (between checkpoints) and would move.
  resume: (s, at) =>
    at !== null && (s.phase === 'idle' || s.phase === 'bg-loading') && s.lastHeardAt < at
      ? { type: 'resumed', at }
      : undefined,
  inSeq: (s) => s.inSeq,
  outOfSequence: {
    type: (type) => type === 'heartbeat',
    at: (s) => s.lastHeardAt,
    slackMs: heartbeatSlackMs,
    stale: (error) => error.code === 'stale-heartbeat',
  },
  busy: (s) => s.phase === 'committing',
};

/** What one invocation of the secondary did: the driver's result, and the consumed objects it deleted. */
export interface SecondaryInvocationResult extends InvocationResult<SecondaryState> {
  /**
   * The delta objects of messages this invocation applied or acknowledged as duplicates, deleted after the
   * save that put the secondary past them (delta-retire.ts); a failed delete leaves the object to the
   * bucket's lifecycle rule.
   */
  consumedDeltas: DeltaRetirement;
}

/** Tries of a payload fetch (a failed read, or bytes that do not match the claim, are read again). */
const FETCH_ATTEMPTS = 4;

/**
 * Fetches the object a claim names. Bytes that do not match the claim's size and SHA-256 are read again
 * (a torn read is not the primary's fault); after the last try they go to the engine, which rejects them.
 * An object larger than the claim (see {@link payloadCap}) is not read at all, and a missing object
 * (objects are always stored before the message that names them, so it never appears later) is not
 * read again: the `ColoError` returned instead (`claim-mismatch` / `invalid-delta`, `missing-object`)
 * makes the engine reject the message at once. An object that fails authentication (a sealed store's
 * {@link UnauthenticatedObjectError}) is read again like a torn read, then becomes an `unauthenticated`
 * rejection.
 *
 * @throws the store's error when every read failed (transient: network, 5xx, throttling).
 */
export async function fetchPayload(
  deltas: DeltaStore,
  params: ColoParams,
  claim: ClaimCheck,
  sleep: Sleep,
): Promise<Uint8Array | PageDelta | ColoError> {
  const maxBytes = payloadCap(params, claim);
  let lastError: unknown;
  for (let attempt = 1; attempt <= FETCH_ATTEMPTS; attempt++) {
    // Backoff 100, 200, 400 ms: a throttled or briefly failing store gets ~0.7 s before the input fails.
    if (attempt > 1) await sleep(100 * 2 ** (attempt - 2));
    let bytes: Uint8Array;
    try {
      bytes = await deltas.get(claim.key, { maxBytes });
    } catch (e) {
      if (e instanceof ObjectTooLargeError) return refusedPayload(params, claim, e);
      if (e instanceof ObjectMissingError) {
        return new ColoError('missing-object', `delta object ${claim.key} does not exist`);
      }
      // A torn read is read again, like bytes that do not match the claim; after the last try the MAC
      // failure is the rejection, and nothing of the object was parsed.
      if (e instanceof UnauthenticatedObjectError && attempt === FETCH_ATTEMPTS) {
        return new ColoError('unauthenticated', truncateText(e.message));
      }
      lastError = e;
      continue;
    }
    if (params.payload === 'modelled') {
      try {
        return decodeModelledDelta(bytes, claim.key);
      } catch {
        return bytes;
      }
    }
    const matches = bytes.byteLength === claim.size && sha256Hex(bytes) === claim.sha256;
    if (matches || attempt === FETCH_ATTEMPTS) return bytes;
  }
  throw lastError;
}

function prepare(
  input: SecondaryCloudInput,
  index: number,
  ports: CloudPorts,
  params: ColoParams,
  sleep: Sleep,
  now: TimeSource,
): PreparedInput<SecondaryInput, SecondaryState> {
  // The watchdog's tick (and its `start`, once started): the secondary's wake covers every deadline and
  // the heartbeat timeout, so before it nothing can happen.
  if (input.type === 'tick') return { index, tick: true, untilWake: () => true, resolve: () => input };
  if (input.type === 'start') {
    return { index, untilWake: (s) => s.phase !== 'starting', resolve: () => input };
  }
  if (input.type === 'primary-seen') return { index, outOfSequence: true, resolve: () => input };
  if (input.type !== 'message') return { index, resolve: () => input };
  const parsed = parseBody(input.body);
  if (!parsed.ok) return { index, invalid: parsed.error, resolve: () => ({ type: 'tick' }) };
  const raw = parsed.raw;
  // A delta's data has arrived only once its object is read: it is stepped at its first arrival plus the
  // time this delivery took to read the object, so a slow transfer counts against the apply deadline while
  // the wait for a redelivery (a consumer that failed the batch) does not. Any other message is stepped
  // at its first arrival.
  let readMs = 0;
  return {
    index,
    ...(parsed.envelope ? { envelope: parsed.envelope } : {}),
    ...(input.arrivedAt !== undefined ? { arrivedAt: input.arrivedAt } : {}),
    ...(parsed.envelope?.type === 'delta' ? { readMs: () => readMs } : {}),
    resolve: async (state: SecondaryState): Promise<SecondaryInput> => {
      let claim: ClaimCheck | undefined;
      try {
        const msg = parseMessageObject(raw);
        if (msg.type === 'delta') claim = msg.claim;
      } catch {
        // Not a valid message: the engine rejects it with the schema's own words.
      }
      // Identity, sequence, epoch, phase, kind, round and claim key first: a delta the state could not take
      // whatever its object holds is handed over unread, and the engine refuses it with that reason.
      if (!claim || admissionError(state, params, raw) !== undefined)
        return input.sentAt === undefined
          ? { type: 'message', message: raw }
          : { type: 'message', message: raw, sentAt: input.sentAt };
      const readFrom = now();
      const payload = await fetchPayload(ports.deltas, params, claim, sleep);
      readMs = Math.max(0, now() - readFrom);
      return { type: 'message', message: raw, payload };
    },
  };
}

/**
 * One invocation of the secondary: loads its document (creating it at the first call), performs any
 * outbox left behind, steps `inputs` in order — a `delta` at its first arrival (`arrivedAt`) plus the time
 * its object took to read (so a slow transfer counts against the apply deadline, the wait for a redelivery
 * does not; without `arrivedAt`, when the read ended), any other message at its first arrival, a
 * compare-and-swap retry at the time of its first step, a delivery whose first input the state's clock has
 * passed (another step came between) moved later as a whole, keeping the gaps between its inputs —
 * so the engine's apply deadline sees the real elapsed time — then settles (waits for and runs wakes due
 * within `settleMs`, e.g. the end of a commit), persists with compare-and-swap and sends its replies.
 *
 * An input whose payload cannot be read is `failed`, and so is every later one (deliver them again); a
 * message the engine refuses is `rejected` and left the state unchanged; a message already consumed is a
 * `duplicate`. After the save, the objects of the delta messages it applied or found duplicate are deleted
 * (never read again: {@link consumedDeltaKeys}); a delete that fails changes nothing else.
 *
 * @param now - Time source, ms.
 * A `failover` input when the document cannot be read claims the fence all the same and throws
 * {@link FailoverWithoutStateError} (docs/cloud-runtime.md).
 *
 * @throws CasExhaustedError, StateDocumentError, FailoverWithoutStateError, or a port error (the outbox then
 *   stays for the next call).
 */
export async function secondaryInvocation(
  ports: CloudPorts,
  params: ColoParams,
  now: TimeSource,
  inputs: readonly SecondaryCloudInput[],
  options: InvocationOptions = {},
): Promise<SecondaryInvocationResult> {
  const sleep = options.sleep ?? systemSleep;
  let result: InvocationResult<SecondaryState>;
  try {
    result = await runInvocation(
      SECONDARY_SPEC,
      ports,
      params,
      now,
      inputs.map((input, i) => prepare(input, i, ports, params, sleep, now)),
      options,
    );
  } catch (e) {
    if (!(e instanceof StateDocumentError) || !inputs.some((i) => i.type === 'failover')) throw e;
    throw await failoverWithoutState(ports, params, now, e);
  }
  const consumed = consumedDeltaKeys(
    inputs.map((i) => (i.type === 'message' ? i.body : undefined)),
    result.outcomes,
    params.vmId,
    result.document.state.inSeq,
  );
  return { ...result, consumedDeltas: await retireDeltas(ports.deltas, consumed) };
}

/**
 * A failover requested while the secondary's document cannot be read: there is no committed image to
 * take over from, but the operator's decision still stands — claim the fence (so the primary cannot go
 * on alone behind the operator's back; it stops at its next invocation) and say so.
 */
async function failoverWithoutState(
  ports: CloudPorts,
  params: ColoParams,
  now: TimeSource,
  cause: StateDocumentError,
): Promise<FailoverWithoutStateError> {
  const reason = `failover requested, but the secondary's state document cannot be read: ${truncateText(cause.message, 500)}`;
  const owner = await claimFence(ports.state, params.vmId, 'secondary', reason, now());
  const outcome =
    owner === 'secondary'
      ? 'the fence now names the secondary: the primary stops for good at its next invocation, and this secondary has no committed image to run — the VM is stopped and needs an operator'
      : 'the primary already holds the fence and runs alone';
  return new FailoverWithoutStateError(owner, `${reason}; ${outcome}`, { cause });
}
