/**
 * Calibrates the engine's link and cost model from a QEMU reference run (`--link-profile
 * qemu-tcg-loopback`). The pause is fitted as a line in dirty pages through the per-size medians (medians:
 * a shared machine's stalls are outliers, not signal), minimising relative error; its slope is split between the link and the flush
 * in the ratio of their own fitted slopes; half the request → reply time becomes the one-way latency (it
 * holds the secondary's VM stop, which the engine does not model, and sets the cycle of an overrunning
 * timer); what is left of the intercept goes to the secondary's device load (as much as QEMU spends
 * between vmstate-received and the resume, less the flush) and the rest to the primary's prep.
 */
import type { CostModel } from '../engine/params.ts';
import { PAGE_HEADER_WIRE_BYTES } from '../engine/params.ts';
import { PAGE_SIZE } from '../engine/protocol/delta.ts';
import type { LinkParams } from '../runtime/embedded/link.ts';
import type { CheckpointFigures } from './figures.ts';
import { fitLine, type LineFit, median } from './fit.ts';

/** Staging into the colo cache is part of QEMU's measured send: the engine's own staging is made free. */
const FREE_STAGING_BYTES_PER_MS = 1e12;

/** A calibrated profile and the fits it came from. */
export interface Calibration {
  link: LinkParams;
  costs: CostModel;
  /** Lines through the per-size medians, ms against pages: pause, send (stop → vmstate-received), flush. */
  pause: LineFit;
  send: LineFit;
  flush: LineFit;
  /** Median checkpoint-request → checkpoint-reply on the primary, ms. */
  replyMs: number;
  /** Median of pause − send − flush (vmstate-received → resume, less the flush), ms. */
  restMs: number;
}

/** Per dirty size, the median of `pick`: the points a robust line is fitted through. */
export function mediansBySize(figs: readonly CheckpointFigures[], pick: (f: CheckpointFigures) => number) {
  const sizes = [...new Set(figs.map((f) => f.pages))].sort((a, b) => a - b);
  return sizes.map((x) => ({ x, y: median(figs.filter((f) => f.pages === x).map(pick)) }));
}

/**
 * Fits the profile to QEMU checkpoints (at least two distinct dirty sizes). `deviceStateBytes` is what the
 * engine will send as device state each checkpoint (its transfer is part of the fixed pause).
 */
export function calibrate(figs: readonly CheckpointFigures[], deviceStateBytes: number): Calibration {
  const pause = fitLine(
    mediansBySize(figs, (f) => f.pauseMs),
    true,
  );
  const send = fitLine(mediansBySize(figs, (f) => f.sendMs));
  const flush = fitLine(mediansBySize(figs, (f) => f.flushMs));
  const replyMs = median(figs.map((f) => f.replyMs));
  const latencyMs = Math.max(0, replyMs / 2);
  const slope = Math.max(0, pause.slope);
  const parts = Math.max(0, send.slope) + Math.max(0, flush.slope);
  const flushShare = parts > 0 ? Math.max(0, flush.slope) / parts : 0;
  const perPageLink = slope * (1 - flushShare);
  const perPageFlush = slope * flushShare;
  // A per-page cost of zero (noise on a tiny range) is modelled as free.
  const bandwidth = perPageLink > 0 ? ((PAGE_SIZE + PAGE_HEADER_WIRE_BYTES) * 1000) / perPageLink : 1e12;
  const flushRate = perPageFlush > 0 ? PAGE_SIZE / perPageFlush : 1e12;
  // Engine pause = prep + device load + 2 × latency + device state / bandwidth + pages × per-page costs.
  const fixed = Math.max(0, pause.intercept - 2 * latencyMs - (deviceStateBytes * 1000) / bandwidth);
  // Where vmstate-received falls inside the pause decides whether a tick is lost or held (the timer's
  // overrun behaviour), so the fixed part is split as QEMU's pause is: after vmstate-received comes the
  // device load (the engine's received → resume is the device load plus the flush), before it the prep.
  const restMs = Math.max(0, median(figs.map((f) => f.pauseMs - f.sendMs - f.flushMs)));
  const deviceLoadMs = Math.min(fixed, restMs);
  return {
    link: { bandwidthBytesPerSec: bandwidth, latencyMs },
    costs: {
      prepMs: fixed - deviceLoadMs,
      flushBytesPerMs: flushRate,
      deviceLoadMs,
      applyBytesPerMs: FREE_STAGING_BYTES_PER_MS,
    },
    pause,
    send,
    flush,
    replyMs,
    restMs,
  };
}
