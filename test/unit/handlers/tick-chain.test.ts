import { describe, expect, test } from 'vitest';
import { controlStateKey, type TickMessage, timerStateKey } from '../../../lambda/adapters/contract.ts';
import { claimFence, markFailedOver, readControl } from '../../../lambda/handlers/common/control.ts';
import {
  armAllChains,
  armChain,
  chainPeriodMs,
  checksSibling,
  FIRST_TICK_WAIT_MS,
  followWake,
  handleTick,
  MONITOR_MAX_GAP_MS,
  readChainProgress,
  repairSiblings,
  siblingStaleAfterMs,
  staleAfterMs,
} from '../../../lambda/handlers/common/tick-chain.ts';
import { heartbeatSlackMs } from '../../../src/engine/secondary/heartbeat.ts';
import { MemoryStateStore } from '../../../src/runtime/cloud/index.ts';
import {
  HandlerSim,
  handlerParams,
  MemoryTickQueue,
  chainSetup as setup,
  sqsEvent,
  sqsRecord,
} from './sim.ts';

const T0 = 1_767_225_600_000;

function tick(over: Partial<TickMessage> = {}): string {
  return JSON.stringify({
    v: 1,
    vmId: 'vm-0',
    timer: 'pending-check',
    generation: 1,
    seq: 1,
    dueAt: T0,
    ...over,
  });
}

function timerDoc(state: MemoryStateStore) {
  return JSON.parse(Buffer.from(state.peek(timerStateKey('vm-0', 'pending-check')) ?? []).toString());
}

describe('tick chain: consumer', () => {
  test('claims the next tick once and enqueues its successor one period later', async () => {
    const { deps, queue, state } = setup();
    expect((await armChain(deps, T0)).verdict).toBe('armed');
    const first = queue.takeDue(T0);
    expect(first.length).toBe(1);
    const r = await handleTick(deps, first[0]?.body as string, 'm1', T0 + 20);
    expect(r.verdict).toBe('claimed');
    expect(r.next).toMatchObject({ generation: 1, seq: 2, dueAt: T0 + 1000 });
    expect(timerDoc(state)).toEqual({
      generation: 1,
      seq: 1,
      dueAt: T0 + 1000,
      lastTickAt: T0 + 20,
      claimedBy: 'm1',
    });
    expect(queue.messages.map((m) => m.visibleAt)).toEqual([T0 + 20 + 1000]);
  });

  test('a duplicate delivery is dropped; a redelivery of the claiming message is not', async () => {
    const { deps, queue } = setup();
    await armChain(deps, T0);
    queue.takeDue(T0);
    await handleTick(deps, tick(), 'm1', T0);
    expect((await handleTick(deps, tick(), 'm2', T0)).verdict).toBe('dropped');
    expect((await handleTick(deps, tick(), 'm1', T0)).verdict).toBe('redelivered');
    expect(queue.sent).toBe(3); // the first tick, its successor, and the successor again on the redelivery
  });

  test('a failed enqueue throws; the redelivery enqueues again and does the work', async () => {
    const { deps, queue } = setup();
    await armChain(deps, T0);
    queue.takeDue(T0);
    queue.failing = true;
    await expect(handleTick(deps, tick(), 'm1', T0)).rejects.toThrow('tick queue unavailable');
    queue.failing = false;
    const again = await handleTick(deps, tick(), 'm1', T0 + 1000);
    expect(again.verdict).toBe('redelivered');
    expect(queue.messages.length).toBe(1);
  });

  test('ticks of another generation, a skipped seq, or long before the chain exists are dropped', async () => {
    const { deps, queue } = setup();
    // A first tick more than FIRST_TICK_WAIT_MS past its arm time, its generation never written.
    expect((await handleTick(deps, tick(), 'm0', T0 + FIRST_TICK_WAIT_MS + 1)).verdict).toBe('dropped');
    expect((await handleTick(deps, tick({ seq: 2 }), 'm0', T0)).verdict).toBe('dropped');
    await armChain(deps, T0);
    expect((await handleTick(deps, tick({ generation: 0 }), 'm1', T0)).verdict).toBe('dropped');
    expect((await handleTick(deps, tick({ seq: 3 }), 'm2', T0)).verdict).toBe('dropped');
    expect(queue.sent).toBe(1);
  });

  test('a first tick that arrives before its generation is written waits for the write, then is claimed', async () => {
    const { deps, queue, state } = setup();
    // The arm's write is held back until the tick it sent first has been handled once.
    let release: () => void = () => {};
    const held = new Promise<void>((r) => {
      release = r;
    });
    state.beforeSave = async () => {
      state.beforeSave = undefined;
      await held;
    };
    const arming = armChain(deps, T0);
    await new Promise((r) => setImmediate(r));
    const [first] = queue.takeDue(T0);
    expect(first).toBeDefined();
    const r = await handleTick(deps, first?.body as string, 'm1', T0 + 50);
    expect(r.verdict).toBe('early');
    // Put back with at least a second's delay (its dueAt is already past), unclaimed.
    expect(queue.messages.map((m) => m.visibleAt)).toEqual([T0 + 50 + 1000]);
    release();
    expect(await arming).toEqual({ verdict: 'armed', generation: 1 });
    const [again] = queue.takeDue(T0 + 1050);
    expect((await handleTick(deps, again?.body as string, 'm1', T0 + 1060)).verdict).toBe('claimed');
    expect(timerDoc(state)).toMatchObject({ generation: 1, seq: 1 });
  });

  test('an early tick goes back on the queue unclaimed', async () => {
    const { deps, queue, state } = setup();
    await armChain(deps, T0);
    queue.takeDue(T0);
    const r = await handleTick(deps, tick({ dueAt: T0 + 5000 }), 'm1', T0);
    expect(r.verdict).toBe('early');
    expect(queue.messages.map((m) => m.visibleAt)).toEqual([T0 + 5000]);
    expect(timerDoc(state).seq).toBe(0);
  });

  test('after failover every tick is dropped without a successor', async () => {
    const { deps, queue, state } = setup();
    await armChain(deps, T0);
    queue.takeDue(T0);
    expect(await markFailedOver(state, 'vm-0', 'test', T0)).toBe(true);
    expect(await markFailedOver(state, 'vm-0', 'again', T0)).toBe(false);
    expect(await readControl(state, 'vm-0')).toEqual({
      failedOver: true,
      reason: 'test',
      at: T0,
      owner: null,
      resumedAt: null,
    });
    expect((await handleTick(deps, tick(), 'm1', T0)).verdict).toBe('stopped');
    expect(queue.messages).toEqual([]);
    expect((await armChain(deps, T0 + 600_000)).verdict).toBe('stopped');
  });

  test('a malformed tick, or one for another consumer, throws', async () => {
    const { deps } = setup();
    await expect(handleTick(deps, '{"v":2}', 'm1', T0)).rejects.toThrow(/version/);
    await expect(handleTick(deps, tick({ timer: 'checkpoint' }), 'm1', T0)).rejects.toThrow(/reached the/);
  });
});

describe('tick chain: watchdog', () => {
  test('leaves a healthy chain alone and restarts a stale one in a new generation', async () => {
    const { deps, queue, state } = setup();
    await armChain(deps, T0);
    expect((await armChain(deps, T0 + 5000)).verdict).toBe('healthy');
    expect(queue.sent).toBe(1);
    const r = await armChain(deps, T0 + 2 * 1000 + 10_001);
    expect(r).toEqual({ verdict: 'armed', generation: 2 });
    expect(timerDoc(state)).toMatchObject({ generation: 2, seq: 0 });
    // A tick of the old generation still in flight is dropped.
    expect((await handleTick(deps, tick({ generation: 1 }), 'old', T0 + 12_100)).verdict).toBe('dropped');
    const fresh = queue.takeDue(T0 + 12_001).at(-1);
    expect((await handleTick(deps, fresh?.body as string, 'new', T0 + 12_100)).verdict).toBe('claimed');
  });

  test('loses a race to a concurrent writer; the first tick it sent is dropped', async () => {
    const { deps, queue, state } = setup();
    state.beforeSave = (key, s) => {
      state.beforeSave = undefined;
      s.put(
        key,
        Buffer.from('{"generation":5,"seq":0,"dueAt":0,"lastTickAt":0,"claimedBy":null}'),
        undefined,
      );
    };
    expect((await armChain(deps, T0)).verdict).toBe('raced');
    // Sent before the write: a tick of generation 1, older than the winner's 5.
    const [orphan] = queue.takeDue(T0);
    expect(JSON.parse(orphan?.body as string)).toMatchObject({ generation: 1, seq: 1 });
    expect((await handleTick(deps, orphan?.body as string, 'o1', T0)).verdict).toBe('dropped');
    expect(timerDoc(state)).toMatchObject({ generation: 5, seq: 0 });
  });

  test('a failed first send writes nothing: the chain stays stale for the next check', async () => {
    const { deps, queue, state } = setup();
    queue.failing = true;
    await expect(armChain(deps, T0)).rejects.toThrow(/tick queue unavailable/);
    expect(state.peek(timerStateKey('vm-0', 'pending-check'))).toBeUndefined();
    queue.failing = false;
    expect(await armChain(deps, T0 + 2000)).toEqual({ verdict: 'armed', generation: 1 });
  });

  test("a generation whose first tick is not claimed yet gets the watchdog's bound, a claimed one the sibling's", async () => {
    const { deps, queue } = setup();
    await armChain(deps, T0);
    const sibling = { staleAfterMs: siblingStaleAfterMs(1000) };
    // The first tick waits behind a long invocation (or was lost): 8 s later the generation is kept and its
    // first tick sent again, not replaced.
    expect(await armChain(deps, T0 + 8000, sibling)).toEqual({ verdict: 'resent', generation: 1 });
    expect(queue.takeDue(T0 + 8000).map((m) => JSON.parse(m.body))).toContainEqual(
      expect.objectContaining({ generation: 1, seq: 1, dueAt: T0 }),
    );
    expect((await armChain(deps, T0 + staleAfterMs(1000) + 1, sibling)).verdict).toBe('armed');
    // Generation 2's first tick claimed at +12.5 s, then the chain is lost: 5 s is enough.
    const [first] = queue.takeDue(T0 + 12_500).filter((m) => JSON.parse(m.body).generation === 2);
    expect((await handleTick(deps, first?.body as string, 'g2', T0 + 12_500)).verdict).toBe('claimed');
    queue.messages.splice(0);
    expect((await armChain(deps, T0 + 17_000, sibling)).verdict).toBe('healthy');
    expect(await armChain(deps, T0 + 17_501, sibling)).toEqual({ verdict: 'armed', generation: 3 });
  });

  test('a malformed timer or control document is reported, not overwritten', async () => {
    const { deps, state } = setup();
    state.put(timerStateKey('vm-0', 'pending-check'), Buffer.from('{"generation":"x"}'), undefined);
    await expect(armChain(deps, T0)).rejects.toThrow(
      /timer document vm-0\/timers\/pending-check.json is malformed/,
    );
    state.put(controlStateKey('vm-0'), Buffer.from('nope'), undefined);
    await expect(readControl(state, 'vm-0')).rejects.toThrow(
      /control document vm-0\/control.json is malformed/,
    );
  });
});

describe('tick consumers as handlers', () => {
  test('a batch with a duplicate and a malformed tick: one claim, one primary tick, one failure', async () => {
    const sim = new HandlerSim(handlerParams({ policy: 'none' }));
    await sim.tickArm({});
    const due = sim.ticks['pending-check'].takeDue(sim.clock.now());
    const body = due[0]?.body as string;
    const bad = sqsRecord('{"v":1,"vmId":"vm-0"}');
    const response = await sim.pendingCheckTimer(sqsEvent([sqsRecord(body), sqsRecord(body), bad]));
    expect(response.batchItemFailures).toEqual([{ itemIdentifier: bad.messageId }]);
    expect(sim.metric('TicksClaimed')).toBe(1);
    expect(sim.metric('TicksDropped')).toBe(1);
    expect((await sim.primaryDoc())?.revision).toBe(1);
    expect(sim.ticks['pending-check'].messages.length).toBe(1);
  });

  test('a failure of the work is logged, not reported (the next tick is queued)', async () => {
    const sim = new HandlerSim(handlerParams({ policy: 'none' }));
    await sim.tickArm({});
    const due = sim.ticks.checkpoint.takeDue(sim.clock.now());
    sim.state.beforeSave = (key) => {
      if (key.endsWith('/node/primary.bin')) throw new Error('S3 down');
    };
    const response = await sim.checkpointTimer(
      sqsEvent(due.map((m) => sqsRecord(m.body, { messageId: m.id }))),
    );
    sim.state.beforeSave = undefined;
    expect(response).toEqual({ batchItemFailures: [] });
    // The work failed before its save could carry the claim: the timer document took it instead.
    expect(sim.obs.logs.some((l) => l.level === 'error' && /before its claim/.test(l.message))).toBe(true);
    expect(sim.ticks.checkpoint.messages.length).toBe(1);
    const doc = JSON.parse(Buffer.from(sim.state.peek(timerStateKey('vm-0', 'checkpoint')) ?? []).toString());
    expect(doc).toMatchObject({ seq: 1, claimedBy: due[0]?.id });
  });
});

describe('tick chain: sub-minute repair by a sibling chain', () => {
  const periods = { checkpoint: 20_000, 'pending-check': 1000, heartbeat: 1000 };
  const vmChains = (state: MemoryStateStore) => {
    const ticks = {
      checkpoint: new MemoryTickQueue(),
      'pending-check': new MemoryTickQueue(),
      heartbeat: new MemoryTickQueue(),
    };
    return { state, vmId: 'vm-0', ticks, periodMs: periods };
  };

  test('the check cadence: a 1 s chain checks another 1 s chain every 2nd tick, a 20 s one every 20th', () => {
    expect([1, 2, 3, 4].map((s) => checksSibling(s, 1000, 1000))).toEqual([false, true, false, true]);
    expect([19, 20, 21].map((s) => checksSibling(s, 1000, 20_000))).toEqual([false, true, false]);
    expect([1, 2].map((s) => checksSibling(s, 20_000, 1000))).toEqual([true, true]);
    expect(siblingStaleAfterMs(1000)).toBe(5000);
    expect(siblingStaleAfterMs(20_000)).toBe(50_000); // never beyond the watchdog's own bound
  });

  test('replaces a stale sibling with a new generation, leaves a fresh one and a missing one alone', async () => {
    const state = new MemoryStateStore();
    const vm = vmChains(state);
    const armed = await armAllChains(vm, T0);
    expect(Object.values(armed).map((r) => r.verdict)).toEqual(['armed', 'armed', 'armed']);
    // The pending-check chain claims its first tick, then is lost.
    const pc = vm.ticks['pending-check'];
    const [first] = pc.takeDue(T0);
    const deps = { state, ticks: pc, vmId: 'vm-0', timer: 'pending-check' as const, periodMs: 1000 };
    expect((await handleTick(deps, first?.body as string, 'p1', T0)).verdict).toBe('claimed');
    pc.messages.splice(0);
    // 4 s later nothing is stale yet (5 s bound for a 1 s chain).
    expect(await repairSiblings(vm, 'heartbeat', 2, T0 + 4000)).toEqual({
      'pending-check': { verdict: 'healthy', generation: 1 },
    });
    // 5.1 s without a claimed pending-check tick: replaced, its first tick sent at once.
    const r = await repairSiblings(vm, 'heartbeat', 4, T0 + 5100);
    expect(r).toEqual({ 'pending-check': { verdict: 'armed', generation: 2 } });
    const sent = vm.ticks['pending-check'].takeDue(T0 + 5100).map((m) => JSON.parse(m.body));
    expect(sent).toContainEqual(expect.objectContaining({ generation: 2, seq: 1 }));
    // A VM whose chain has no document yet: starting it is the watchdog's job.
    const fresh = vmChains(new MemoryStateStore());
    expect(await repairSiblings(fresh, 'heartbeat', 2, T0)).toEqual({
      'pending-check': { verdict: 'healthy' },
    });
    expect(fresh.ticks['pending-check'].sent).toBe(0);
  });

  test('two siblings repairing at once: one generation, the other loses the race', async () => {
    const state = new MemoryStateStore();
    const vm = vmChains(state);
    await armAllChains(vm, T0);
    const [a, b] = await Promise.all([
      repairSiblings(vm, 'heartbeat', 20, T0 + 60_000),
      repairSiblings(vm, 'pending-check', 20, T0 + 60_000),
    ]);
    expect([a.checkpoint?.verdict, b.checkpoint?.verdict].sort()).toEqual(['armed', 'raced']);
  });

  test("armAllChains: a control document that cannot be read is every chain's error, nothing armed", async () => {
    const state = new MemoryStateStore();
    state.load = () => Promise.reject(new Error('S3 down'));
    const vm = vmChains(state);
    const r = await armAllChains(vm, T0);
    expect(Object.values(r).map((o) => o.verdict)).toEqual(['error', 'error', 'error']);
    expect(Object.values(vm.ticks).map((t) => t.sent)).toEqual([0, 0, 0]);
  });

  test('a failed write is returned, not thrown (the tick goes on; the minute watchdog still repairs)', async () => {
    const state = new MemoryStateStore();
    const vm = vmChains(state);
    await armAllChains(vm, T0);
    state.beforeSave = () => {
      throw new Error('S3 down');
    };
    const r = await repairSiblings(vm, 'heartbeat', 2, T0 + 13_000);
    expect(r['pending-check']?.verdict).toBe('error');
  });

  // The fault: the pending-check chain's tick is lost (dead-lettered after its receives). The primary's
  // heartbeats ride on that chain, so without a repair inside the heartbeat timeout the secondary fails over.
  const loseChain = async (
    siblingRepair: boolean,
    { heartbeatTimeoutMs = 10_000, firstTickLateMs = 0, runMs = 15_000 } = {},
  ) => {
    // Default periods: the 20 s checkpoint chain's primary ticks also send heartbeats, too rarely to help.
    const params = handlerParams({ policy: 'none', checkpointDelayMs: 20_000, heartbeatTimeoutMs });
    const sim = new HandlerSim(params, 'ack', {
      siblingRepair,
    });
    await sim.tickArm({});
    await sim.run(8000);
    const lostAt = sim.clock.now();
    sim.ticks['pending-check'].messages.splice(0); // the chain's tick went to the DLQ
    // A repaired generation's first tick waits behind a long invocation on its queue.
    sim.ticks['pending-check'].lateBy = (t) => (t.generation > 1 && t.seq === 1 ? firstTickLateMs : 0);
    const generations: { at: number; generation: number }[] = [];
    for (let i = 0; i < runMs / 100; i++) {
      await sim.run(100);
      const doc = JSON.parse(
        Buffer.from(sim.state.peek(timerStateKey('vm-0', 'pending-check')) ?? []).toString(),
      ) as { generation: number };
      if (doc.generation !== generations.at(-1)?.generation) {
        generations.push({ at: sim.clock.now() - lostAt, generation: doc.generation });
      }
    }
    return { sim, generations, control: await readControl(sim.state, 'vm-0') };
  };

  test('a lost pending-check chain is repaired by the heartbeat chain before the heartbeat timeout', async () => {
    const { sim, generations, control } = await loseChain(true);
    const repaired = generations.find((g) => g.generation === 2);
    expect(repaired).toBeDefined();
    // Lost after its last claimed tick (≤ 1 s before), repaired ≤ 5 s + one 2 s check later: under 10 s.
    expect(repaired?.at).toBeLessThanOrEqual(7000);
    expect(generations.map((g) => g.generation)).toEqual([1, 2]);
    expect(
      sim.obs.logs.filter((l) => l.message === 'tick chain repaired by a sibling').map((l) => l.extra),
    ).toEqual([{ timer: 'pending-check', by: 'heartbeat', generation: 2 }]);
    expect(sim.metric('ChainsRepaired')).toBe(1);
    expect(control.failedOver).toBe(false);
    expect((await sim.secondaryDoc())?.state.phase).not.toBe('failed-over');
  });

  test("a repaired chain's first tick 8 s late: one repair, not a storm that keeps dropping it", async () => {
    // Beyond the sibling's 5 s bound, within the watchdog's 12 s: the first tick is waited for.
    const { sim, generations, control } = await loseChain(true, {
      heartbeatTimeoutMs: 30_000,
      firstTickLateMs: 8000,
      runMs: 30_000,
    });
    expect(generations.map((g) => g.generation)).toEqual([1, 2]);
    expect(sim.metric('ChainsRepaired')).toBe(1);
    // The repaired chain runs: its ticks are claimed after the late first one.
    const doc = await readChainProgress(sim.state, 'vm-0', 'pending-check');
    expect(doc?.generation).toBe(2);
    expect(doc?.seq).toBeGreaterThanOrEqual(5);
    expect(control.failedOver).toBe(false);
  });

  test('without the sibling repair the same loss fails the VM over (the fault is real)', async () => {
    const { generations, control } = await loseChain(false);
    expect(generations.map((g) => g.generation)).toEqual([1]);
    expect(control.failedOver).toBe(true);
  });
});

describe('tick chain: the heartbeat chain follows the secondary wake', () => {
  const t = (dueAt: number): TickMessage => ({
    v: 1,
    vmId: 'vm-0',
    timer: 'heartbeat',
    generation: 1,
    seq: 5,
    dueAt,
  });
  const next = (dueAt: number): TickMessage => ({ ...t(dueAt), seq: 6 });

  test('the successor falls at the wake, within one configured period and the 2 s gap', () => {
    expect(MONITOR_MAX_GAP_MS).toBe(2000);
    expect(chainPeriodMs('heartbeat', 1000)).toBe(2000);
    expect(chainPeriodMs('heartbeat', 5000)).toBe(5000);
    expect(chainPeriodMs('pending-check', 1000)).toBe(1000);
    const gap = next(T0 + 2000);
    // Quiet: the wake (heartbeat timeout) is far: the longest gap.
    expect(followWake(t(T0), gap, T0 + 9000, 1000, T0 + 50).dueAt).toBe(T0 + 2000);
    expect(followWake(t(T0), gap, Number.POSITIVE_INFINITY, 1000, T0 + 50).dueAt).toBe(T0 + 2000);
    // The wake falls inside the gap: exactly then.
    expect(followWake(t(T0), gap, T0 + 1500, 1000, T0 + 50).dueAt).toBe(T0 + 1500);
    // Never sooner than one configured period after the tick: a passed wake or unknown one (failed work).
    expect(followWake(t(T0), gap, T0 + 200, 1000, T0 + 50).dueAt).toBe(T0 + 1000);
    expect(followWake(t(T0), gap, Number.NaN, 1000, T0 + 50).dueAt).toBe(T0 + 1000);
    // The successor keeps its generation and sequence number.
    expect(followWake(t(T0), gap, T0 + 1500, 1000, T0 + 50)).toMatchObject({ generation: 1, seq: 6 });
  });

  test('a quiet secondary is ticked every 2 s, not every second; the primary chain is unchanged', async () => {
    const sim = new HandlerSim(handlerParams({ policy: 'none', heartbeatTimeoutMs: 10_000 }));
    await sim.tickArm({});
    await sim.run(10_000);
    const before = { hb: sim.ticks.heartbeat.sent, pc: sim.ticks['pending-check'].sent };
    await sim.run(60_000);
    const hb = sim.ticks.heartbeat.sent - before.hb;
    const pc = sim.ticks['pending-check'].sent - before.pc;
    expect(hb).toBeGreaterThanOrEqual(29);
    expect(hb).toBeLessThanOrEqual(31);
    expect(pc).toBeGreaterThanOrEqual(59);
    expect((await sim.secondaryDoc())?.state.phase).not.toBe('failed-over');
  });

  test('a silent primary is failed over when its timeout falls due, not a gap later', async () => {
    const sim = new HandlerSim(
      handlerParams({ policy: 'none', checkpointDelayMs: 20_000, heartbeatTimeoutMs: 10_000 }),
      'ack',
      { siblingRepair: false },
    );
    await sim.tickArm({});
    await sim.run(9000);
    // The primary goes silent: its chains stop (nothing repairs them here).
    sim.ticks['pending-check'].messages.splice(0);
    sim.ticks.checkpoint.messages.splice(0);
    // The last evidence of the primary: a heartbeat it sent, or its last save (heartbeat-monitor reads its
    // document at every tick: readPrimarySeen).
    const heard = Math.max(
      (await sim.secondaryDoc())?.state.lastHeardAt as number,
      (await sim.primaryDoc())?.updatedAt as number,
    );
    let queued = 0;
    for (let i = 0; i < 200 && !(await readControl(sim.state, 'vm-0')).failedOver; i++) {
      await sim.run(100, 100, ['heartbeat']);
      queued = Math.max(queued, sim.ticks.heartbeat.messages.length);
    }
    const control = await readControl(sim.state, 'vm-0');
    expect(control.failedOver).toBe(true);
    // The wake fell inside a 2 s gap: an early copy was sent beside the tick at the gap, and the chain never
    // held more than those two (the later one is dropped: no second chain).
    expect(sim.metric('TickEarlyCopies')).toBeGreaterThan(0);
    expect(queued).toBeLessThanOrEqual(2);
    // At the slack + timeout after the last evidence (read afresh at every tick, so exact) plus SQS's 1 s
    // delay granularity (the old 1 s chain: up to a period more).
    const slack = heartbeatSlackMs(sim.params);
    expect((control.at as number) - heard).toBeGreaterThanOrEqual(slack + 10_000);
    expect((control.at as number) - heard).toBeLessThanOrEqual(slack + 11_000);
  });

  test('a successor that cannot be sent fails the tick; its redelivery sends it (one chain)', async () => {
    const sim = new HandlerSim(handlerParams({ policy: 'none' }));
    await sim.tickArm({});
    const due = sim.ticks.heartbeat.takeDue(sim.clock.now());
    expect(due.length).toBe(1);
    const record = sqsRecord(due[0]?.body as string, { messageId: due[0]?.id as string });
    sim.ticks.heartbeat.failing = true;
    const failed = await sim.heartbeatMonitor(sqsEvent([record]));
    expect(failed).toEqual({ batchItemFailures: [{ itemIdentifier: record.messageId }] });
    sim.ticks.heartbeat.failing = false;
    expect(sim.ticks.heartbeat.messages).toEqual([]);
    expect(await sim.heartbeatMonitor(sqsEvent([record]))).toEqual({ batchItemFailures: [] });
    expect(sim.ticks.heartbeat.messages.length).toBe(1);
    // A second copy of the same tick (a duplicate delivery) is dropped: still one successor.
    const copy = sqsRecord(due[0]?.body as string, { messageId: 'another-delivery' });
    expect(await sim.heartbeatMonitor(sqsEvent([copy]))).toEqual({ batchItemFailures: [] });
    expect(sim.ticks.heartbeat.messages.length).toBe(1);
  });
});

describe('tick consumers read the control document once per tick', () => {
  const countControlReads = (sim: HandlerSim): { reads: number } => {
    const counter = { reads: 0 };
    const load = sim.state.load.bind(sim.state);
    sim.state.load = (key: string) => {
      if (key === controlStateKey('vm-0')) counter.reads++;
      return load(key);
    };
    return counter;
  };

  test('a claimed tick hands its control read to the invocation (one GET, not two)', async () => {
    const sim = new HandlerSim(handlerParams({ policy: 'none' }));
    await sim.tickArm({});
    await sim.run(3000);
    const counter = countControlReads(sim);
    sim.clock.advance(1000);
    const before = (await sim.primaryDoc())?.revision as number;
    await sim.deliverTicks('pending-check');
    expect((await sim.primaryDoc())?.revision).toBeGreaterThan(before); // the work ran and saved
    // Sibling checks read timer documents only; the claim and the primary's invocation share one read.
    expect(counter.reads).toBe(1);
  });

  test('a fence in that read still stops the primary: the invocation steps the fence first', async () => {
    const sim = new HandlerSim(handlerParams({ policy: 'none' }));
    await sim.tickArm({});
    await sim.run(3000);
    expect(
      await claimFence(sim.state, 'vm-0', 'secondary', 'test: the secondary took over', sim.clock.now()),
    ).toBe('secondary');
    sim.clock.advance(1000);
    await sim.deliverTicks('pending-check');
    expect((await sim.primaryDoc())?.exit?.reason).toBe('fenced');
  });

  test('a compare-and-swap retry reads the control document afresh', async () => {
    const sim = new HandlerSim(handlerParams({ policy: 'none' }));
    await sim.tickArm({});
    await sim.run(3000);
    const counter = countControlReads(sim);
    let raced = false;
    sim.state.beforeSave = async (key, store) => {
      if (raced || !key.endsWith('/node/primary.bin')) return;
      raced = true;
      // Another writer moves the document (and claims the fence) between this attempt's load and save.
      await claimFence(store, 'vm-0', 'secondary', 'test: raced', sim.clock.now());
      const d = await store.load(key);
      if (d) store.put(key, d.value, d.etag);
    };
    sim.clock.advance(1000);
    await sim.deliverTicks('pending-check');
    sim.state.beforeSave = undefined;
    expect(raced).toBe(true);
    expect((await sim.primaryDoc())?.exit?.reason).toBe('fenced');
    expect(counter.reads).toBe(3); // the claim, the racing claim of the fence, the retry
  });
});
