/**
 * The host's stalls as a timeline: how much longer than the engine's own each gap of QEMU's checkpoints took,
 * placed at the moment of the run it happened. On a loaded 2-core host the stalls are neither independent nor
 * stationary: they come in bursts (another process takes the cores for a second), and one checkpoint that
 * outlasts the delay loses a whole tick — at a 500 ms delay one 450 ms stall moves the count by one. A count
 * from independent draws is an expectation over stalls; QEMU's is one realisation of them. The engine that is
 * to give QEMU's count for the same run therefore meets the stalls that run met, where the run met them: its
 * checkpoint that starts at a moment takes the stalls of QEMU's checkpoint nearest that moment. The timer, its
 * binary event (reset after `vmstate-received`) and the messages stay the engine's own, so whether a stall
 * loses a tick, starts the next checkpoint back-to-back or does neither is the engine's to decide.
 */
import type { SideCheckpoint } from './checkpoints.ts';
import { median } from './fit.ts';

/** A checkpoint's three gaps on the primary, ms. */
export interface CheckpointGaps {
  /** checkpoint-request → the primary's stop (the secondary stops and replies meanwhile), ms. */
  replyMs: number;
  /** The primary's stop → vmstate-received (it sends RAM and device state), ms. */
  sendMs: number;
  /** vmstate-received → resume (flush, device load, vmstate-loaded), ms. */
  restMs: number;
}

/** One QEMU checkpoint's stalls: its gaps beyond the engine's own, at its request's offset from ready. */
export interface HostStall extends CheckpointGaps {
  /** checkpoint-request, ms after checkpoint-ready. */
  atMs: number;
  /** The pages QEMU's epoch carried (from the link's bytes), pages; absent where not known. */
  pages?: number;
}

/** A run's stalls in time order. */
export interface HostTimeline {
  stalls: HostStall[];
}

/** The gaps of a primary's complete checkpoints, ms. */
export function gapsOf(checkpoints: readonly SideCheckpoint[]): CheckpointGaps[] {
  return checkpoints
    .filter((c) => c.complete && Number.isFinite(c.stopAt) && Number.isFinite(c.receivedAt))
    .map((c) => ({
      // To the primary's stop, not the reply: the engine stops at the reply, QEMU's vCPU runs on until
      // vm_stop takes it (ms under load), and what it dirties meanwhile crosses in this checkpoint.
      replyMs: c.stopAt - c.requestAt,
      sendMs: c.receivedAt - c.stopAt,
      restMs: c.runAt - c.receivedAt,
    }));
}

/** The median of each gap over `gaps` (the engine's own, without stalls, are all alike), ms. */
export function medianGaps(gaps: readonly CheckpointGaps[]): CheckpointGaps {
  if (gaps.length === 0) throw new Error('host timeline: the engine ran no complete checkpoint');
  return {
    replyMs: median(gaps.map((g) => g.replyMs)),
    sendMs: median(gaps.map((g) => g.sendMs)),
    restMs: median(gaps.map((g) => g.restMs)),
  };
}

/**
 * Fits the timeline to QEMU's primary checkpoints: each complete checkpoint's gaps less the engine's own
 * (`base`), never below zero (the engine cannot be quicker than its own costs), at its request's offset from
 * `readyAt`, ms. `ownSendOf(i)`, where given, is the engine's own send for checkpoint i's pages, ms (instead of
 * `base.sendMs`, which is its send of the whole dirty set): an epoch that carried part of the set sent quicker,
 * and the rest of its send was the host's. `pagesOf(i)`, where given, is the pages checkpoint i carried (kept
 * with its stalls: the engine's epoch may carry more, engine-scenario.ts `sendStall`). `endAt`, where given, is
 * where the window's trace ends (trace time, ms): a last checkpoint still unfinished there met at least the
 * stall up to it (a send still under way, or a reply still awaited), and the engine's checkpoint then meets
 * that much — the trace bounds it from below, as it bounds nothing after.
 */
export function fitHostTimeline(
  checkpoints: readonly SideCheckpoint[],
  readyAt: number,
  base: CheckpointGaps,
  ownSendOf?: (i: number) => number | undefined,
  pagesOf?: (i: number) => number | undefined,
  endAt?: number,
): HostTimeline {
  const stalls: HostStall[] = [];
  for (const [i, c] of checkpoints.entries()) {
    const g = gapsOf([c])[0] ?? unfinished(c, i === checkpoints.length - 1 ? endAt : undefined);
    if (!g) continue;
    const pages = pagesOf?.(i);
    stalls.push({
      ...(pages !== undefined ? { pages } : {}),
      atMs: c.requestAt - readyAt,
      replyMs: Math.max(0, g.replyMs - base.replyMs),
      sendMs: Math.max(0, g.sendMs - (ownSendOf?.(i) ?? base.sendMs)),
      restMs: Math.max(0, g.restMs - base.restMs),
    });
  }
  if (stalls.length === 0) throw new Error('host timeline: QEMU ran no complete checkpoint');
  return { stalls };
}

/**
 * The gaps an unfinished checkpoint had run up by `endAt` (ms, trace time): its reply (to the stop, or to
 * `endAt` if it never stopped) and its send so far; undefined without `endAt` or when it ended before it.
 */
function unfinished(c: SideCheckpoint, endAt: number | undefined): CheckpointGaps | undefined {
  if (endAt === undefined || c.complete || !(endAt > c.requestAt)) return undefined;
  const stopped = Number.isFinite(c.stopAt) && c.stopAt <= endAt;
  return stopped
    ? { replyMs: c.stopAt - c.requestAt, sendMs: endAt - c.stopAt, restMs: 0 }
    : { replyMs: endAt - c.requestAt, sendMs: 0, restMs: 0 };
}

/** The stalls in force `atMs` after checkpoint-ready: those of the QEMU checkpoint nearest in time. */
export function stallAt(timeline: HostTimeline, atMs: number): HostStall {
  const s = timeline.stalls;
  // Binary search for the first stall at or after atMs, then the nearer of it and the one before.
  let lo = 0;
  let hi = s.length;
  while (lo < hi) {
    const mid = (lo + hi) >> 1;
    if ((s[mid] as HostStall).atMs < atMs) lo = mid + 1;
    else hi = mid;
  }
  const after = s[Math.min(lo, s.length - 1)] as HostStall;
  const before = s[Math.max(lo - 1, 0)] as HostStall;
  return Math.abs(before.atMs - atMs) <= Math.abs(after.atMs - atMs) ? before : after;
}
