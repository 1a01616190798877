/**
 * One invocation of one node, independent of which node: load → (perform a leftover outbox) → step the
 * inputs → persist state + new outbox (compare-and-swap) → perform the outbox → feed completions → persist,
 * until the outbox is empty. docs/cloud-runtime.md gives the correctness argument.
 */
import type { ClaimEffect, Effect, FenceOwner } from '../../engine/effects.ts';
import { ColoError } from '../../engine/errors.ts';
import { type ColoParams, maxDeltaPages, pageCount } from '../../engine/params.ts';
import { StateConflictError } from '../../engine/ports.ts';
import type { ColoMessage, Skip } from '../../engine/protocol/messages.ts';
import { serializeMessage } from '../../wire/message-schema.ts';
import { type ChainTick, judgeChainTick } from './chain-claim.ts';
import type { Sleep, TimeSource } from './clock.ts';
import { systemSleep } from './clock.ts';
import type { CloudPorts } from './cloud-ports.ts';
import { type ControlDocument, claimFence, readControl } from './control.ts';
import { type NodeDocument, newDocument, type OutboxSend, ROUTINE_RECORDS } from './document.ts';
import { CasExhaustedError, FenceDecidedError, UnsendableMessageError } from './errors.ts';
import type { NodeRole } from './keys.ts';
import { NodeStateStore, type StateLayout } from './lean-document.ts';
import { type LogRecord, recordsOf, type UnnumberedRecord } from './log-record.ts';
import { DEFAULT_LOG_LAYOUT, type LogLayout } from './metrics-log.ts';
import { DEFAULT_RETRY, HotPayloads, outboxSendOf, performLog, performOutbox } from './outbox.ts';
import type { PagedField } from './paged-fields.ts';
import type { ChunkCache } from './state-chunks.ts';
import { truncateText } from './text.ts';

/** Tuning of an invocation. Every field has a default. */
export interface InvocationOptions {
  /** Waits (settling, backoff); default a real timer. Pass a virtual clock's `sleep` in tests. */
  sleep?: Sleep;
  /** Compare-and-swap attempts before {@link CasExhaustedError}; default 10. */
  maxCasAttempts?: number;
  /**
   * Perform → complete → save rounds per invocation; what is left stays in the outbox for the next
   * invocation. Default: enough for a whole-guest checkpoint streamed in `maxDeltaBytes` chunks (one chunk
   * per round), at least 32.
   */
  maxDrainRounds?: number;
  /** Tries of one message send before the outbox is left for the next invocation; default 4. */
  sendAttempts?: number;
  /** Tries of one object put before its sequence number is retired with a `skip`; default 4. */
  putAttempts?: number;
  /** First retry backoff, ms, tripled at each next try; default 100 (4 tries span 1.3 s). */
  retryBackoffMs?: number;
  /**
   * Log records kept in the document while the log cannot be appended; past this the oldest are dropped
   * and a `log-dropped` record says how many; default 1 024.
   */
  maxLogBacklog?: number;
  /**
   * While the node is busy with local work (the secondary's commit, which ends a few ms after the device
   * state arrives), wait for and run wakes due within this horizon, ms; default 1 000.
   */
  settleMs?: number;
  /** Log ring shape; default {@link DEFAULT_LOG_LAYOUT}. */
  log?: LogLayout;
  /**
   * Stop at the first input the engine refuses: later inputs are left `failed` (not processed), so a
   * caller that has the refused message delivered again keeps the order. Default false (later inputs run).
   */
  stopAtRejection?: boolean;
  /** How the node document is stored; default `auto`: lean from 1 GiB guests, whole below (lean-document.ts). */
  stateLayout?: Partial<StateLayout>;
  /** Decoded state chunks by hash; default the warm container's cache. */
  chunkCache?: ChunkCache;
  /**
   * Routine log records (pending checks that decided nothing) wait in the node document, saved with it,
   * until this many are waiting or the oldest is this old; any other record appends at once. Default
   * `{ records: 1, maxAgeMs: 0 }`: every record at once. The deployed functions use
   * {@link LEAN_INVOCATION}.
   */
  logBatch?: { records: number; maxAgeMs: number };
  /**
   * Leave out the save after a drain that only sent heartbeats and changed nothing else: the stored
   * document keeps those sends in its outbox, and the next invocation performs them again first (the
   * channel drops the copies by their deduplication id; the secondary acknowledges a late one as a
   * duplicate) — exactly what follows a crash after the send. Default false.
   */
  deferHeartbeatSave?: boolean;
  /**
   * Put the primary's heartbeats on the channel. Default true. False (the deployed functions): a heartbeat
   * the engine decides is not sent — the save that commits its step is the evidence instead, which the
   * secondary's timer reads from the primary's document (`readPrimarySeen`, docs/cloud-runtime.md
   * "Heartbeats from the primary's document"). Its send id is never completed; the engine waits on none.
   */
  heartbeatMessages?: boolean;
  /**
   * Run the engine even when the control document says the VM was stopped (no `stop` input is given). Only
   * the conformance replay sets it: it stops the VM's timer chains with that flag and drives the invocations
   * itself. Default false.
   */
  ignoreStop?: boolean;
  /**
   * The VM's control document as the caller read it moments before (a tick consumer's claim reads it):
   * the first attempt takes the fence from it instead of reading it again; a compare-and-swap retry reads
   * it afresh. Default: read it.
   */
  control?: ControlDocument;
  /**
   * A timer tick to claim in this node's document (chain-claim.ts): judged against the document's claims
   * at every attempt; a tick it makes `dropped`, or one met by sends other than heartbeats left in the
   * document (`busy`), ends the invocation before anything is stepped or performed; a claimed one is recorded in the same save as the step, and `onClaimed` runs once that save
   * committed (the consumer queues the chain's successor there), before the outbox is performed. A
   * redelivery of the claiming message steps nothing again: `onClaimed` runs, then the leftover outbox.
   * The outcome is {@link InvocationResult.chainVerdict}. Default: no claim (every input is stepped).
   */
  chainTick?: ChainTick & { onClaimed: () => Promise<void> };
  /**
   * A tick-only invocation that finds sends other than heartbeats in a document saved less than this long
   * ago, ms, leaves them to the writer that saved them — it is performing them — instead of performing
   * them too (`leftToConcurrent`); an older outbox, whose writer may have died, is performed. Two writers
   * uploading the same checkpoint object side by side doubled the work, and on LocalStack both uploads
   * stalled until the function's timeout. Default 0: always performed.
   */
  leaveFreshOutboxMs?: number;
  /**
   * Leave out the save of a quiet tick (docs/cloud.md "The pulse"): when every input is a `tick` and its
   * step did nothing but advance the guest and decide no background round (effects: traces, the wake, a
   * pending check that decided `none` — or `busy` while a checkpoint transaction holds the VM stopped —,
   * heartbeats kept off the channel), the stored document stays as it
   * is. The guest is a pure function of its seed and guest time (`makeWorkloadBatches`: any split of an
   * interval makes the same writes), so the next step from the stored document reaches the same pages,
   * dirty set and deadlines (test/unit/cloud/quiet-step.test.ts); what it does not keep is the quiet
   * step's own `pending-check` log record and the send ids of its unsent heartbeats. Only for the `fixed`
   * and `none` policies: `adaptive` learns from every pending check, so its ticks are always saved.
   * Default false.
   */
  skipQuietSave?: boolean;
}

/**
 * The invocation options of the deployed functions: cheaper per tick, the same COLO messages and commits;
 * the primary's heartbeats are its saves, read by the secondary's timer, not channel messages.
 */
export const LEAN_INVOCATION: Readonly<
  Pick<InvocationOptions, 'logBatch' | 'deferHeartbeatSave' | 'heartbeatMessages' | 'leaveFreshOutboxMs'>
> = {
  logBatch: { records: 30, maxAgeMs: 30_000 },
  deferHeartbeatSave: true,
  heartbeatMessages: false,
  // A timer tick (the pulse's, the checkpoint timer's) leaves sends saved moments ago to their writer: a
  // review saw one 60 MB checkpoint object uploaded by the primary, the checkpoint timer and two pulses at
  // once on LocalStack, each slowing the others until the secondary's 10 s wait ran out. 6 s: longer than
  // such an upload takes on a loaded emulator (6–8 s measured at load 12 were outliers), short enough that a
  // dead writer's checkpoint (its upload ~1 s on AWS) still fits the secondary's 10 s wait.
  leaveFreshOutboxMs: 6_000,
};

/** True when `records` should be appended now under `batch` at `now`, ms. */
export function logDue(
  records: readonly LogRecord[],
  batch: { records: number; maxAgeMs: number },
  now: number,
): boolean {
  const first = records[0];
  if (first === undefined) return false;
  if (records.length >= batch.records || now - first.at >= batch.maxAgeMs) return true;
  return records.some((r) => !ROUTINE_RECORDS.has(r.type));
}

/** What became of one input. */
export interface InputOutcome {
  /** Position in the input list. */
  index: number;
  /**
   * `applied`: the engine took it. `duplicate`: a message already consumed (or skipped) — acknowledge it.
   * `rejected`: the engine refused it; the node state is unchanged. `failed`: not processed (an earlier
   * input failed, or fetching its payload failed) — deliver it again.
   */
  status: 'applied' | 'duplicate' | 'rejected' | 'failed';
  /** Error code (`ColoError` code when rejected, error name when failed). */
  code?: string;
  /** Human-readable reason (at most 1 000 characters). */
  detail?: string;
  /** For a message: its type and sequence number as its body states them (unchecked), for the logs. */
  message?: { type: string; seq: number };
}

/** What an invocation did. */
export interface InvocationResult<S> {
  /** One outcome per input, in input order. */
  outcomes: InputOutcome[];
  /** Engine effects of every committed step (inputs, completions, settling ticks), in order. */
  effects: Effect[];
  /** Messages this invocation put on the channel (replays of an earlier outbox included). */
  sent: ColoMessage[];
  /** Log records committed by this invocation. */
  records: LogRecord[];
  /** The document as last saved. */
  document: NodeDocument<S>;
  /** Compare-and-swap conflicts met (each one a reload and retry). */
  casConflicts: number;
  /** Sends replayed from an outbox an earlier invocation left behind. */
  replayed: number;
  /** Payload objects rebuilt from their recipe for a replay. */
  rebuilt: number;
  /** Sends whose object could not be stored, retired with a `skip` (their completions carry an error). */
  retired: number;
  /**
   * Sends dropped unperformed because replication had ended for this node (its document's `exit`: the
   * fence is decided): its peer refuses whatever it sends from then on, so a checkpoint's objects would be
   * uploaded for nothing.
   */
  droppedAfterExit: number;
  /** Log records dropped because the log could not be appended and the backlog was full. */
  logDropped: number;
  /** True when the log append failed: the records stay in the document for the next invocation. */
  logDeferred: boolean;
  /** Most payload bytes (built objects) this invocation held at once. */
  peakPayloadBytes: number;
  /**
   * Saves left out because out-of-sequence messages (heartbeats) moved their time less than the slack
   * ({@link NodeSpec.outOfSequence}).
   */
  coarseSkips: number;
  /** Saves left out after sending only heartbeats ({@link InvocationOptions.deferHeartbeatSave}). */
  deferredSaves: number;
  /** Saves left out after a quiet tick ({@link InvocationOptions.skipQuietSave}): 0 or 1. */
  quietSkips?: number;
  /**
   * What became of {@link InvocationOptions.chainTick}; undefined when none was given. `busy`: not claimed
   * and nothing done, because sends other than heartbeats are left in the document (claim elsewhere).
   */
  chainVerdict?: 'claimed' | 'redelivered' | 'dropped' | 'busy';
  /**
   * True when the invocation lost a compare-and-swap to a writer that left sends in the document, and had
   * nothing of its own left: its inputs were committed, or were only ticks (acknowledged as
   * {@link LEFT_TO_CONCURRENT}: any step runs what is due). That writer, which has just saved, performs them
   * (the outbox is persisted: if it dies, the next invocation does). Performing them here too would replay
   * every object and message for nothing and lose each save to the writer that keeps saving (a 1 GiB
   * guest's background round: `CasExhaustedError` after ten replays of 12 MB each).
   */
  leftToConcurrent?: true;
}

/** An input after parsing, ready to be stepped. */
export interface PreparedInput<I, S = unknown> {
  /** Position in the caller's list. */
  index: number;
  /** For a message: its envelope (duplicate detection). */
  envelope?: { vmId: unknown; seq: number; type: string };
  /**
   * When the input first arrived, ms (e.g. an SQS record's first receive): it is stepped at that time, so
   * a redelivered or retried input is judged by its first arrival, not by the delay before it was handled.
   * Default: the time it is first stepped.
   */
  arrivedAt?: number;
  /**
   * For an input whose data `resolve` reads (a delta's object): how long that read took, ms, asked after
   * `resolve`. With `arrivedAt` the input is stepped at `arrivedAt + readMs()`, never later than now.
   */
  readMs?: () => number;
  /** Rejected before reaching the engine (e.g. not JSON). */
  invalid?: ColoError;
  /**
   * A timer's tick: it brings nothing of its own (every step of the node runs what is due), so it may be
   * left to another writer performing sends ({@link InvocationResult.leftToConcurrent}).
   */
  tick?: true;
  /**
   * An input that only moves the out-of-sequence time ({@link NodeSpec.outOfSequence}), like a message of
   * an out-of-sequence type: the secondary's evidence of a replicating primary. Saved coarsely.
   */
  outOfSequence?: boolean;
  /**
   * True (for the state it would be stepped on) when this input only matters once the node's next wake is
   * due — a timer tick: before then it is acknowledged without a step (nothing can fall due, so there is
   * nothing to save: a watchdog ticking every second must not rewrite the document every second, nor win
   * every compare-and-swap race against a slow apply).
   */
  untilWake?: (state: S) => boolean;
  /**
   * Builds the engine input against the current state (may fetch a payload; may throw to fail this input
   * and every later one). The state is the one the input will be stepped on: read it, never change it.
   */
  resolve: (state: S) => Promise<I> | I;
}

/** What a node contributes to the generic driver. */
export interface NodeSpec<S, I> {
  /** Which node. */
  node: NodeRole;
  /** A fresh state at `now`, ms. */
  create(params: ColoParams, now: number): S;
  /** Decodes this node's document in the whole format (1), which is read and migrated. */
  decode(bytes: Uint8Array, params: ColoParams, what: string): NodeDocument<S>;
  /** This node's per-page arrays (kept in state chunks). */
  paged: readonly PagedField[];
  /** Validates a decoded state tree of `pages` pages. @throws StateDocumentError */
  check(tree: unknown, pages: number, what: string): S;
  /** The engine's transition function. */
  step(state: S, params: ColoParams, now: number, input: I): Effect[];
  /**
   * The state's own clock, ms: the latest time it was stepped at (the engine steps nothing earlier).
   * Absent: inputs are stepped at their own times, each raised to the clock by the engine alone.
   */
  clock?(state: S): number;
  /** The tick input. */
  tick: I;
  /** The engine input that reports a send finished (undefined: this node expects no completions). */
  completion?: (sendId: number, error?: string) => I;
  /** The engine input that hands over the VM's fencing decision. */
  fence: (owner: FenceOwner) => I;
  /**
   * The engine input that stops a node the control document says was stopped (a failover flag with no fence
   * owner: `colo run`'s end, `colo vm remove`), or undefined when this node needs none or is stopped already.
   */
  stop?: (state: S) => I | undefined;
  /**
   * The engine input that tells a node its VM is not stopped (any more): `at` is when an operator started
   * it again (the control document's `resumedAt`, ms, or null). Undefined when it would change nothing in
   * `state`: the primary lifts a stop it took; the secondary's watchdog counts from `at`.
   */
  resume?: (state: S, at: number | null) => I | undefined;
  /** Next inbound sequence number the state expects (lower ones are duplicates). */
  inSeq(state: S): number;
  /**
   * Messages outside the sequence (the secondary's heartbeats): never duplicates by their number, and a
   * step of one that only moved `at` (its effects: a wake) is saved coarsely — only once `at` ran `slackMs`
   * past the value loaded, so the stored value stays within the slack below the true one.
   */
  outOfSequence?: {
    /** True for a message type outside the sequence. */
    type(type: string): boolean;
    /** The time such a message moves, ms. */
    at(state: S): number;
    /** How far it may run past the stored value unsaved, ms. */
    slackMs(params: ColoParams): number;
    /**
     * True for a refusal that only says the message carries nothing new (a duplicate or replayed
     * heartbeat, one overtaken by later messages): acknowledged as a duplicate, never dead-lettered.
     */
    stale(error: ColoError): boolean;
  };
  /**
   * True while the node is doing local work that ends at its next wake (the secondary's commit): the
   * invocation waits for that wake instead of leaving it to a timer. Never true for a mere deadline or
   * watchdog, which another invocation's input may make moot.
   */
  busy(state: S): boolean;
  /**
   * True when a tick at `now` (ms) on `state` can only be a quiet one if its effects are
   * ({@link InvocationOptions.skipQuietSave}): no timer of the node falls due whose firing changes the
   * state without an effect that says so (the primary's checkpoint timer, a held request, a deadline).
   * Absent: no tick of this node is ever left unsaved.
   */
  quietTick?: (state: S, now: number) => boolean;
}

const DEFAULTS = { maxCasAttempts: 10, maxDrainRounds: 32, maxLogBacklog: 1024 };

/**
 * A perform running this long reads the VM's control document before each next put or send, ms: a quick
 * one (the usual case on AWS) costs no read; a long one stops when the fence is decided meanwhile.
 */
export const FENCE_CHECK_AFTER_MS = 2_000;

/** Default drain rounds: one per chunk of a whole-guest checkpoint, plus slack; at least 32. */
export function defaultDrainRounds(params: ColoParams): number {
  return Math.max(DEFAULTS.maxDrainRounds, Math.ceil(pageCount(params) / maxDeltaPages(params)) + 8);
}

/** A send effect without its payload (the invocation's effect list must not keep every object alive). */
function withoutPayload(e: Effect): Effect {
  if (e.type !== 'send' || !e.payload) return e;
  const { payload: _, ...rest } = e;
  return rest;
}

function afterRejection(index: number): { code: string; detail: string } {
  return { code: 'after-rejection', detail: `not processed: input ${index} was rejected first` };
}

/** An error as bounded text (it is stored in the document, the log and outcomes). */
function describe(e: unknown): string {
  return truncateText(e instanceof Error ? `${e.name}: ${e.message}` : String(e));
}

/**
 * Why one of `effects`' messages could not be sent (the wire schema refuses it), or undefined. Checked
 * before anything of a step is persisted: a document whose outbox holds such a message fails every load.
 */
function unsendable(effects: readonly Effect[]): string | undefined {
  for (const e of effects) {
    if (e.type !== 'send') continue;
    try {
      serializeMessage(e.message);
    } catch (error) {
      const what = `${e.message.type} (epoch ${e.message.epoch}, seq ${e.message.seq})`;
      return `${what} would be unsendable: ${error instanceof Error ? error.message : String(error)}`;
    }
  }
  return undefined;
}

/** Code of a tick acknowledged unstepped because nothing was due yet ({@link PreparedInput.untilWake}). */
export const NOT_DUE = 'not-due';

/** Code of a tick acknowledged unstepped because another writer is performing sends in the document. */
export const LEFT_TO_CONCURRENT = 'left-to-concurrent';

/** True for the effects of a refused input, which change nothing (the refusal and its trace). */
function isRefusal(e: Effect): boolean {
  return e.type === 'rejected' || (e.type === 'trace' && e.name === 'colo_reject');
}

/** Thrown inside an attempt to start it again from the stored document (an input was refused late). */
class RestartAttempt extends Error {}

/**
 * Runs one invocation of `spec`'s node: see the module comment.
 *
 * @throws CasExhaustedError when compare-and-swap keeps losing; any port error while performing an outbox
 *   (the outbox stays persisted and the next invocation performs it first); StateDocumentError for a corrupt
 *   document.
 */
export async function runInvocation<S, I>(
  spec: NodeSpec<S, I>,
  ports: CloudPorts,
  params: ColoParams,
  now: TimeSource,
  inputs: readonly PreparedInput<I, S>[],
  options: InvocationOptions = {},
): Promise<InvocationResult<S>> {
  const sleep = options.sleep ?? systemSleep;
  const maxCas = options.maxCasAttempts ?? DEFAULTS.maxCasAttempts;
  const maxDrain = options.maxDrainRounds ?? defaultDrainRounds(params);
  const retry = {
    sleep,
    sendAttempts: options.sendAttempts ?? DEFAULT_RETRY.sendAttempts,
    putAttempts: options.putAttempts ?? DEFAULT_RETRY.putAttempts,
    backoffMs: options.retryBackoffMs ?? DEFAULT_RETRY.backoffMs,
  };
  const maxLogBacklog = Math.max(1, options.maxLogBacklog ?? DEFAULTS.maxLogBacklog);
  const settleMs = options.settleMs ?? 1000;
  const log = options.log ?? DEFAULT_LOG_LAYOUT;
  const logBatch = options.logBatch ?? { records: 1, maxAgeMs: 0 };
  const deferHeartbeatSave = options.deferHeartbeatSave ?? false;
  const heartbeatMessages = options.heartbeatMessages ?? true;
  const nodeStore = new NodeStateStore<S & object>(
    ports.state,
    { node: spec.node, fields: spec.paged, check: (t, p, w) => spec.check(t, p, w) as S & object },
    params,
    pageCount(params),
    {
      ...(options.stateLayout ? { layout: options.stateLayout } : {}),
      ...(options.chunkCache ? { cache: options.chunkCache } : {}),
    },
  );
  const key = nodeStore.key;
  // The time each input was first stepped at: a compare-and-swap retry steps it again at the same time
  // (its payload is fetched again rather than kept: at most one fetched payload is held at a time).
  const steppedAt = new Map<number, number>();
  // The log could not be appended in this invocation: do not try again before the next one.
  let logDown = false;

  const result: InvocationResult<S> = {
    outcomes: [],
    effects: [],
    sent: [],
    records: [],
    document: undefined as unknown as NodeDocument<S>,
    casConflicts: 0,
    replayed: 0,
    rebuilt: 0,
    retired: 0,
    droppedAfterExit: 0,
    logDropped: 0,
    logDeferred: false,
    peakPayloadBytes: 0,
    deferredSaves: 0,
    coarseSkips: 0,
  };
  let pending: readonly PreparedInput<I, S>[] | null = inputs;
  // Inputs whose step would have produced an unsendable message: refused on the next attempt, unstepped.
  const refused = new Map<number, ColoError>();

  // The caller's control read serves the first attempt only.
  let givenControl = options.control;
  const chainTick = options.chainTick;
  // The chain tick's claim is committed and its successor queued: later attempts do not judge it again.
  let announced = false;
  // A later attempt found another writer's save: when only performing an outbox is left, it may yield.
  let conflicted = false;
  const announce = async (): Promise<void> => {
    if (announced || !chainTick) return;
    await chainTick.onClaimed();
    announced = true;
  };
  for (;;) {
    if (result.casConflicts >= maxCas) throw new CasExhaustedError(key, maxCas);
    const given = givenControl;
    givenControl = undefined;
    const stored =
      (await nodeStore.load(
        spec.decode as (b: Uint8Array, p: ColoParams, w: string) => NodeDocument<S & object>,
      )) ?? nodeStore.fresh(newDocument(spec.node, params, spec.create(params, now()) as S & object, now()));
    const doc: NodeDocument<S> = stored.doc;
    // Left to the writer performing the document's sends: when nothing of this invocation's own is left
    // (its inputs committed, or only ticks) and that writer just won a compare-and-swap over this one. (Not
    // on a first attempt: sends found in the document may be a crashed writer's, and waiting for them
    // turned crash recoveries into failovers in the crash matrix.)
    const onlyTicks = pending === null || pending.every((p) => p.tick === true);
    // Or, with `leaveFreshOutboxMs`, when the document holding them was saved that recently: its writer is
    // performing them now (an older outbox may be a crashed writer's, and is performed).
    const fresh =
      (options.leaveFreshOutboxMs ?? 0) > 0 && now() - doc.updatedAt < (options.leaveFreshOutboxMs ?? 0);
    if ((conflicted || fresh) && onlyTicks && (announced || !chainTick) && busyOutbox(doc)) {
      result.leftToConcurrent = true;
      result.document = doc;
      if (pending !== null) {
        result.outcomes = pending.map((p) => ({
          index: p.index,
          status: 'duplicate',
          code: LEFT_TO_CONCURRENT,
          detail: 'another invocation is performing sends in the document; its steps run what is due',
        }));
      }
      return result;
    }
    const hot = new HotPayloads();
    let fx: Effect[] = [];
    let recs: LogRecord[] = [];
    let claim: ClaimEffect | null = null;
    // Whether this attempt changed anything worth saving. A refused input changes nothing (the engine
    // validates before it touches the state), so an invocation of refused and duplicate inputs saves
    // nothing and appends nothing: a flood of refused messages costs no write (docs/reliability.md).
    let dirty = false;
    // Whether this attempt did anything a quiet tick does not (InvocationOptions.skipQuietSave): any
    // input but a tick, a fence or stop, a replayed outbox, a claim, an effect other than a quiet one.
    let loud = options.skipQuietSave !== true || params.policy === 'adaptive';
    // What an unsaved out-of-sequence message (a heartbeat) may move: saved once it ran the slack ahead.
    const loadedAt = spec.outOfSequence?.at(doc.state) ?? 0;
    let movedUnsaved = false;
    // How far this attempt's inputs are moved later, ms: set at the first input stepped (see below).
    let shift: number | undefined;
    if (chainTick && !announced) {
      const verdict = judgeChainTick(doc.chains, chainTick);
      if (verdict === 'dropped' || (verdict === 'claim' && busyOutbox(doc))) {
        // Busy: another invocation's sends (a checkpoint's, a round's) are left in the document, and may
        // take seconds to perform: a claim saved after them would leave the chain looking dead meanwhile,
        // and one saved before them would make their performer's save lose its compare-and-swap and
        // perform them all again. The caller claims in the timer document instead.
        result.chainVerdict = verdict === 'dropped' ? 'dropped' : 'busy';
        result.document = doc;
        return result;
      }
      if (verdict === 'redelivered') {
        // Its step was saved with the claim: only the successor and the outbox are left.
        result.chainVerdict = 'redelivered';
        pending = null;
        await announce();
      } else {
        result.chainVerdict = 'claimed';
        doc.chains = {
          ...doc.chains,
          [chainTick.chain]: {
            generation: chainTick.generation,
            seq: chainTick.seq,
            claimedBy: chainTick.messageId,
            at: now(),
          },
        };
        dirty = true;
      }
    }

    /** Takes a step's effects into the document: outbox sends, wake, exit, numbered log records. */
    const absorb = (effects: Effect[], at: number): void => {
      const bad = unsendable(effects);
      if (bad !== undefined) throw new UnsendableMessageError(`${spec.node} ${params.vmId}: ${bad}`);
      if (effects.some((e) => !isRefusal(e))) dirty = true;
      // A pending check found busy outside `running` (a transaction in progress: the VM is stopped and
      // its guest does not run) changes only deadlines the next step derives again.
      const running = (doc.state as { phase?: unknown }).phase === 'running';
      if (!effects.every((e) => isQuiet(e, heartbeatMessages, running))) loud = true;
      for (const e of effects) {
        if (e.type === 'send') {
          // Not on the channel: this step's save is the heartbeat (InvocationOptions.heartbeatMessages).
          if (!heartbeatMessages && e.message.type === 'heartbeat') continue;
          doc.outbox.sends.push(outboxSendOf(e, hot));
        } else if (e.type === 'claim') claim = e;
        else if (e.type === 'wake') doc.wakeAt = e.at;
        else if (e.type === 'colo-exit') {
          doc.exit = { reason: e.reason, detail: e.detail, at };
          doc.wakeAt = Number.POSITIVE_INFINITY;
        }
      }
      addRecords(recordsOf(effects, spec.node, at));
      for (const e of effects) fx.push(withoutPayload(e));
    };
    const addRecords = (list: UnnumberedRecord[]): void => {
      for (const r of list) {
        const numbered = { ...r, n: doc.logNext++ } as LogRecord;
        doc.outbox.records.push(numbered);
        recs.push(numbered);
      }
    };
    const save = async (): Promise<void> => {
      // Writes nothing when nothing changed (lean-document.ts compares with what is stored).
      await nodeStore.save(stored, now());
      result.document = doc;
      result.effects.push(...fx);
      result.records.push(...recs);
      fx = [];
      recs = [];
    };
    /** True while the outbox holds something this invocation should still perform. */
    const pendingHere = (): boolean =>
      doc.outbox.sends.length > 0 || (!logDown && logDue(doc.outbox.records, logBatch, now()));
    /**
     * Performs the outbox in the document — the sends in order, then the log — and feeds the completions;
     * the caller saves. Sends that fail every retry throw (the outbox stays persisted); a log that fails
     * keeps its records in the document and holds nothing back.
     */
    /** Records a failed perform in the stored document (best effort), unless another writer saved first. */
    const failedPerform = async (e: unknown): Promise<void> => {
      if (e instanceof StateConflictError) return;
      doc.outbox.attempts++;
      doc.outbox.lastError = describe(e);
      try {
        await nodeStore.save(stored, now());
      } catch {
        // Best effort: the count is advisory; the next invocation performs the outbox either way.
      }
    };
    const drain = async (replay: boolean): Promise<void> => {
      if (doc.exit !== null && doc.outbox.sends.length > 0) {
        // Replication has ended for this node (an exit is only ever the fence's answer): the peer refuses
        // every message from now on. A timer that found a slow writer's checkpoint in the document of a
        // node fenced since (an outside review: 60 MB uploaded again 3 s after the fence) sends nothing.
        result.droppedAfterExit += doc.outbox.sends.length;
        doc.outbox = { ...doc.outbox, sends: [] };
      }
      const outbox = doc.outbox;
      const retire = async (index: number, skip: Skip): Promise<void> => {
        // Decide once, persist, then perform: a replay sends this skip, never the delta.
        const s = outbox.sends[index] as OutboxSend;
        outbox.sends[index] = { sendId: s.sendId, message: skip, payload: null };
        const kind = s.message.type === 'delta' ? s.message.kind : s.message.type;
        addRecords([
          {
            at: now(),
            node: spec.node,
            type: 'send-retired',
            data: { epoch: skip.epoch, seq: skip.seq, kind, sendId: s.sendId, reason: skip.reason },
          },
        ]);
        await save();
        result.retired++;
      };
      // A perform that runs long (a checkpoint's upload on a slow store) reads the fence before each next put
      // or send: once it is decided replication has ended, and the rest would be uploaded and sent for
      // nothing (review G: an invocation that began before the fence finished a 60 MB upload and sent the
      // checkpoint's messages 5–7 s after it, and restarted its upload tries 9 s after).
      const performFrom = now();
      const stillWanted = async (unsent: number): Promise<void> => {
        if (now() - performFrom < FENCE_CHECK_AFTER_MS) return;
        const control = await readControl(ports.state, params.vmId).catch(() => undefined);
        if (control?.owner) throw new FenceDecidedError(control.owner, unsent);
      };
      let ended = false;
      try {
        const report = await performOutbox(
          ports,
          params,
          outbox,
          hot,
          retry,
          retire,
          { senderCreatedAt: doc.createdAt },
          stillWanted,
        );
        result.rebuilt += report.rebuilt;
      } catch (e) {
        if (!(e instanceof FenceDecidedError)) {
          await failedPerform(e);
          throw e;
        }
        ended = true;
        result.droppedAfterExit += e.unsent;
        // In order: the messages before the unsent ones left (review H: the line said `sent 0` after one had).
        result.sent.push(...outbox.sends.slice(0, outbox.sends.length - e.unsent).map((s) => s.message));
        const t = now();
        absorb(spec.step(doc.state, params, t, spec.fence(e.owner)), t);
      }
      if (ended) {
        // The node learnt the fence (its exit is saved with the emptied outbox); no completion follows.
        doc.outbox = { ...doc.outbox, sends: [] };
        return;
      }
      result.sent.push(...outbox.sends.map((s) => s.message));
      if (replay) result.replayed += outbox.sends.length;
      // The sends are done; the log may fail without holding them back.
      let records = outbox.records;
      // A log not tried again in this invocation keeps the error of the try that failed.
      let lastError: string | null = records.length > 0 ? outbox.lastError : null;
      if (!logDown && !logDue(records, logBatch, now())) {
        lastError = null; // routine records wait for their batch (saved with the document)
      } else if (!logDown) {
        lastError = null;
        try {
          await performLog(ports, params, spec.node, records, log);
          records = [];
        } catch (e) {
          logDown = true;
          result.logDeferred = true;
          lastError = `log append failed: ${describe(e)}`;
        }
      }
      doc.outbox = { sends: [], records, attempts: 0, lastError };
      complete(outbox.sends);
      if (logDown) trimLog(lastError);
    };
    /** Bounds the records waiting for a log that cannot be appended: the oldest go, counted. */
    const trimLog = (lastError: string | null): void => {
      let records = doc.outbox.records;
      if (records.length <= maxLogBacklog) return;
      // Bounded: keep the newest, and say how many were dropped (the count itself is a record).
      // An earlier log-dropped record among them passes its count on, so nothing goes uncounted.
      const dropped = records.slice(0, records.length - maxLogBacklog + 1);
      records = records.slice(dropped.length);
      let count = 0;
      let first = Number.POSITIVE_INFINITY;
      for (const r of dropped) {
        count += 1 + (r.type === 'log-dropped' ? r.data.dropped : 0);
        first = Math.min(first, r.type === 'log-dropped' ? r.data.first : r.n);
      }
      result.logDropped += dropped.filter((r) => r.type !== 'log-dropped').length;
      doc.outbox.records = records;
      addRecords([
        {
          at: now(),
          node: spec.node,
          type: 'log-dropped',
          data: {
            dropped: count,
            first,
            last: (dropped[dropped.length - 1] as LogRecord).n,
            error: lastError ?? '',
          },
        },
      ]);
    };
    const complete = (sends: OutboxSend[]): void => {
      if (!spec.completion) return;
      for (const s of sends) {
        if (s.sendId <= 0) continue;
        const error = s.message.type === 'skip' ? `object not stored: ${s.message.reason}` : undefined;
        const t = now();
        absorb(spec.step(doc.state, params, t, spec.completion(s.sendId, error)), t);
      }
    };
    /** Performs a claim the saved state made: the fence's compare-and-swap, then its answer, saved. */
    const resolveClaims = async (): Promise<void> => {
      for (let i = 0; i < 4 && claim !== null; i++) {
        const c: ClaimEffect = claim;
        claim = null;
        const owner = await claimFence(ports.state, params.vmId, c.role, c.reason, now());
        const t = now();
        absorb(spec.step(doc.state, params, t, spec.fence(owner)), t);
        await save();
      }
    };
    const settle = async (): Promise<void> => {
      for (let i = 0; i < 16 && settleMs > 0 && doc.exit === null && spec.busy(doc.state); i++) {
        const t = now();
        if (!(doc.wakeAt <= t + settleMs)) return;
        if (doc.wakeAt > t) await sleep(doc.wakeAt - t);
        const at = now();
        absorb(spec.step(doc.state, params, at, spec.tick), at);
        dirty = true;
      }
    };

    try {
      // 0. A fence decided elsewhere (the other side won, or this side's claim was answered before a crash)
      //    reaches the engine before anything else: a fenced node must not act on any input.
      if (doc.exit === null) {
        const control = given ?? (await readControl(ports.state, params.vmId));
        if (control.owner !== null) {
          const t = now();
          absorb(spec.step(doc.state, params, t, spec.fence(control.owner)), t);
          dirty = true;
          loud = true;
        } else if (control.failedOver && options.ignoreStop !== true) {
          // Stopped: what is in flight finishes, nothing new starts (checkpoints chained by their messages
          // would otherwise carry a VM whose checkpoints overrun their delay on forever, with no timer).
          const stop = spec.stop?.(doc.state);
          if (stop !== undefined) {
            const t = now();
            absorb(spec.step(doc.state, params, t, stop), t);
            dirty = true;
            loud = true;
          }
        } else if (!control.failedOver) {
          // Not stopped (any more): a stop the node took is lifted, and the watchdog does not count an
          // operator's pause as the primary's silence (once: saved with this invocation).
          const resumed = spec.resume?.(doc.state, control.resumedAt);
          if (resumed !== undefined) {
            const t = now();
            absorb(spec.step(doc.state, params, t, resumed), t);
          }
        }
      }
      // A. An outbox an earlier invocation persisted but may not have performed comes first.
      if (pendingHere()) {
        dirty = true;
        loud = true;
        await drain(true);
      }
      // B. The inputs, once: after the save that commits them they are never stepped again.
      const outcomes: InputOutcome[] = [];
      if (pending) {
        let failed: { code: string; detail: string } | undefined;
        for (const p of pending) {
          if (failed) {
            outcomes.push({ index: p.index, status: 'failed', ...failed });
            continue;
          }
          const invalid = p.invalid ?? refused.get(p.index);
          if (invalid) {
            const t = now();
            absorb([{ type: 'rejected', error: invalid }], t);
            outcomes.push({
              index: p.index,
              status: 'rejected',
              code: invalid.code,
              detail: truncateText(invalid.message),
            });
            if (options.stopAtRejection) failed = afterRejection(p.index);
            continue;
          }
          if (p.untilWake?.(doc.state) && doc.exit === null && doc.wakeAt > now()) {
            outcomes.push({
              index: p.index,
              status: 'duplicate',
              code: NOT_DUE,
              detail: `tick before the next wake (in ${Math.ceil(doc.wakeAt - now())} ms): nothing due`,
            });
            continue;
          }
          const env = p.envelope;
          const outside =
            p.outOfSequence === true || (env !== undefined && spec.outOfSequence?.type(env.type) === true);
          if (env && !outside && env.vmId === params.vmId && env.seq < spec.inSeq(doc.state)) {
            outcomes.push({
              index: p.index,
              status: 'duplicate',
              detail: `${env.type} seq ${env.seq} already consumed (next is ${spec.inSeq(doc.state)})`,
            });
            continue;
          }
          let input: I;
          try {
            input = await p.resolve(doc.state);
          } catch (e) {
            failed = { code: e instanceof Error ? e.name : 'Error', detail: describe(e) };
            outcomes.push({ index: p.index, status: 'failed', ...failed });
            continue;
          }
          const at =
            steppedAt.get(p.index) ??
            Math.min(now(), (p.arrivedAt ?? Number.POSITIVE_INFINITY) + (p.readMs?.() ?? 0));
          steppedAt.set(p.index, at);
          // A state whose clock is past this delivery's first input (another invocation stepped it since
          // the delivery arrived — a monitor tick while this one read a payload, then a compare-and-swap
          // retry) moves the whole delivery later by the same amount, never past now: the engine would raise
          // each input to its clock alone, an announcement to the clock and the data after it by only what
          // is left of their gap, and a round whose data came after its apply timeout would be applied.
          shift ??= Math.max(0, (spec.clock?.(doc.state) ?? at) - at);
          const t = shift > 0 ? Math.min(now(), at + shift) : at;
          if ((input as { type?: unknown }).type !== 'tick' || !spec.quietTick?.(doc.state, t)) loud = true;
          const effects = spec.step(doc.state, params, t, input);
          const bad = unsendable(effects);
          if (bad !== undefined) {
            // The step changed the state in place: start again from the stored document with this input
            // refused, so nothing of its step is ever persisted.
            refused.set(p.index, new ColoError('unsendable', `refused: its step made ${bad}`));
            throw new RestartAttempt();
          }
          const rejected = effects.find((e) => e.type === 'rejected');
          const stale =
            rejected !== undefined &&
            env !== undefined &&
            env.vmId === params.vmId &&
            (env.seq < spec.inSeq(doc.state) ||
              (outside && spec.outOfSequence?.stale(rejected.error) === true));
          if (rejected && stale) {
            // A deadline that fell due first retired this message's slot (e.g. an abandoned round): it
            // is stale, not hostile — acknowledge it like a duplicate instead of dead-lettering it, and
            // keep what the deadline did without recording a refusal.
            absorb(
              effects.filter((e) => !isRefusal(e)),
              t,
            );
            outcomes.push({
              index: p.index,
              status: 'duplicate',
              detail: truncateText(rejected.error.message),
            });
            continue;
          }
          if (outside && !rejected && effects.every((e) => e.type === 'wake')) {
            // Only the out-of-sequence time (and the wake that follows it) moved: saved coarsely, below.
            for (const e of effects) if (e.type === 'wake') doc.wakeAt = e.at;
            fx.push(...effects);
            movedUnsaved = true;
            outcomes.push({ index: p.index, status: 'applied' });
            continue;
          }
          absorb(effects, t);
          if (!rejected) dirty = true;
          outcomes.push(
            rejected
              ? {
                  index: p.index,
                  status: 'rejected',
                  code: rejected.error.code,
                  detail: truncateText(rejected.error.message),
                }
              : { index: p.index, status: 'applied' },
          );
          if (rejected && options.stopAtRejection) failed = afterRejection(p.index);
        }
      }
      await settle();
      const coarse = spec.outOfSequence;
      const movedAt = coarse ? coarse.at(doc.state) - loadedAt : 0;
      if (movedUnsaved && coarse && movedAt > 0 && movedAt >= coarse.slackMs(params)) dirty = true;
      if (dirty && !loud && claim === null && doc.exit === null && chainTick === undefined) {
        // A quiet tick: nothing the stored document cannot give again (InvocationOptions.skipQuietSave).
        result.quietSkips = (result.quietSkips ?? 0) + 1;
        result.document = doc;
        result.effects.push(...fx);
        fx = [];
      } else if (dirty) await save();
      else {
        if (movedUnsaved) result.coarseSkips++;
        result.document = doc;
      }
      // The claim is committed with the step: queue the successor before performing anything long.
      await announce();
      if (pending) {
        const about = new Map(pending.map((p) => [p.index, p.envelope]));
        result.outcomes = outcomes.map((o) => {
          const env = about.get(o.index);
          return env ? { ...o, message: { type: truncateText(env.type, 64), seq: env.seq } } : o;
        });
        pending = null;
      }
      await resolveClaims();
      // C. Perform what this invocation decided, feed completions, persist; repeat while there is more.
      for (let round = 0; round < maxDrain && pendingHere(); round++) {
        const heartbeatsOnly =
          deferHeartbeatSave &&
          doc.outbox.sends.length > 0 &&
          doc.outbox.sends.every((s) => s.message.type === 'heartbeat' && s.payload === null) &&
          !logDue(doc.outbox.records, logBatch, now());
        const logged = doc.logNext;
        await drain(false);
        await settle();
        if (
          heartbeatsOnly &&
          !pendingHere() &&
          claim === null &&
          doc.exit === null &&
          doc.logNext === logged
        ) {
          // Nothing but the heartbeats' completions changed: the stored document (outbox included) stays
          // as it is, and the next invocation sends them again first (InvocationOptions.deferHeartbeatSave).
          result.document = doc;
          result.effects.push(...fx);
          result.deferredSaves++;
          fx = [];
          break;
        }
        await save();
        await resolveClaims();
      }
      return result;
    } catch (e) {
      if (e instanceof RestartAttempt) continue;
      if (!(e instanceof StateConflictError)) throw e;
      result.casConflicts++;
      conflicted = true;
    } finally {
      result.peakPayloadBytes = Math.max(result.peakPayloadBytes, hot.peak);
    }
  }
}

/**
 * True for an effect a quiet tick may have ({@link InvocationOptions.skipQuietSave}): a trace, the wake, a
 * pending check that decided nothing (or found a transaction in progress: `running` false), a heartbeat
 * that stays off the channel.
 */
function isQuiet(e: Effect, heartbeatMessages: boolean, running: boolean): boolean {
  if (e.type === 'trace' || e.type === 'wake') return true;
  if (e.type === 'pending-check')
    return e.record.decision === 'none' || (e.record.decision === 'busy' && !running);
  return e.type === 'send' && !heartbeatMessages && e.message.type === 'heartbeat';
}

/** True when `doc`'s outbox holds a send other than a heartbeat without payload (one that may take long). */
function busyOutbox(doc: NodeDocument<unknown>): boolean {
  return doc.outbox.sends.some((s) => s.message.type !== 'heartbeat' || s.payload !== null);
}

/** A `ColoError` for a body that is not a message at all. */
export function invalidBody(detail: string): ColoError {
  return new ColoError('invalid-message', detail);
}
