/**
 * `colo vm remove` racing `colo vm add` of the same VM (vm-admin.ts; outside review 2026-12-02): an add that
 * lands while the removal settles keeps its registration, one that lands while `--delete-state` waits keeps
 * its state, and an add while a removal is still under way is refused. The S3 is an in-memory fake
 * (test/helpers/memory-s3.ts); no function is invoked (the watchdog call fails and is reported).
 */
import { describe, expect, it } from 'vitest';
import { S3StateStore } from '../../../lambda/adapters/s3-state-store.ts';
import { validateVmConfig } from '../../../src/parameters/vm-config.ts';
import { readControl, VM_REMOVED_REASON } from '../../../src/runtime/cloud/control.ts';
import { controlKey } from '../../../src/runtime/cloud/keys.ts';
import type { Clients } from '../../../src/runtime/localstack/aws.ts';
import type { StackOutputs } from '../../../src/runtime/localstack/stack.ts';
import { type FleetTarget, removeVm, writeVm } from '../../../src/runtime/localstack/vm-admin.ts';
import { MemoryS3 } from '../../helpers/memory-s3.ts';

const BUCKET = 'colo-state';

function fleet(s3: MemoryS3, sleep: (ms: number) => Promise<void>): FleetTarget {
  const outputs = { stackName: 'Colo', vmId: 'vm-0', bucketName: BUCKET } as unknown as StackOutputs;
  return { clients: { s3: s3.client } as unknown as Clients, outputs, sleep };
}

const realSleep = (ms: number) => new Promise<void>((r) => setTimeout(r, Math.min(ms, 5)));
const config = (seed: number) => validateVmConfig({ vmId: 'vm-2', seed });

describe('colo vm remove racing colo vm add', () => {
  it('an add while --delete-state waits to delete: the state is kept and the VM stays registered', async () => {
    const s3 = new MemoryS3();
    let added = false;
    const t = fleet(s3, async (ms) => {
      // The wait for warm functions (seconds, unlike the settle's 500 ms polls): the add lands here.
      if (ms > 1000 && !added) {
        added = true;
        await writeVm({ ...t, sleep: realSleep }, config(1));
      }
      await realSleep(ms);
    });
    await writeVm(t, config(1));
    const state = new S3StateStore({ bucket: BUCKET, client: s3.client });
    await state.save('vm-2/timers/checkpoint.json', new Uint8Array([1, 2, 3]), undefined);
    const r = await removeVm(t, 'vm-2', { deleteState: true });
    expect(added).toBe(true);
    expect(r.deletedObjects).toBe(0);
    expect(r.stateKept).toMatch(/vm-2 was added again while its state waited to be deleted: state kept/);
    expect(s3.keys()).toContain('state/vm-2/timers/checkpoint.json');
    expect(s3.keys()).toContain('vms/vm-2.json');
    // The add cleared the stop flag: the VM runs again.
    expect((await readControl(state, 'vm-2')).reason).toBeNull();
  }, 30_000);

  it('an add or set while the removal settles: refused to unregister, config and state as the add left them', async () => {
    const s3 = new MemoryS3();
    let changed = false;
    const t = fleet(s3, realSleep);
    await writeVm(t, config(1));
    const settling = removeVm(t, 'vm-2');
    // The remove has stopped the VM and is settling: a concurrent writer of the config (as a set that
    // got past its check before the stop would) lands meanwhile.
    await new Promise((r) => setTimeout(r, 200));
    const registryKey = 'vms/vm-2.json';
    const stored = s3.objects.get(registryKey);
    if (stored) {
      s3.objects.set(registryKey, {
        ...stored,
        bytes: Buffer.from(stored.bytes.toString().replace('"seed":1', '"seed":2')),
      });
      changed = true;
    }
    await expect(settling).rejects.toThrow(
      /^vm-2 was added or changed while it was being removed: it stays registered and keeps its state/,
    );
    expect(changed).toBe(true);
    expect(s3.objects.get(registryKey)?.bytes.toString()).toContain('"seed":2');
  }, 30_000);

  it('an add while a removal is under way (registered, stopped by the remove) is refused, nothing written', async () => {
    const s3 = new MemoryS3();
    const t = fleet(s3, realSleep);
    await writeVm(t, config(1));
    const state = new S3StateStore({ bucket: BUCKET, client: s3.client });
    await state.save(
      controlKey('vm-2'),
      Buffer.from(
        JSON.stringify({ failedOver: true, reason: VM_REMOVED_REASON, at: 1_800_000_000_000, owner: null }),
      ),
      undefined,
    );
    const before = new Map([...s3.objects].map(([k, v]) => [k, v.etag]));
    await expect(writeVm(t, config(1))).rejects.toThrow(
      /^vm-2 is being removed \(stopped by colo vm remove since 2027-01-15T08:00:00\.000Z\): add it again once the remove has finished/,
    );
    expect(new Map([...s3.objects].map(([k, v]) => [k, v.etag]))).toEqual(before);
  }, 30_000);
});
