import { describe, expect, it } from 'vitest';
import { primaryStep } from '../../../src/engine/primary/primary.ts';
import type { PrimaryPhase } from '../../../src/engine/primary/state.ts';
import { heartbeatSlackMs } from '../../../src/engine/secondary/heartbeat.ts';
import { checkpointWaitMs, secondaryStep } from '../../../src/engine/secondary/secondary.ts';
import { createSecondary } from '../../../src/engine/secondary/state.ts';
import { runEmbedded } from '../../../src/runtime/embedded/run.ts';
import { verifyRun } from '../../../src/runtime/verify.ts';
import { rejections, sent, testParams } from '../../helpers/engine.ts';
import { Pair, type Queued } from '../../helpers/pair.ts';

const link = { bandwidthBytesPerSec: 50e6, latencyMs: 0.2 };

describe('apply timeout', () => {
  it('a background load whose data never comes is abandoned at the deadline, with nothing applied', () => {
    // No heartbeat watchdog: this test moves time by hand.
    const params = testParams({ policy: 'fixed', heartbeatTimeoutMs: 0 });
    const pair = new Pair(params);
    pair.until(() => pair.secondary.phase === 'bg-loading');
    // Drop the round's data: the secondary waits, then gives up at its deadline.
    const i = pair.queue.findIndex((q) => q.to === 'secondary' && q.message.type === 'delta');
    pair.queue.splice(i, 1);
    const cacheBefore = new Map(pair.secondary.cache);
    const deadline = pair.secondary.deadline;
    expect(deadline).toBe(pair.now + params.applyTimeoutMs);
    secondaryStep(pair.secondary, params, deadline - 1, { type: 'tick' });
    expect(pair.secondary.phase).toBe('bg-loading');
    const fx = secondaryStep(pair.secondary, params, deadline, { type: 'tick' });
    expect(pair.secondary.phase).toBe('idle');
    expect(new Map(pair.secondary.cache)).toEqual(cacheBefore);
    expect(pair.secondary.appliedRounds).toEqual([]);
    expect(fx.some((e) => e.type === 'trace' && e.name === 'colo_background_round_abandoned')).toBe(true);
  });

  it('a stalled background round is abandoned, its pages cross again at the checkpoint, and replicas agree', () => {
    const params = testParams({ policy: 'fixed', applyTimeoutMs: 50 });
    const result = runEmbedded({
      params,
      link,
      durationMs: 3500,
      faults: {
        stallMs: (m) => (m.type === 'delta' && m.kind === 'background-ram' && m.round === 1 ? 200 : 0),
      },
    });
    expect(result.rounds.length).toBeGreaterThan(0);
    expect(result.checkpoints.some((c) => c.resentPages > 0)).toBe(true);
    // The stalled delta arrived after the deadline and was refused as stale; nothing half-applied.
    expect(result.rejections.every((r) => r.error.code === 'wrong-sequence')).toBe(true);
    const v = verifyRun(result, params, true);
    expect(v.problems).toEqual([]);
    expect(v.checkpointsVerified).toBeGreaterThan(1);
  });

  it('a checkpoint whose RAM never arrives times out on the secondary, which takes over from the last commit', () => {
    const params = testParams({ policy: 'none' });
    const result = runEmbedded({
      params,
      link,
      durationMs: 5000,
      faults: {
        toSecondary: (d, m) =>
          m.type === 'delta' && m.kind === 'checkpoint-ram' && m.epoch === 2 ? null : d,
      },
    });
    expect(result.commits.map((c) => c.epoch)).toEqual([1]);
    expect(result.secondary.phase).toBe('failed-over');
    expect(result.final.runningDigest).toBe(result.commits[0]?.digest);
    // The secondary's apply deadline ends first, so it wins the fence; the primary never goes on alone.
    expect(result.fence?.owner).toBe('secondary');
    expect(result.primary.phase).toBe('fenced');
    expect(result.exits.some((e) => e.node === 'primary' && e.reason === 'error')).toBe(false);
    expect(result.exits.some((e) => e.node === 'primary' && e.reason === 'fenced')).toBe(true);
  });
});

describe("the secondary's wait inside a checkpoint", () => {
  const reachRamWait = (params: ReturnType<typeof testParams>) => {
    const pair = new Pair(params);
    pair.until(() => pair.secondary.phase === 'ckpt-wait-ram');
    return pair;
  };
  it('is the heartbeat timeout when that is longer than the apply timeout: the same silence, the same verdict', () => {
    const params = testParams({ policy: 'none', applyTimeoutMs: 500, heartbeatTimeoutMs: 2000 });
    expect(checkpointWaitMs(params)).toBe(2000);
    const pair = reachRamWait(params);
    const heard = pair.secondary.lastHeardAt;
    expect(pair.secondary.deadline).toBe(heard + 2000);
    // Past the apply timeout, nothing happens: a redelivery may still bring the RAM.
    const early = secondaryStep(pair.secondary, params, heard + 1500, { type: 'tick' });
    expect(early.some((e) => e.type === 'claim')).toBe(false);
    expect(pair.secondary.phase).toBe('ckpt-wait-ram');
    const due = secondaryStep(pair.secondary, params, heard + 2000, { type: 'tick' });
    expect(due.some((e) => e.type === 'claim')).toBe(true);
    expect(pair.secondary.phase).toBe('claiming');
  });
  it('is the apply timeout when there is no heartbeat watchdog (heartbeatTimeoutMs 0), so it never hangs', () => {
    const params = testParams({ policy: 'none', applyTimeoutMs: 500, heartbeatTimeoutMs: 0 });
    expect(checkpointWaitMs(params)).toBe(500);
    const pair = reachRamWait(params);
    const heard = pair.secondary.lastHeardAt;
    expect(pair.secondary.deadline).toBe(heard + 500);
    const due = secondaryStep(pair.secondary, params, heard + 500, { type: 'tick' });
    expect(due.some((e) => e.type === 'claim')).toBe(true);
  });
});

describe('a checkpoint falling due during a background round', () => {
  it('waits for the round to finish leaving, then starts at once; the round is not lost', () => {
    const params = testParams({ policy: 'fixed', checkpointDelayMs: 1000, heartbeatTimeoutMs: 0 });
    const pair = new Pair(params);
    pair.until(() => pair.primary.rounds.length === 1);
    const round = pair.primary.rounds[0];
    // Hold the round's send-complete: the round stays in flight.
    const held = pair.queue.findIndex((q) => q.sendId === round?.sendId);
    const [completion] = pair.queue.splice(held, 1);
    const fx = primaryStep(pair.primary, params, pair.primary.nextCheckpointAt, { type: 'tick' });
    expect(sent(fx).map((m) => m.type)).not.toContain('checkpoint-request');
    expect(pair.primary.checkpointDue).toBe('timer');
    expect(pair.primary.phase).toBe('running');
    pair.now = pair.primary.lastNow;
    const after = pair.deliver(completion as NonNullable<typeof completion>);
    expect(sent(after).map((m) => m.type)).toEqual(['checkpoint-request']);
    expect(pair.primary.phase).toBe('ckpt-wait-reply');
    pair.until(() => pair.primary.phase === 'running');
    const done = pair.effects.flatMap((e) => (e.effect.type === 'checkpoint' ? [e.effect.record] : []));
    expect(done[0]?.rounds).toBe(1);
    expect(done[0]?.resentPages).toBe(0);
  });

  it('a pending check during a round is coalesced into one check after it', () => {
    const params = testParams({ policy: 'fixed', heartbeatTimeoutMs: 0 });
    const pair = new Pair(params);
    pair.until(() => pair.primary.rounds.length === 1);
    const round = pair.primary.rounds[0];
    const held = pair.queue.findIndex((q) => q.sendId === round?.sendId);
    const [completion] = pair.queue.splice(held, 1);
    for (let k = 1; k <= 3; k++) {
      const fx = primaryStep(pair.primary, params, pair.primary.nextPendingCheckAt, { type: 'tick' });
      expect(sent(fx).filter((m) => m.type === 'migrate-ram-background')).toEqual([]);
    }
    expect(pair.primary.recheckAfterRound).toBe(true);
    pair.now = pair.primary.lastNow;
    pair.deliver(completion as NonNullable<typeof completion>);
    expect(pair.primary.recheckAfterRound).toBe(false);
    const checks = pair.effects.filter((e) => e.effect.type === 'pending-check').length;
    expect(checks).toBeGreaterThan(0);
  });
});

describe('heartbeats', () => {
  it('the primary sends its first heartbeat as soon as COLO starts, so the watchdog never fires early', () => {
    const params = testParams({ heartbeatIntervalMs: 1000, heartbeatTimeoutMs: 1500 });
    const pair = new Pair(params);
    const ready = pair.peek('primary');
    const fx = pair.deliver(ready as NonNullable<typeof ready>);
    expect(sent(fx).map((m) => m.type)).toEqual(['heartbeat']);
  });
});

describe('deadlines bound silence, not transfer size', () => {
  it('a checkpoint whose RAM takes far longer than the apply timeout to cross still commits', () => {
    // 256 pages at 1 MB/s ≈ 1 s per full checkpoint, apply timeout 100 ms.
    const params = testParams({
      policy: 'none',
      applyTimeoutMs: 100,
      workload: { kind: 'uniform', rate: 2000 },
    });
    const result = runEmbedded({
      params,
      link: { bandwidthBytesPerSec: 1e6, latencyMs: 1 },
      durationMs: 4000,
    });
    expect(result.checkpoints.some((c) => c.downtimeMs > 5 * params.applyTimeoutMs)).toBe(true);
    expect(result.secondary.phase).not.toBe('failed-over');
    expect(verifyRun(result, params).problems).toEqual([]);
  });

  it('progress outside a wait changes nothing', () => {
    const params = testParams({ heartbeatTimeoutMs: 0 });
    const pair = new Pair(params);
    pair.until(() => pair.primary.phase === 'running');
    const before = pair.secondary.deadline;
    secondaryStep(pair.secondary, params, pair.now, { type: 'progress' });
    expect(pair.secondary.phase).toBe('idle');
    expect(pair.secondary.deadline).toBe(before);
  });
});

describe('a background pass larger than one delta object', () => {
  it('is sent as consecutive rounds, each at most maxDeltaBytes, the next starting as the previous leaves', () => {
    const params = testParams({
      policy: 'fixed',
      maxDeltaBytes: 8 * 4096,
      thresholdBytes: 30 * 4096,
      heartbeatTimeoutMs: 0,
    });
    const pair = new Pair(params);
    pair.until(() => pair.primary.rounds.length >= 1);
    const dirtyAtStart = pair.primary.rounds[0]?.pages.length ?? 0;
    expect(dirtyAtStart).toBe(8);
    expect(pair.primary.passRest.length).toBeGreaterThanOrEqual(22);
    const checksBefore = pair.effects.filter((e) => e.effect.type === 'pending-check').length;
    pair.until(() => pair.primary.passRest.length === 0 && pair.primary.rounds.every((r) => r.done));
    const rounds = pair.primary.rounds;
    expect(rounds.length).toBeGreaterThanOrEqual(4);
    expect(rounds.every((r) => r.pages.length <= 8)).toBe(true);
    // No check was needed to continue the pass (checks may have been coalesced meanwhile).
    const decidedRounds = pair.effects
      .slice(checksBefore)
      .filter((e) => e.effect.type === 'pending-check' && e.effect.record.decision === 'round').length;
    expect(decidedRounds).toBeLessThan(rounds.length - 1);
  });
});

describe('heartbeat watchdog at start-up', () => {
  it('a secondary the primary never spoke to waits for it (no takeover of a never-replicated VM); once heard, silence fails over', () => {
    const params = testParams({ policy: 'none', heartbeatTimeoutMs: 1000 });
    const s = createSecondary(params, 0);
    secondaryStep(s, params, 0, { type: 'start' });
    expect(s.phase).toBe('idle');
    // Ten heartbeat timeouts without a word from the primary: still waiting, no claim, no wake scheduled.
    const fx = secondaryStep(s, params, 10_000, { type: 'tick' });
    expect(s.phase).toBe('idle');
    expect(fx.some((e) => e.type === 'claim')).toBe(false);
    expect(fx.find((e) => e.type === 'wake')).toEqual({ type: 'wake', at: Number.POSITIVE_INFINITY });

    // Once the primary has been heard, the same silence is a failure.
    const pair = new Pair(params);
    // The first heartbeat (outside the sequence: inSeq stays 0) is enough to arm the watchdog.
    pair.until(() => pair.secondary.heard);
    expect(pair.secondary.inSeq).toBe(0);
    const heard = pair.secondary.lastHeardAt;
    // The watchdog fires at lastHeardAt + slack + timeout (the slack covers a coarsely saved lastHeardAt).
    const due = heard + heartbeatSlackMs(params) + params.heartbeatTimeoutMs;
    secondaryStep(pair.secondary, params, due - 1, { type: 'tick' });
    expect(pair.secondary.phase).toBe('idle');
    const late = secondaryStep(pair.secondary, params, due, { type: 'tick' });
    expect(pair.secondary.phase).toBe('claiming');
    expect(late.some((e) => e.type === 'claim')).toBe(true);
  });
});

describe('the primary’s checkpoint deadline acts before a late answer', () => {
  const params = testParams({ policy: 'none', heartbeatTimeoutMs: 0 });
  const WAITS = [
    { phase: 'ckpt-wait-reply', answer: 'checkpoint-reply' },
    { phase: 'ckpt-wait-received', answer: 'vmstate-received' },
    { phase: 'ckpt-wait-loaded', answer: 'vmstate-loaded' },
  ] as const;

  /** A pair whose primary waits in `phase` and whose next delivery is the secondary's `answer`. */
  function waiting(phase: PrimaryPhase, answer: string): { pair: Pair; answer: Queued; deadline: number } {
    const pair = new Pair(params);
    pair.until(() => {
      const head = pair.queue[0];
      return head?.to === 'primary' && head.sendId === undefined && head.message.type === answer;
    });
    expect(pair.primary.phase).toBe(phase);
    // Whatever the secondary sends next comes after the answer; the primary's wait is all that is left.
    const head = pair.queue.shift() as Queued;
    const deadline = pair.primary.txn?.deadline ?? Number.NaN;
    expect(Number.isFinite(deadline)).toBe(true);
    expect(pair.now).toBeLessThan(deadline);
    return { pair, answer: head, deadline };
  }

  for (const { phase, answer } of WAITS) {
    it(`${phase}: ${answer} after the deadline is refused, the checkpoint is not completed, the primary claims`, () => {
      const { pair, answer: late, deadline } = waiting(phase, answer);
      const inSeq = pair.primary.inSeq;
      const epoch = pair.primary.epoch;
      pair.now = deadline + 500;
      const fx = pair.deliver(late);
      expect(rejections(fx)).toEqual(['timeout: message arrived after the deadline; replication is ending']);
      // The timeout acted: the primary claims the VM (it may go on alone only once the fence says so).
      expect(pair.primary.phase).toBe('claiming');
      expect(pair.primary.txn).toBeNull();
      expect(fx.filter((e) => e.type === 'claim')).toEqual([
        {
          type: 'claim',
          role: 'primary',
          reason: `timed out in ${phase} after ${params.checkpointTimeoutMs} ms`,
        },
      ]);
      // The late answer was not taken: nothing consumed, no checkpoint, no new epoch, the PVM not resumed.
      expect(pair.primary.inSeq).toBe(inSeq);
      expect(pair.primary.epoch).toBe(epoch);
      expect(fx.some((e) => e.type === 'checkpoint')).toBe(false);
      expect(fx.some((e) => e.type === 'trace' && e.name === 'colo_receive_message')).toBe(false);
      if (phase !== 'ckpt-wait-reply') expect(pair.primary.vmRunning).toBe(false);
    });

    it(`${phase}: ${answer} exactly at the deadline is too late, just before it is taken`, () => {
      const atDeadline = waiting(phase, answer);
      atDeadline.pair.now = atDeadline.deadline;
      expect(rejections(atDeadline.pair.deliver(atDeadline.answer))).toHaveLength(1);
      expect(atDeadline.pair.primary.phase).toBe('claiming');

      const inTime = waiting(phase, answer);
      inTime.pair.now = inTime.deadline - 1;
      const fx = inTime.pair.deliver(inTime.answer);
      expect(rejections(fx)).toEqual([]);
      expect(fx.some((e) => e.type === 'claim')).toBe(false);
      expect(inTime.pair.primary.inSeq).toBe(inTime.answer.message.seq + 1);
      if (phase === 'ckpt-wait-loaded') {
        // The checkpoint completes (the next one, long due, starts at once).
        expect(fx.some((e) => e.type === 'checkpoint')).toBe(true);
      } else {
        expect(inTime.pair.primary.phase).toBe(
          phase === 'ckpt-wait-reply' ? 'ckpt-wait-received' : 'ckpt-wait-loaded',
        );
      }
    });
  }
});
