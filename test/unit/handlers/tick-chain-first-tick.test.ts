/**
 * An outside review of the repaired chain's first tick (docs/cloud.md "A repaired chain's first tick is
 * waited for"): the cases the fix's own tests leave open — a stray first tick with a future `dueAt`, a
 * chain claimed in the node document judged by that claim, and what a lost first tick costs.
 */
import { describe, expect, test } from 'vitest';
import { type TickMessage, type TimerName, timerStateKey } from '../../../lambda/adapters/contract.ts';
import { readControl } from '../../../lambda/handlers/common/control.ts';
import {
  armAllChains,
  armChain,
  handleTick,
  repairSiblings,
  siblingStaleAfterMs,
  staleAfterMs,
} from '../../../lambda/handlers/common/tick-chain.ts';
import { readChainClaim } from '../../../src/runtime/cloud/chain-claim.ts';
import { MemoryStateStore } from '../../../src/runtime/cloud/index.ts';
import { nodeStateKey } from '../../../src/runtime/cloud/keys.ts';
import {
  HandlerSim,
  handlerParams,
  MemoryTickQueue,
  chainSetup as setup,
  sqsEvent,
  sqsRecord,
} from './sim.ts';

const T0 = 1_767_225_600_000;

const tick = (over: Partial<TickMessage> = {}): string =>
  JSON.stringify({ v: 1, vmId: 'vm-0', timer: 'pending-check', generation: 1, seq: 1, dueAt: T0, ...over });

describe('a first tick of a generation not on record', () => {
  test('a stray one due far in the future is not put back forever', async () => {
    const { deps, queue } = setup();
    await armChain(deps, T0);
    queue.messages.splice(0);
    // Generation 7 was never armed; an arm sends its first tick due at its own time, never days ahead.
    let body = tick({ generation: 7, dueAt: T0 + 86_400_000 });
    const verdicts: string[] = [];
    let now = T0;
    for (let i = 0; i < 5; i++) {
      const r = await handleTick(deps, body, `m${i}`, now);
      verdicts.push(r.verdict);
      const [back] = queue.messages.splice(0);
      if (!back) break;
      body = back.body;
      now = back.visibleAt;
    }
    expect(verdicts.at(-1)).toBe('dropped');
    expect(verdicts.length).toBeLessThanOrEqual(2);
  });
});

describe("a repair's first tick that arrives before the repair's write", () => {
  test('is put back (not dropped as another generation), then claimed once the write lands', async () => {
    const { deps, queue, state } = setup();
    await armChain(deps, T0);
    const [g1] = queue.takeDue(T0);
    expect((await handleTick(deps, g1?.body as string, 'g1', T0)).verdict).toBe('claimed');
    queue.messages.splice(0); // the chain is lost after its first tick
    let release: () => void = () => {};
    const held = new Promise<void>((r) => {
      release = r;
    });
    state.beforeSave = async () => {
      state.beforeSave = undefined;
      await held;
    };
    const repairAt = T0 + 6000;
    const arming = armChain(deps, repairAt, { staleAfterMs: siblingStaleAfterMs(1000) });
    await new Promise((r) => setImmediate(r));
    const [first] = queue.takeDue(repairAt);
    expect(JSON.parse(first?.body as string)).toMatchObject({ generation: 2, seq: 1 });
    expect((await handleTick(deps, first?.body as string, 'g2', repairAt + 20)).verdict).toBe('early');
    release();
    expect(await arming).toEqual({ verdict: 'armed', generation: 2 });
    const [again] = queue.takeDue(repairAt + 1020);
    expect((await handleTick(deps, again?.body as string, 'g2b', repairAt + 1030)).verdict).toBe('claimed');
  });
});

describe('a chain claimed in the node document, judged by that claim', () => {
  test("a generation whose first tick was claimed in the node document gets the sibling's bound", async () => {
    const { deps } = setup();
    expect(await armChain(deps, T0)).toEqual({ verdict: 'armed', generation: 1 });
    // Its first tick claimed in the primary's node document 1 s after the arm (timer document seq stays 0),
    // then the chain is lost: 6 s later it is past the sibling's 5 s bound.
    const nodeClaims = { 'pending-check': { generation: 1, seq: 1, claimedBy: 'm1', at: T0 + 1000 } };
    const sibling = { staleAfterMs: siblingStaleAfterMs(1000), nodeClaims };
    expect((await armChain(deps, T0 + 6000, sibling)).verdict).toBe('healthy');
    expect(await armChain(deps, T0 + 7000, sibling)).toEqual({ verdict: 'armed', generation: 2 });
  });
});

describe('a lost first tick', () => {
  const vmChains = (state: MemoryStateStore) => ({
    state,
    vmId: 'vm-0',
    ticks: {
      checkpoint: new MemoryTickQueue(),
      'pending-check': new MemoryTickQueue(),
      heartbeat: new MemoryTickQueue(),
    },
    periodMs: { checkpoint: 20_000, 'pending-check': 1000, heartbeat: 1000 } as Record<TimerName, number>,
  });

  /** The first check of a sibling checking every 2 s from `from` that does more than `healthy`. */
  const firstAction = async (vm: ReturnType<typeof vmChains>, from: number) => {
    for (let t = 2000; t <= 30_000; t += 2000) {
      const r = await repairSiblings(vm, 'heartbeat', 2, from + t);
      const v = r['pending-check']?.verdict;
      if (v !== 'healthy') return { after: t, verdict: v };
    }
    throw new Error('never acted');
  };

  test("is sent again at the sibling's bound, in the same generation, and the copy is claimed", async () => {
    const state = new MemoryStateStore();
    const vm = vmChains(state);
    await armAllChains(vm, T0);
    const pc = vm.ticks['pending-check'];
    const deps = { state, ticks: pc, vmId: 'vm-0', timer: 'pending-check' as const, periodMs: 1000 };
    const [first] = pc.takeDue(T0);
    expect((await handleTick(deps, first?.body as string, 'p1', T0)).verdict).toBe('claimed');
    pc.messages.splice(0); // seq 2 dead-lettered: a new generation within 6 s
    const lost = await firstAction(vm, T0);
    expect(lost).toEqual({ after: 6000, verdict: 'armed' });
    const armedAt = T0 + lost.after;
    const [gen2] = pc.messages.splice(0); // generation 2's first tick dead-lettered too
    expect(JSON.parse(gen2?.body as string)).toMatchObject({ generation: 2, seq: 1 });
    // Nothing tells a lost first tick from a late one: the same tick again at 6 s, not a generation at 12 s.
    expect(await firstAction(vm, armedAt)).toEqual({ after: 6000, verdict: 'resent' });
    const copies = pc.takeDue(armedAt + 6000);
    expect(copies.map((m) => m.body)).toEqual([gen2?.body]);
    expect((await handleTick(deps, copies[0]?.body as string, 'c1', armedAt + 6000)).verdict).toBe('claimed');
    expect(
      JSON.parse(Buffer.from(state.peek(timerStateKey('vm-0', 'pending-check')) ?? []).toString()),
    ).toMatchObject({ generation: 2, seq: 1 });
    // The late original, when it comes, is a duplicate.
    expect((await handleTick(deps, gen2?.body as string, 'p2', armedAt + 9000)).verdict).toBe('dropped');
  });

  test('a resend whose send fails is an error that changes nothing; the next check sends it', async () => {
    const { deps, queue, state } = setup();
    await armChain(deps, T0);
    queue.messages.splice(0);
    const key = timerStateKey('vm-0', 'pending-check');
    const before = state.peek(key);
    const sibling = { staleAfterMs: siblingStaleAfterMs(1000) };
    queue.failing = true;
    await expect(armChain(deps, T0 + 6000, sibling)).rejects.toThrow(/tick queue unavailable/);
    expect(state.peek(key)).toEqual(before);
    queue.failing = false;
    expect(await armChain(deps, T0 + 8000, sibling)).toEqual({ verdict: 'resent', generation: 1 });
    expect(queue.messages.length).toBe(1);
    expect(state.peek(key)).toEqual(before);
  });

  test('the watchdog never resends: past its bound a generation is replaced', async () => {
    const { deps, queue } = setup();
    await armChain(deps, T0);
    queue.messages.splice(0);
    expect((await armChain(deps, T0 + 8000)).verdict).toBe('healthy');
    expect(queue.messages.length).toBe(0);
    expect(await armChain(deps, T0 + staleAfterMs(1000) + 1)).toEqual({ verdict: 'armed', generation: 2 });
  });

  test('a VM whose pending-check chain loses its very first tick is not failed over', async () => {
    const params = handlerParams({ policy: 'none', checkpointDelayMs: 20_000, heartbeatTimeoutMs: 10_000 });
    const sim = new HandlerSim(params, 'ack', { siblingRepair: true });
    await sim.tickArm({});
    sim.ticks['pending-check'].messages.splice(0); // generation 1's first tick dead-lettered
    await sim.run(20_000);
    const control = await readControl(sim.state, 'vm-0');
    expect(control.failedOver).toBe(false);
    // The first tick was sent again (generation 1 kept) and the chain runs.
    const timer = JSON.parse(
      Buffer.from(sim.state.peek(timerStateKey('vm-0', 'pending-check')) ?? []).toString(),
    ) as { generation: number };
    expect(timer.generation).toBe(1);
    expect(sim.obs.logs.some((l) => /first tick sent again/.test(l.message))).toBe(true);
    expect(sim.metric('ChainsRepaired')).toBe(0);
    expect(sim.metric('TicksClaimed')).toBeGreaterThan(10);
  });
});

describe('a stale first tick of a chain claimed in the node document', () => {
  test('whose work fails before it judges is claimed in the timer document behind the node claim', async () => {
    const sim = new HandlerSim(handlerParams({ policy: 'none' }), 'ack', { siblingRepair: true });
    await sim.tickArm({});
    const [first] = sim.ticks['pending-check'].messages.map((m) => m.body);
    await sim.run(3000, 100, ['pending-check']);
    const ahead = await readChainClaim(sim.state, 'vm-0', 'primary', 'pending-check');
    expect(ahead?.seq).toBeGreaterThanOrEqual(2);
    // A second copy of generation 1's first tick (an SQS duplicate, or the orphan of an arm that lost its
    // race) arrives while the primary's document cannot be read: the work fails before it judges the tick.
    const load = sim.state.load.bind(sim.state);
    sim.state.load = (k) =>
      k === nodeStateKey('vm-0', 'primary') ? Promise.reject(new Error('S3 slow')) : load(k);
    const queued = sim.ticks['pending-check'].messages.length;
    await sim.pendingCheckTimer(sqsEvent([sqsRecord(first as string)]));
    sim.state.load = load;
    const timer = JSON.parse(
      Buffer.from(sim.state.peek(timerStateKey('vm-0', 'pending-check')) ?? []).toString(),
    ) as { seq: number };
    // The timer document took seq 1 although the node document is ahead (claimInTimerDocument does not
    // read it), and a second successor is queued beside the live chain's.
    expect(timer.seq).toBe(1);
    expect(sim.ticks['pending-check'].messages.length - queued).toBe(1);
    await sim.run(3000, 100, ['pending-check']);
    // The extra successor is dropped by the node claim at its next delivery: the chain does not fork.
    expect(sim.ticks['pending-check'].messages.length).toBe(1);
  });
});
