import type { SideCheckpoint } from '../../../src/fidelity/checkpoints.ts';

/** The times of a hand-built primary checkpoint, ms. */
export interface CheckpointTimes {
  /** `checkpoint-request` sent. */
  requestAt: number;
  /** The VM stopped. */
  stopAt: number;
  /** `checkpoint-reply` received. */
  replyAt: number;
  /** `vmstate-received` received. */
  receivedAt: number;
  /** The VM resumed (and `vmstate-loaded` received). */
  runAt: number;
}

/** A complete primary checkpoint with no steps, flush or dirty count, at the given times (ms). */
export function sideCheckpoint(t: CheckpointTimes): SideCheckpoint {
  return {
    steps: [],
    ...t,
    loadedAt: t.runAt,
    flushBeginAt: Number.NaN,
    flushEndAt: Number.NaN,
    dirtyPages: Number.NaN,
    complete: true,
  };
}
