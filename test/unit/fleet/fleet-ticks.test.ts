/**
 * Tick batches holding several VMs (a fleet stack's shared tick queues): every VM's chains go on and every
 * VM replicates, as each would alone.
 */
import { describe, expect, it } from 'vitest';
import { timerStateKey } from '../../../lambda/adapters/contract.ts';
import { readControl } from '../../../lambda/handlers/common/control.ts';
import { nodeStateKey } from '../../../src/runtime/cloud/keys.ts';
import { handlerParams } from '../handlers/sim.ts';
import { FleetSim } from './fleet-sim.ts';

const vmIds = ['vm-a', 'vm-b', 'vm-c', 'vm-d', 'vm-e'];

/** Five small VMs (4 s checkpoints, 10 s heartbeat timeout) on one simulated fleet stack. */
function fiveVms(): FleetSim {
  return new FleetSim(
    vmIds.map((vmId, i) =>
      handlerParams({
        vmId,
        seed: 31 + i,
        policy: 'none',
        checkpointDelayMs: 4000,
        heartbeatTimeoutMs: 10_000,
      }),
    ),
  );
}

describe('fleet stack: tick batches of several VMs', () => {
  it('five VMs on shared tick queues all commit, none fails over', async () => {
    const fleet = fiveVms();
    await fleet.arm();
    await fleet.run(40_000);
    // The batches really held several VMs (what a one-VM stack never makes).
    expect(Math.max(...fleet.batchVms.heartbeat)).toBeGreaterThan(1);
    expect(Math.max(...fleet.batchVms['pending-check'])).toBeGreaterThan(1);
    for (const [vmId, sim] of fleet.vms) {
      expect((await readControl(fleet.shared.state, vmId)).failedOver, vmId).toBe(false);
      expect((await sim.secondaryDoc())?.state.epoch, vmId).toBeGreaterThanOrEqual(5);
    }
  });

  it("an invocation killed by one VM's work ends no other VM's heartbeat chain", async () => {
    const fleet = fiveVms();
    await fleet.arm();
    await fleet.run(10_000);
    const chain = async (vmId: string) => {
      const d = await fleet.shared.state.load(timerStateKey(vmId, 'heartbeat'));
      return JSON.parse(Buffer.from(d?.value ?? []).toString('utf8')) as { generation: number; seq: number };
    };
    const before = new Map<string, { generation: number; seq: number }>();
    for (const vmId of vmIds) before.set(vmId, await chain(vmId));
    // Reading vm-a's secondary (its work) kills the heartbeat-monitor invocation it shares with the other VMs (Lambda's
    // timeout or memory limit: one VM's work, every VM's process).
    fleet.killAtSave = (key) => key === 'vm-a/node/secondary.bin';
    let batchVms = 0;
    for (let i = 0; i < 40 && fleet.kills === 0; i++) {
      await fleet.run(100);
      batchVms = fleet.batchVms.heartbeat.at(-1) ?? 0;
    }
    fleet.killAtSave = undefined;
    expect(fleet.kills).toBe(1);
    expect(batchVms).toBeGreaterThan(1);
    // Within two of the chain's 2 s gaps every other VM's chain has ticked on, in the same generation: it was
    // not left to the sibling repair (a new generation after 8 s).
    await fleet.run(4000);
    for (const vmId of vmIds.slice(1)) {
      const now = await chain(vmId);
      const was = before.get(vmId);
      expect(now.generation, vmId).toBe(was?.generation);
      expect(now.seq, vmId).toBeGreaterThan((was?.seq ?? 0) + 1);
    }
    // And the fleet replicates on: no VM fails over.
    await fleet.run(30_000);
    for (const vmId of vmIds)
      expect((await readControl(fleet.shared.state, vmId)).failedOver, vmId).toBe(false);
  });

  it("each VM's liveness is its own primary's document: one primary that cannot save is failed over, no other", async () => {
    const fleet = fiveVms();
    await fleet.arm();
    await fleet.run(6000);
    // vm-c's primary can no longer commit a save (its bucket writes fail); every other primary saves on. The
    // heartbeat batches hold several VMs, so one VM's document read for another would hold vm-c's failover off.
    const dead = nodeStateKey('vm-c', 'primary');
    fleet.shared.state.beforeSave = (key) => {
      if (key === dead) throw new Error('S3 PutObject: InternalError (injected)');
    };
    await fleet.run(25_000);
    fleet.shared.state.beforeSave = undefined;
    expect(Math.max(...fleet.batchVms.heartbeat)).toBeGreaterThan(1);
    for (const vmId of vmIds) {
      const failedOver = (await readControl(fleet.shared.state, vmId)).failedOver;
      expect(failedOver, vmId).toBe(vmId === 'vm-c');
    }
    const c = await fleet.vms.get('vm-c')?.secondaryDoc();
    expect(c?.exit?.detail).toMatch(/no message from the primary/);
  });
});
