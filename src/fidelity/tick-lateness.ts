/**
 * QEMU's timer-callback lateness tick by tick, inferred from its primary's trace (no trace event marks the
 * callback). `colo_checkpoint_notify` re-arms from its own callback, so the ticks form a chain whose every
 * link is the delay plus that callback's lateness; on a loaded host the lateness moves with the load (a
 * stalled main loop can hold one tick for most of a second). What the trace shows of the chain:
 *
 * - a checkpoint whose request found the COLO loop waiting (it left ≥ {@link BACK_TO_BACK_MS} after the
 *   previous resume) started at a tick: the fit puts the tick at the request (the callback's lateness and the
 *   thread's wake-up are not separable in the trace; both delay the request, and the chain passes through it);
 * - a back-to-back start had a tick between the previous `vmstate-received` (the event's reset) and resume;
 * - a waiting start had no tick between the previous `vmstate-received` and its request.
 *
 * Between two requests that found the loop waiting the chain made m periods of equal lateness; m is the one
 * whose ticks meet the most of those constraints (ties: the lateness nearest the median of the stretches
 * whose m was unique). The result is a step schedule for the engine's timer (`costs.timerLateness`).
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
}

/**
 * The earliest a stretch's ticks may come against the delay, ms: a waiting request is the callback plus the
 * thread's wake-up, so one whose wake-up was shorter than its predecessor's shows a chain a little quicker
 * than the delay. Kept (the chain then passes through every waiting request); anything quicker is no chain.
 */
export const EARLIEST_MS = -5;

interface Stretch {
  from: number;
  to: number;
  /** Checkpoints that ran inside the stretch (each but the last was followed by a back-to-back start). */
  inside: SideCheckpoint[];
}

/** How many of a stretch's constraints a chain of `periods` ticks meets. */
function met(s: Stretch, periods: number): number {
  const period = (s.to - s.from) / periods;
  const ticks: number[] = [];
  for (let k = 1; k <= periods; k++) ticks.push(s.from + k * period);
  // The last tick is the stretch's end (the request itself), not one before it: a margin for rounding.
  const between = (lo: number, hi: number) => ticks.filter((t) => t > lo && t < hi - 1e-6).length;
  let ok = 0;
  s.inside.forEach((c, j) => {
    const last = j === s.inside.length - 1;
    // After the event's reset: a tick before the resume starts the next checkpoint back-to-back; a tick before
    // the next waiting request would have started it sooner.
    if (last) ok += between(c.receivedAt, s.to) === 0 ? 1 : 0;
    else ok += between(c.receivedAt, c.runAt + BACK_TO_BACK_MS) > 0 ? 1 : 0;
  });
  // Before the first checkpoint of the run nothing held the event: the first tick started it.
  if (s.inside.length === 0) ok += periods === 1 ? 1 : 0;
  return ok;
}

/**
 * Fits the chain to a primary's complete checkpoints, `readyAt` its checkpoint-ready, `delayMs` the
 * scenario's `x-checkpoint-delay`; stretches in time order (empty without a complete checkpoint).
 */
export function fitTickLateness(
  checkpoints: readonly SideCheckpoint[],
  readyAt: number,
  delayMs: number,
): TickLateness[] {
  const cs = checkpoints.filter((c) => c.complete && Number.isFinite(c.receivedAt));
  const stretches: Stretch[] = [];
  let from = readyAt;
  let inside: SideCheckpoint[] = [];
  cs.forEach((c, i) => {
    const prev = cs[i - 1];
    if (!prev || c.requestAt - prev.runAt >= BACK_TO_BACK_MS) {
      stretches.push({ from, to: c.requestAt, inside });
      from = c.requestAt;
      inside = [];
    }
    inside.push(c);
  });
  const choices = stretches.map((s) => {
    const most = Math.max(1, Math.floor((s.to - s.from) / (delayMs + EARLIEST_MS)));
    let best: number[] = [];
    let bestMet = -1;
    for (let m = 1; m <= most; m++) {
      if ((s.to - s.from) / m - delayMs < EARLIEST_MS) break;
      const n = met(s, m);
      if (n > bestMet) {
        bestMet = n;
        best = [m];
      } else if (n === bestMet) best.push(m);
    }
    return best.length > 0 ? best : [1];
  });
  // Never quicker than half the delay (a stretch shorter than the delay: its first request woke very late).
  const lateOf = (s: Stretch, m: number) => Math.max(-delayMs / 2, (s.to - s.from) / m - delayMs);
  const unique = stretches.flatMap((s, i) =>
    choices[i]?.length === 1 ? [lateOf(s, choices[i]?.[0] as number)] : [],
  );
  const typical = unique.length > 0 ? median(unique) : 0;
  return stretches.map((s, i) => {
    const options = choices[i] as number[];
    let m = options[0] as number;
    for (const o of options) {
      if (Math.abs(lateOf(s, o) - typical) < Math.abs(lateOf(s, m) - typical)) m = o;
    }
    return { atMs: s.from + delayMs - readyAt, lateMs: lateOf(s, m), ticks: m };
  });
}
