/**
 * When the checkpoint timer fires next. QEMU's `colo_checkpoint_notify` re-arms from its own callback time
 * (fixed rate from the callback), so a callback that runs late moves every later tick with it.
 */
import type { ColoParams, TimerLateness } from '../params.ts';
import { stepAt } from '../step-schedule.ts';

/** The lateness in force for a tick due at `dueAt`: the last entry at or before it, 0 before the first, ms. */
export function timerLateAt(schedule: readonly TimerLateness[] | undefined, dueAt: number): number {
  return stepAt(schedule, dueAt)?.lateMs ?? 0;
}

/**
 * How long after a tick that fired at `firedAt` and found the COLO loop waiting its request leaves, ms: the
 * schedule's wake-up in force then, else the cost model's (`costs.wakeMs`), else 0.
 */
export function wakeAfterTick(params: ColoParams, firedAt: number): number {
  return stepAt(params.costs.timerLateness, firedAt)?.wakeMs ?? params.costs.wakeMs ?? 0;
}

/** The next tick after a callback (or the timer's start) at `now`: the delay, plus that tick's lateness, ms. */
export function nextTickAt(params: ColoParams, now: number): number {
  const due = now + params.checkpointDelayMs;
  // A negative lateness (the chain's anchor woke late) never brings a tick within half a delay of now.
  return due + Math.max(-params.checkpointDelayMs / 2, timerLateAt(params.costs.timerLateness, due));
}
