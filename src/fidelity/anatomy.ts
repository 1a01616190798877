/**
 * Where a checkpoint cycle's time goes, gap by gap, on the primary's trace (QEMU's or the engine's): what the
 * report sets side by side for the overrunning scenario, so a count that differs shows which gap differs.
 */
import type { SideCheckpoint } from './checkpoints.ts';
import { mean, median } from './fit.ts';

/** The gaps of one cycle, in order. */
export const GAPS = [
  'resume → next request',
  'request → reply',
  'reply → stop',
  'stop → vmstate-received',
  'vmstate-received → vmstate-loaded',
  'vmstate-loaded → resume',
  'request → next request',
] as const;

/** One gap over a run's checkpoints, ms. */
export interface GapFigures {
  gap: (typeof GAPS)[number];
  meanMs: number;
  medianMs: number;
}

/** A run's cycle, gap by gap, and how many of its starts were back-to-back. */
export interface Anatomy {
  gaps: GapFigures[];
  /** Checkpoints whose request left within {@link BACK_TO_BACK_MS} of the previous resume. */
  backToBack: number;
  /** Cycles measured (complete checkpoints followed by another request). */
  cycles: number;
}

/** A request this close to the previous resume was already due at the resume (a back-to-back start), ms. */
export const BACK_TO_BACK_MS = 2;

/** The cycle anatomy of a primary's checkpoints (complete ones followed by another request). */
export function anatomy(checkpoints: readonly SideCheckpoint[]): Anatomy {
  const rows: number[][] = GAPS.map(() => []);
  let backToBack = 0;
  let cycles = 0;
  for (let i = 0; i + 1 < checkpoints.length; i++) {
    const c = checkpoints[i] as SideCheckpoint;
    const next = checkpoints[i + 1] as SideCheckpoint;
    if (!c.complete) continue;
    cycles++;
    const wait = next.requestAt - c.runAt;
    if (wait < BACK_TO_BACK_MS) backToBack++;
    const values = [
      wait,
      c.replyAt - c.requestAt,
      c.stopAt - c.replyAt,
      c.receivedAt - c.stopAt,
      c.loadedAt - c.receivedAt,
      c.runAt - c.loadedAt,
      next.requestAt - c.requestAt,
    ];
    values.forEach((v, k) => {
      rows[k]?.push(v);
    });
  }
  return {
    gaps: GAPS.map((gap, k) => ({ gap, meanMs: mean(rows[k] ?? []), medianMs: median(rows[k] ?? []) })),
    backToBack,
    cycles,
  };
}
