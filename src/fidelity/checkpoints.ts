/**
 * Cuts one side's COLO trace (QEMU's, parsed, or the engine's) into checkpoints: per checkpoint, the steps
 * in order — messages sent and received, VM stop and resume, the colo-cache flush — and the instants the
 * comparison needs. Only QEMU's message vocabulary counts as a step: the engine's own messages (the
 * `delta` objects that carry what QEMU streams raw, heartbeats, background rounds) are left out and named
 * as deviations in docs/fidelity.md.
 */
import type { TraceEffect } from '../engine/effects.ts';
import { COLO_MESSAGE_TYPES } from '../engine/protocol/messages.ts';

/** Which node a trace is from. */
export type Side = 'primary' | 'secondary';

/** How many of the engine's message types are QEMU's own (`COLO_MESSAGE_TYPES` lists QAPI's first). */
const QAPI_MESSAGE_COUNT = 7;

/** QEMU 7.2's COLO messages (`COLOMessage`). */
export const QEMU_MESSAGES: ReadonlySet<string> = new Set(COLO_MESSAGE_TYPES.slice(0, QAPI_MESSAGE_COUNT));

/** One checkpoint as one side saw it. Times in ms (NaN where the side has no such event). */
export interface SideCheckpoint {
  /** Steps in order: `send:<msg>`, `recv:<msg>`, `stop`, `run`, `flush`. */
  steps: string[];
  /** The checkpoint-request (sent by the primary, received by the secondary), ms. */
  requestAt: number;
  /** VM stop and resume, ms. */
  stopAt: number;
  runAt: number;
  /** `checkpoint-reply`, `vmstate-received` and `vmstate-loaded` (received by the primary, sent by the
   * secondary), ms. */
  replyAt: number;
  receivedAt: number;
  loadedAt: number;
  /** Flush of the colo cache (secondary), ms, and the pages it flushed. */
  flushBeginAt: number;
  flushEndAt: number;
  dirtyPages: number;
  /** True when the checkpoint ran to its end (primary resumed / secondary sent vmstate-loaded). */
  complete: boolean;
}

/** A side's trace, cut up. */
export interface SideTrace {
  /** Steps before the first checkpoint-request (the start of COLO). */
  startup: string[];
  /** Checkpoints in order. */
  checkpoints: SideCheckpoint[];
  /** Failover states in order (`colo_failover_set_state`). */
  failover: string[];
}

function stepOf(e: TraceEffect): string | undefined {
  switch (e.name) {
    case 'colo_send_message':
    case 'colo_receive_message': {
      const msg = String(e.fields.msg);
      if (!QEMU_MESSAGES.has(msg)) return undefined;
      return `${e.name === 'colo_send_message' ? 'send' : 'recv'}:${msg}`;
    }
    case 'colo_vm_state_change':
      return e.fields.new === 'stop' ? 'stop' : e.fields.new === 'run' ? 'run' : undefined;
    case 'colo_flush_ram_cache_begin':
      return 'flush';
    default:
      return undefined;
  }
}

function fresh(at: number): SideCheckpoint {
  const nan = Number.NaN;
  return {
    steps: [],
    requestAt: at,
    stopAt: nan,
    runAt: nan,
    replyAt: nan,
    receivedAt: nan,
    loadedAt: nan,
    flushBeginAt: nan,
    flushEndAt: nan,
    dirtyPages: nan,
    complete: false,
  };
}

/** Cuts `events` (one side, in order) into checkpoints. */
export function cutCheckpoints(events: readonly TraceEffect[], side: Side): SideTrace {
  const out: SideTrace = { startup: [], checkpoints: [], failover: [] };
  const start = side === 'primary' ? 'send:checkpoint-request' : 'recv:checkpoint-request';
  const end = side === 'primary' ? 'run' : 'send:vmstate-loaded';
  let cur: SideCheckpoint | undefined;
  for (const e of events) {
    if (e.name === 'colo_failover_set_state') {
      out.failover.push(String(e.fields.state));
      continue;
    }
    if (e.name === 'colo_flush_ram_cache_end' && cur) cur.flushEndAt = e.at;
    const step = stepOf(e);
    if (step === undefined) continue;
    if (step === start) {
      cur = fresh(e.at);
      out.checkpoints.push(cur);
    }
    if (!cur) {
      out.startup.push(step);
      continue;
    }
    if (cur.complete) continue; // after the end and before the next request: not part of a checkpoint
    cur.steps.push(step);
    if (step === 'stop') cur.stopAt = e.at;
    if (step === 'run') cur.runAt = e.at;
    if (step.endsWith(':checkpoint-reply')) cur.replyAt = e.at;
    if (step.endsWith(':vmstate-received')) cur.receivedAt = e.at;
    if (step.endsWith(':vmstate-loaded')) cur.loadedAt = e.at;
    if (step === 'flush') {
      cur.flushBeginAt = e.at;
      cur.dirtyPages = Number(e.fields.dirty_pages);
    }
    if (step === end) cur.complete = true;
  }
  return out;
}
