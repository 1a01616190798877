/**
 * The primary's tick chains claim their ticks in the primary's node document (chain-claim.ts): one state
 * write per tick, exactly once per tick under the faults a claim must survive.
 */
import { describe, expect, test } from 'vitest';
import { timerStateKey } from '../../../lambda/adapters/contract.ts';
import {
  armAllChains,
  armChain,
  CLAIMED_IN_NODE,
  repairSiblings,
} from '../../../lambda/handlers/common/tick-chain.ts';
import { type ChainClaim, judgeChainTick, readChainClaim } from '../../../src/runtime/cloud/chain-claim.ts';
import { nodeStateKey } from '../../../src/runtime/cloud/keys.ts';
import { HandlerSim, handlerParams, sqsEvent, sqsRecord } from './sim.ts';

const claim = (over: Partial<ChainClaim> = {}): Record<string, ChainClaim> => ({
  'pending-check': { generation: 2, seq: 7, claimedBy: 'm7', at: 0, ...over },
});

describe('judgeChainTick', () => {
  const tick = { chain: 'pending-check', generation: 2, seq: 8, messageId: 'm8', baseSeq: 0 };

  test('the next tick is claimed; the claiming delivery again is a redelivery', () => {
    expect(judgeChainTick(claim(), tick)).toBe('claim');
    expect(judgeChainTick(claim(), { ...tick, seq: 7, messageId: 'm7' })).toBe('redelivered');
  });

  test('a duplicate, a skipped or repeated seq, and an older generation are dropped', () => {
    expect(judgeChainTick(claim(), { ...tick, seq: 7, messageId: 'other' })).toBe('dropped');
    expect(judgeChainTick(claim(), { ...tick, seq: 9 })).toBe('dropped');
    expect(judgeChainTick(claim(), { ...tick, seq: 6 })).toBe('dropped');
    expect(judgeChainTick(claim({ generation: 3, seq: 0 }), { ...tick, seq: 1 })).toBe('dropped');
  });

  test('a new generation starts after the timer document, whatever the node document held', () => {
    expect(judgeChainTick(claim(), { ...tick, generation: 3, seq: 1 })).toBe('claim');
    expect(judgeChainTick(undefined, { ...tick, seq: 1 })).toBe('claim');
    expect(judgeChainTick(undefined, { ...tick, seq: 2 })).toBe('dropped');
    // A tick claimed in the timer document (the work had failed) moves the base on.
    expect(judgeChainTick(claim(), { ...tick, seq: 9, baseSeq: 8 })).toBe('claim');
    expect(judgeChainTick(claim(), { ...tick, seq: 8, baseSeq: 8 })).toBe('dropped');
  });
});

/** A sim whose chains are armed; the writes to each key counted from here on. */
async function armed(
  over: Parameters<typeof handlerParams>[0] = {},
): Promise<{ sim: HandlerSim; writes: Map<string, number> }> {
  const sim = new HandlerSim(handlerParams({ policy: 'none', ...over }), 'ack', {
    siblingRepair: true,
    lean: true,
  });
  await sim.tickArm({});
  const writes = new Map<string, number>();
  sim.state.beforeSave = (key) => {
    writes.set(key, (writes.get(key) ?? 0) + 1);
  };
  return { sim, writes };
}

describe('pending-check ticks claimed in the primary document', () => {
  test('the primary chains are the ones claimed in a node document', () => {
    expect(CLAIMED_IN_NODE).toEqual({ 'pending-check': 'primary', checkpoint: 'primary' });
  });

  test('a tick writes the primary document once and its timer document never', async () => {
    const { sim, writes } = await armed();
    await sim.run(20_000);
    const timerKey = timerStateKey('vm-0', 'pending-check');
    const claimed = sim.metric('TicksClaimed');
    expect(claimed).toBeGreaterThan(20);
    expect(writes.get(timerKey) ?? 0).toBe(0);
    expect(writes.get(timerStateKey('vm-0', 'checkpoint')) ?? 0).toBe(0);
    const c = await readChainClaim(sim.state, 'vm-0', 'primary', 'pending-check');
    expect(c?.generation).toBe(1);
    expect(c?.seq).toBeGreaterThan(15);
    // The sibling repair judged the chain by that claim: nothing was replaced.
    expect(sim.metric('ChainsRepaired')).toBe(0);
    expect((await sim.primaryDoc())?.state.epoch).toBeGreaterThan(0);
  });

  test('two deliveries of one tick racing: one claim, one step, one successor', async () => {
    const { sim } = await armed();
    const [first] = sim.ticks['pending-check'].takeDue(sim.clock.now());
    const body = first?.body as string;
    const before = (await sim.primaryDoc())?.revision ?? 0;
    const a = sqsRecord(body);
    const b = sqsRecord(body);
    const responses = await Promise.all([
      sim.pendingCheckTimer(sqsEvent([a])),
      sim.pendingCheckTimer(sqsEvent([b])),
    ]);
    expect(responses).toEqual([{ batchItemFailures: [] }, { batchItemFailures: [] }]);
    expect(sim.metric('TicksClaimed')).toBe(1);
    expect(sim.metric('TicksDropped')).toBe(1);
    expect(sim.ticks['pending-check'].messages.length).toBe(1);
    expect((await sim.primaryDoc())?.revision).toBe(before + 1);
  });

  test('a successor that cannot be queued fails the tick; its redelivery queues it and steps nothing again', async () => {
    const { sim } = await armed();
    const [m] = sim.ticks['pending-check'].takeDue(sim.clock.now());
    if (!m) throw new Error('no tick');
    const record = () => sqsRecord(m.body, { messageId: m.id });
    sim.ticks['pending-check'].failing = true;
    const failed = await sim.pendingCheckTimer(sqsEvent([record()]));
    sim.ticks['pending-check'].failing = false;
    expect(failed.batchItemFailures).toEqual([{ itemIdentifier: m.id }]);
    const claimed = await readChainClaim(sim.state, 'vm-0', 'primary', 'pending-check');
    expect(claimed).toMatchObject({ seq: 1, claimedBy: m.id });
    const revision = (await sim.primaryDoc())?.revision;
    const again = await sim.pendingCheckTimer(sqsEvent([record()]));
    expect(again.batchItemFailures).toEqual([]);
    expect(sim.ticks['pending-check'].messages.length).toBe(1);
    expect((await sim.primaryDoc())?.revision).toBe(revision);
    // A third copy of the same tick (SQS at-least-once) queues one more successor, which its twin drops.
    await sim.pendingCheckTimer(sqsEvent([record()]));
    expect(sim.ticks['pending-check'].messages.length).toBe(2);
    sim.clock.advance(1500);
    await sim.deliverTicks('pending-check');
    expect(sim.metric('TicksClaimed')).toBe(3);
    expect(sim.metric('TicksDropped')).toBe(1);
    expect(sim.ticks['pending-check'].messages.length).toBe(1);
  });

  test('a process killed before its save claimed nothing: the redelivery claims the tick once', async () => {
    const { sim } = await armed();
    const [m] = sim.ticks['pending-check'].takeDue(sim.clock.now());
    if (!m) throw new Error('no tick');
    const record = () => sqsRecord(m.body, { messageId: m.id });
    // Killed: the primary's save never happens and neither does anything after it.
    sim.state.beforeSave = (key) => {
      if (key.endsWith('/node/primary.bin')) throw new Error('killed');
    };
    sim.ticks['pending-check'].failing = true;
    const failed = await sim.pendingCheckTimer(sqsEvent([record()]));
    sim.state.beforeSave = undefined;
    sim.ticks['pending-check'].failing = false;
    expect(failed.batchItemFailures).toEqual([{ itemIdentifier: m.id }]);
    expect(await readChainClaim(sim.state, 'vm-0', 'primary', 'pending-check')).toBeUndefined();
    const again = await sim.pendingCheckTimer(sqsEvent([record()]));
    expect(again.batchItemFailures).toEqual([]);
    // The timer document took the failed delivery's claim (its successor could not be queued then): the
    // redelivery is recognised there and queues it now.
    expect(sim.ticks['pending-check'].messages.length).toBe(1);
    sim.clock.advance(1500);
    await sim.deliverTicks('pending-check');
    const c = await readChainClaim(sim.state, 'vm-0', 'primary', 'pending-check');
    expect(c).toMatchObject({ generation: 1, seq: 2 });
  });

  test('the watchdog judges the chain by its claim in the primary document', async () => {
    const { sim } = await armed();
    await sim.run(15_000);
    const deps = {
      state: sim.state,
      ticks: sim.ticks['pending-check'],
      vmId: 'vm-0',
      timer: 'pending-check' as const,
      periodMs: 1000,
    };
    // The timer document's lastTickAt is the arming (15 s ago, past the 12 s bound); the claims are fresh.
    // (Whole ms, as the system clock gives: the virtual clock's sleeps leave fractions.)
    expect((await armChain(deps, Math.floor(sim.clock.now()))).verdict).toBe('healthy');
    // No tick for longer than the bound: replaced in a new generation.
    sim.clock.advance(13_000);
    expect(await armChain(deps, Math.floor(sim.clock.now()))).toEqual({ verdict: 'armed', generation: 2 });
    // The old generation's ticks are dropped; the new one claims from seq 1 in the node document.
    await sim.run(3000, 100, ['pending-check']);
    const c = await readChainClaim(sim.state, 'vm-0', 'primary', 'pending-check');
    expect(c).toMatchObject({ generation: 2 });
    expect(c?.seq).toBeGreaterThanOrEqual(2);
  });

  test("the watchdog and a sibling check read the primary's document once for both its chains", async () => {
    const { sim } = await armed();
    await sim.run(5000);
    const key = nodeStateKey('vm-0', 'primary');
    const reads: string[] = [];
    const load = sim.state.load.bind(sim.state);
    sim.state.load = (k) => {
      reads.push(k);
      return load(k);
    };
    const vm = {
      state: sim.state,
      vmId: 'vm-0',
      ticks: sim.ticks,
      periodMs: { checkpoint: 3000, 'pending-check': 1000, heartbeat: 2000 },
    };
    const now = Math.floor(sim.clock.now());
    const armedAll = await armAllChains(vm, now);
    expect(Object.values(armedAll).map((o) => o.verdict)).toEqual(['healthy', 'healthy', 'healthy']);
    expect(reads.filter((k) => k === key).length).toBe(1);
    reads.length = 0;
    // A heartbeat tick (2 s chain) whose seq checks both primary chains (each every tick here).
    const checked = await repairSiblings(vm, 'heartbeat', 6, now);
    expect(Object.keys(checked).sort()).toEqual(['checkpoint', 'pending-check']);
    expect(reads.filter((k) => k === key).length).toBe(1);
  });

  test("a tick that meets another invocation's long sends claims in the timer document; the chain goes on", async () => {
    // Timeouts long enough that the stalled checkpoint fails nothing over.
    const { sim, writes } = await armed({ heartbeatTimeoutMs: 60_000, applyTimeoutMs: 60_000 });
    await sim.run(2000);
    const timerKey = timerStateKey('vm-0', 'pending-check');
    const before = writes.get(timerKey) ?? 0;
    // Every send but a heartbeat fails: a checkpoint's messages stay in the primary's document (as while
    // another invocation performs them for seconds).
    sim.p2s.beforeSend = (messages) => {
      if (messages.some((m) => m.type !== 'heartbeat')) throw new Error('channel down');
    };
    const busy = async () =>
      ((await sim.primaryDoc())?.outbox.sends ?? []).some((x) => x.message.type !== 'heartbeat');
    for (let i = 0; i < 50 && !(await busy()); i++) await sim.run(200);
    expect(await busy()).toBe(true);
    const inNode = (await readChainClaim(sim.state, 'vm-0', 'primary', 'pending-check'))?.seq;
    await sim.run(3000, 100, ['pending-check']);
    // Claimed where a claim does not touch the busy document; the node document's claim stays behind.
    expect((writes.get(timerKey) ?? 0) - before).toBeGreaterThanOrEqual(2);
    expect(sim.obs.logs.some((l) => /before its claim/.test(l.message))).toBe(false);
    expect((await readChainClaim(sim.state, 'vm-0', 'primary', 'pending-check'))?.seq).toBe(inNode);
    expect(sim.ticks['pending-check'].messages.length).toBe(1);
    // The channel back: the sends go out, the node document claims again, in the same generation.
    sim.p2s.beforeSend = undefined;
    await sim.run(5000);
    expect(await busy()).toBe(false);
    const after = await readChainClaim(sim.state, 'vm-0', 'primary', 'pending-check');
    expect(after?.generation).toBe(1);
    expect(after?.seq).toBeGreaterThan((inNode ?? 0) + 3);
    expect(sim.metric('ChainsRepaired')).toBe(0);
  });
});
