/**
 * The timer chains' schedule as the parameters imply it (docs/cloud.md "The tick chain"): pure, so the
 * deployed functions and the cost model (which scales measured ticks to their nominal rate) agree on it.
 */

/** The three timer chains of a VM. */
export type ChainTimer = 'checkpoint' | 'pending-check' | 'heartbeat';

/**
 * The longest gap between two ticks of the secondary's heartbeat chain, ms. Its ticks fall when the
 * secondary's next wake is due (the heartbeat watchdog, a wait deadline) and at least this often, so that
 * its check of the primary's pending-check chain keeps a 2 s cadence (the sub-minute repair). A quiet
 * secondary is ticked every 2 s, not every heartbeat interval.
 */
export const MONITOR_MAX_GAP_MS = 2000;

/**
 * A chain's period as its consumer schedules it and as its siblings, the watchdog and the cost model judge
 * it, ms: the timer's parameter, except the heartbeat chain's, which is its longest gap (the heartbeat
 * interval or {@link MONITOR_MAX_GAP_MS}, whichever is longer).
 *
 * @param configuredMs - `checkpointDelayMs`, `pendingCheckIntervalMs` or `heartbeatIntervalMs`, ms.
 */
export function chainPeriodMs(timer: ChainTimer, configuredMs: number): number {
  return timer === 'heartbeat' ? Math.max(configuredMs, MONITOR_MAX_GAP_MS) : configuredMs;
}
