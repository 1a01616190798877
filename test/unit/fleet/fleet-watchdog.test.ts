import { describe, expect, test } from 'vitest';
import { STACK_CHAIN_ID, timerStateKey } from '../../../lambda/adapters/contract.ts';
import { markFailedOver } from '../../../lambda/handlers/common/control.ts';
import {
  createFleetWatchdogHandler,
  rotateAfter,
  WATCHDOG_CURSOR_KEY,
} from '../../../lambda/handlers/common/fleet-watchdog.ts';
import { validateVmConfig } from '../../../src/parameters/vm-config.ts';
import { MemoryStateStore } from '../../../src/runtime/cloud/index.ts';
import { MemoryTickQueue, recordingObservability } from '../handlers/sim.ts';
import { MemoryVmRegistry } from './memory-registry.ts';

const T0 = 1_767_225_600_000;

async function setup(n: number, over: { msPerRead?: number; budgetMs?: number; concurrency?: number } = {}) {
  const registry = new MemoryVmRegistry();
  for (let i = 0; i < n; i++)
    await registry.put(validateVmConfig({ vmId: `vm-${String(i).padStart(4, '0')}` }));
  const state = new MemoryStateStore();
  const ticks = {
    checkpoint: new MemoryTickQueue(),
    'pending-check': new MemoryTickQueue(),
    heartbeat: new MemoryTickQueue(),
  };
  // A virtual clock that advances with each state read: the cost of S3 round trips, without waiting.
  let now = T0;
  const msPerRead = over.msPerRead ?? 0;
  const load = state.load.bind(state);
  state.load = async (key) => {
    now += msPerRead;
    return load(key);
  };
  const handler = createFleetWatchdogHandler({
    registry,
    state,
    ticks,
    now: () => now,
    obs: recordingObservability(),
    ...(over.budgetMs === undefined ? {} : { budgetMs: over.budgetMs }),
    ...(over.concurrency === undefined ? {} : { concurrency: over.concurrency }),
  });
  return { registry, state, ticks, handler, advance: (ms: number) => (now += ms), now: () => now };
}

describe('fleet watchdog', () => {
  test("one run starts every registered VM's checkpoint chain and the stack's pulse and monitor, paging through the registry", async () => {
    const s = await setup(1203);
    const r = await s.handler({ source: 'colo.watchdog' });
    expect(r).toMatchObject({ vms: 1203, visited: 1203, deferred: 0 });
    expect(r.chains.armed).toBe(1203);
    expect(r.stack).toEqual({ pulse: 'armed', monitor: 'armed' });
    expect(s.ticks.checkpoint.sent).toBe(1203);
    // The pulse rides the pending-check queue, the monitor the heartbeat queue: one first tick each.
    expect(s.ticks['pending-check'].sent).toBe(1);
    expect(s.ticks.heartbeat.sent).toBe(1);
    expect(JSON.parse(s.ticks['pending-check'].messages[0]?.body ?? '{}')).toMatchObject({
      vmId: STACK_CHAIN_ID,
      timer: 'pulse',
    });
    const vmsTicked = new Set(s.ticks.checkpoint.messages.map((m) => JSON.parse(m.body).vmId));
    expect(vmsTicked.size).toBe(1203);
    // A run soon after finds every chain healthy and sends nothing; one after the chains went quiet
    // (no tick claimed for 2 × period + 10 s) starts new generations of all of them.
    s.advance(1000);
    const again = await s.handler({ source: 'colo.watchdog' });
    expect(again.chains).toMatchObject({ healthy: 1203, armed: 0 });
    expect(again.stack).toEqual({ pulse: 'healthy', monitor: 'healthy' });
    expect(s.ticks.checkpoint.sent).toBe(1203);
    s.advance(120_000);
    const later = await s.handler({ source: 'colo.watchdog' });
    expect(later.chains.armed).toBe(1203);
    expect(later.stack).toEqual({ pulse: 'armed', monitor: 'armed' });
  });

  test('a failed-over VM is left stopped; a VM removed between listing and arming is skipped', async () => {
    const s = await setup(3);
    await markFailedOver(s.state, 'vm-0001', 'test', T0);
    const r = await s.handler({ source: 'colo.watchdog' });
    expect(r.chains).toMatchObject({ armed: 2, stopped: 1 });
    expect(s.state.peek(timerStateKey('vm-0001', 'checkpoint'))).toBeUndefined();
  });

  test('over its time budget it defers the rest and the next run starts with them', async () => {
    // 7 reads per VM at 40 ms, 4 at a time, 1 s budget: about 14 VMs per run.
    const s = await setup(40, { msPerRead: 40, budgetMs: 1000, concurrency: 4 });
    const first = await s.handler({ source: 'colo.watchdog' });
    expect(first.deferred).toBeGreaterThan(0);
    expect(first.visited + first.deferred).toBe(40);
    const cursor = JSON.parse(Buffer.from(s.state.peek(WATCHDOG_CURSOR_KEY) ?? []).toString()).after;
    expect(typeof cursor).toBe('string');
    const armed = new Set<string>();
    const collect = () => {
      for (const m of s.ticks.checkpoint.messages) armed.add(JSON.parse(m.body).vmId);
    };
    collect();
    let runs = 1;
    while (armed.size < 40 && runs < 10) {
      await s.handler({ source: 'colo.watchdog' });
      collect();
      runs++;
    }
    expect(armed.size).toBe(40);
    expect(runs).toBeLessThanOrEqual(Math.ceil(40 / first.visited) + 1);
  });

  test('an event naming VMs arms only those, and answers per timer', async () => {
    const s = await setup(5);
    const r = await s.handler({ source: 'colo.watchdog', vmIds: ['vm-0002'] });
    expect(r.vms).toBe(1);
    expect(r.byVm).toEqual({ 'vm-0002': { checkpoint: 'armed' } });
    expect(s.ticks.checkpoint.sent).toBe(1);
    const unknown = await s.handler({ source: 'colo.watchdog', vmIds: ['vm-nope'] });
    expect(unknown).toMatchObject({ vms: 1, byVm: {} });
  });

  test('rotateAfter starts after the cursor and wraps', () => {
    expect(rotateAfter(['a', 'b', 'c', 'd'], 'b')).toEqual(['c', 'd', 'a', 'b']);
    expect(rotateAfter(['a', 'b'], 'z')).toEqual(['a', 'b']);
    expect(rotateAfter(['a', 'b'], undefined)).toEqual(['a', 'b']);
  });
});
