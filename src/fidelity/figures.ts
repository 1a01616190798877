/**
 * Per-checkpoint figures of one run, on either side of the comparison: dirty pages, bytes on the link,
 * the primary's pause, the send and the secondary's flush.
 */
import type { CheckpointRecord } from '../engine/metrics/records.ts';
import type { SideTrace } from './checkpoints.ts';
import { engineCheckpointBytes } from './engine-scenario.ts';
import type { LinkChunk } from './link-meter.ts';

/** One checkpoint's figures. Times in ms, sizes in bytes. */
export interface CheckpointFigures {
  /** Pages the secondary flushed (QEMU's `colo_flush_ram_cache_begin`), pages. */
  pages: number;
  /** Bytes primary → secondary for this checkpoint, bytes. */
  bytes: number;
  /** Primary stopped → resumed, ms. */
  pauseMs: number;
  /** Primary stopped → `vmstate-received` back: the epoch's transfer and load into the cache, ms. */
  sendMs: number;
  /** Secondary's colo-cache flush, ms. */
  flushMs: number;
  /** checkpoint-request → checkpoint-reply on the primary (the secondary stops its VM meanwhile), ms. */
  replyMs: number;
}

/**
 * Figures of a QEMU run: primary and secondary checkpoints paired in order (both complete), bytes from the
 * link meter between one checkpoint-request and the next.
 */
export function qemuFigures(p: SideTrace, s: SideTrace, link: readonly LinkChunk[]): CheckpointFigures[] {
  const out: CheckpointFigures[] = [];
  const n = Math.min(p.checkpoints.length, s.checkpoints.length);
  for (let i = 0; i < n; i++) {
    const pc = p.checkpoints[i];
    const sc = s.checkpoints[i];
    if (!pc?.complete || !sc?.complete) continue;
    const from = pc.requestAt;
    const to = p.checkpoints[i + 1]?.requestAt ?? Number.POSITIVE_INFINITY;
    let bytes = 0;
    for (const c of link) if (c.dir === 'p2s' && c.at >= from && c.at < to) bytes += c.bytes;
    out.push({
      pages: sc.dirtyPages,
      bytes,
      pauseMs: pc.runAt - pc.stopAt,
      sendMs: pc.receivedAt - pc.stopAt,
      flushMs: sc.flushEndAt - sc.flushBeginAt,
      replyMs: pc.stopAt - pc.requestAt,
    });
  }
  return out;
}

/** Figures of an engine run, from its checkpoint records. */
export function engineFigures(records: readonly CheckpointRecord[]): CheckpointFigures[] {
  return records.map((c) => ({
    pages: c.pages,
    bytes: engineCheckpointBytes(c),
    pauseMs: c.downtimeMs,
    sendMs: c.phases.prep + c.phases.memory + c.phases.vmstate + c.phases.received,
    flushMs: c.phases.applyMem,
    replyMs: c.messageMs,
  }));
}
