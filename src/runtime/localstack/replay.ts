/**
 * Replays an embedded run's schedule on the cloud runtime: every recorded step becomes one invocation of
 * that node (`replayStep`: `primaryInvocation`'s driver / `secondaryInvocation`) at the recorded virtual
 * time — in this process on the ports it is given (real S3 and SQS adapters in the conformance test,
 * in-memory ports in unit tests), or inside the deployed functions through a {@link Stepper} that invokes
 * them (`lambda-stepper.ts`).
 * A recorded delivery is not re-created: the driver takes the next message from the real channel and checks
 * that it is the one the embedded runtime delivered at that instant (direction, type, epoch, seq).
 *
 * Two things make the replay exact (docs/conformance.md):
 * - each node has its own virtual clock, set to the step's time before its invocation (the secondary's
 *   clock also moves inside an invocation, when it settles a commit, as the cloud runtime does);
 * - the primary's `send-complete`s come from the schedule, at the modelled link's completion times,
 *   instead of right after the send (the cloud runtime's default): the invocation runs with a node spec
 *   that leaves completions to the caller.
 */
import { memoryDigest } from '../../engine/memory/digest.ts';
import type { CheckpointRecord, RoundRecord } from '../../engine/metrics/records.ts';
import type { ColoParams } from '../../engine/params.ts';
import type { DeltaStore, MessageChannel, StateStore } from '../../engine/ports.ts';
import type { ColoMessage } from '../../engine/protocol/messages.ts';
import { readSealedHeader } from '../../wire/sealed-message.ts';
import { authenticateBodies } from '../cloud/authenticate.ts';
import { VirtualClock } from '../cloud/clock.ts';
import type { CloudPorts } from '../cloud/cloud-ports.ts';
import type { InputOutcome } from '../cloud/driver.ts';
import type { Keyring } from '../cloud/keyring.ts';
import { readLog } from '../cloud/metrics-log.ts';
import { readPrimaryDocument, readSecondaryDocument } from '../cloud/status.ts';
import type { Node } from '../embedded/run.ts';
import { formatKey, type MessageKey, messageKey, type ScheduledStep, sameKey } from './schedule.ts';
import { replayStep, type StepInput, type StepOptions } from './step.ts';

/** What one step did, as the replay needs it. */
export interface StepOutcome {
  /** The invocation's outcome for its one input. */
  outcomes: InputOutcome[];
  /** Messages the invocation put on its channel, in order. */
  sent: MessageKey[];
  /** The node's virtual clock when the invocation ended, ms (later than its start if a commit settled). */
  clock: number;
}

/**
 * Runs one step somewhere: `node` gets `input` at virtual time `now` (ms). The default runs
 * {@link replayStep} in this process; `lambda-stepper.ts` invokes the deployed functions instead.
 */
export type Stepper = (node: Node, now: number, input: StepInput) => Promise<StepOutcome>;

/** Key of a message a node sent. */
export function keyOf(from: Node, m: Pick<ColoMessage, 'type' | 'epoch' | 'seq'>): MessageKey {
  return { from, type: m.type, epoch: m.epoch, seq: m.seq };
}

/** A {@link Stepper} running the cloud runtime in this process on `ports`. */
export function inProcessStepper(ports: ReplayPorts, params: ColoParams, options: StepOptions = {}): Stepper {
  const portsOf: Record<Node, CloudPorts> = {
    primary: { state: ports.state, deltas: ports.deltas, channel: ports.p2s.send },
    secondary: { state: ports.state, deltas: ports.deltas, channel: ports.s2p.send },
  };
  return async (node, now, input) => {
    const clock = new VirtualClock(now);
    if (input.type === 'message' && ports.keys) {
      // As a channel consumer does: the body is authenticated first; one that fails changes nothing.
      const [opened] = await authenticateBodies(ports.keys, [input.body]);
      if (!opened?.ok) {
        const detail = opened ? opened.error.message : 'not opened';
        return {
          outcomes: [{ index: 0, status: 'rejected', code: 'unauthenticated', detail }],
          sent: [],
          clock: clock.now(),
        };
      }
      input = { type: 'message', body: opened.body };
    }
    const r = await replayStep(node, portsOf[node], params, clock, input, options);
    return { outcomes: r.outcomes, sent: r.sent.map((m) => keyOf(node, m)), clock: clock.now() };
  };
}

/** The receiving end of a channel: message bodies in channel order. */
export interface Inbox {
  /**
   * Takes the next message body off the channel (it is consumed: deleted from the queue), waiting up to
   * `waitMs` for one to arrive; undefined when none did.
   */
  receive(waitMs: number): Promise<string | undefined>;
}

/** One direction of the link: the sender's channel and the receiver's inbox on the same queue. */
export interface ReplayChannel {
  /** What the sending node's invocations send on. */
  send: MessageChannel;
  /** Where the receiving node's deliveries are read from. */
  inbox: Inbox;
}

/** Everything the replay runs on. */
export interface ReplayPorts {
  /** Node documents and metrics logs. */
  state: StateStore;
  /** Page-delta objects. */
  deltas: DeltaStore;
  /** Primary → secondary. */
  p2s: ReplayChannel;
  /** Secondary → primary. */
  s2p: ReplayChannel;
  /**
   * The VM's replication keys: with them the in-process stepper authenticates every delivered body first,
   * as a channel consumer does (the channels and the delta store must then seal with the same keys).
   */
  keys?: Keyring;
}

/** Tuning of a replay. */
export interface ReplayOptions {
  /** How long a delivery waits for its message to show up on the channel, ms; default 5 000. */
  receiveWaitMs?: number;
  /** After the last step, how long to wait for messages still on the channels, ms; default 500. */
  drainWaitMs?: number;
  /** Called after every step with (steps done, steps in all). */
  onProgress?: (done: number, total: number) => void;
  /**
   * Let the cloud runtime complete the primary's sends itself, right after it performed them (what it
   * does in Lambda), and skip the schedule's `send-complete` steps. For demonstrating why the replay takes
   * completions from the schedule: the runs then part as soon as a send's modelled duration matters.
   * Default false.
   */
  runtimeCompletions?: boolean;
  /** Where steps run; default {@link inProcessStepper} on the replay's ports. */
  stepper?: Stepper;
}

/** An input the cloud runtime did not apply (refused, duplicate, or not processed). */
export interface ReplayAnomaly {
  /** Node and virtual time, ms. */
  node: Node;
  at: number;
  /** The invocation's outcome status and code. */
  status: string;
  code?: string;
  detail?: string;
}

/** What the replay produced, read back from the ports it ran on. */
export interface ReplayResult {
  /** Messages in the order the cloud invocations put them on the channels. */
  sent: MessageKey[];
  /** Messages taken off the channels and fed to a node, in order. */
  delivered: MessageKey[];
  /** Messages still on the channels after the last step (sent, never delivered), per direction in order. */
  leftover: MessageKey[];
  /** The first point where the channel did not hold what the schedule delivers next, or null. */
  divergence: string | null;
  /** Inputs the runtime did not apply. */
  anomalies: ReplayAnomaly[];
  /** Steps replayed (all of them unless the replay diverged). */
  steps: number;
  /** Checkpoint and round records from the primary's metrics log. */
  checkpoints: CheckpointRecord[];
  rounds: RoundRecord[];
  /** Commits from the secondary's metrics log. */
  commits: { epoch: number; digest: string }[];
  /** Digests of the final node documents: PVM memory, SVM committed image and running memory. */
  final: { primaryDigest: string; committedDigest: string; runningDigest: string; committedEpoch: number };
  /** Wall-clock time of the replay, ms. */
  wallMs: number;
}

/**
 * Which message a channel body is: the type, epoch and sequence number its sealed header states (read, not
 * verified: the node that gets the body authenticates it), or those of a plain JSON body.
 */
function keyOfBody(from: Node, body: string): MessageKey | undefined {
  const header = readSealedHeader(body);
  if (header) return { from, type: header.type as MessageKey['type'], epoch: header.epoch, seq: header.seq };
  try {
    return messageKey(from, JSON.parse(body));
  } catch {
    return undefined;
  }
}

/**
 * Replays `steps` (from `recordEmbedded`) on the cloud runtime over `ports`, with `params` (the embedded
 * run's). The VM id in `params` names the node documents and logs: use a fresh one per replay.
 *
 * Stops early, with `divergence` set, when a delivery finds a different message (or none) on the channel:
 * from there on the two runs are no longer comparable step by step.
 */
export async function replaySchedule(
  steps: readonly ScheduledStep[],
  params: ColoParams,
  ports: ReplayPorts,
  options: ReplayOptions = {},
): Promise<ReplayResult> {
  const t0 = performance.now();
  const receiveWaitMs = options.receiveWaitMs ?? 5000;
  const stepper = options.stepper ?? inProcessStepper(ports, params, options);
  // Each node's own virtual time: a step never runs before the node's previous invocation ended.
  const clocks: Record<Node, number> = { primary: 0, secondary: 0 };
  const inboxOf: Record<Node, Inbox> = { primary: ports.s2p.inbox, secondary: ports.p2s.inbox };
  const out: Omit<ReplayResult, 'checkpoints' | 'rounds' | 'commits' | 'final' | 'wallMs'> = {
    sent: [],
    delivered: [],
    leftover: [],
    divergence: null,
    anomalies: [],
    steps: 0,
  };
  const run = async (node: Node, at: number, input: StepInput): Promise<void> => {
    const r = await stepper(node, Math.max(at, clocks[node]), input);
    clocks[node] = Math.max(clocks[node], r.clock);
    out.sent.push(...r.sent);
    for (const o of r.outcomes) {
      if (o.status === 'applied') continue;
      // A tick before the node's next wake is acknowledged unstepped: nothing could fall due (the records
      // and digests compared below show it changed nothing the embedded step did).
      if (o.status === 'duplicate' && (input.type === 'tick' || input.type === 'start')) continue;
      out.anomalies.push({
        node,
        at,
        status: o.status,
        ...(o.code !== undefined ? { code: o.code } : {}),
        ...(o.detail !== undefined ? { detail: o.detail } : {}),
      });
    }
  };

  for (const step of steps) {
    switch (step.input) {
      case 'message': {
        const body = await inboxOf[step.node].receive(receiveWaitMs);
        if (body === undefined) {
          out.divergence = `at ${step.at} ms: expected ${formatKey(step.message)}, the channel stayed empty for ${receiveWaitMs} ms`;
          break;
        }
        const got = keyOfBody(step.message.from, body);
        if (got) out.delivered.push(got);
        if (!got || !sameKey(got, step.message)) {
          out.divergence = `at ${step.at} ms: expected ${formatKey(step.message)}, the channel held ${got ? formatKey(got) : `a malformed body ${body.slice(0, 80)}`}`;
          break;
        }
        await run(step.node, step.at, { type: 'message', body });
        break;
      }
      case 'send-complete':
        if (options.runtimeCompletions) break;
        await run(
          step.node,
          step.at,
          step.error === undefined
            ? { type: 'send-complete', sendId: step.sendId }
            : { type: 'send-complete', sendId: step.sendId, error: step.error },
        );
        break;
      default:
        await run(step.node, step.at, { type: step.input });
        break;
    }
    if (out.divergence) break;
    out.steps++;
    options.onProgress?.(out.steps, steps.length);
  }

  // What is still on the channels: sent and never delivered (in flight when the run ended).
  const drainWaitMs = options.drainWaitMs ?? 500;
  for (const [from, inbox] of [
    ['primary', ports.p2s.inbox],
    ['secondary', ports.s2p.inbox],
  ] as const) {
    for (let body = await inbox.receive(drainWaitMs); body !== undefined; body = await inbox.receive(0)) {
      const k = keyOfBody(from, body);
      if (k) out.leftover.push(k);
    }
  }

  const primaryDoc = await readPrimaryDocument(ports.state, params);
  const secondaryDoc = await readSecondaryDocument(ports.state, params);
  const primaryLog = (await readLog(ports.state, params.vmId, 'primary')).records;
  const secondaryLog = (await readLog(ports.state, params.vmId, 'secondary')).records;
  const checkpoints: CheckpointRecord[] = [];
  const rounds: RoundRecord[] = [];
  for (const r of primaryLog) {
    if (r.type === 'checkpoint') checkpoints.push(r.data);
    else if (r.type === 'round') rounds.push(r.data);
  }
  const commits: { epoch: number; digest: string }[] = [];
  for (const r of secondaryLog) {
    if (r.type === 'commit') commits.push({ epoch: r.data.epoch, digest: r.data.digest });
  }
  const empty = new Uint32Array(Math.floor(params.guestBytes / 4096));
  return {
    ...out,
    checkpoints,
    rounds,
    commits,
    final: {
      primaryDigest: memoryDigest(params.seed, primaryDoc?.state.versions ?? empty),
      committedDigest: memoryDigest(params.seed, secondaryDoc?.state.committed ?? empty),
      runningDigest: memoryDigest(params.seed, secondaryDoc?.state.running ?? empty),
      committedEpoch: secondaryDoc?.state.committedEpoch ?? 0,
    },
    wallMs: performance.now() - t0,
  };
}
