/**
 * Calibrates the engine's link and cost model from QEMU reference runs (`--link-profile qemu-tcg-loopback`).
 *
 * The engine is deterministic; QEMU's checkpoint times are not: each size's pause is bimodal (the last
 * sub-MSS write of the epoch waits ~40 ms for a delayed ACK about half the time, Nagle being on) with a
 * tail of host stalls. A median then sits on one mode or the other from run to run, while how many
 * checkpoints fit a window — and the total downtime — follow the mean. So the profile's send, flush and
 * gaps are fitted through the per-size means, each weighted by its checkpoint count (a mean of n checkpoints
 * is n times as sure); the pause, checked per size against QEMU's median, is a line in dirty pages through
 * the per-size medians, each size alike (minimising relative error), its slope split
 * between the link and the flush in the ratio of their own fitted slopes; half the mean request → reply
 * time becomes the one-way latency (it holds the secondary's VM stop, which the engine does not model, and
 * sets the cycle of an overrunning timer); what is left of the intercept goes to the secondary's device
 * load (as much as QEMU spends between vmstate-received and the resume, less the flush) and the rest to the
 * primary's prep. Points of several runs can be pooled (one point per run and size).
 */
import type { CostModel } from '../engine/params.ts';
import { PAGE_HEADER_WIRE_BYTES } from '../engine/params.ts';
import { PAGE_SIZE } from '../engine/protocol/delta.ts';
import type { LinkParams } from '../runtime/embedded/link.ts';
import type { CheckpointFigures } from './figures.ts';
import { fitLine, type LineFit, mean, median } from './fit.ts';

/** Staging into the colo cache is part of QEMU's measured send: the engine's own staging is made free. */
const FREE_STAGING_BYTES_PER_MS = 1e12;

/** One dirty size of one run: means of its steady checkpoints (and the median pause, for the check). */
export interface SizePoint {
  /** Dirty pages per epoch, pages. */
  pages: number;
  /** Checkpoints averaged. */
  n: number;
  /** Means, ms: pause (stop → resume), send (stop → vmstate-received), flush, request → reply, and
   * vmstate-received → resume less the flush. */
  pauseMs: number;
  sendMs: number;
  flushMs: number;
  replyMs: number;
  restMs: number;
  /** Median pause, ms (what the tolerance is checked against). */
  pauseMedianMs: number;
}

/** How far the fitted pause is from one point. */
export interface PauseResidual {
  pages: number;
  /** The profile's pause at this size, ms. */
  predictedMs: number;
  /** The point's mean and median pause, ms. */
  meanMs: number;
  medianMs: number;
  /** (predicted − mean) / mean and (predicted − median) / median. */
  vsMean: number;
  vsMedian: number;
}

/** A calibrated profile and the fits it came from. */
export interface Calibration {
  link: LinkParams;
  costs: CostModel;
  /** Lines through the per-size means, ms against pages: pause, send (stop → vmstate-received), flush. */
  pause: LineFit;
  send: LineFit;
  flush: LineFit;
  /** Mean checkpoint-request → checkpoint-reply on the primary, ms. */
  replyMs: number;
  /** Mean of pause − send − flush (vmstate-received → resume, less the flush), ms. */
  restMs: number;
  /** The fitted pause at each point against that point's mean and median. */
  residuals: PauseResidual[];
}

/** Per dirty size, the median of `pick` (used for the report's shapes). */
export function mediansBySize(figs: readonly CheckpointFigures[], pick: (f: CheckpointFigures) => number) {
  const sizes = [...new Set(figs.map((f) => f.pages))].sort((a, b) => a - b);
  return sizes.map((x) => ({ x, y: median(figs.filter((f) => f.pages === x).map(pick)) }));
}

/** One run's checkpoints reduced to a point per dirty size (sizes ascending). */
export function sizePoints(figs: readonly CheckpointFigures[]): SizePoint[] {
  const sizes = [...new Set(figs.map((f) => f.pages))].sort((a, b) => a - b);
  return sizes.map((pages) => {
    const at = figs.filter((f) => f.pages === pages);
    return {
      pages,
      n: at.length,
      pauseMs: mean(at.map((f) => f.pauseMs)),
      sendMs: mean(at.map((f) => f.sendMs)),
      flushMs: mean(at.map((f) => f.flushMs)),
      replyMs: mean(at.map((f) => f.replyMs)),
      restMs: mean(at.map((f) => f.pauseMs - f.sendMs - f.flushMs)),
      pauseMedianMs: median(at.map((f) => f.pauseMs)),
    };
  });
}

/** Mean of `pick` over points, each weighted by its checkpoint count. */
function weighted(points: readonly SizePoint[], pick: (p: SizePoint) => number): number {
  const ok = points.filter((p) => Number.isFinite(pick(p)) && p.n > 0);
  const n = ok.reduce((a, p) => a + p.n, 0);
  return n > 0 ? ok.reduce((a, p) => a + p.n * pick(p), 0) / n : Number.NaN;
}

/**
 * Fits the profile to size points (at least two distinct dirty sizes; one run's, or several runs' pooled).
 * `deviceStateBytes` is what the engine will send as device state each checkpoint (its transfer is part of
 * the fixed pause).
 */
export function calibrate(points: readonly SizePoint[], deviceStateBytes: number): Calibration {
  const line = (pick: (p: SizePoint) => number, relative = false) =>
    fitLine(
      points.map((p) => ({ x: p.pages, y: pick(p), w: p.n })),
      relative,
    );
  // The pause is checked per size against QEMU's median, so its line goes through the per-size medians,
  // each size alike (relative error): weighted by count, the overrunning scenario's many checkpoints pulled
  // the line through its own point and left a short scenario's median out by more than the tolerance.
  const pause = fitLine(
    points.map((p) => ({ x: p.pages, y: p.pauseMedianMs })),
    true,
  );
  const send = line((p) => p.sendMs);
  const flush = line((p) => p.flushMs);
  const replyMs = weighted(points, (p) => p.replyMs);
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
  const restMs = Math.max(
    0,
    weighted(points, (p) => p.restMs),
  );
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
    residuals: pauseResiduals(pause, points),
  };
}

/** A pause line (ms against pages) at each point, against that point's mean and median pause. */
export function pauseResiduals(pause: LineFit, points: readonly SizePoint[]): PauseResidual[] {
  return points.map((p) => {
    const predictedMs = pause.intercept + pause.slope * p.pages;
    return {
      pages: p.pages,
      predictedMs,
      meanMs: p.pauseMs,
      medianMs: p.pauseMedianMs,
      vsMean: (predictedMs - p.pauseMs) / p.pauseMs,
      vsMedian: (predictedMs - p.pauseMedianMs) / p.pauseMedianMs,
    };
  });
}
