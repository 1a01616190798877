/**
 * A cost that changes over runtime time as a list of steps, each in force from its `fromMs` until the next
 * one's (the calibrated reading of one reference run: a timer's lateness, a resume's vCPU run).
 */

/** One step of a schedule: in force from runtime time `fromMs` on, ms. */
export interface ScheduleStep {
  /** Runtime time from which the step holds, ms. */
  fromMs: number;
}

/** The step of `schedule` (ascending `fromMs`) in force at `at`: the last at or before it, none before the first. */
export function stepAt<T extends ScheduleStep>(
  schedule: readonly T[] | undefined,
  at: number,
): T | undefined {
  if (!schedule || schedule.length === 0) return undefined;
  let lo = 0;
  let hi = schedule.length;
  // The first step after `at`; the one before it is in force.
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if ((schedule[mid] as T).fromMs <= at) lo = mid + 1;
    else hi = mid;
  }
  return lo === 0 ? undefined : schedule[lo - 1];
}
