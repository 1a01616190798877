/**
 * The order the two sides' checkpoint deadlines should keep: the primary's `checkpointTimeoutMs` above the
 * secondary's checkpoint wait (the longer of `applyTimeoutMs` and `heartbeatTimeoutMs`). Otherwise a
 * checkpoint that stalls — a slow emulator, a primary that was frozen and comes back — is ended by the
 * primary first: it keeps the VM and fences a secondary that was only waiting (an outside review, 2026-12-04:
 * 60 s waits with the default 30 s checkpoint timeout; the primary, thawed after 25 s, judged its deadline
 * before it read the secondary's answer waiting in the queue, and fenced the healthy side).
 */

/** The three deadlines, ms. */
export interface CheckpointDeadlines {
  /** The primary's wait for each answer inside a checkpoint, ms. */
  checkpointTimeoutMs: number;
  /** The secondary's wait for a background round's data, ms. */
  applyTimeoutMs: number;
  /** The secondary's heartbeat watchdog, ms (0: none). */
  heartbeatTimeoutMs: number;
}

/**
 * A warning when the primary's checkpoint timeout is not above the secondary's checkpoint wait, naming the
 * keys with `name` (a flag or a config key); undefined when the order holds.
 */
export function timeoutOrderWarning(
  p: CheckpointDeadlines,
  name: (key: 'checkpointTimeout' | 'applyTimeout' | 'heartbeatTimeout') => string,
): string | undefined {
  const wait = Math.max(p.applyTimeoutMs, p.heartbeatTimeoutMs);
  if (p.checkpointTimeoutMs > wait) return undefined;
  const waitKey = p.heartbeatTimeoutMs > p.applyTimeoutMs ? 'heartbeatTimeout' : 'applyTimeout';
  return (
    `${name('checkpointTimeout')} (${p.checkpointTimeoutMs} ms) is not above the secondary's checkpoint wait ` +
    `(${name(waitKey)}, ${wait} ms): a stalled checkpoint is ended by the primary first, which keeps the VM and ` +
    `fences a secondary that was only waiting; set it above the wait (twice it, ${2 * wait} ms, is what the fleet run uses)`
  );
}
