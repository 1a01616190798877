/**
 * `colo vm remove` racing `colo vm add`/`set` of the same VM (vm-admin.ts, admin-lease.ts; two outside
 * reviews, 2026-12-02): one `colo vm` command per VM at a time, by a lease object created only if absent.
 * An add during a remove (its settle or its `--delete-state` wait) is refused and changes nothing; the
 * remove finishes; a lease left by a command that died is taken over once old; a config changed by hand
 * while a remove settles is not unregistered. The S3 is an in-memory fake (test/helpers/memory-s3.ts); no
 * function is invoked (the watchdog call fails and is reported).
 */
import { describe, expect, it } from 'vitest';
import { S3StateStore } from '../../../lambda/adapters/s3-state-store.ts';
import { validateVmConfig } from '../../../src/parameters/vm-config.ts';
import { markResumed, readControl, VM_REMOVED_REASON } from '../../../src/runtime/cloud/control.ts';
import { controlKey, nodeStateKey, removedConfigKey } from '../../../src/runtime/cloud/keys.ts';
import { ADMIN_LEASE_MAX_MS, adminLeaseKey } from '../../../src/runtime/localstack/admin-lease.ts';
import type { Clients } from '../../../src/runtime/localstack/aws.ts';
import type { StackOutputs } from '../../../src/runtime/localstack/stack.ts';
import { type FleetTarget, removeVm, writeVm } from '../../../src/runtime/localstack/vm-admin.ts';
import { MemoryS3 } from '../../helpers/memory-s3.ts';

const BUCKET = 'colo-state';

function fleet(s3: MemoryS3, sleep: (ms: number) => Promise<void>): FleetTarget {
  const outputs = { stackName: 'Colo', vmId: 'vm-0', bucketName: BUCKET } as unknown as StackOutputs;
  return { clients: { s3: s3.client } as unknown as Clients, outputs, sleep };
}

const shortSleep = (ms: number) => new Promise<void>((r) => setTimeout(r, Math.min(ms, 5)));
const config = (seed: number) => validateVmConfig({ vmId: 'vm-2', seed });
const snapshot = (s3: MemoryS3) => new Map([...s3.objects].map(([k, v]) => [k, v.etag]));

describe('colo vm remove racing colo vm add', () => {
  it('an add during --delete-state: refused, nothing changed by it; the remove deletes; an add after works', async () => {
    const s3 = new MemoryS3();
    let refusal: unknown;
    const t = fleet(s3, async (ms) => {
      // The settle's polls and the wait for warm functions: an add tries in each.
      if (refusal === undefined) {
        const before = snapshot(s3);
        refusal = await writeVm({ ...t, sleep: shortSleep }, config(1)).catch((e: unknown) => e);
        expect(snapshot(s3)).toEqual(before);
      }
      await shortSleep(ms);
    });
    await writeVm(t, config(1));
    const state = new S3StateStore({ bucket: BUCKET, client: s3.client });
    await state.save('vm-2/timers/checkpoint.json', new Uint8Array([1, 2, 3]), undefined);
    const r = await removeVm(t, 'vm-2', { deleteState: true });
    expect(String(refusal)).toMatch(
      /vm-2 is being changed by another colo vm command \(colo vm remove --delete-state, since .*\): run this again when it has finished/,
    );
    // The timer document and the config kept beside the state.
    expect(r.deletedObjects).toBe(2 + 1);
    expect(s3.keys()).toEqual([]);
    // The lease went with the remove: the add now goes through.
    await writeVm(t, config(1));
    expect(s3.keys()).toEqual(['vms/vm-2.json']);
  }, 30_000);

  it('an add after a plain remove starts the VM again and records when (its watchdog counts from then)', async () => {
    const s3 = new MemoryS3();
    const t = fleet(s3, shortSleep);
    await writeVm(t, config(1));
    await removeVm(t, 'vm-2');
    const state = new S3StateStore({ bucket: BUCKET, client: s3.client });
    expect((await readControl(state, 'vm-2')).reason).toBe(VM_REMOVED_REASON);
    const before = Date.now();
    await writeVm(t, config(1));
    const control = await readControl(state, 'vm-2');
    expect(control).toMatchObject({ failedOver: false, reason: null, owner: null });
    expect(control.resumedAt).toBeGreaterThanOrEqual(before);
    expect(control.resumedAt).toBeLessThanOrEqual(Date.now());
  });

  it('an add killed after it started the VM but before it registered it: the next add does both; a set records no resume', async () => {
    const s3 = new MemoryS3();
    const t = fleet(s3, shortSleep);
    await writeVm(t, config(1));
    await removeVm(t, 'vm-2');
    const state = new S3StateStore({ bucket: BUCKET, client: s3.client });
    // The add's first write (the stop cleared) landed, then it died: the VM is not registered.
    await markResumed(state, 'vm-2', 1000);
    expect(s3.keys('vms/')).toEqual([]);
    await writeVm(t, config(1));
    expect(s3.keys('vms/')).toEqual(['vms/vm-2.json']);
    expect((await readControl(state, 'vm-2')).failedOver).toBe(false);
    // A VM that was running and is changed by `set`: no resume recorded (it never paused).
    const s3b = new MemoryS3();
    const tb = fleet(s3b, shortSleep);
    await writeVm(tb, config(1));
    await writeVm(tb, validateVmConfig({ vmId: 'vm-2', seed: 1, downtimeBudgetMs: 300 }), config(1));
    const kept = await readControl(new S3StateStore({ bucket: BUCKET, client: s3b.client }), 'vm-2');
    expect(kept.resumedAt).toBeNull();
  });

  it.each([
    ['still holds it', true],
    ['has finished and deleted it', false],
  ])(
    'a remove --delete-state paused past the lease limit and taken over (the taker %s) deletes nothing more, in one line',
    async (_, holds) => {
      const s3 = new MemoryS3();
      let pausedOnce = false;
      const warnings: string[] = [];
      const t = {
        ...fleet(s3, async (ms) => {
          // The wait for warm functions: the command is stopped (Ctrl-Z) long enough for another to take over.
          if (ms > 5000 && !pausedOnce) {
            pausedOnce = true;
            s3.objects.set(adminLeaseKey('vm-2'), {
              bytes: Buffer.from(JSON.stringify({ command: 'colo vm add/set', at: 0, token: 'other' })),
              etag: '"other"',
            });
            if (!holds) s3.objects.delete(adminLeaseKey('vm-2'));
          }
          await shortSleep(ms);
        }),
        warn: (line: string) => warnings.push(line),
      };
      await writeVm(t, config(1));
      const state = new S3StateStore({ bucket: BUCKET, client: s3.client });
      await state.save('vm-2/timers/checkpoint.json', new Uint8Array([1]), undefined);
      // Taken over, not "S3 out of reach … run it again" (which would undo the taker's work).
      await expect(removeVm(t, 'vm-2', { deleteState: true })).rejects.toThrow(
        /^vm-2: this command's lease was taken over by another colo vm command while this one was stopped/,
      );
      expect(pausedOnce).toBe(true);
      expect(warnings).toEqual([]);
      // The state is still there, and the other command's lease (if it still holds one).
      expect(s3.keys('state/vm-2/timers/')).toEqual(['state/vm-2/timers/checkpoint.json']);
      expect(s3.objects.get(adminLeaseKey('vm-2'))?.etag).toBe(holds ? '"other"' : undefined);
    },
    30_000,
  );

  it('a remove --delete-state that died after unregistering: running it again deletes what it left', async () => {
    const s3 = new MemoryS3();
    const t = fleet(s3, shortSleep);
    await writeVm(t, config(1));
    const state = new S3StateStore({ bucket: BUCKET, client: s3.client });
    await state.save('vm-2/primary.json', new Uint8Array([1]), undefined);
    s3.objects.set('deltas/vm-2/1/1-ram', { bytes: Buffer.from('x'), etag: '"d"' });
    s3.objects.delete('vms/vm-2.json'); // it died here, before deleting the state
    const before = snapshot(s3);
    // A plain remove says what to run, and changes nothing.
    await expect(removeVm(t, 'vm-2')).rejects.toThrow(
      /^VM vm-2 is not registered on stack Colo; its state is kept from an earlier removal: `colo vm remove vm-2 --delete-state` deletes it$/,
    );
    expect(snapshot(s3)).toEqual(before);
    const r = await removeVm(t, 'vm-2', { deleteState: true });
    expect(r.deletedObjects).toBe(2);
    expect(s3.keys()).toEqual([]);
    // Nothing left: not registered, as before.
    await expect(removeVm(t, 'vm-2', { deleteState: true })).rejects.toThrow(
      /^VM vm-2 is not registered on stack Colo$/,
    );
  }, 30_000);

  it('after a plain remove an add is checked against the config the state was written under (a seed slip)', async () => {
    const s3 = new MemoryS3();
    const t = fleet(s3, shortSleep);
    await writeVm(t, config(1));
    const state = new S3StateStore({ bucket: BUCKET, client: s3.client });
    await state.save(nodeStateKey('vm-2', 'primary'), new Uint8Array([1]), undefined);
    await removeVm(t, 'vm-2');
    expect(s3.keys('state/')).toContain(`state/${removedConfigKey('vm-2')}`);
    const before = snapshot(s3);
    await expect(writeVm(t, config(8))).rejects.toThrow(
      /^vm-2 has replication state, which seed cannot change under \(seed 1 → 8\)/,
    );
    expect(snapshot(s3)).toEqual(before);
    // (The stand-in node document cannot be decoded here, where there is no stack: out of the way.)
    s3.objects.delete(`state/${nodeStateKey('vm-2', 'primary')}`);
    await writeVm(t, config(1));
    expect(s3.keys('state/')).not.toContain(`state/${removedConfigKey('vm-2')}`);
  }, 30_000);

  it('two removes at once: the second is refused, the first finishes', async () => {
    const s3 = new MemoryS3();
    const t = fleet(s3, shortSleep);
    await writeVm(t, config(1));
    const first = removeVm(t, 'vm-2');
    await new Promise((r) => setTimeout(r, 50));
    await expect(removeVm(t, 'vm-2', { deleteState: true })).rejects.toThrow(
      /^vm-2 is being changed by another colo vm command \(colo vm remove, since /,
    );
    await first;
    expect(s3.keys('vms/')).toEqual([]);
  }, 30_000);

  it('a lease left by a command that died is taken over once old; a fresh one is not', async () => {
    const s3 = new MemoryS3();
    const t = fleet(s3, shortSleep);
    const left = (at: number) =>
      s3.objects.set(adminLeaseKey('vm-2'), {
        bytes: Buffer.from(JSON.stringify({ command: 'colo vm remove', at })),
        etag: `"lease-${at}"`,
        modified: at,
      });
    left(Date.now() - 1000);
    await expect(writeVm(t, config(1))).rejects.toThrow(/vm-2 is being changed by another colo vm command/);
    expect(s3.keys()).toEqual([adminLeaseKey('vm-2')]);
    left(Date.now() - ADMIN_LEASE_MAX_MS - 1000);
    await writeVm(t, config(1));
    expect(s3.keys()).toEqual(['vms/vm-2.json']);
  });

  it('a config changed by hand while the removal settles: not unregistered, the refusal says so', async () => {
    const s3 = new MemoryS3();
    const t = fleet(s3, shortSleep);
    await writeVm(t, config(1));
    const settling = removeVm(t, 'vm-2');
    await new Promise((r) => setTimeout(r, 200));
    const registryKey = 'vms/vm-2.json';
    const stored = s3.objects.get(registryKey);
    expect(stored).toBeDefined();
    if (stored) {
      const edited = stored.bytes.toString().replace('"seed":1', '"seed":2');
      s3.objects.set(registryKey, { ...stored, bytes: Buffer.from(edited) });
    }
    await expect(settling).rejects.toThrow(
      /^vm-2's config was changed while it was being removed \(not by colo vm, which waits its turn\)/,
    );
    expect(s3.objects.get(registryKey)?.bytes.toString()).toContain('"seed":2');
    expect(s3.keys('admin/')).toEqual([]);
  }, 30_000);

  it('remove --delete-state of a VM that failed over deletes its state (its control keeps the failover reason)', async () => {
    const s3 = new MemoryS3();
    const t = fleet(s3, shortSleep);
    await writeVm(t, config(1));
    const state = new S3StateStore({ bucket: BUCKET, client: s3.client });
    const control = {
      failedOver: true,
      reason: 'no message from the primary for 38492 ms',
      at: 5,
      owner: null,
    };
    await state.save(controlKey('vm-2'), Buffer.from(JSON.stringify(control)), undefined);
    const r = await removeVm(t, 'vm-2', { deleteState: true });
    expect(r.deletedObjects).toBe(1 + 1); // the control document, and the config kept beside it
    expect(s3.keys()).toEqual([]);
  }, 30_000);

  it('a set over a config another command changed or removed since it was read: nothing written', async () => {
    const s3 = new MemoryS3();
    const t = fleet(s3, shortSleep);
    await writeVm(t, config(1));
    const base = config(1);
    await writeVm(t, validateVmConfig({ vmId: 'vm-2', seed: 1, downtimeBudgetMs: 400 }));
    const before = snapshot(s3);
    const stale = validateVmConfig({ vmId: 'vm-2', seed: 1, heartbeatTimeoutMs: 12_500 });
    await expect(writeVm(t, stale, base)).rejects.toThrow(
      /^vm-2 was changed by another command since this one read it: nothing written — run it again$/,
    );
    expect(snapshot(s3)).toEqual(before);
    await removeVm(t, 'vm-2');
    await expect(writeVm(t, stale, base)).rejects.toThrow(/^vm-2 was removed by another command since/);
    expect(s3.keys('vms/')).toEqual([]);
  }, 30_000);

  it('registered but stopped by a remove that did not finish: an add says to finish the remove, writes nothing', async () => {
    const s3 = new MemoryS3();
    const t = fleet(s3, shortSleep);
    await writeVm(t, config(1));
    const state = new S3StateStore({ bucket: BUCKET, client: s3.client });
    const control = { failedOver: true, reason: VM_REMOVED_REASON, at: 1_800_000_000_000, owner: null };
    await state.save(controlKey('vm-2'), Buffer.from(JSON.stringify(control)), undefined);
    const before = snapshot(s3);
    await expect(writeVm(t, config(1))).rejects.toThrow(
      /^vm-2 was stopped by a colo vm remove that did not finish at 2027-01-15T08:00:00\.000Z: run `colo vm remove vm-2` again, then add it$/,
    );
    expect(snapshot(s3)).toEqual(before);
  });
});
