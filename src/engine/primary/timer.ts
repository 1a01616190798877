/**
 * When the checkpoint timer fires next. QEMU's `colo_checkpoint_notify` re-arms from its own callback time
 * (fixed rate from the callback), so a callback that runs late moves every later tick with it.
 */
import type { ColoParams, TimerLateness } from '../params.ts';

/** The lateness in force for a tick due at `dueAt`: the last entry at or before it, 0 before the first, ms. */
export function timerLateAt(schedule: readonly TimerLateness[] | undefined, dueAt: number): number {
  if (!schedule || schedule.length === 0) return 0;
  let lo = 0;
  let hi = schedule.length;
  // The first entry after dueAt; the one before it is in force.
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if ((schedule[mid] as TimerLateness).fromMs <= dueAt) lo = mid + 1;
    else hi = mid;
  }
  return lo === 0 ? 0 : (schedule[lo - 1] as TimerLateness).lateMs;
}

/** The next tick after a callback (or the timer's start) at `now`: the delay, plus that tick's lateness, ms. */
export function nextTickAt(params: ColoParams, now: number): number {
  const due = now + params.checkpointDelayMs;
  // A negative lateness (the chain's anchor woke late) never brings a tick within half a delay of now.
  return due + Math.max(-params.checkpointDelayMs / 2, timerLateAt(params.costs.timerLateness, due));
}
