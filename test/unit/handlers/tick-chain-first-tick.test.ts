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
  type TickChainDeps,
} from '../../../lambda/handlers/common/tick-chain.ts';
import { MemoryStateStore } from '../../../src/runtime/cloud/index.ts';
import { HandlerSim, handlerParams, MemoryTickQueue } from './sim.ts';

const T0 = 1_767_225_600_000;

function setup(): { deps: TickChainDeps; queue: MemoryTickQueue; state: MemoryStateStore } {
  const state = new MemoryStateStore();
  const queue = new MemoryTickQueue();
  return { state, queue, deps: { state, ticks: queue, vmId: 'vm-0', timer: 'pending-check', periodMs: 1000 } };
}

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

describe('what a lost first tick costs', () => {
  const vmChains = (state: MemoryStateStore) => ({
    state,
    vmId: 'vm-0',
    ticks: { checkpoint: new MemoryTickQueue(), 'pending-check': new MemoryTickQueue(), heartbeat: new MemoryTickQueue() },
    periodMs: { checkpoint: 20_000, 'pending-check': 1000, heartbeat: 1000 } as Record<TimerName, number>,
  });

  /** When a sibling checking every 2 s from `from` first replaces the pending-check chain, ms after `from`. */
  const repairedAfter = async (vm: ReturnType<typeof vmChains>, from: number): Promise<number> => {
    for (let t = 2000; t <= 30_000; t += 2000) {
      const r = await repairSiblings(vm, 'heartbeat', 2, from + t);
      if (r['pending-check']?.verdict === 'armed') return t;
    }
    throw new Error('never repaired');
  };

  test('a lost later tick is replaced within 6 s, a lost first tick only after 12 s', async () => {
    const state = new MemoryStateStore();
    const vm = vmChains(state);
    await armAllChains(vm, T0);
    const pc = vm.ticks['pending-check'];
    const deps = { state, ticks: pc, vmId: 'vm-0', timer: 'pending-check' as const, periodMs: 1000 };
    const [first] = pc.takeDue(T0);
    expect((await handleTick(deps, first?.body as string, 'p1', T0)).verdict).toBe('claimed');
    pc.messages.splice(0); // seq 2 dead-lettered
    const lostLater = await repairedAfter(vm, T0);
    expect(lostLater).toBeLessThanOrEqual(6000);
    // Generation 2's first tick dead-lettered too (three failed receives): nothing tells it from a late one.
    const armedAt = T0 + lostLater;
    pc.messages.splice(0);
    const lostFirst = await repairedAfter(vm, armedAt);
    expect(lostFirst).toBeGreaterThan(staleAfterMs(1000));
  });

  test('a VM whose pending-check chain loses its very first tick: repaired after 12 s, past a 10 s heartbeat timeout', async () => {
    const params = handlerParams({ policy: 'none', checkpointDelayMs: 20_000, heartbeatTimeoutMs: 10_000 });
    const sim = new HandlerSim(params, 'ack', { siblingRepair: true });
    await sim.tickArm({});
    sim.ticks['pending-check'].messages.splice(0); // generation 1's first tick dead-lettered
    const generations: { at: number; generation: number }[] = [];
    for (let i = 0; i < 200; i++) {
      await sim.run(100);
      const doc = JSON.parse(
        Buffer.from(sim.state.peek(timerStateKey('vm-0', 'pending-check')) ?? []).toString(),
      ) as { generation: number };
      if (doc.generation !== generations.at(-1)?.generation) generations.push({ at: (i + 1) * 100, generation: doc.generation });
    }
    const control = await readControl(sim.state, 'vm-0');
    // Reported, not asserted as right or wrong: what the fix makes of this loss.
    console.log('lost first tick at start:', JSON.stringify({ generations, failedOver: control.failedOver, reason: control.reason }));
    expect(generations.find((g) => g.generation === 2)?.at).toBeGreaterThan(staleAfterMs(1000));
  });
});
