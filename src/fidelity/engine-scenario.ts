/**
 * The reference scenario run through the engine (embedded runtime, virtual time): the same delay, dirty
 * pages per epoch, device-state size and duration as a QEMU run, with QEMU's shape — no background
 * policy, no heartbeats, a running secondary, every page non-zero.
 */
import type { TraceEffect } from '../engine/effects.ts';
import type { CheckpointRecord } from '../engine/metrics/records.ts';
import {
  type ColoParams,
  type CostModel,
  DEFAULT_PARAMS,
  MESSAGE_WIRE_BYTES,
  PAGE_HEADER_WIRE_BYTES,
  type TimerLateness,
  type VmStartRunStep,
} from '../engine/params.ts';
import { PAGE_SIZE } from '../engine/protocol/delta.ts';
import type { ColoMessage } from '../engine/protocol/messages.ts';
import type { WorkloadSpec } from '../engine/workload/spec.ts';
import type { LinkParams } from '../runtime/embedded/link.ts';
import { runEmbedded } from '../runtime/embedded/run.ts';
import { type HostStall, type HostTimeline, stallAt } from './host-timeline.ts';
import { drawStall, type StallFit } from './stalls.ts';
import type { TickLateness } from './tick-lateness.ts';

/** Guest RAM of the reference VMs (`-m 512M`), bytes. */
export const REFERENCE_GUEST_BYTES = 512 * 1024 * 1024;

/** What to run through the engine. */
export interface EngineScenario {
  /** Pages dirtied per epoch, pages. */
  pages: number;
  /** Checkpoint delay, ms. */
  delayMs: number;
  /** Time from `checkpoint-ready` to the end, ms. */
  durationMs: number;
  /** Device state per checkpoint, bytes. */
  deviceStateBytes: number;
  /** Link and local costs (a calibrated profile, or a guess). */
  link: LinkParams;
  costs: CostModel;
  /** Fail over (the primary dies, the secondary is told) at the end. */
  failover: boolean;
  /** Each checkpoint's request → reply stall is drawn from this fit (stalls.ts); none when absent. */
  replyStall?: StallFit;
  /** Seed of the engine run (its workload and the stall draws); 1 when absent. */
  seed?: number;
  /**
   * The host's stalls at each moment of a QEMU run (host-timeline.ts), met by the engine's checkpoint that
   * starts at that moment after its own checkpoint-ready (`readyAt`, engine ms); instead of `replyStall`.
   */
  host?: {
    timeline: HostTimeline;
    readyAt: number;
    lateness?: readonly TickLateness[];
    /** QEMU's resumes (ms after its checkpoint-ready) and each one's vCPU run inside `vm_start`, ms. */
    vmStartRuns?: readonly { atMs: number; runMs: number }[];
  };
}

/** Salt of the reply stall's draws. */
const REPLY_SALT = 1;

/** What the engine produced, by side. */
export interface EngineRun {
  primary: TraceEffect[];
  secondary: TraceEffect[];
  checkpoints: CheckpointRecord[];
  /** When the primary received checkpoint-ready, ms (engine time). */
  readyAt: number;
}

/**
 * Time the reference guest takes for one pass over its pages under TCG, ms: it rewrites its whole set within
 * about a millisecond of running (docs/fidelity.md, "Timer"), so every epoch in which the VM ran at all carries
 * all `pages` pages, even the ~1 ms a back-to-back checkpoint lets it run.
 */
export const GUEST_PASS_MS = 1;

/** The workload that dirties exactly `pages` pages per epoch: the same pages, one pass per {@link GUEST_PASS_MS}. */
function dirtying(pages: number): WorkloadSpec {
  if (pages === 0) return { kind: 'idle' };
  return { kind: 'sequential', rate: (pages * 1000) / GUEST_PASS_MS, spanPages: pages };
}

/** Engine parameters of a reference scenario. */
export function engineParams(s: EngineScenario): ColoParams {
  const workload = dirtying(s.pages);
  return {
    ...DEFAULT_PARAMS,
    vmId: 'fidelity',
    seed: s.seed ?? DEFAULT_PARAMS.seed,
    guestBytes: REFERENCE_GUEST_BYTES,
    contentMix: { zero: 0, compressible: 0 },
    workload,
    // QEMU's SVM runs the same guest and re-dirties the same pages, so its flush is N pages. The engine's
    // sequential stream starts at a seed-drawn page per node, so an SVM running it would add N more:
    // the SVM runs (it stops and resumes as QEMU's does) without writing.
    secondaryMode: 'running',
    secondaryWorkload: { kind: 'idle' },
    checkpointDelayMs: s.delayMs,
    policy: 'none',
    heartbeatTimeoutMs: 0,
    applyTimeoutMs: 60_000,
    checkpointTimeoutMs: 60_000,
    deviceStateBytes: s.deviceStateBytes,
    payload: 'modelled',
    costs: {
      ...s.costs,
      ...(s.host?.lateness ? { timerLateness: timerSchedule(s.host, s.delayMs) } : {}),
      ...(s.host?.vmStartRuns?.length
        ? { vmStartRuns: vmStartSchedule(s.host.readyAt, s.host.vmStartRuns) }
        : {}),
    },
  };
}

/**
 * QEMU's vCPU run inside each resume as a step schedule on the engine's clock (its checkpoint-ready at
 * `readyAt`): each engine resume runs the run of QEMU's resume nearest in time — each step holds from halfway
 * after the resume before it (the first from the start).
 */
export function vmStartSchedule(
  readyAt: number,
  runs: readonly { atMs: number; runMs: number }[],
): VmStartRunStep[] {
  const sorted = [...runs].sort((a, b) => a.atMs - b.atMs);
  return sorted.map((r, i) => {
    const prev = sorted[i - 1];
    return { fromMs: prev ? readyAt + (prev.atMs + r.atMs) / 2 : 0, runMs: r.runMs };
  });
}

/**
 * QEMU's tick lateness, stretch by stretch, on the engine's clock (its checkpoint-ready at `readyAt`). Each
 * stretch holds from half a delay before its first tick is due: the previous stretch's last tick is due a
 * whole period earlier, and a tick due a hair early (rounding) still takes its own stretch. A stretch's wake-up
 * was read at its last tick alone (the request that ended it), so it holds a quarter of a delay either side of
 * that tick's firing and nowhere else: no other tick fires that close to it.
 */
export function timerSchedule(
  host: { readyAt: number; lateness?: readonly TickLateness[] },
  delayMs: number,
): TimerLateness[] {
  return (host.lateness ?? []).flatMap((l) => {
    const main = { fromMs: host.readyAt + l.atMs - delayMs / 2, lateMs: l.lateMs };
    if (l.wakeMs <= 0) return [main];
    const lastTick = host.readyAt + l.atMs - delayMs + l.ticks * (delayMs + l.lateMs);
    return [
      main,
      { fromMs: lastTick - delayMs / 4, lateMs: l.lateMs, wakeMs: l.wakeMs },
      { fromMs: lastTick + delayMs / 4, lateMs: l.lateMs },
    ];
  });
}

/**
 * The send stall an engine checkpoint meets, ms, given its first RAM object's size (bytes): QEMU's stall
 * beyond its own send of QEMU's epoch's pages, less the engine's send of the pages it carries beyond QEMU's
 * epoch. QEMU's epoch carries fewer pages than the engine's where its vCPU got no CPU after the resume (the
 * engine's guest runs from its resume on: it does not model the starved vCPU); the same contention stalled
 * QEMU's send, so the engine's extra pages cross inside that stall, not after it — the engine's send is then
 * QEMU's, or its own where that is longer. Fewer pages than QEMU's keep the stall whole (a quicker send).
 */
export function sendStall(met: HostStall, ramObjectBytes: number, perPageMs: number): number {
  if (met.pages === undefined) return met.sendMs;
  // A modelled RAM object: one message's bytes, then each page with its header (none is zero here).
  const pages = Math.max(
    0,
    Math.round((ramObjectBytes - MESSAGE_WIRE_BYTES) / (PAGE_SIZE + PAGE_HEADER_WIRE_BYTES)),
  );
  return Math.max(0, met.sendMs - Math.max(0, pages - met.pages) * perPageMs);
}

/** Runs `s` through the engine and splits its trace by side. */
export function runEngineScenario(s: EngineScenario): EngineRun {
  const params = engineParams(s);
  // The engine's COLO starts at once; the window is counted from checkpoint-ready as QEMU's is.
  const lead = 2 * s.link.latencyMs + 1;
  const end = lead + s.durationMs;
  const stall = s.replyStall;
  const host = s.host;
  // The QEMU checkpoint whose stalls the current engine checkpoint meets (chosen at its request), and whether
  // its send stall is still to come.
  let met: HostStall | undefined;
  let sendDue = false;
  // The engine's own send of one page, ms (its link's rate).
  const perPageMs = ((PAGE_SIZE + PAGE_HEADER_WIRE_BYTES) * 1000) / s.link.bandwidthBytesPerSec;
  const primaryStall = (m: ColoMessage, at: number): number => {
    if (host) {
      if (m.type === 'checkpoint-request') {
        met = stallAt(host.timeline, at - host.readyAt);
        sendDue = true;
        return met.replyMs;
      }
      // The send's stall holds up the epoch's first RAM object (always sent, possibly empty, right after
      // vmstate-send); the link keeps the rest behind it.
      if (m.type === 'delta' && m.kind === 'checkpoint-ram' && sendDue && met) {
        sendDue = false;
        // After the prep, as vmstate-send (which leaves after it) would have been held.
        const held = sendStall(met, m.claim.size, perPageMs);
        return held > 0 ? params.costs.prepMs + held : 0;
      }
      return 0;
    }
    return stall && m.type === 'checkpoint-request' ? drawStall(stall, params.seed, m.epoch, REPLY_SALT) : 0;
  };
  const result = runEmbedded({
    params,
    link: s.link,
    durationMs: end + (s.failover ? 10_000 : 0),
    trace: true,
    faults: {
      ...(s.failover ? { primaryDiesAt: end, failoverAt: end + 1 } : {}),
      // The request leaves later by its stall: the secondary stops and replies that much later, as QEMU's.
      ...(stall || host ? { stallMs: primaryStall } : {}),
      // The rest of a host-timeline checkpoint's stall holds up vmstate-loaded, so the primary resumes later.
      ...(host
        ? {
            secondaryStallMs: (m: { type: string }) => (m.type === 'vmstate-loaded' ? (met?.restMs ?? 0) : 0),
          }
        : {}),
    },
  });
  const primary = result.trace.filter((e) => e.node === 'primary');
  const secondary = result.trace.filter((e) => e.node === 'secondary');
  const ready = primary.find((e) => e.name === 'colo_receive_message' && e.fields.msg === 'checkpoint-ready');
  const readyAt = ready?.at ?? 0;
  return {
    primary: primary.filter((e) => e.at <= readyAt + s.durationMs || e.name === 'colo_failover_set_state'),
    secondary: secondary.filter(
      (e) => e.at <= readyAt + s.durationMs || e.name === 'colo_failover_set_state',
    ),
    checkpoints: result.checkpoints,
    readyAt,
  };
}

/**
 * Bytes a checkpoint put on the engine's link: RAM and device state as recorded, plus the three control
 * messages the primary sends (checkpoint-request, vmstate-send, vmstate-size), bytes.
 */
export function engineCheckpointBytes(c: CheckpointRecord): number {
  return c.bytes + 3 * MESSAGE_WIRE_BYTES;
}
