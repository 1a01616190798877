/**
 * Fleets in the embedded runtime (src/runtime/embedded/fleet.ts): N VMs, each its own primary/secondary pair,
 * sharing one modelled link and delta store. Small N here; the long runs are `npm run experiments`.
 */
import { describe, expect, it } from 'vitest';
import { DEFAULT_PARAMS } from '../../../src/engine/params.ts';
import { runFleet, vmParams, vmStartAt } from '../../../src/runtime/embedded/fleet.ts';
import { runEmbedded } from '../../../src/runtime/embedded/run.ts';
import { verifyRun } from '../../../src/runtime/verify.ts';

const MiB = 1024 * 1024;
/** A small guest whose checkpoints carry a few MiB, and a fixed threshold low enough for rounds. */
const params = {
  ...DEFAULT_PARAMS,
  guestBytes: 32 * MiB,
  payload: 'modelled' as const,
  thresholdBytes: 1 * MiB,
  workload: { kind: 'hotcold' as const, hotPages: 256, hotRate: 500, coldRate: 200 },
};
const link = { bandwidthBytesPerSec: 1e9 / 8, latencyMs: 0.1 };

describe('runFleet', () => {
  it('a fleet of one is the plain embedded run', () => {
    const alone = runEmbedded({ params, link, durationMs: 45_000 });
    const fleet = runFleet({ params, link, durationMs: 45_000, vms: 1 });
    const vm = fleet.vms[0]?.result;
    expect(alone.checkpoints.length).toBeGreaterThan(0);
    expect(vm?.checkpoints).toEqual(alone.checkpoints);
    expect(vm?.rounds).toEqual(alone.rounds);
    expect(vm?.final).toEqual(alone.final);
    expect(fleet.events).toBe(alone.events);
    expect(fleet.linkBytes).toEqual(alone.linkBytes);
  });

  it('VMs differ by seed and id, and each one verifies', () => {
    const fleet = runFleet({ params, link, durationMs: 45_000, vms: 4, staggerMs: 8000 });
    expect(new Set(fleet.vms.map((v) => v.params.seed)).size).toBe(4);
    expect(new Set(fleet.vms.map((v) => v.params.vmId)).size).toBe(4);
    expect(fleet.vms.map((v) => v.startAt)).toEqual([0, 2000, 4000, 6000]);
    for (const vm of fleet.vms) {
      expect(vm.result.checkpoints.length, vm.params.vmId).toBeGreaterThan(0);
      expect(verifyRun(vm.result, vm.params).problems, vm.params.vmId).toEqual([]);
      // Lean by default: no message log, but the count.
      expect(vm.result.messages).toEqual([]);
      expect(vm.result.messagesSent).toBeGreaterThan(0);
    }
    // A VM started later checkpoints later: its first checkpoint is requested after its start + delay.
    const first = fleet.vms[3]?.result.checkpoints[0];
    expect(first?.requestedAt).toBeGreaterThanOrEqual(6000 + params.checkpointDelayMs);
  });

  it('consumed objects are deleted; with delete-fail the failed ones are left over and nothing else changes', () => {
    const clean = runFleet({ params, link, durationMs: 45_000, vms: 2 });
    expect(clean.store.peakObjects).toBeGreaterThan(0);
    expect(clean.store.leftoverObjects).toBe(0);
    const kept = runFleet({
      params,
      link,
      durationMs: 45_000,
      vms: 2,
      faultModel: { deleteFail: 0.5, seed: 3 },
    });
    const keptCount = kept.vms.reduce((n, v) => n + v.result.faultStats.kept, 0);
    expect(keptCount).toBeGreaterThan(0);
    expect(kept.store.leftoverObjects).toBe(keptCount);
    expect(kept.store.leftoverBytes).toBeGreaterThan(0);
    for (const [i, vm] of kept.vms.entries()) {
      // Replication does not see it: the same checkpoints, rounds and final image as without the fault.
      expect(vm.result.checkpoints, vm.params.vmId).toEqual(clean.vms[i]?.result.checkpoints);
      expect(vm.result.final, vm.params.vmId).toEqual(clean.vms[i]?.result.final);
      expect(verifyRun(vm.result, vm.params).problems, vm.params.vmId).toEqual([]);
    }
  });

  it('the link is shared: VMs that checkpoint together wait for each other', () => {
    const durationMs = 25_000;
    // Ten VMs with no stagger all checkpoint at 20 s and queue on one link.
    const together = runFleet({ params: { ...params, policy: 'none' }, link, durationMs, vms: 10 });
    const alone = vmParams({ ...params, policy: 'none' }, 9);
    const single = runEmbedded({ params: alone, link, durationMs });
    const shared = together.vms[9]?.result.checkpoints[0];
    const own = single.checkpoints[0];
    expect(shared && own).toBeTruthy();
    // VM 9 alone on the link vs behind nine others' checkpoints.
    expect(shared?.downtimeMs ?? 0).toBeGreaterThan((own?.downtimeMs ?? 0) * 2);
    const sum = together.vms.reduce((a, v) => a + v.result.linkBytes.toSecondary, 0);
    expect(together.linkBytes.toSecondary).toBe(sum);
    expect(together.linkUtilisation).toBeGreaterThan(0);
    expect(together.store.peakObjects).toBeGreaterThan(1);
  });

  it('is deterministic', () => {
    const a = runFleet({ params, link, durationMs: 30_000, vms: 3, staggerMs: 5000 });
    const b = runFleet({ params, link, durationMs: 30_000, vms: 3, staggerMs: 5000 });
    expect(b.vms.map((v) => v.result.final)).toEqual(a.vms.map((v) => v.result.final));
    expect(b.events).toBe(a.events);
  });

  it('refuses a fleet of no VMs or a fractional one', () => {
    expect(() => runFleet({ params, link, durationMs: 1000, vms: 0 })).toThrow(/1 to 100000 VMs/);
    expect(() => runFleet({ params, link, durationMs: 1000, vms: 1.5 })).toThrow(/1 to 100000 VMs/);
  });

  it('spreads starts evenly and keeps VM 0 as given', () => {
    expect(vmStartAt(0, 4, 1000)).toBe(0);
    expect(vmStartAt(2, 4, 1000)).toBe(500);
    expect(vmParams(params, 0)).toBe(params);
    expect(vmParams({ ...params, vmId: 'x'.repeat(63) }, 12).vmId).toMatch(/^x{56}-12$/);
  });
});
