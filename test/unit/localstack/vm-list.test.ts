/**
 * `colo vm list` (vm-list.ts, vm-list-format.ts): each registered VM's state from its control document and
 * the stack's pulse document — replicating with its epoch, stopped by an unfinished remove (and how to
 * finish it), failed over (which side won), unknown when its control document does not decode — without
 * one bad VM hiding the others.
 */
import { describe, expect, it } from 'vitest';
import { PULSE_DOCUMENT_KEY } from '../../../lambda/adapters/contract.ts';
import { S3StateStore } from '../../../lambda/adapters/s3-state-store.ts';
import { ago, formatVmList } from '../../../src/cli/vm-list-format.ts';
import { validateVmConfig } from '../../../src/parameters/vm-config.ts';
import { claimFence, markFailedOver, VM_REMOVED_REASON } from '../../../src/runtime/cloud/control.ts';
import { MemoryStateStore } from '../../../src/runtime/cloud/index.ts';
import { controlKey } from '../../../src/runtime/cloud/keys.ts';
import { encodePulse } from '../../../src/runtime/cloud/pulse-document.ts';
import type { Clients } from '../../../src/runtime/localstack/aws.ts';
import type { StackOutputs } from '../../../src/runtime/localstack/stack.ts';
import { type FleetTarget, getVm, writeVm } from '../../../src/runtime/localstack/vm-admin.ts';
import { listVmStates, REMOVE_UNFINISHED_HINT, vmStates } from '../../../src/runtime/localstack/vm-list.ts';
import { MemoryS3 } from '../../helpers/memory-s3.ts';

const T = 1_800_000_000_000;

async function fleet(): Promise<MemoryStateStore> {
  const store = new MemoryStateStore();
  await store.save(
    PULSE_DOCUMENT_KEY,
    encodePulse({
      v: 1,
      at: T,
      vms: {
        a: { steppedAt: T - 1000, seen: { at: T - 1000, epoch: 12, seq: 40 }, failures: 0 },
        b: { steppedAt: T - 2000, seen: null, failures: 0, stoppedAt: T - 60_000 },
        c: { steppedAt: T - 3000, seen: null, failures: 2 },
        e: { steppedAt: T - 500, seen: null, failures: 0, waiting: true },
      },
    }),
    undefined,
  );
  await markFailedOver(store, 'b', VM_REMOVED_REASON, T - 90_000);
  await claimFence(store, 'c', 'secondary', 'no message from the primary for 12500 ms', T - 30_000);
  await store.save(controlKey('d'), new TextEncoder().encode('{"failedOver": "yes"}'), undefined);
  await markFailedOver(store, 'g', 'stopped by colo run --backend localstack', T - 5000);
  return store;
}

/** A stack whose bucket is the in-memory S3 fake (no function is invoked: the watchdog call is reported). */
function memoryStack(): { s3: MemoryS3; t: FleetTarget } {
  const s3 = new MemoryS3();
  const outputs = { stackName: 'Colo', vmId: 'vm-0', bucketName: 'colo-state' } as unknown as StackOutputs;
  return { s3, t: { clients: { s3: s3.client } as unknown as Clients, outputs, sleep: async () => {} } };
}

describe('colo vm list', () => {
  it('tells each VM apart: replicating, stopped by a remove, failed over, unknown, waiting, never stepped', async () => {
    const list = await vmStates(await fleet(), ['a', 'b', 'c', 'd', 'e', 'f']);
    expect(list.map((e) => e.vmId)).toEqual(['a', 'b', 'c', 'd', 'e', 'f']);
    expect(list[0]).toEqual({ vmId: 'a', state: 'replicating', epoch: 12, steppedAt: T - 1000 });
    expect(list[1]).toEqual({
      vmId: 'b',
      state: 'stopped',
      reason: VM_REMOVED_REASON,
      hint: REMOVE_UNFINISHED_HINT,
      at: T - 90_000,
      steppedAt: T - 2000,
    });
    expect(list[2]).toMatchObject({
      vmId: 'c',
      state: 'failed-over',
      owner: 'secondary',
      reason: 'no message from the primary for 12500 ms',
      hint: expect.stringMatching(/to protect it again: colo vm remove c --delete-state, then colo vm add c/),
      at: T - 30_000,
      failures: 2,
    });
    expect(list[3]).toMatchObject({
      vmId: 'd',
      state: 'unknown',
      reason: expect.stringMatching(/malformed/),
    });
    expect(list[4]).toEqual({ vmId: 'e', state: 'replicating', steppedAt: T - 500, waiting: true });
    // Stopped for good by a run (no add restarts it): the way to protect it again, not a remove's hint.
    const [g] = await vmStates(await fleet(), ['g']);
    expect(g).toMatchObject({
      vmId: 'g',
      state: 'stopped',
      hint: expect.stringMatching(
        /^no config restarts it; .*colo vm remove g --delete-state, then colo vm add g/,
      ),
    });
    expect(list[5]).toEqual({ vmId: 'f', state: 'replicating' });
  });

  it('a pulse document that does not decode leaves out only the figures', async () => {
    const store = await fleet();
    const stored = await store.load(PULSE_DOCUMENT_KEY);
    await store.save(PULSE_DOCUMENT_KEY, new TextEncoder().encode('garbage'), stored?.etag);
    const list = await vmStates(store, ['a', 'b']);
    expect(list).toEqual([
      { vmId: 'a', state: 'replicating' },
      expect.objectContaining({ vmId: 'b', state: 'stopped' }),
    ]);
  });

  it('reads a large fleet a bounded number at a time, every VM listed once in order', async () => {
    const store = new MemoryStateStore();
    let inFlight = 0;
    let most = 0;
    const load = store.load.bind(store);
    store.load = async (key) => {
      inFlight++;
      most = Math.max(most, inFlight);
      await new Promise((r) => setTimeout(r, 1));
      inFlight--;
      return load(key);
    };
    const ids = Array.from({ length: 100 }, (_, i) => `vm-${String(i).padStart(3, '0')}`);
    const list = await vmStates(store, ids);
    expect(list.map((e) => e.vmId)).toEqual(ids);
    expect(most).toBeGreaterThan(1);
    expect(most).toBeLessThanOrEqual(16);
  });

  it('a VM whose stored config does not decode is unknown, with the way out (add; set cannot read it)', async () => {
    const { s3, t } = memoryStack();
    await writeVm(t, validateVmConfig({ vmId: 'good', seed: 1 }));
    await writeVm(t, validateVmConfig({ vmId: 'hand', seed: 2 }));
    const key = 'vms/hand.json';
    const o = s3.objects.get(key);
    if (!o) throw new Error(`no ${key}`);
    s3.objects.set(key, { ...o, bytes: Buffer.from('{"v":1,"vmId":"hand","policy":"bogus"}') });
    const list = await listVmStates(t);
    expect(list[0]).toMatchObject({ vmId: 'good', state: 'replicating' });
    expect(list[1]).toMatchObject({
      vmId: 'hand',
      state: 'unknown',
      reason: expect.stringMatching(/^vms\/hand\.json: /),
      hint: expect.stringMatching(/stepped by nobody until `colo vm add hand …` replaces it/),
    });
    await expect(getVm(t, 'hand')).rejects.toThrow(
      /`colo vm add hand …` replaces it \(set changes only a config it can read\)/,
    );
    // The add it names does replace it.
    await writeVm(t, validateVmConfig({ vmId: 'hand', seed: 2 }));
    expect((await listVmStates(t))[1]).toMatchObject({ vmId: 'hand', state: 'replicating' });
    // A config read that fails (not a decode) is reported without that hint.
    const failing = await vmStates(new MemoryStateStore(), ['x'], async () => new Error('S3 unavailable'));
    expect(failing).toEqual([{ vmId: 'x', state: 'unknown', reason: 'S3 unavailable' }]);
  });

  it('add or set on a failed-over VM says replication has ended and how to protect it again; a write names what it changed', async () => {
    const { s3, t } = memoryStack();
    const first = await writeVm(t, validateVmConfig({ vmId: 'gone', seed: 1 }));
    expect(first.failedOver).toBeUndefined();
    const state = new S3StateStore({ bucket: 'colo-state', client: s3.client });
    await claimFence(state, 'gone', 'secondary', 'timed out in ckpt-wait-ram after 10000 ms', T);
    const again = await writeVm(t, validateVmConfig({ vmId: 'gone', seed: 1, policy: 'adaptive' }));
    expect(again.failedOver).toEqual({
      owner: 'secondary',
      reason: 'timed out in ckpt-wait-ram after 10000 ms',
    });
    // What the write changed is named (an add resets every key it is not given: an outside review).
    expect(first.changes).toEqual([]);
    expect(again.changes).toEqual([`policy ${JSON.stringify(first.config.policy)} → "adaptive"`]);
    const reset = await writeVm(t, validateVmConfig({ vmId: 'gone', seed: 1, checkpointDelayMs: 5000 }));
    expect(reset.changes).toEqual([
      `policy "adaptive" → ${JSON.stringify(first.config.policy)}`,
      `checkpointDelayMs ${first.config.checkpointDelayMs} → 5000`,
    ]);
  });

  it('prints a table: a header, one line per VM, the note saying what to do', async () => {
    const list = await vmStates(await fleet(), ['a', 'b', 'c']);
    const lines = formatVmList(list, T);
    expect(lines[0]).toMatch(/^VM\s+STATE\s+EPOCH\s+STEPPED\s+NOTE$/);
    expect(lines[1]).toMatch(/^a\s+replicating\s+12\s+1 s ago$/);
    expect(lines[2]).toMatch(
      /^b\s+stopped\s+-\s+2 s ago\s+removed by colo vm remove; since 90 s ago; not yet unregistered/,
    );
    expect(lines[3]).toMatch(
      /^c\s+failed-over\s+-\s+3 s ago\s+fence won by the secondary; no message from the primary/,
    );
    expect(lines[3]).toMatch(/its last 2 pulse step\(s\) failed/);
    expect(formatVmList([], T)).toEqual(['no VMs registered']);
  });

  it('ages in the largest whole unit', () => {
    expect(ago(T - 4000, T)).toBe('4 s ago');
    expect(ago(T - 180_000, T)).toBe('3 min ago');
    expect(ago(T - 3 * 3_600_000, T)).toBe('3 h ago');
    expect(ago(T - 3 * 86_400_000, T)).toBe('3 d ago');
    expect(ago(T + 5000, T)).toBe('0 s ago');
  });
});
