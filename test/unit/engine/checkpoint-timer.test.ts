import { describe, expect, it } from 'vitest';
import type { Effect } from '../../../src/engine/effects.ts';
import type { CheckpointRecord } from '../../../src/engine/metrics/records.ts';
import type { ColoParams } from '../../../src/engine/params.ts';
import { type PrimaryInput, primaryStep } from '../../../src/engine/primary/primary.ts';
import { createPrimary, type PrimaryState } from '../../../src/engine/primary/state.ts';
import type { ColoMessageType } from '../../../src/engine/protocol/messages.ts';
import { messageOf, rejections, testParams } from '../../helpers/engine.ts';

/**
 * QEMU 7.2's checkpoint timer on hand-built schedules (docs/fidelity.md, "Timer"): `colo_checkpoint_notify`
 * re-arms the timer from its own callback (fixed rate) and sets a binary event; the COLO loop waits on the
 * event; the primary resets it after `vmstate-received`. The secondary is played by hand, so every instant
 * is chosen by the test.
 */
const D = 100;
const params = testParams({
  policy: 'none',
  checkpointDelayMs: D,
  heartbeatTimeoutMs: 0,
  checkpointTimeoutMs: 60_000,
  workload: { kind: 'idle' },
});

class Schedule {
  readonly primary: PrimaryState;
  /** Times of every `checkpoint-request` the primary sent, ms, and how long each waited to leave, ms. */
  readonly requests: number[] = [];
  readonly departures: number[] = [];
  readonly checkpoints: CheckpointRecord[] = [];

  constructor(readonly p: ColoParams = params) {
    this.primary = createPrimary(p, 0);
    this.reply('checkpoint-ready', 0);
  }

  step(now: number, input: PrimaryInput): Effect[] {
    const fx = primaryStep(this.primary, this.p, now, input);
    expect(rejections(fx)).toEqual([]);
    for (const e of fx) {
      if (e.type === 'send' && e.message.type === 'checkpoint-request') {
        this.requests.push(now);
        this.departures.push(now + e.afterMs);
      }
      if (e.type === 'checkpoint') this.checkpoints.push(e.record);
    }
    return fx;
  }

  /** Time passes to `now` (the runtime wakes the primary). */
  tick(now: number): void {
    this.step(now, { type: 'tick' });
  }

  /** The secondary's next message of `type` arrives at `now`. */
  reply(type: ColoMessageType, now: number): void {
    const m = messageOf(type, this.p.vmId, this.primary.epoch, this.primary.inSeq);
    this.step(now, { type: 'message', message: m });
  }

  /** One whole transaction answered at the given instants (the request was already sent). */
  answer(replyAt: number, receivedAt: number, loadedAt: number): void {
    expect(this.primary.phase).toBe('ckpt-wait-reply');
    this.reply('checkpoint-reply', replyAt);
    this.reply('vmstate-received', receivedAt);
    this.reply('vmstate-loaded', loadedAt);
  }
}

describe('checkpoint timer: QEMU 7.2 semantics', () => {
  it('is fixed-rate from the callback: checkpoints of any length below the delay do not move it', () => {
    const s = new Schedule();
    s.tick(D);
    s.answer(110, 120, 130);
    s.tick(2 * D);
    s.answer(230, 260, 290);
    s.tick(3 * D);
    s.answer(305, 310, 320);
    s.tick(4 * D);
    expect(s.requests).toEqual([100, 200, 300, 400]);
    expect(s.primary.nextCheckpointAt).toBe(5 * D);
  });

  it('a late callback re-arms from when it ran (QEMU reads the clock in the callback)', () => {
    const s = new Schedule();
    s.tick(D + 7);
    expect(s.requests).toEqual([107]);
    expect(s.primary.nextCheckpointAt).toBe(207);
  });

  it('overrun: a tick before vmstate-received is lost; the next checkpoint waits for the tick after', () => {
    const s = new Schedule();
    s.tick(D);
    s.reply('checkpoint-reply', 120);
    s.tick(2 * D); // the event is still set by the tick at 100: this one is lost
    expect(s.primary.phase).toBe('ckpt-wait-received');
    s.reply('vmstate-received', 250);
    s.reply('vmstate-loaded', 260);
    expect(s.primary.phase).toBe('running');
    expect(s.requests).toEqual([100]);
    s.tick(3 * D);
    expect(s.requests).toEqual([100, 300]);
    s.answer(310, 320, 330);
    expect(s.checkpoints.map((c) => c.coalesced)).toEqual([0, 1]);
  });

  it('overrun: a tick after vmstate-received starts the next checkpoint back-to-back at the resume', () => {
    const s = new Schedule();
    s.tick(D);
    s.reply('checkpoint-reply', 120);
    s.reply('vmstate-received', 190); // the primary resets the event here
    s.tick(2 * D); // sets it again while waiting for vmstate-loaded
    expect(s.primary.phase).toBe('ckpt-wait-loaded');
    expect(s.requests).toEqual([100]);
    s.reply('vmstate-loaded', 230);
    // Resumed and requested in the same instant: no running time between the two checkpoints.
    expect(s.requests).toEqual([100, 230]);
    expect(s.primary.phase).toBe('ckpt-wait-reply');
    expect(s.checkpoints[1]?.trigger ?? s.primary.txn?.trigger).toBe('timer');
    // The timer kept its rate: the tick at 300 falls inside the back-to-back checkpoint and is lost.
    s.tick(3 * D);
    s.answer(320, 340, 350);
    expect(s.requests).toEqual([100, 230]);
    s.tick(4 * D);
    expect(s.requests).toEqual([100, 230, 400]);
  });

  it('a checkpoint longer than two delays loses every tick before vmstate-received but holds one after it', () => {
    const s = new Schedule();
    s.tick(D);
    s.reply('checkpoint-reply', 150);
    s.tick(2 * D);
    s.tick(3 * D);
    s.reply('vmstate-received', 320);
    s.tick(4 * D);
    s.tick(4 * D + 1); // nothing new is due: the event is binary
    s.reply('vmstate-loaded', 450);
    expect(s.requests).toEqual([100, 450]);
    s.answer(460, 470, 480);
    // Ticks at 200 and 300 were lost; the one at 400 became the checkpoint at 450.
    expect(s.checkpoints.map((c) => c.coalesced)).toEqual([0, 2]);
    s.tick(5 * D);
    expect(s.requests).toEqual([100, 450, 500]);
  });

  it('coalescing: requests in the same instant, or while the event is set, make one checkpoint', () => {
    const s = new Schedule();
    s.step(50, { type: 'request-checkpoint', trigger: 'request' });
    s.step(50, { type: 'request-checkpoint', trigger: 'request' });
    s.step(60, { type: 'request-checkpoint', trigger: 'miscompare' });
    expect(s.requests).toEqual([50]);
    s.answer(70, 80, 90);
    expect(s.checkpoints.map((c) => [c.trigger, c.coalesced])).toEqual([['request', 0]]);
    // The two lost requests are counted into the next checkpoint's record, and start nothing themselves.
    expect(s.primary.coalesced).toBe(2);
    expect(s.primary.phase).toBe('running');
  });

  it('every request re-arms the timer from its own time (notify), even one that is lost', () => {
    const s = new Schedule();
    s.step(50, { type: 'request-checkpoint', trigger: 'request' });
    expect(s.primary.nextCheckpointAt).toBe(150);
    s.step(60, { type: 'request-checkpoint', trigger: 'miscompare' }); // lost, but re-arms
    expect(s.primary.nextCheckpointAt).toBe(160);
    s.answer(70, 80, 90);
    s.tick(150);
    expect(s.requests).toEqual([50]);
    s.tick(160);
    expect(s.requests).toEqual([50, 160]);
  });

  it('nothing is armed before checkpoint-ready', () => {
    const primary = createPrimary(params, 0);
    primaryStep(primary, params, 10, { type: 'request-checkpoint', trigger: 'request' });
    expect(primary.nextCheckpointAt).toBe(Number.POSITIVE_INFINITY);
    expect(primary.phase).toBe('wait-ready');
  });
});

describe('checkpoint timer: the COLO loop wakes late (costs.wakeMs)', () => {
  const W = 7;
  const waking = { ...params, costs: { ...params.costs, wakeMs: W } };

  it('a tick that finds the loop waiting sends the request W later; the timer stays on the tick', () => {
    const s = new Schedule(waking);
    s.tick(D);
    expect(s.requests).toEqual([100]);
    expect(s.departures).toEqual([107]);
    expect(s.primary.nextCheckpointAt).toBe(2 * D);
    s.answer(120, 130, 140);
    s.tick(2 * D);
    expect(s.departures).toEqual([107, 207]);
  });

  it('a back-to-back start finds the loop awake: its request leaves at the resume', () => {
    const s = new Schedule(waking);
    s.tick(D);
    s.reply('checkpoint-reply', 120);
    s.reply('vmstate-received', 190);
    s.tick(2 * D); // held: set after the reset
    s.reply('vmstate-loaded', 230);
    expect(s.requests).toEqual([100, 230]);
    expect(s.departures).toEqual([107, 230]);
  });

  it('a tick while the loop is still waking is coalesced (the event is already set)', () => {
    const waitingLong = { ...params, costs: { ...params.costs, wakeMs: 150 } };
    const s = new Schedule(waitingLong);
    s.tick(D);
    s.tick(2 * D); // the request of the tick at 100 has not left yet: this tick is lost
    expect(s.requests).toEqual([100]);
    expect(s.departures).toEqual([250]);
    s.answer(260, 270, 280);
    // Counted into the next checkpoint's record, as every lost request is.
    expect(s.checkpoints).toHaveLength(1);
    expect(s.primary.coalesced).toBe(1);
  });

  it('no wake-up cost (absent or 0) leaves every request at its tick', () => {
    const s = new Schedule();
    s.tick(D);
    expect(s.departures).toEqual([100]);
  });
});

describe('stop: nothing new starts, what is in flight finishes', () => {
  it('an overrun checkpoint stopped in flight completes, and the tick it latched starts nothing', () => {
    const s = new Schedule();
    s.tick(D);
    s.reply('checkpoint-reply', 110);
    s.reply('vmstate-received', 150);
    // The tick at 200 comes after vmstate-received: without the stop it would start a back-to-back checkpoint.
    s.tick(2 * D);
    expect(s.primary.checkpointDue).toBe('timer');
    s.step(210, { type: 'stop' });
    s.reply('vmstate-loaded', 250);
    expect(s.checkpoints).toHaveLength(1);
    expect(s.primary.phase).toBe('running');
    // Messages and ticks long after: no request, no heartbeat, no round.
    const later = [...s.step(5 * D, { type: 'tick' }), ...s.step(50 * D, { type: 'tick' })];
    expect(later.filter((e) => e.type === 'send')).toEqual([]);
    expect(s.requests).toEqual([100]);
    // The runtime is not asked to wake it again.
    expect(later.filter((e) => e.type === 'wake').map((e) => (e as { at: number }).at)).toEqual([
      Number.POSITIVE_INFINITY,
      Number.POSITIVE_INFINITY,
    ]);
  });

  it('the same schedule without the stop goes on back-to-back (the behaviour the stop ends)', () => {
    const s = new Schedule();
    s.tick(D);
    s.reply('checkpoint-reply', 110);
    s.reply('vmstate-received', 150);
    s.tick(2 * D);
    s.reply('vmstate-loaded', 250);
    expect(s.requests).toEqual([100, 250]);
  });

  it('a stopped primary sends no heartbeat and runs no pending check', () => {
    const p = testParams({
      policy: 'fixed',
      checkpointDelayMs: 10_000,
      pendingCheckIntervalMs: 100,
      heartbeatIntervalMs: 100,
      heartbeatTimeoutMs: 1000,
      workload: { kind: 'uniform', rate: 1000 },
    });
    const running = new Schedule(p);
    const sent = running.step(950, { type: 'tick' }).filter((e) => e.type === 'send');
    expect(sent.length).toBeGreaterThan(0);
    const s = new Schedule(p);
    s.step(10, { type: 'stop' });
    const fx = [...s.step(500, { type: 'tick' }), ...s.step(950, { type: 'tick' })];
    expect(fx.filter((e) => e.type === 'send')).toEqual([]);
    expect(s.primary.stopped).toBe(true);
  });
});

describe('checkpoint timer: the callback late by a schedule (costs.timerLateness)', () => {
  // Ticks due before 250 fire on time, from 250 on 30 ms late, from 500 on 5 ms early.
  const timerLateness = [
    { fromMs: 250, lateMs: 30 },
    { fromMs: 500, lateMs: -5 },
  ];
  const late = { ...params, costs: { ...params.costs, timerLateness } };

  it('each tick fires its lateness after it was due and the chain re-arms from the late callback', () => {
    const s = new Schedule(late);
    // Due 100 and 200: on time. Due 300: +30 → 330. Due 430: +30 → 460. Due 560: -5 → 555.
    expect(s.primary.nextCheckpointAt).toBe(100);
    for (const at of [100, 200, 330, 460, 555]) {
      expect(s.primary.nextCheckpointAt).toBe(at);
      s.tick(at);
      s.answer(at + 2, at + 10, at + 20);
    }
    expect(s.requests).toEqual([100, 200, 330, 460, 555]);
    expect(s.primary.nextCheckpointAt).toBe(650);
  });

  it('a late tick still obeys the event: inside a checkpoint before vmstate-received it is lost', () => {
    const s = new Schedule(late);
    s.tick(100);
    s.answer(102, 110, 120);
    s.tick(200);
    // This checkpoint holds the event past the tick due 300 (fires 330): lost; the next fires 460.
    s.reply('checkpoint-reply', 210);
    s.tick(330);
    s.reply('vmstate-received', 340);
    s.reply('vmstate-loaded', 350);
    s.tick(460);
    expect(s.requests).toEqual([100, 200, 460]);
  });

  it('an empty or absent schedule is the exact timer', () => {
    const s = new Schedule({ ...params, costs: { ...params.costs, timerLateness: [] } });
    s.tick(D);
    expect(s.primary.nextCheckpointAt).toBe(2 * D);
  });

  it("a tick that finds the loop waiting leaves its entry's wake-up later; the chain stays on the tick", () => {
    // From 250 on: 30 ms late, and a waiting loop wakes 12 ms after the tick; before 250 the cost model's 4.
    const waking = {
      ...params,
      costs: {
        ...params.costs,
        wakeMs: 4,
        timerLateness: [
          { fromMs: 250, lateMs: 30, wakeMs: 12 },
          { fromMs: 500, lateMs: 0 },
        ],
      },
    };
    const s = new Schedule(waking);
    for (const at of [100, 200, 330, 460, 560]) {
      s.tick(at);
      s.answer(at + 20, at + 30, at + 40);
    }
    expect(s.requests).toEqual([100, 200, 330, 460, 560]);
    // 560 fired in the entry from 500, which names no wake-up: the cost model's.
    expect(s.departures).toEqual([104, 204, 342, 472, 564]);
    expect(s.primary.nextCheckpointAt).toBe(660);
  });

  it('a back-to-back start pays no wake-up of the schedule either', () => {
    const s = new Schedule({
      ...params,
      costs: { ...params.costs, timerLateness: [{ fromMs: 0, lateMs: 0, wakeMs: 12 }] },
    });
    s.tick(100);
    s.reply('checkpoint-reply', 120);
    s.reply('vmstate-received', 190);
    s.tick(200); // after the event's reset: starts the next checkpoint at the resume
    s.reply('vmstate-loaded', 230);
    expect(s.requests).toEqual([100, 230]);
    expect(s.departures).toEqual([112, 230]);
  });

  it('an early tick never comes within half a delay of its callback', () => {
    const s = new Schedule({
      ...params,
      costs: { ...params.costs, timerLateness: [{ fromMs: 0, lateMs: -90 }] },
    });
    expect(s.primary.nextCheckpointAt).toBe(D / 2);
  });
});

describe('the vCPU runs inside the resume (costs.vmStartRunMs)', () => {
  // One page per ms of guest time, in a loop longer than any epoch here: pages count guest ms exactly.
  const writing = {
    ...params,
    workload: { kind: 'sequential', rate: 1000, spanPages: 256 } as const,
  };
  const withRun = (vmStartRunMs?: number) => ({
    ...writing,
    costs: { ...writing.costs, ...(vmStartRunMs === undefined ? {} : { vmStartRunMs }) },
  });

  /** An overrun, then a back-to-back checkpoint that runs 2 ms (230 → reply at 232); its record. */
  function backToBack(p: ColoParams): Schedule {
    const s = new Schedule(p);
    s.tick(D);
    s.reply('checkpoint-reply', 120);
    s.reply('vmstate-received', 190);
    s.tick(2 * D); // after the event's reset: starts the next checkpoint at the resume
    s.reply('vmstate-loaded', 230);
    s.answer(232, 240, 250);
    return s;
  }

  it('a back-to-back epoch carries the pages of the run inside the resume as well as its own', () => {
    const none = backToBack(withRun(0));
    const some = backToBack(withRun(5));
    expect(none.checkpoints[1]?.pages).toBe(2);
    expect(some.checkpoints[1]?.pages).toBe(7);
  });

  it('changes no instant: requests, stops and pauses are those of the run without it', () => {
    const none = backToBack(withRun(0));
    const some = backToBack(withRun(5));
    expect(some.requests).toEqual(none.requests);
    expect(some.requests).toEqual([100, 230]);
    expect(some.checkpoints.map((c) => c.downtimeMs)).toEqual(none.checkpoints.map((c) => c.downtimeMs));
    expect(some.primary.nextCheckpointAt).toBe(none.primary.nextCheckpointAt);
  });

  it('is at most the pause: the guest cannot have run before the VM stopped', () => {
    // The pause before the back-to-back start is 120 → 230 = 110 ms; its own run 2 ms.
    expect(backToBack(withRun(1000)).checkpoints[1]?.pages).toBe(112);
  });

  it('resume by resume (costs.vmStartRuns): the step in force at the resume, else vmStartRunMs', () => {
    const stepped = (vmStartRunMs: number, vmStartRuns: { fromMs: number; runMs: number }[]) =>
      backToBack({ ...writing, costs: { ...writing.costs, vmStartRunMs, vmStartRuns } }).checkpoints[1]
        ?.pages;
    // The resume before the back-to-back start is at 230: its own 2 ms plus the step's run.
    expect(
      stepped(5, [
        { fromMs: 0, runMs: 1 },
        { fromMs: 200, runMs: 6 },
      ]),
    ).toBe(8);
    expect(
      stepped(5, [
        { fromMs: 0, runMs: 6 },
        { fromMs: 200, runMs: 1 },
      ]),
    ).toBe(3);
    // Before the first step the single figure holds; an empty schedule is none.
    expect(stepped(5, [{ fromMs: 300, runMs: 6 }])).toBe(7);
    expect(stepped(5, [])).toBe(7);
  });

  it('absent is 0: every other runtime runs as before', () => {
    expect(backToBack(withRun()).checkpoints.map((c) => c.pages)).toEqual(
      backToBack(withRun(0)).checkpoints.map((c) => c.pages),
    );
  });

  it('a repeated vmstate-loaded is refused and runs the guest no further', () => {
    const s = backToBack(withRun(5));
    const before = { epoch: s.primary.epoch, guestTime: s.primary.guestTime, dirty: s.primary.dirty.count };
    const m = messageOf('vmstate-loaded', s.p.vmId, s.primary.epoch - 1, s.primary.inSeq - 1);
    const fx = primaryStep(s.primary, s.p, 250, { type: 'message', message: m });
    expect(rejections(fx)).toHaveLength(1);
    expect({ epoch: s.primary.epoch, guestTime: s.primary.guestTime, dirty: s.primary.dirty.count }).toEqual(
      before,
    );
  });
});
