// Someone who may only write to the bucket puts junk at the predictable key of a coming delta object
// (`<vm>/<epoch>/<seq>-<kind>`). The primary's create-only put used to find different bytes, retire the slot
// with a `skip` and so end replication (found by an outside review). Now a key held by an object that is not
// the writer's own — it fails authentication, or is larger than the object — is taken back.
import { describe, expect, test } from 'vitest';
import { DeltaConflictError } from '../../../src/engine/ports.ts';
import { Keyring, MemoryDeltaStore, SealedDeltaStore } from '../../../src/runtime/cloud/index.ts';
import { keySetOf } from '../../../src/wire/replication-key.ts';
import { sealObject } from '../../../src/wire/sealed-object.ts';
import { HandlerSim, handlerParams } from '../handlers/sim.ts';

const SECRET = 'deployment secret for the squatting test, 32+ bytes';
const VM = 'vm-0';

describe('a delta key squatted without the key', () => {
  const key = `${VM}/2/7-checkpoint-ram`;
  const ctx = { vmId: VM, epoch: 2, seq: 7, kind: 'checkpoint-ram' as const };
  const ours = Uint8Array.from({ length: 64 }, (_, i) => i);
  const keys = Keyring.fixed(keySetOf(VM, SECRET));

  test('junk (smaller or larger than the object) is replaced and reported; the object reads back authentic', async () => {
    const told: [string, string][] = [];
    const tell = (k: string, why: string): void => {
      told.push([k, why]);
    };
    for (const junk of [new Uint8Array([1, 2, 3]), new Uint8Array(100_000).fill(7)]) {
      const raw = new MemoryDeltaStore();
      raw.tamper(key, junk);
      const store = new SealedDeltaStore(raw, keys, undefined, tell);
      await store.put(key, ours);
      expect(Buffer.from(await store.get(key)).equals(Buffer.from(ours))).toBe(true);
    }
    // Review C: the take-back was silent. Each one is told, with what was found.
    expect(told.map(([k]) => k)).toEqual([key, key]);
    expect(told[0]?.[1]).toMatch(/^an object that fails authentication \(/);
    expect(told[1]?.[1]).toMatch(/^an object larger than \d+ bytes$/);
    // A clean put and an idempotent retry tell nothing.
    const clean = new SealedDeltaStore(new MemoryDeltaStore(), keys, undefined, tell);
    await clean.put(key, ours);
    await clean.put(key, ours);
    expect(told).toHaveLength(2);
  });

  test('an authentic object of ours with other bytes is still a conflict (never overwritten)', async () => {
    const raw = new MemoryDeltaStore();
    raw.tamper(key, sealObject((await keys.keys()).signing, ctx, Uint8Array.of(9, 9, 9)));
    let told = 0;
    const store = new SealedDeltaStore(raw, keys, undefined, () => told++);
    await expect(store.put(key, ours)).rejects.toBeInstanceOf(DeltaConflictError);
    expect(told).toBe(0);
    // The same bytes again: an idempotent retry.
    const fresh = new MemoryDeltaStore();
    const again = new SealedDeltaStore(fresh, keys);
    await again.put(key, ours);
    await again.put(key, ours);
  });

  test('end to end: junk at every key of the next checkpoint does not end replication', async () => {
    const sim = new HandlerSim(handlerParams({ policy: 'none', checkpointDelayMs: 3000 }));
    await sim.tickArm({ source: 'colo.watchdog', vmId: VM });
    await sim.run(500);
    const p = (await sim.primaryDoc())?.state;
    expect(p?.phase).toBe('running');
    const epoch = p?.epoch ?? 0;
    const seq = p?.outSeq ?? 0;
    for (let s = seq; s < seq + 200; s++) {
      sim.deltas.tamper(`${VM}/${epoch}/${s}-checkpoint-ram`, new Uint8Array([1, 2, 3]));
    }
    await sim.run(8000);
    // Each key taken back is counted (and logged) by the functions, for the operator.
    expect(sim.metric('DeltaObjectsTakenBack')).toBeGreaterThanOrEqual(1);
    expect((await sim.primaryDoc())?.exit).toBeNull();
    expect((await sim.secondaryDoc())?.exit).toBeNull();
    const checkpoints = (await sim.log('primary')).flatMap((r) => (r.type === 'checkpoint' ? [r.data] : []));
    const commits = (await sim.log('secondary')).flatMap((r) => (r.type === 'commit' ? [r.data] : []));
    expect(commits.length).toBeGreaterThanOrEqual(2);
    const byEpoch = new Map(checkpoints.map((c) => [c.epoch, c.digest]));
    for (const c of commits) expect(byEpoch.get(c.epoch), `epoch ${c.epoch}`).toBe(c.digest);
  });
});
