/**
 * QEMU's timer-callback lateness tick by tick, inferred from its primary's trace (no trace event marks the
 * callback). `colo_checkpoint_notify` re-arms from its own callback, so the ticks form a chain whose every
 * link is the delay plus that callback's lateness; on a loaded host the lateness moves with the load (a
 * stalled main loop can hold one tick for most of a second). What the trace shows of the chain:
 *
 * - a checkpoint whose request found the COLO loop waiting (it left ≥ {@link BACK_TO_BACK_MS} after the
 *   previous resume) started at a tick some wake-up before the request: the callback sets the event and the
 *   COLO thread it wakes waits for a CPU; the chain goes on from the callback, not from the request;
 * - a back-to-back start had a tick between the previous `vmstate-received` (the event's reset) and resume;
 * - a waiting start had no tick between the previous `vmstate-received` and its own tick.
 *
 * Between two requests that found the loop waiting the chain made m periods of equal lateness, from the first
 * request's tick to the second's; m and the second's wake-up are the ones whose ticks meet the most of those
 * constraints — the least wake-up that does (a wake-up only where the trace demands one: the requests as ticks
 * are the chain a constraint does not contradict), then the lateness nearest the median of the stretches
 * whose m was unique. The result is a step schedule for the engine's timer (`costs.timerLateness`).
 */
import { BACK_TO_BACK_MS } from './anatomy.ts';
import type { SideCheckpoint } from './checkpoints.ts';
import { median } from './fit.ts';

/** One stretch of the chain: ticks due from `atMs` (after checkpoint-ready) on fired `lateMs` late. */
export interface TickLateness {
  /** Due time of the stretch's first tick, ms after checkpoint-ready. */
  atMs: number;
  /** Lateness of each of its ticks, ms (a few ms below 0 where the wake-up of the stretch's start was long). */
  lateMs: number;
  /** Periods in the stretch, ticks. */
  ticks: number;
  /**
   * The wake-up of the request the stretch's last tick started, ms: that request left this long after its
   * tick (0 where the trace does not show one).
   */
  wakeMs: number;
}

/** Step of the wake-up search, ms (the trace's times are µs; finer moves no tick across a constraint). */
export const WAKE_STEP_MS = 0.25;

/**
 * The earliest a stretch's ticks may come against the delay, ms: a waiting request is the callback plus the
 * thread's wake-up, so one whose wake-up was shorter than its predecessor's shows a chain a little quicker
 * than the delay. Kept (the chain then passes through every waiting request); anything quicker is no chain.
 */
export const EARLIEST_MS = -5;

interface Stretch {
  /** The tick the stretch starts from (the previous waiting request's), ms. */
  from: number;
  /** The waiting request that ends it, ms. */
  to: number;
  /** Checkpoints that ran inside the stretch (each but the last was followed by a back-to-back start). */
  inside: SideCheckpoint[];
  /**
   * After the run's last waiting request: the windows (ms) in which the chain, going on at this stretch's
   * period, must have ticked — each a back-to-back start after the stretch's end. No later waiting request
   * bounds the last stretch, so these are all the trace says of where its ticks fell.
   */
  after?: readonly [number, number][];
}

/** How a chain meets a stretch's constraints. */
interface Fit {
  /** Constraints met. */
  met: number;
  /**
   * The least distance of a tick inside the stretch from an edge the trace puts it against (an event reset, a
   * resume it must precede), ms; infinite without such a tick. The engine's checkpoints end a little sooner or
   * later than QEMU's: a chain farther from every edge keeps each tick on the side the trace shows.
   */
  marginMs: number;
}

/** How a chain of `periods` ticks to the end tick `end` meets `s`'s constraints. */
function fitOf(s: Stretch, periods: number, end: number): Fit {
  const period = (end - s.from) / periods;
  const ticks: number[] = [];
  for (let k = 1; k <= periods; k++) ticks.push(s.from + k * period);
  // The last tick is the stretch's end (the request's own tick), not one before it: a margin for rounding.
  const between = (lo: number, hi: number) => ticks.filter((t) => t > lo && t < hi - 1e-6).length;
  const inner = ticks.slice(0, -1);
  let met = 0;
  let marginMs = Number.POSITIVE_INFINITY;
  const edge = (at: number) => {
    for (const t of inner) marginMs = Math.min(marginMs, Math.abs(t - at));
  };
  s.inside.forEach((c, j) => {
    const last = j === s.inside.length - 1;
    // After the event's reset: a tick before the resume starts the next checkpoint back-to-back; a tick before
    // the next waiting request's own tick would have started it sooner.
    if (last) met += between(c.receivedAt, end) === 0 ? 1 : 0;
    else met += between(c.receivedAt, c.runAt + BACK_TO_BACK_MS) > 0 ? 1 : 0;
    edge(c.receivedAt);
    if (!last) edge(c.runAt);
  });
  // Before the first checkpoint of the run nothing held the event: the first tick started it.
  if (s.inside.length === 0) met += periods === 1 ? 1 : 0;
  for (const [lo, hi] of s.after ?? []) {
    const k = Math.ceil((lo - end) / period + 1e-9);
    met += end + k * period < hi ? 1 : 0;
  }
  return { met, marginMs };
}

/** One way a stretch's chain can run: its periods and the wake-up of its end request. */
interface Option {
  periods: number;
  wakeMs: number;
}

/**
 * The chains that meet the most of `s`'s constraints: per number of periods, the least wake-up of the end
 * request (none where the trace demands none) that keeps the inner ticks as far from every edge as the chain's
 * own uncertainty asks (|{@link EARLIEST_MS}|) or as the trace allows, up to `maxWake`.
 */
function optionsOf(s: Stretch, delayMs: number, maxWake: number): Option[] {
  const best = new Map<number, Option & Fit>();
  let bestMet = -1;
  for (let wake = 0; wake <= maxWake; wake += WAKE_STEP_MS) {
    const end = s.to - wake;
    const most = Math.max(1, Math.floor((end - s.from) / (delayMs + EARLIEST_MS)));
    for (let m = 1; m <= most; m++) {
      if ((end - s.from) / m - delayMs < EARLIEST_MS) break;
      const f = fitOf(s, m, end);
      if (f.met < bestMet) continue;
      if (f.met > bestMet) {
        bestMet = f.met;
        best.clear();
      }
      const held = best.get(m);
      // A longer wake-up only for a wider margin, and only up to the chain's own uncertainty (EARLIEST_MS: how
      // far wake-ups that vary between requests leave a tick from where the requests put it): beyond that
      // the trace gives no reason to move the tick.
      const margin = Math.min(f.marginMs, -EARLIEST_MS);
      if (!held || margin > held.marginMs)
        best.set(m, { periods: m, wakeMs: wake, met: f.met, marginMs: margin });
    }
  }
  const out = [...best.values()].map(({ periods, wakeMs }) => ({ periods, wakeMs }));
  return out.length > 0 ? out : [{ periods: 1, wakeMs: 0 }];
}

/**
 * Fits the chain to a primary's complete checkpoints (and the request of the first unfinished one that found
 * the loop waiting), `readyAt` its checkpoint-ready, `delayMs` the
 * scenario's `x-checkpoint-delay`; stretches in time order (empty without a complete checkpoint). Each
 * stretch starts from the tick of the one before (its request less its wake-up), so they are fitted in order;
 * where several numbers of periods meet as many constraints, the lateness nearest the typical one wins — the
 * median over the stretches whose number is unique when every request is taken as its tick.
 */
export function fitTickLateness(
  checkpoints: readonly SideCheckpoint[],
  readyAt: number,
  delayMs: number,
): TickLateness[] {
  // Complete checkpoints up to the first that is not: that one's request still ends a stretch if it found the
  // loop waiting (its tick is read off its request; only what comes after is unreadable).
  const cut = checkpoints.findIndex((c) => !(c.complete && Number.isFinite(c.receivedAt)));
  const cs = cut < 0 ? [...checkpoints] : checkpoints.slice(0, cut + 1);
  const last = cs.at(-1);
  const waiting = (i: number) => {
    const prev = cs[i - 1];
    return !prev || (cs[i] as SideCheckpoint).requestAt - prev.runAt >= BACK_TO_BACK_MS;
  };
  // The run's last waiting request, and the back-to-back starts after it: a tick between the event's reset
  // (the checkpoint before's vmstate-received) and that checkpoint's resume.
  let lastWait = -1;
  for (let i = 0; i < cs.length; i++) if (waiting(i)) lastWait = i;
  const after: [number, number][] = [];
  for (let j = Math.max(0, lastWait); j + 1 < cs.length; j++) {
    const c = cs[j] as SideCheckpoint;
    if (c.complete && Number.isFinite(c.receivedAt)) after.push([c.receivedAt, c.runAt + BACK_TO_BACK_MS]);
  }
  // Never quicker than half the delay (a stretch shorter than the delay: its first request woke very late).
  const lateOf = (from: number, end: number, m: number) => Math.max(-delayMs / 2, (end - from) / m - delayMs);
  const chain = (withWake: boolean, typical: number) => {
    const out: { stretch: TickLateness; unique: boolean }[] = [];
    let from = readyAt;
    let inside: SideCheckpoint[] = [];
    cs.forEach((c, i) => {
      const prev = cs[i - 1];
      const open = cut >= 0 && c === last;
      // An unfinished back-to-back start ends nothing: the stretch it belongs to has no end in the trace.
      if (open && prev && c.requestAt - prev.runAt < BACK_TO_BACK_MS) return;
      if (!prev || c.requestAt - prev.runAt >= BACK_TO_BACK_MS) {
        // Its tick came after the last resume (else the start was back-to-back), the first after one delay.
        const room = Math.min(delayMs, c.requestAt - (prev ? prev.runAt : from + delayMs));
        const s: Stretch = { from, to: c.requestAt, inside, ...(i === lastWait ? { after } : {}) };
        const options = optionsOf(s, delayMs, withWake ? Math.max(0, room) : 0);
        let pick = options[0] as Option;
        for (const o of options) {
          const late = (x: Option) => Math.abs(lateOf(from, s.to - x.wakeMs, x.periods) - typical);
          if (late(o) < late(pick)) pick = o;
        }
        const end = s.to - pick.wakeMs;
        out.push({
          stretch: {
            atMs: from + delayMs - readyAt,
            lateMs: lateOf(from, end, pick.periods),
            ticks: pick.periods,
            wakeMs: pick.wakeMs,
          },
          unique: options.length === 1,
        });
        from = end;
        inside = [];
      }
      if (c !== last || cut < 0) inside.push(c);
    });
    return out;
  };
  const unique = chain(false, 0).flatMap((f) => (f.unique ? [f.stretch.lateMs] : []));
  return chain(true, unique.length > 0 ? median(unique) : 0).map((f) => f.stretch);
}
