/**
 * The tick-chain protocol of docs/cloud.md ("The tick chain", "The watchdog"): a consumer claims each tick
 * at most once by compare-and-swap on the timer's document and enqueues the next tick before doing the
 * work; the minute watchdog starts a chain, or a new generation of a lost one.
 *
 * Timer document, `<vmId>/timers/<timer>.json`: `{ generation, seq, dueAt, lastTickAt, claimedBy }` — the
 * chain generation, the last claimed tick, when the next tick is due (ms since the Unix epoch), when a tick
 * was last claimed (ms), and the SQS message id that claimed it.
 */
import { z } from 'zod';
import { StateConflictError, type StateStore } from '../../../src/engine/ports.ts';
import { nextDueAt, type TickMessage, type TimerName, timerStateKey } from '../../adapters/contract.ts';
import { parseTick } from '../../adapters/sqs-tick-queue.ts';
import { readControl } from './control.ts';

/** Sends a tick, delayed until its `dueAt` (`SqsTickQueue` is one). Returns the delay applied, s. */
export interface TickScheduler {
  /** Enqueues `tick`; `now` in ms since the Unix epoch. */
  schedule(tick: TickMessage, now: number): Promise<number>;
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

/** Ticks delivered more than this early are put back on the queue, ms (SQS delays have 1 s granularity). */
export const EARLY_TOLERANCE_MS = 1000;

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

/** What a consumer needs for one timer. */
export interface TickChainDeps {
  /** State store holding the timer and control documents. */
  state: StateStore;
  /** The timer's own tick queue. */
  ticks: TickScheduler;
  /** VM id. */
  vmId: string;
  /** Which timer. */
  timer: TimerName;
  /** Tick period, ms. */
  periodMs: number;
}

/**
 * What became of one tick: `claimed` (first delivery) or `redelivered` (a retry of the claiming delivery):
 * do the work; `dropped` (duplicate, older generation, lost a race); `stopped` (failed over: chain ends);
 * `early` (put back on the queue until it is due).
 */
export type TickVerdict = 'claimed' | 'redelivered' | 'dropped' | 'stopped' | 'early';

/**
 * Handles one tick record (steps 1–4 of docs/cloud.md; the caller does step 5, the work, when the verdict
 * is `claimed` or `redelivered`).
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
): Promise<{ verdict: TickVerdict; tick: TickMessage; next?: TickMessage }> {
  const tick = parseTick(body);
  if (tick.vmId !== deps.vmId || tick.timer !== deps.timer) {
    throw new Error(`tick for ${tick.vmId}/${tick.timer} reached the ${deps.vmId}/${deps.timer} consumer`);
  }
  if ((await readControl(deps.state, deps.vmId)).failedOver) return { verdict: 'stopped', tick };
  const key = timerStateKey(deps.vmId, deps.timer);
  const loaded = await loadTimer(deps.state, key);
  if (!loaded || loaded.doc.generation !== tick.generation) return { verdict: 'dropped', tick };
  const { doc, etag } = loaded;
  const redelivery = doc.seq === tick.seq && doc.claimedBy === messageId;
  if (!redelivery && tick.seq !== doc.seq + 1) return { verdict: 'dropped', tick };
  if (!redelivery && tick.dueAt > now + EARLY_TOLERANCE_MS) {
    await deps.ticks.schedule(tick, now);
    return { verdict: 'early', tick };
  }
  const next: TickMessage = { ...tick, seq: tick.seq + 1, dueAt: nextDueAt(tick.dueAt, deps.periodMs, now) };
  if (!redelivery) {
    const claimed: TimerDocument = {
      generation: tick.generation,
      seq: tick.seq,
      dueAt: next.dueAt,
      lastTickAt: now,
      claimedBy: messageId,
    };
    try {
      await deps.state.save(key, encodeTimer(claimed), etag);
    } catch (e) {
      if (e instanceof StateConflictError) return { verdict: 'dropped', tick };
      throw e;
    }
  }
  await deps.ticks.schedule(next, now);
  return { verdict: redelivery ? 'redelivered' : 'claimed', tick, next };
}

/** What the watchdog did to one chain. */
export type ArmVerdict = 'armed' | 'healthy' | 'stopped' | 'raced';

/**
 * The watchdog for one timer: starts the chain when it has no document, or a new generation when no tick
 * was claimed for 2 × period + {@link STALE_SLACK_MS}; otherwise leaves it alone.
 *
 * @param now - Current time, ms since the Unix epoch.
 */
export async function armChain(
  deps: TickChainDeps,
  now: number,
): Promise<{ verdict: ArmVerdict; generation?: number }> {
  if ((await readControl(deps.state, deps.vmId)).failedOver) return { verdict: 'stopped' };
  const key = timerStateKey(deps.vmId, deps.timer);
  const loaded = await loadTimer(deps.state, key);
  if (loaded && now - loaded.doc.lastTickAt <= 2 * deps.periodMs + STALE_SLACK_MS) {
    return { verdict: 'healthy', generation: loaded.doc.generation };
  }
  const generation = (loaded?.doc.generation ?? 0) + 1;
  const doc: TimerDocument = { generation, seq: 0, dueAt: now, lastTickAt: now, claimedBy: null };
  try {
    await deps.state.save(key, encodeTimer(doc), loaded?.etag);
  } catch (e) {
    if (e instanceof StateConflictError) return { verdict: 'raced' };
    throw e;
  }
  await deps.ticks.schedule(
    { v: 1, vmId: deps.vmId, timer: deps.timer, generation, seq: 1, dueAt: now },
    now,
  );
  return { verdict: 'armed', generation };
}
