/**
 * The tick-chain protocol of docs/cloud.md ("The tick chain", "The watchdog"): a consumer claims each tick
 * at most once by compare-and-swap on the timer's document and enqueues the next tick before doing the
 * work (the heartbeat chain at its longest gap, with an early copy after the work at the secondary's wake:
 * {@link followWake}); the minute watchdog starts a chain, or a new generation of a lost one; a chain's
 * ticks replace a sibling chain of the same VM that went quiet within seconds (the sub-minute repair).
 *
 * Timer document, `<vmId>/timers/<timer>.json`: `{ generation, seq, dueAt, lastTickAt, claimedBy }` — the
 * chain generation, the last claimed tick, when the next tick is due (ms since the Unix epoch), when a tick
 * was last claimed (ms), and the SQS message id that claimed it. The primary's two chains
 * ({@link CLAIMED_IN_NODE}) claim their ticks in the primary's node document instead, in the save their
 * tick makes anyway (src/runtime/cloud/chain-claim.ts); their timer document then changes only when the
 * chain is armed (or a tick's work could not claim: {@link claimInTimerDocument}), and their liveness is the
 * later of the two documents' claims.
 */
import { z } from 'zod';
import { StateConflictError, type StateStore } from '../../../src/engine/ports.ts';
import { type ChainClaim, readChainClaim, readChainClaims } from '../../../src/runtime/cloud/chain-claim.ts';
import type { NodeRole } from '../../../src/runtime/cloud/keys.ts';
import {
  type ChainName,
  nextDueAt,
  STACK_CHAIN_ID,
  TIMER_NAMES,
  type TickMessage,
  type TimerName,
  timerStateKey,
} from '../../adapters/contract.ts';
import { parseTick } from '../../adapters/sqs-tick-queue.ts';

export { chainPeriodMs, MONITOR_MAX_GAP_MS } from '../../../src/parameters/tick-chains.ts';

import { type ControlDocument, readControl } from './control.ts';

/** Sends a tick, delayed until its `dueAt` (`SqsTickQueue` is one). Returns the delay applied, s. */
export interface TickScheduler {
  /** Enqueues `tick`; `now` in ms since the Unix epoch; delayed at least `minDelaySeconds` (default 0), s. */
  schedule(tick: TickMessage, now: number, minDelaySeconds?: number): Promise<number>;
}

/** True for a VM's timer (not a stack chain's). */
function isVmChain(timer: ChainName): timer is TimerName {
  return (TIMER_NAMES as readonly string[]).includes(timer);
}

/** A timer's chain document. */
export interface TimerDocument {
  /** Chain generation. */
  generation: number;
  /** Last claimed tick (0: none yet in this generation). */
  seq: number;
  /** When the next tick is due, ms since the Unix epoch. */
  dueAt: number;
  /** When a tick was last claimed (or the chain started), ms since the Unix epoch. */
  lastTickAt: number;
  /** SQS message id of the claiming delivery, or null. */
  claimedBy: string | null;
}

const timerSchema = z.strictObject({
  generation: z.int().min(0),
  seq: z.int().min(0),
  dueAt: z.number(),
  lastTickAt: z.number(),
  claimedBy: z.string().nullable(),
});

/**
 * The chains whose ticks are claimed in a node document (the node whose tick saves it anyway): the
 * primary's. The heartbeat chain's tick usually saves nothing (a quiet secondary), so it keeps its claim.
 */
export const CLAIMED_IN_NODE: Readonly<Partial<Record<TimerName, NodeRole>>> = {
  'pending-check': 'primary',
  checkpoint: 'primary',
};

/** Ticks delivered more than this early are put back on the queue, ms (SQS delays have 1 s granularity). */
export const EARLY_TOLERANCE_MS = 1000;

/**
 * How long a first tick that arrived before its generation was written is put back for the write, ms
 * (either side of its `dueAt`, the arm's time): {@link armChain} sends it just before it writes. A tick of
 * an arm that lost its race, or died before its write, is dropped after this; one due further ahead was
 * sent by no arm, and is dropped at once (else it would be put back for ever).
 */
export const FIRST_TICK_WAIT_MS = 10_000;

/** Slack of the watchdog's staleness test, ms: a chain is lost after 2 × period + this without a tick. */
export const STALE_SLACK_MS = 10_000;

async function loadTimer(
  store: StateStore,
  key: string,
): Promise<{ doc: TimerDocument; etag: string } | undefined> {
  const d = await store.load(key);
  if (!d) return undefined;
  try {
    return { doc: timerSchema.parse(JSON.parse(Buffer.from(d.value).toString('utf8'))), etag: d.etag };
  } catch (e) {
    throw new Error(`timer document ${key} is malformed: ${e instanceof Error ? e.message : e}`);
  }
}

function encodeTimer(doc: TimerDocument): Uint8Array {
  return Buffer.from(JSON.stringify(doc), 'utf8');
}

/** Where a chain stands: its generation, last claimed tick and when it was claimed (ms since the epoch). */
export interface ChainProgress {
  /** Chain generation. */
  generation: number;
  /** Last claimed tick (0: none yet in this generation). */
  seq: number;
  /** When a tick was last claimed (or the chain armed), ms since the Unix epoch. */
  lastTickAt: number;
}

/**
 * Reads where a chain stands from its timer document and, for a chain claimed in a node document
 * ({@link CLAIMED_IN_NODE}), that document's claim of the same generation (the later of the two), or
 * undefined when the chain was never armed. For tools and tests; the consumers judge ticks themselves.
 */
export async function readChainProgress(
  store: StateStore,
  vmId: string,
  timer: ChainName,
): Promise<ChainProgress | undefined> {
  const loaded = await loadTimer(store, timerStateKey(vmId, timer));
  if (!loaded) return undefined;
  const { generation, seq, lastTickAt } = loaded.doc;
  const node = isVmChain(timer) ? CLAIMED_IN_NODE[timer] : undefined;
  const c = node === undefined ? undefined : await readChainClaim(store, vmId, node, timer as TimerName);
  if (!c || c.generation !== generation || c.seq < seq) return { generation, seq, lastTickAt };
  return { generation, seq: c.seq, lastTickAt: Math.max(c.at, lastTickAt) };
}

/**
 * Claims `tick` in its timer document by compare-and-swap on `etag` (`next.dueAt` becomes the document's
 * `dueAt`; `now` in ms since the Unix epoch). Returns false when another claim got there first.
 */
async function saveClaim(
  store: StateStore,
  key: string,
  etag: string,
  tick: TickMessage,
  next: TickMessage,
  messageId: string,
  now: number,
): Promise<boolean> {
  const claimed: TimerDocument = {
    generation: tick.generation,
    seq: tick.seq,
    dueAt: next.dueAt,
    lastTickAt: now,
    claimedBy: messageId,
  };
  try {
    await store.save(key, encodeTimer(claimed), etag);
    return true;
  } catch (e) {
    if (e instanceof StateConflictError) return false;
    throw e;
  }
}

/** What a consumer needs for one timer. */
export interface TickChainDeps {
  /** State store holding the timer and control documents. */
  state: StateStore;
  /** The timer's own tick queue. */
  ticks: TickScheduler;
  /** VM id. */
  vmId: string;
  /** Which timer (a stack chain's with `vmId` {@link STACK_CHAIN_ID}: it has no control document). */
  timer: ChainName;
  /** Tick period, ms. */
  periodMs: number;
  /**
   * The work claims each tick in this node's document ({@link CLAIMED_IN_NODE}): {@link handleTick} only
   * checks the tick against the timer document and returns it as a `candidate`. Default: claimed here.
   */
  claimInNode?: NodeRole;
}

/**
 * What became of one tick: `claimed` (first delivery) or `redelivered` (a retry of the claiming delivery):
 * do the work; `dropped` (duplicate, older generation, lost a race); `stopped` (failed over: chain ends);
 * `early` (put back on the queue until it is due, or until its generation is written); `candidate` (a chain claimed in the node document: the
 * work claims it, and queues `next` once its save committed).
 */
export type TickVerdict = 'claimed' | 'redelivered' | 'dropped' | 'stopped' | 'early' | 'candidate';

/**
 * Handles one tick record (steps 1–4 of docs/cloud.md; the caller does step 5, the work, when the verdict
 * is `claimed` or `redelivered`).
 *
 * The control document it read comes back with a claim (`control`): the work may use it instead of reading
 * it again (InvocationOptions.control).
 *
 * @param now - Current time, ms since the Unix epoch.
 * @throws Error for a malformed tick or a failed enqueue (report the record as failed: SQS redelivers it and
 *   the redelivery is recognised).
 */
export async function handleTick(
  deps: TickChainDeps,
  body: string,
  messageId: string,
  now: number,
): Promise<{
  verdict: TickVerdict;
  tick: TickMessage;
  next?: TickMessage;
  control?: ControlDocument;
  /** For a `candidate`: the timer document's last sequence number in this generation. */
  baseSeq?: number;
}> {
  const tick = parseTick(body);
  if (tick.vmId !== deps.vmId || tick.timer !== deps.timer) {
    throw new Error(`tick for ${tick.vmId}/${tick.timer} reached the ${deps.vmId}/${deps.timer} consumer`);
  }
  // A stack chain serves every VM: no VM's failover ends it, and it has no control document to read.
  const control = deps.vmId === STACK_CHAIN_ID ? undefined : await readControl(deps.state, deps.vmId);
  if (control?.failedOver) return { verdict: 'stopped', tick, control };
  const key = timerStateKey(deps.vmId, deps.timer);
  const loaded = await loadTimer(deps.state, key);
  if (!loaded || tick.generation > loaded.doc.generation) {
    // A generation not on record yet: its arm sent this first tick just before writing it. Wait a second.
    if (tick.seq !== 1 || Math.abs(now - tick.dueAt) > FIRST_TICK_WAIT_MS)
      return { verdict: 'dropped', tick };
    await deps.ticks.schedule(tick, now, 1);
    return { verdict: 'early', tick };
  }
  if (loaded.doc.generation !== tick.generation) return { verdict: 'dropped', tick };
  const { doc, etag } = loaded;
  const redelivery = doc.seq === tick.seq && doc.claimedBy === messageId;
  // A chain claimed in the node document moves on there: any later tick may be the next one.
  const inNode = deps.claimInNode !== undefined;
  if (!redelivery && (inNode ? tick.seq <= doc.seq : tick.seq !== doc.seq + 1)) {
    return { verdict: 'dropped', tick };
  }
  if (!redelivery && tick.dueAt > now + EARLY_TOLERANCE_MS) {
    await deps.ticks.schedule(tick, now);
    return { verdict: 'early', tick };
  }
  const next: TickMessage = { ...tick, seq: tick.seq + 1, dueAt: nextDueAt(tick.dueAt, deps.periodMs, now) };
  if (inNode && !redelivery) return { verdict: 'candidate', tick, next, control, baseSeq: doc.seq };
  if (!redelivery && !(await saveClaim(deps.state, key, etag, tick, next, messageId, now))) {
    return { verdict: 'dropped', tick };
  }
  await deps.ticks.schedule(next, now);
  return { verdict: redelivery ? 'redelivered' : 'claimed', tick, next, control };
}

/**
 * The claim of a `candidate` tick made in the timer document after all, when the work could not claim it
 * in the node document (its invocation failed before its save committed): the tick is claimed by
 * compare-and-swap as {@link handleTick} claims any other chain's, and its successor queued, so that a
 * failing work never ends the chain. A delivery that claimed the same tick in the node document meanwhile
 * makes two successors of one sequence number; the first to be claimed wins, the other is dropped.
 *
 * @param now - Current time, ms since the Unix epoch.
 * @returns True when claimed and the successor queued; false when the timer document moved on (dropped).
 * @throws Error when the timer document cannot be read or written, or the successor not sent.
 */
export async function claimInTimerDocument(
  deps: TickChainDeps,
  tick: TickMessage,
  next: TickMessage,
  messageId: string,
  now: number,
): Promise<boolean> {
  const key = timerStateKey(deps.vmId, deps.timer);
  const loaded = await loadTimer(deps.state, key);
  if (!loaded || loaded.doc.generation !== tick.generation || tick.seq <= loaded.doc.seq) return false;
  if (!(await saveClaim(deps.state, key, loaded.etag, tick, next, messageId, now))) return false;
  await deps.ticks.schedule(next, now);
  return true;
}

/**
 * The successor of a chain that follows its node's wake, due at the node's next wake, but no later than the
 * chain's longest gap (`next.dueAt`, from {@link chainPeriodMs}) and no sooner than one configured period
 * after the tick (`minPeriodMs`: the cadence of a chain that does not follow the wake). A wake already
 * passed (the work failed, or something stays due) gives that minimum. The consumer sends it as an early
 * copy of `next` (same generation and sequence number) when it falls in an earlier second than `next`.
 *
 * @param tick - The tick just handled.
 * @param next - Its successor at the chain's longest gap ({@link handleTick}'s `next`).
 * @param wakeAt - The node's next wake after the work, ms (NaN or -∞ when unknown).
 * @param minPeriodMs - The configured period, ms.
 * @param now - Current time, ms since the Unix epoch.
 */
export function followWake(
  tick: TickMessage,
  next: TickMessage,
  wakeAt: number,
  minPeriodMs: number,
  now: number,
): TickMessage {
  const soonest = nextDueAt(tick.dueAt, minPeriodMs, now);
  const wake = Number.isNaN(wakeAt) ? Number.NEGATIVE_INFINITY : wakeAt;
  return { ...next, dueAt: Math.max(soonest, Math.min(next.dueAt, wake)) };
}

/**
 * What the watchdog did to one chain: `resent` is a sibling's check of a generation that has claimed no
 * tick yet, past the sibling's bound: its first tick sent again, the generation kept.
 */
export type ArmVerdict = 'armed' | 'healthy' | 'stopped' | 'raced' | 'resent';

/** How {@link armChain} judges a chain. */
export interface ArmOptions {
  /** A chain whose last claimed tick is older than this is replaced, ms; default {@link staleAfterMs}. */
  staleAfterMs?: number;
  /** Start a chain that has no document yet; default true (the watchdog starts chains; a sibling does not). */
  startMissing?: boolean;
  /** The caller already read the control document and the VM has not failed over (saves one read). */
  controlChecked?: boolean;
  /**
   * The claims of the node document the chain claims in ({@link CLAIMED_IN_NODE}), read by the caller for
   * several chains at once; default: read them.
   */
  nodeClaims?: Readonly<Record<string, ChainClaim>>;
}

/** The watchdog's staleness bound of a chain of period `periodMs`: 2 × period + {@link STALE_SLACK_MS}, ms. */
export function staleAfterMs(periodMs: number): number {
  return 2 * periodMs + STALE_SLACK_MS;
}

/**
 * The watchdog for one timer: starts the chain when it has no document, or a new generation when no tick
 * was claimed for {@link staleAfterMs} (or `options.staleAfterMs`); otherwise leaves it alone.
 *
 * @param now - Current time, ms since the Unix epoch.
 */
export async function armChain(
  deps: TickChainDeps,
  now: number,
  options: ArmOptions = {},
): Promise<{ verdict: ArmVerdict; generation?: number }> {
  if (
    !options.controlChecked &&
    deps.vmId !== STACK_CHAIN_ID &&
    (await readControl(deps.state, deps.vmId)).failedOver
  ) {
    return { verdict: 'stopped' };
  }
  const stale = options.staleAfterMs ?? staleAfterMs(deps.periodMs);
  // A chain claimed in a node document is alive while its claim there is fresh (one read, not two).
  const node = isVmChain(deps.timer) ? CLAIMED_IN_NODE[deps.timer] : undefined;
  const inNode =
    node === undefined
      ? undefined
      : options.nodeClaims
        ? options.nodeClaims[deps.timer]
        : await readChainClaim(deps.state, deps.vmId, node, deps.timer);
  if (inNode && now - inNode.at <= stale) return { verdict: 'healthy', generation: inNode.generation };
  const key = timerStateKey(deps.vmId, deps.timer);
  const loaded = await loadTimer(deps.state, key);
  if (loaded && now - loaded.doc.lastTickAt <= stale) {
    return { verdict: 'healthy', generation: loaded.doc.generation };
  }
  if (loaded && now - loaded.doc.lastTickAt <= firstTickBound(loaded.doc, inNode, stale, deps.periodMs)) {
    // Its first tick is late or lost, and nothing here tells which: another copy (the per-seq claim takes
    // one of them) ends a loss at the sibling's bound, where a new generation would void a late tick.
    const { generation, dueAt } = loaded.doc;
    await deps.ticks.schedule({ v: 1, vmId: deps.vmId, timer: deps.timer, generation, seq: 1, dueAt }, now);
    return { verdict: 'resent', generation };
  }
  if (!loaded && options.startMissing === false) return { verdict: 'healthy' };
  const generation = (loaded?.doc.generation ?? 0) + 1;
  // Whole ms: a tick's dueAt must be an integer (a virtual clock's sleeps leave fractions).
  const at = Math.floor(now);
  // The first tick goes out before the document names its generation, so a generation on record always
  // has a tick on the way (firstTickBound relies on it); a failed send leaves the chain stale for the next
  // check. A send whose write then loses the race is a second first tick of the winner's generation, or of
  // one never written: either is dropped by the per-(generation, seq) claim.
  await deps.ticks.schedule({ v: 1, vmId: deps.vmId, timer: deps.timer, generation, seq: 1, dueAt: at }, now);
  const doc: TimerDocument = { generation, seq: 0, dueAt: at, lastTickAt: at, claimedBy: null };
  try {
    await deps.state.save(key, encodeTimer(doc), loaded?.etag);
  } catch (e) {
    if (e instanceof StateConflictError) return { verdict: 'raced' };
    throw e;
  }
  return { verdict: 'armed', generation };
}

/**
 * The staleness bound for a chain's timer document, ms: `stale`, except for a generation none of whose
 * ticks was claimed yet (its first tick is on its way: {@link armChain} sends it before writing the
 * generation), which gets at least the watchdog's {@link staleAfterMs}. A first tick can wait seconds
 * behind a long invocation on its queue; replacing it at the sibling's shorter bound would drop it and
 * send another that waits as long — a storm of repairs in which the chain never ticks. Between the two
 * bounds {@link armChain} sends the first tick again instead.
 */
function firstTickBound(
  doc: TimerDocument,
  nodeClaim: ChainClaim | undefined,
  stale: number,
  periodMs: number,
): number {
  const claimed = doc.seq > 0 || nodeClaim?.generation === doc.generation;
  return claimed ? stale : Math.max(stale, staleAfterMs(periodMs));
}

/** What arming one chain of a VM came to: a verdict (and the generation), or the error it met. */
export type ArmOutcome = { verdict: ArmVerdict; generation?: number } | { verdict: 'error'; error: unknown };

/** A VM's three chains: their queues and periods. */
export interface VmChains {
  /** State store holding the timer and control documents. */
  state: StateStore;
  /** VM id. */
  vmId: string;
  /** The three tick queues. */
  ticks: Readonly<Record<TimerName, TickScheduler>>;
  /** Each timer's period, ms. */
  periodMs: Readonly<Record<TimerName, number>>;
}

/**
 * The minute watchdog's work for one VM (`tick-arm`, one VM or the fleet): reads the control document
 * once (failed over → every chain `stopped`), then {@link armChain} for each of `timers` (default all
 * three; a stack with the pulse and the monitor arms only `VM_TIMER_NAMES`, and the result has only those). One timer's error does
 * not stop the others; a control document that cannot be read is every timer's `error` (nothing armed:
 * the next minute tries again).
 *
 * @param now - Current time, ms since the Unix epoch.
 */
export async function armAllChains(
  vm: VmChains,
  now: number,
  timers: readonly TimerName[] = TIMER_NAMES,
): Promise<Record<TimerName, ArmOutcome>> {
  const out = {} as Record<TimerName, ArmOutcome>;
  let failedOver: boolean;
  try {
    failedOver = (await readControl(vm.state, vm.vmId)).failedOver;
  } catch (error) {
    for (const timer of timers) out[timer] = { verdict: 'error', error };
    return out;
  }
  const claims = failedOver ? undefined : await nodeClaimsOf(vm, timers);
  for (const timer of timers) {
    if (failedOver) {
      out[timer] = { verdict: 'stopped' };
      continue;
    }
    try {
      const nodeClaims = claims?.get(CLAIMED_IN_NODE[timer] as NodeRole);
      out[timer] = await armChain(
        { state: vm.state, ticks: vm.ticks[timer], vmId: vm.vmId, timer, periodMs: vm.periodMs[timer] },
        now,
        { controlChecked: true, ...(nodeClaims ? { nodeClaims } : {}) },
      );
    } catch (error) {
      out[timer] = { verdict: 'error', error };
    }
  }
  return out;
}

/**
 * The claims of each node document that `timers` claim in, one read per node; a node whose read fails is
 * left out (its chains read it themselves, and report the error).
 */
async function nodeClaimsOf(
  vm: VmChains,
  timers: readonly TimerName[],
): Promise<Map<NodeRole, Readonly<Record<string, ChainClaim>>>> {
  const out = new Map<NodeRole, Readonly<Record<string, ChainClaim>>>();
  for (const timer of timers) {
    const node = CLAIMED_IN_NODE[timer];
    if (node === undefined || out.has(node)) continue;
    try {
      out.set(node, await readChainClaims(vm.state, vm.vmId, node));
    } catch {
      // armChain reads it again and returns the error for that chain.
    }
  }
  return out;
}

/** Each timer's period, ms, from `periodOf` (a VM's parameters or its stored config). */
export function periodsOf(periodOf: (timer: TimerName) => number): Record<TimerName, number> {
  return Object.fromEntries(TIMER_NAMES.map((t) => [t, periodOf(t)])) as Record<TimerName, number>;
}

/**
 * How often a chain's ticks check a sibling chain of the same VM, ms (at most: a sibling with a longer
 * period is checked once per its period). Each check is one S3 read.
 */
export const SIBLING_CHECK_MS = 2000;

/** Slack of the sibling repair's staleness test, ms: a sibling is replaced after 3 × its period + this. */
export const SIBLING_STALE_SLACK_MS = 2000;

/**
 * The sub-minute repair's staleness bound of a chain of period `periodMs`, ms: 3 × period +
 * {@link SIBLING_STALE_SLACK_MS} (5 s for a 1 s chain), never beyond the watchdog's {@link staleAfterMs}.
 */
export function siblingStaleAfterMs(periodMs: number): number {
  return Math.min(3 * periodMs + SIBLING_STALE_SLACK_MS, staleAfterMs(periodMs));
}

/**
 * True when the tick `seq` of a chain of period `periodMs` checks a sibling of period `siblingPeriodMs`:
 * every ⌈max({@link SIBLING_CHECK_MS}, sibling period) / period⌉-th tick.
 */
export function checksSibling(seq: number, periodMs: number, siblingPeriodMs: number): boolean {
  const every = Math.max(1, Math.ceil(Math.max(SIBLING_CHECK_MS, siblingPeriodMs) / periodMs));
  return seq % every === 0;
}

/**
 * The sub-minute repair (docs/cloud.md "Repair time"): a claimed tick of `timer` checks the VM's other
 * chains among `timers` (default all three) that are due for a check ({@link checksSibling}) and replaces one whose last claimed tick is older
 * than {@link siblingStaleAfterMs} with a new generation, as the minute watchdog would. A chain with no
 * document is left to the watchdog (starting chains is its job). The caller has read the control document
 * (the VM has not failed over). Errors are returned per sibling, never thrown: the tick's own work goes on.
 *
 * @param seq - The claimed tick's sequence number.
 * @param now - Current time, ms since the Unix epoch.
 * @returns The outcome for each sibling checked (none when no check was due).
 */
export async function repairSiblings(
  vm: VmChains,
  timer: TimerName,
  seq: number,
  now: number,
  timers: readonly TimerName[] = TIMER_NAMES,
): Promise<Partial<Record<TimerName, ArmOutcome>>> {
  const out: Partial<Record<TimerName, ArmOutcome>> = {};
  const due = timers.filter((s) => s !== timer && checksSibling(seq, vm.periodMs[timer], vm.periodMs[s]));
  // Siblings claimed in the same node document share one read of it.
  const claims = await nodeClaimsOf(vm, due);
  for (const sibling of due) {
    const periodMs = vm.periodMs[sibling];
    try {
      const nodeClaims = claims.get(CLAIMED_IN_NODE[sibling] as NodeRole);
      out[sibling] = await armChain(
        { state: vm.state, ticks: vm.ticks[sibling], vmId: vm.vmId, timer: sibling, periodMs },
        now,
        {
          staleAfterMs: siblingStaleAfterMs(periodMs),
          startMissing: false,
          controlChecked: true,
          ...(nodeClaims ? { nodeClaims } : {}),
        },
      );
    } catch (error) {
      out[sibling] = { verdict: 'error', error };
    }
  }
  return out;
}
