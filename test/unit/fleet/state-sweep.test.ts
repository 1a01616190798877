// The fleet's state sweep (lambda/handlers/common/state-sweep.ts): which minute sweeps which VM, the
// watchdog's rule run sweeping the VMs due, the `colo.sweep` request and its bad input, and a VM whose
// sweep fails while the others go on. Real lean documents from two cloud nodes on in-memory ports.
import { describe, expect, test } from 'vitest';
import { createFleetWatchdogHandler } from '../../../lambda/handlers/common/fleet-watchdog.ts';
import {
  createSweepRequestHandler,
  parseSweepRequest,
  type StateSweepDeps,
  SWEEP_PERIOD_MINUTES,
  SweepRequestError,
  sweepDue,
  sweepSlot,
  sweepVms,
} from '../../../lambda/handlers/common/state-sweep.ts';
import { validateVmConfig } from '../../../src/parameters/vm-config.ts';
import {
  ChunkCache,
  chunkKey,
  decodePrimaryDocument,
  decodeSecondaryDocument,
  MemoryStateStore,
  nodeStateKey,
  primaryStateStore,
  secondaryStateStore,
  segmentKey,
} from '../../../src/runtime/cloud/index.ts';
import { testParams } from '../../helpers/engine.ts';
import { CloudPair } from '../cloud/harness.ts';
import { MemoryTickQueue, recordingObservability } from '../handlers/sim.ts';
import { MemoryVmRegistry } from './memory-registry.ts';

const GRACE = 60_000;
const VM = 'vm-0';
/** A minute-aligned time at which `VM` is due for its sweep. */
const DUE_AT = (() => {
  const base = 1_767_225_600_000; // a whole hour
  return base + sweepSlot(VM) * 60_000;
})();

/** A VM with lean state on both nodes, plus planted garbage (a passed revision) and a pending object. */
async function fleet() {
  const pair = new CloudPair(testParams({ vmId: VM }), DUE_AT - 10 * GRACE);
  pair.state.clock = pair.clock.now;
  pair.options = {
    sleep: pair.clock.sleep,
    stateLayout: { kind: 'lean', chunkPages: 64, overlayEntries: 16, segmentEntries: 32, segmentFanout: 3 },
    chunkCache: new ChunkCache(1 << 20),
  };
  await pair.start();
  await pair.run(2000);
  const garbage: string[] = [];
  const pending: string[] = [];
  for (const node of ['primary', 'secondary'] as const) {
    const rev = (await (node === 'primary' ? pair.primaryDoc() : pair.secondaryDoc()))?.revision ?? 0;
    expect(rev).toBeGreaterThan(2);
    garbage.push(chunkKey(VM, node, 0, 1, 'ab'.repeat(32)), segmentKey(VM, node, 2, 'cd'.repeat(32)));
    pending.push(segmentKey(VM, node, rev + 1, 'ef'.repeat(32)));
  }
  for (const k of [...garbage, ...pending]) pair.state.put(k, new Uint8Array([1, 2, 3]), undefined);
  const registry = new MemoryVmRegistry();
  await registry.put(validateVmConfig({ vmId: VM }));
  const obs = recordingObservability();
  let now = DUE_AT;
  const deps: StateSweepDeps = { registry, state: pair.state, now: () => now, obs };
  return { pair, garbage, pending, registry, obs, deps, setNow: (t: number) => (now = t) };
}

async function loadsCold(pair: CloudPair): Promise<void> {
  const cold = { cache: new ChunkCache(1 << 20) };
  await primaryStateStore(pair.state, pair.params, cold).load(decodePrimaryDocument);
  await secondaryStateStore(pair.state, pair.params, cold).load(decodeSecondaryDocument);
}

describe('which minute sweeps which VM', () => {
  test('each VM is due in exactly one minute of the period, and the minutes spread evenly', () => {
    const perSlot = new Array<number>(SWEEP_PERIOD_MINUTES).fill(0);
    for (let i = 0; i < 6000; i++) {
      const vmId = `vm-${i}`;
      let due = 0;
      for (let m = 0; m < SWEEP_PERIOD_MINUTES; m++) if (sweepDue(vmId, DUE_AT + m * 60_000 + 59_999)) due++;
      expect(due).toBe(1);
      perSlot[sweepSlot(vmId)] = (perSlot[sweepSlot(vmId)] as number) + 1;
    }
    // 100 per minute on average: none empty, none crowded.
    expect(Math.min(...perSlot)).toBeGreaterThan(60);
    expect(Math.max(...perSlot)).toBeLessThan(140);
  });
});

describe('colo.sweep requests', () => {
  test('other events are not sweep requests; a good one is parsed', () => {
    expect(parseSweepRequest({ source: 'colo.watchdog' })).toBeUndefined();
    expect(parseSweepRequest(null)).toBeUndefined();
    expect(parseSweepRequest({ source: 'colo.sweep', vmIds: ['vm-1', 'vm-1', 'a'], graceMs: 0 })).toEqual({
      vmIds: ['vm-1', 'a'],
      graceMs: 0,
    });
  });

  test.each([
    [{ source: 'colo.sweep' }, /"vmIds" must be a list/],
    [{ source: 'colo.sweep', vmIds: [] }, /"vmIds" must be a list/],
    [{ source: 'colo.sweep', vmIds: 'vm-1' }, /"vmIds" must be a list/],
    [{ source: 'colo.sweep', vmIds: ['../x'] }, /VM id must match/],
    [{ source: 'colo.sweep', vmIds: [7] }, /VM id must match/],
    [{ source: 'colo.sweep', vmIds: ['vm-1'], graceMs: -1 }, /"graceMs" must be an integer/],
    [{ source: 'colo.sweep', vmIds: ['vm-1'], graceMs: 1.5 }, /"graceMs" must be an integer/],
    [{ source: 'colo.sweep', vmIds: ['vm-1'], graceMs: '0' }, /"graceMs" must be an integer/],
    [{ source: 'colo.sweep', vmIds: ['vm-1'], grace: 0 }, /unknown key "grace"/],
  ])('refuses %j in one line and sweeps nothing', async (event, message) => {
    const f = await fleet();
    const before = f.pair.state.keys();
    const handler = createSweepRequestHandler(f.deps, async () => 'watchdog');
    const err = await handler(event).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(SweepRequestError);
    expect((err as Error).message).toMatch(message);
    expect((err as Error).message).not.toContain('\n');
    expect(f.pair.state.keys()).toEqual(before);
  });

  test('sweeps the named VMs at once with the grace asked for; live state still loads; the run goes on', async () => {
    const f = await fleet();
    const handler = createSweepRequestHandler(f.deps, async () => 'watchdog');
    expect(await handler({ source: 'colo.watchdog' })).toBe('watchdog');
    const r = await handler({ source: 'colo.sweep', vmIds: [VM, 'vm-unknown'], graceMs: 0 });
    expect(r).toMatchObject({ vms: 2, swept: 1, skipped: 1, deleted: f.garbage.length, errors: 0 });
    for (const k of f.garbage) expect(f.pair.state.peek(k), k).toBeUndefined();
    for (const k of f.pending) expect(f.pair.state.peek(k), k).toBeDefined();
    expect(f.obs.metricValues.get('StateObjectsSwept')).toEqual([f.garbage.length]);
    await loadsCold(f.pair);
    await f.pair.run(3000);
    const p = await f.pair.primaryDoc();
    const s = await f.pair.secondaryDoc();
    expect(s?.state.committedEpoch).toBe((p?.state.epoch ?? 0) - 1);
    // The documents have passed the pending objects' revision: named by nothing, they are garbage now.
    const again = await handler({ source: 'colo.sweep', vmIds: [VM], graceMs: 0 });
    expect(again).toMatchObject({ deleted: f.pending.length, errors: 0 });
    for (const k of f.pending) expect(f.pair.state.peek(k), k).toBeUndefined();
    expect(await handler({ source: 'colo.sweep', vmIds: [VM], graceMs: 0 })).toMatchObject({ deleted: 0 });
  });
});

describe('the watchdog sweeps the VMs due', () => {
  function watchdog(f: Awaited<ReturnType<typeof fleet>>) {
    return createFleetWatchdogHandler({
      registry: f.registry,
      state: f.deps.state,
      ticks: {
        checkpoint: new MemoryTickQueue(),
        'pending-check': new MemoryTickQueue(),
        heartbeat: new MemoryTickQueue(),
      },
      now: f.deps.now,
      obs: f.obs,
      sweep: (vmIds, budgetMs) => sweepVms(f.deps, vmIds, GRACE, budgetMs),
    });
  }

  test('in its minute, after arming; not in another minute', async () => {
    const f = await fleet();
    await f.registry.put(validateVmConfig({ vmId: 'vm-other' }));
    const h = watchdog(f);
    // A minute in which vm-0 is not due: nothing is swept.
    f.setNow(DUE_AT + 60_000);
    const other = await h({ source: 'colo.watchdog' });
    expect(other.sweep?.deleted ?? 0).toBe(0);
    for (const k of f.garbage) expect(f.pair.state.peek(k)).toBeDefined();
    // Its minute: swept (other VMs due then have no state: nothing to delete).
    f.setNow(DUE_AT + 30_000);
    const due = await h({ source: 'colo.watchdog' });
    expect(due.sweep).toMatchObject({ swept: 1, deleted: f.garbage.length, errors: 0 });
    expect(due.chains.armed + due.chains.healthy).toBe(2);
    for (const k of f.garbage) expect(f.pair.state.peek(k)).toBeUndefined();
    for (const k of f.pending) expect(f.pair.state.peek(k)).toBeDefined();
    await loadsCold(f.pair);
    // `colo vm add` naming the VM arms only.
    const named = await h({ source: 'colo.watchdog', vmIds: [VM] });
    expect(named.sweep).toBeUndefined();
  });

  test('a VM whose sweep fails is counted and logged; the others are swept; the run does not fail', async () => {
    const f = await fleet();
    // A second due VM whose listing fails (S3 error on its prefix only).
    let other = 'vm-1';
    for (let i = 1; sweepSlot(other) !== sweepSlot(VM); i++) other = `vm-${i}`;
    await f.registry.put(validateVmConfig({ vmId: other }));
    const store = f.pair.state;
    const list = store.list.bind(store);
    store.list = (prefix: string) =>
      prefix.startsWith(`${other}/`) ? Promise.reject(new Error('S3 500')) : list(prefix);
    const r = await watchdog(f)({ source: 'colo.watchdog' });
    expect(r.sweep).toMatchObject({ vms: 2, swept: 2, errors: 2, deleted: f.garbage.length });
    expect(f.obs.logs.filter((l) => l.message === 'state sweep failed').map((l) => l.extra.vmId)).toEqual([
      other,
      other,
    ]);
    expect(f.obs.metricValues.get('StateSweepErrors')).toEqual([2]);
  });

  test('failed deletes are errors, the objects stay, the next sweep deletes them', async () => {
    const f = await fleet();
    const store = f.pair.state;
    const del = store.delete.bind(store);
    store.delete = () => Promise.reject(new Error('AccessDenied'));
    const r = await sweepVms(f.deps, [VM], 0);
    expect(r).toMatchObject({ deleted: 0, errors: f.garbage.length });
    for (const k of f.garbage) expect(store.peek(k)).toBeDefined();
    store.delete = del;
    expect(await sweepVms(f.deps, [VM], 0)).toMatchObject({ deleted: f.garbage.length, errors: 0 });
  });

  test('past the arming deadline or the budget, due VMs are deferred; per run at most maxDeletes a node', async () => {
    const f = await fleet();
    expect(await sweepVms(f.deps, [VM], 0, 0)).toMatchObject({ swept: 0, deferred: 1, deleted: 0 });
    const bounded = await sweepVms({ ...f.deps, maxDeletes: 1 }, [VM], 0);
    expect(bounded).toMatchObject({ deleted: 2, left: f.garbage.length - 2 });
    const store = new MemoryStateStore();
    expect(await sweepVms({ ...f.deps, state: store }, [VM], 0)).toMatchObject({
      swept: 1,
      deleted: 0,
      errors: 0,
    });
    expect(store.keys()).toEqual([]);
    expect(nodeStateKey(VM, 'primary')).toBe(`${VM}/node/primary.bin`);
  });
});
