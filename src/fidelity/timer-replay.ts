/**
 * QEMU's own checkpoint durations replayed through the engine's checkpoint timer (the engine's primary,
 * driven by hand: the secondary's answers come at QEMU's measured offsets from each request). In order,
 * the replay checks the timer semantics alone: it should start as many checkpoints as QEMU did. Resampled,
 * it measures how much QEMU's own count moves with the order of its checkpoint times — the spread a second
 * QEMU run of the same scenario would show — against which the engine's count is read.
 */
import { installCodec } from '../engine/codec.ts';
import { DEFAULT_PARAMS } from '../engine/params.ts';
import { primaryStep } from '../engine/primary/primary.ts';
import { createPrimary } from '../engine/primary/state.ts';
import type { ColoMessage } from '../engine/protocol/messages.ts';
import { hash32 } from '../engine/rng.ts';
import { WIRE_CODEC } from '../wire/engine-codec.ts';
import { BACK_TO_BACK_MS } from './anatomy.ts';
import type { SideCheckpoint } from './checkpoints.ts';
import { mean } from './fit.ts';

// The primary validates what it receives with the wire codec, as in every runtime.
installCodec(WIRE_CODEC);

/** One checkpoint's answers, as offsets from its checkpoint-request, ms. */
export interface CheckpointOffsets {
  /** checkpoint-reply, vmstate-received and vmstate-loaded arrive this long after the request, ms. */
  replyMs: number;
  receivedMs: number;
  loadedMs: number;
}

/** The offsets of a side's complete checkpoints (the primary's trace: reply, received, resume). */
export function offsetsOf(checkpoints: readonly SideCheckpoint[]): CheckpointOffsets[] {
  return checkpoints
    .filter((c) => c.complete && Number.isFinite(c.receivedAt))
    .map((c) => ({
      replyMs: c.stopAt - c.requestAt,
      receivedMs: c.receivedAt - c.requestAt,
      loadedMs: c.runAt - c.requestAt,
    }));
}

/** A replay's schedule. */
export interface TimerReplay {
  /** `x-checkpoint-delay` plus the timer callback's lateness: the period QEMU's timer really had, ms. */
  periodMs: number;
  /** Window from checkpoint-ready, ms. */
  windowMs: number;
  /** The answers of the n-th checkpoint (wrapped when the replay needs more than there are). */
  offsets: (n: number) => CheckpointOffsets;
  /**
   * The COLO loop's wake-up, ms (0 when absent): a request that finds the loop waiting leaves this long after
   * its tick, and QEMU's offsets count from the request.
   */
  wakeMs?: number;
}

/**
 * Runs the engine's primary through `r` and returns how many checkpoints it started in the window. The
 * primary's own VM, RAM and sends are left out: only its timer, its binary event and the instants of the
 * secondary's answers decide when a checkpoint starts.
 */
export function replayCount(r: TimerReplay): number {
  const params = {
    ...DEFAULT_PARAMS,
    vmId: 'replay',
    guestBytes: 16 * 4096,
    // Nothing is transferred: no device state to build and hash each checkpoint.
    deviceStateBytes: 0,
    workload: { kind: 'idle' as const },
    policy: 'none' as const,
    checkpointDelayMs: r.periodMs,
    costs: { ...DEFAULT_PARAMS.costs, wakeMs: r.wakeMs ?? 0 },
    heartbeatTimeoutMs: 0,
    checkpointTimeoutMs: Number.MAX_SAFE_INTEGER / 4,
    applyTimeoutMs: Number.MAX_SAFE_INTEGER / 4,
    pendingCheckIntervalMs: Number.MAX_SAFE_INTEGER / 4,
    heartbeatIntervalMs: Number.MAX_SAFE_INTEGER / 4,
  };
  const primary = createPrimary(params, 0);
  const answers: { at: number; type: ColoMessage['type'] }[] = [];
  let started = 0;
  const deliver = (now: number, input: Parameters<typeof primaryStep>[3]) => {
    for (const e of primaryStep(primary, params, now, input)) {
      if (e.type === 'rejected')
        throw new Error(`timer replay: the primary refused an input: ${e.error.message}`);
      if (e.type !== 'send' || e.message.type !== 'checkpoint-request') continue;
      const o = r.offsets(started++);
      const sent = now + e.afterMs;
      answers.push(
        { at: sent + o.replyMs, type: 'checkpoint-reply' },
        { at: sent + o.receivedMs, type: 'vmstate-received' },
        { at: sent + o.loadedMs, type: 'vmstate-loaded' },
      );
    }
  };
  const message = (type: ColoMessage['type']): ColoMessage => {
    const env = { v: 1 as const, vmId: params.vmId, epoch: primary.epoch, seq: primary.inSeq };
    if (type === 'checkpoint-reply') return { ...env, type, appliedRounds: [] };
    if (type === 'vmstate-loaded') return { ...env, type, applyMemMs: 0, applyDevMs: 0 };
    return { ...env, type } as ColoMessage;
  };
  deliver(0, { type: 'message', message: message('checkpoint-ready') });
  for (;;) {
    const next = answers[0];
    const tickAt = primary.nextCheckpointAt;
    // An answer due at the same instant as a tick goes first (the reset before the set).
    const now = next && next.at <= tickAt ? next.at : tickAt;
    if (now > r.windowMs) break;
    if (next && next.at <= tickAt) {
      answers.shift();
      deliver(now, { type: 'message', message: message(next.type) });
    } else deliver(now, { type: 'tick' });
  }
  return started;
}

/** The spread of a replayed count over resampled orders. */
export interface CountSpread {
  /** Checkpoints with QEMU's durations in their own order. */
  inOrder: number;
  /** Mean and standard deviation over `samples` resamplings (with replacement), checkpoints. */
  mean: number;
  sd: number;
  samples: number;
}

/**
 * Replays QEMU's offsets in their order and in `samples` seeded resamplings with replacement (a bootstrap:
 * as many other QEMU runs of the scenario as the durations it measured allow), with the loop's `wakeMs`.
 */
export function countSpread(
  offsets: readonly CheckpointOffsets[],
  periodMs: number,
  windowMs: number,
  samples = 200,
  wakeMs = 0,
): CountSpread {
  if (offsets.length === 0) throw new Error('timer replay: no complete checkpoint to replay');
  const pick = (n: number) => offsets[n % offsets.length] as CheckpointOffsets;
  const inOrder = replayCount({ periodMs, windowMs, offsets: pick, wakeMs });
  const counts: number[] = [];
  for (let s = 0; s < samples; s++) {
    const drawn = (n: number) => offsets[hash32(s, n, 0x7e) % offsets.length] as CheckpointOffsets;
    counts.push(replayCount({ periodMs, windowMs, offsets: drawn, wakeMs }));
  }
  const m = mean(counts);
  const sd = Math.sqrt(counts.reduce((a, c) => a + (c - m) ** 2, 0) / Math.max(1, counts.length - 1));
  return { inOrder, mean: m, sd, samples };
}

/**
 * How late QEMU's timer callback runs, ms: the mean request interval less the delay, over scenarios whose
 * every request came from a tick (no checkpoint outlasted the delay). QEMU re-arms from the late callback,
 * so its timer's period is the delay plus this.
 */
export function timerLateness(
  scenarios: readonly { delayMs: number; requests: readonly number[] }[],
): number {
  const late: number[] = [];
  for (const s of scenarios) {
    for (let i = 1; i < s.requests.length; i++) {
      late.push((s.requests[i] as number) - (s.requests[i - 1] as number) - s.delayMs);
    }
  }
  return late.length > 0 ? Math.max(0, mean(late)) : 0;
}

/** Fewer request pairs than this and {@link scenarioLateness} gives no estimate. */
export const MIN_LATENESS_PAIRS = 5;

/**
 * How late QEMU's timer callback ran in one scenario, ms, fitted to its own trace (the host's load shifts
 * from one scenario to the next). The ticks are a chain of period delay + lateness whatever the checkpoints
 * do, and a request that found the COLO loop waiting left its tick's wake-up (taken equal to the lateness, as
 * the engine's `wakeMs`) after it. Between two such requests `a` and `b` the chain made k periods, k being the
 * first tick at or after the resume before `b`; the lateness is the one whose chain puts each `b` nearest its
 * request (least squares over a 0.25 ms grid up to the delay). Where no checkpoint outlasts the delay this is
 * the mean request interval less the delay ({@link timerLateness}); undefined with fewer than
 * {@link MIN_LATENESS_PAIRS} pairs, or when more than a quarter of them span more than 1.5 delays (under an
 * overrunning delay the number of periods in a pair is in doubt and the fit is not to be trusted).
 */
export function scenarioLateness(
  checkpoints: readonly SideCheckpoint[],
  delayMs: number,
): number | undefined {
  const cs = checkpoints.filter((c) => c.complete);
  const waited: number[] = [];
  for (let i = 0; i < cs.length; i++) {
    const prev = cs[i - 1];
    if (!prev || (cs[i] as SideCheckpoint).requestAt - prev.runAt >= BACK_TO_BACK_MS) waited.push(i);
  }
  const pairs: { from: number; to: number; resumeAt: number }[] = [];
  for (let j = 1; j < waited.length; j++) {
    const a = cs[waited[j - 1] as number] as SideCheckpoint;
    const b = waited[j] as number;
    pairs.push({
      from: a.requestAt,
      to: (cs[b] as SideCheckpoint).requestAt,
      resumeAt: (cs[b - 1] as SideCheckpoint).runAt,
    });
  }
  if (pairs.length < MIN_LATENESS_PAIRS) return undefined;
  // Where many pairs span several ticks (most checkpoints outlast the delay), how many is itself in doubt: a
  // shorter period fits as well with one more tick, so the fit says nothing.
  const spanned = pairs.filter((p) => p.to - p.from > 1.5 * delayMs).length;
  if (spanned > pairs.length / 4) return undefined;
  let best = 0;
  let bestCost = Number.POSITIVE_INFINITY;
  for (let late = 0; late <= delayMs; late += 0.25) {
    const period = delayMs + late;
    let cost = 0;
    for (const p of pairs) {
      const tick = p.from - late;
      const k = Math.max(1, Math.ceil((p.resumeAt - tick) / period));
      cost += (p.to - (tick + k * period + late)) ** 2;
    }
    if (cost < bestCost) {
      bestCost = cost;
      best = late;
    }
  }
  return best;
}
