/**
 * Calibrates the engine's link and cost model from a QEMU reference run (`--link-profile
 * qemu-tcg-loopback`): the send as a line in dirty pages (bandwidth and a fixed part), the flush as a line
 * (copy rate), the rest of the pause (device load, resume, the `vmstate-loaded` round trip with its
 * delayed ACK) as a constant, and half the request → reply time as the link's one-way latency (it holds the
 * secondary's VM stop, which the engine does not model, and sets the cycle of an overrunning timer).
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
  /** send ms = intercept + slope · pages. */
  send: LineFit;
  /** flush ms = intercept + slope · pages. */
  flush: LineFit;
  /** Median of pause − send − flush, ms. */
  restMs: number;
  /** Median checkpoint-request → checkpoint-reply on the primary, ms. */
  replyMs: number;
}

/** Fits the profile to QEMU checkpoints (at least two distinct dirty sizes). */
export function calibrate(figs: readonly CheckpointFigures[]): Calibration {
  const replyMs = median(figs.map((f) => f.replyMs));
  const latencyMs = Math.max(0, replyMs / 2);
  const send = fitLine(figs.map((f) => ({ x: f.pages, y: f.sendMs })));
  const flush = fitLine(figs.map((f) => ({ x: f.pages, y: f.flushMs })));
  const restMs = Math.max(0, median(figs.map((f) => f.pauseMs - f.sendMs - f.flushMs)));
  const pageWire = PAGE_SIZE + PAGE_HEADER_WIRE_BYTES;
  // A slope at or below zero (noise on a tiny range) means the cost does not grow measurably: model it free.
  const bandwidth = send.slope > 0 ? (pageWire * 1000) / send.slope : 1e12;
  const flushRate = flush.slope > 0 ? PAGE_SIZE / flush.slope : 1e12;
  const link = { bandwidthBytesPerSec: bandwidth, latencyMs };
  // In the engine the send spans the last byte's latency and vmstate-received's; the rest, vmstate-loaded's.
  return {
    link,
    costs: {
      prepMs: Math.max(0, send.intercept - 2 * latencyMs),
      flushBytesPerMs: flushRate,
      deviceLoadMs: Math.max(0, restMs + Math.max(0, flush.intercept) - latencyMs),
      applyBytesPerMs: FREE_STAGING_BYTES_PER_MS,
    },
    send,
    flush,
    restMs,
    replyMs,
  };
}
