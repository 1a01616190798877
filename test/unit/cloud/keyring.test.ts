// The keyring (src/runtime/cloud/keyring.ts) and the sealed delta store (sealed-delta-store.ts): keys loaded
// once and kept, reloaded when old or when an unknown key id shows up (rate-limited), a failing source gives
// a clear error without key text and is retried; objects sealed on put, authenticated on get, and a put
// repeated across a rotation is recognised as the same object.
import { describe, expect, it } from 'vitest';
import { DeltaConflictError, ObjectTooLargeError } from '../../../src/engine/ports.ts';
import {
  authenticateBodies,
  KeyNotLoadedError,
  Keyring,
  KeyringUnavailableError,
  MemoryDeltaStore,
  SealedDeltaStore,
  sharedKeySource,
  UnauthenticatedObjectError,
  VirtualClock,
} from '../../../src/runtime/cloud/index.ts';
import { deriveVmKey, keySetOf } from '../../../src/wire/replication-key.ts';
import { sealMessage } from '../../../src/wire/sealed-message.ts';
import { sealObject } from '../../../src/wire/sealed-object.ts';

const A = 'deployment secret A: 32 bytes or more of text';
const B = 'deployment secret B: 32 bytes or more of text';
const VM = 'vm-1';

function source(initial: { current: string; previous?: string }) {
  const s = {
    versions: initial as { current: string; previous?: string },
    failing: false,
    loads: 0,
    description: 'secret arn:test',
    async load() {
      s.loads++;
      if (s.failing) throw new Error('ThrottlingException: rate exceeded');
      return s.versions;
    },
  };
  return s;
}

describe('Keyring', () => {
  it('loads once per cold start and keeps the keys; concurrent first uses share one load', async () => {
    const src = source({ current: A });
    const ring = new Keyring({ vmId: VM, source: src, now: new VirtualClock(0).now });
    const [k1, k2] = await Promise.all([ring.keys(), ring.keys()]);
    expect(k1).toBe(k2);
    await ring.keys();
    expect(src.loads).toBe(1);
    expect(k1?.signing.id).toBe(deriveVmKey(A, VM).id);
  });

  it('reloads keys older than maxAgeMs; a failed reload keeps the old keys and is retried after the interval', async () => {
    const clock = new VirtualClock(0);
    const src = source({ current: A });
    const ring = new Keyring({
      vmId: VM,
      source: src,
      now: clock.now,
      maxAgeMs: 60_000,
      refreshIntervalMs: 1000,
    });
    await ring.keys();
    clock.advance(60_000);
    src.versions = { current: B, previous: A };
    expect((await ring.keys()).signing.id).toBe(deriveVmKey(B, VM).id);
    expect(src.loads).toBe(2);
    clock.advance(60_000);
    src.failing = true;
    expect((await ring.keys()).signing.id).toBe(deriveVmKey(B, VM).id);
    await ring.keys();
    expect(src.loads).toBe(3); // not again within the interval
    clock.advance(1000);
    await ring.keys();
    expect(src.loads).toBe(4);
  });

  it('with nothing cached, a failing source is a KeyringUnavailableError naming the source, never the key', async () => {
    const src = source({ current: A });
    src.failing = true;
    const ring = new Keyring({ vmId: VM, source: src, now: new VirtualClock(0).now });
    const error = await ring.keys().catch((e: unknown) => e);
    expect(error).toBeInstanceOf(KeyringUnavailableError);
    expect((error as Error).message).toBe(
      'replication key unavailable: secret arn:test: Error: ThrottlingException: rate exceeded',
    );
    src.failing = false;
    expect((await ring.keys()).vmId).toBe(VM); // retried at the next use
    src.versions = { current: 'short' };
    const bad = new Keyring({ vmId: VM, source: src, now: new VirtualClock(0).now });
    await expect(bad.keys()).rejects.toThrow(
      /ReplicationSecretError: a replication secret must be 32–4096 bytes, got 5/,
    );
  });

  it('refresh: rate-limited, says whether the keys changed; fixed keys never reload', async () => {
    const clock = new VirtualClock(0);
    const src = source({ current: A });
    const ring = new Keyring({ vmId: VM, source: src, now: clock.now, refreshIntervalMs: 1000 });
    await ring.keys();
    expect(await ring.refresh()).toBe('skipped');
    clock.advance(1000);
    expect(await ring.refresh()).toBe('unchanged');
    clock.advance(1000);
    src.versions = { current: B, previous: A };
    expect(await ring.refresh()).toBe('changed');
    clock.advance(1000);
    src.failing = true;
    expect(await ring.refresh()).toBe('failed');
    expect(await Keyring.fixed(keySetOf(VM, A)).refresh()).toBe('unchanged');
  });

  it('authenticateBodies: a body of a rotated-in key opens after one reload; without a reload it is deferred', async () => {
    const clock = new VirtualClock(0);
    const src = source({ current: A });
    const ring = new Keyring({ vmId: VM, source: src, now: clock.now });
    await ring.keys();
    src.versions = { current: B, previous: A };
    const body = sealMessage(deriveVmKey(B, VM), {
      v: 1,
      vmId: VM,
      epoch: 1,
      seq: 0,
      type: 'heartbeat',
      beat: 0,
      sentAt: 0,
    });
    expect(await authenticateBodies(ring, [body])).toEqual([
      expect.objectContaining({ ok: false, deferred: true }),
    ]);
    clock.advance(1000);
    expect(await authenticateBodies(ring, [body])).toEqual([expect.objectContaining({ ok: true })]);
  });
});

describe('sharedKeySource (one read for the keyrings of every VM a process serves)', () => {
  const rings = (src: ReturnType<typeof source>, clock: VirtualClock, n: number) => {
    const shared = sharedKeySource(src, clock.now);
    return Array.from(
      { length: n },
      (_, i) =>
        new Keyring({
          vmId: `vm-${i}`,
          source: shared,
          now: clock.now,
          maxAgeMs: 300_000,
          refreshIntervalMs: 1000,
        }),
    );
  };

  it('ten keyrings read the secret once per max age, not once each; each derives its own VM key', async () => {
    const clock = new VirtualClock(0);
    const src = source({ current: A });
    const ten = rings(src, clock, 10);
    const first = await Promise.all(ten.map((r) => r.keys()));
    expect(src.loads).toBe(1);
    expect(new Set(first.map((k) => k.signing.id)).size).toBe(10);
    // Staggered uses within the max age: still the one read.
    for (const r of ten) {
      clock.advance(10_000);
      await r.keys();
    }
    expect(src.loads).toBe(1);
    clock.advance(300_000);
    await Promise.all(ten.map((r) => r.keys()));
    expect(src.loads).toBe(2);
    // Reloads one after the other (each keyring's own timer): the first reads, the others take its read.
    clock.advance(300_000);
    for (const r of ten) {
      await r.keys();
      clock.advance(1000);
    }
    expect(src.loads).toBe(3);
  });

  it("a shared read's age counts: a keyring handed a read 4 min old reloads a minute later, and a rotation reaches it within the max age", async () => {
    const clock = new VirtualClock(0);
    const src = source({ current: A });
    const [early, late] = rings(src, clock, 2) as [Keyring, Keyring];
    await early.keys();
    clock.advance(240_000);
    await late.keys(); // the read made 4 min ago
    expect(src.loads).toBe(1);
    expect(late.loadedAt).toBe(0);
    src.versions = { current: B, previous: A };
    clock.advance(60_000);
    expect((await late.keys()).signing.id).toBe(deriveVmKey(B, 'vm-1').id);
    expect(src.loads).toBe(2);
    // The other keyring takes the same new read.
    expect((await early.keys()).signing.id).toBe(deriveVmKey(B, 'vm-0').id);
    expect(src.loads).toBe(2);
  });

  it('a refresh (an unknown key id) always reads, and the others take its read at their next reload', async () => {
    const clock = new VirtualClock(0);
    const src = source({ current: A });
    const [a, b] = rings(src, clock, 2) as [Keyring, Keyring];
    await a.keys();
    await b.keys();
    src.versions = { current: B, previous: A };
    clock.advance(2000);
    expect(await a.refresh()).toBe('changed');
    expect(src.loads).toBe(2);
    // b still seals with A until its own reload, which takes a's read (no third read).
    expect((await b.keys()).signing.id).toBe(deriveVmKey(A, 'vm-1').id);
    clock.advance(300_000 - 2000);
    expect((await b.keys()).signing.id).toBe(deriveVmKey(B, 'vm-1').id);
    expect(src.loads).toBe(2);
  });

  it('a failed read is not kept: the next keyring reads again, and each gets the error', async () => {
    const clock = new VirtualClock(0);
    const src = source({ current: A });
    src.failing = true;
    const [a, b] = rings(src, clock, 2) as [Keyring, Keyring];
    await expect(a.keys()).rejects.toBeInstanceOf(KeyringUnavailableError);
    await expect(b.keys()).rejects.toBeInstanceOf(KeyringUnavailableError);
    expect(src.loads).toBe(2);
    src.failing = false;
    clock.advance(1000);
    await a.keys();
    await b.keys();
    expect(src.loads).toBe(3);
  });
});

describe('SealedDeltaStore', () => {
  const key = `${VM}/3/9-background-ram`;
  const inner = Uint8Array.from({ length: 100 }, (_, i) => i);

  it('stores sealed objects and returns the inner bytes; maxBytes bounds the inner object', async () => {
    const raw = new MemoryDeltaStore();
    const store = new SealedDeltaStore(raw, Keyring.fixed(keySetOf(VM, A)));
    await store.put(key, inner);
    expect(raw.peek(key)?.byteLength).toBeGreaterThan(inner.byteLength);
    expect(Buffer.from(await store.get(key, { maxBytes: 100 })).equals(inner)).toBe(true);
    const tooLarge = await store.get(key, { maxBytes: 99 }).catch((e: unknown) => e);
    expect(tooLarge).toBeInstanceOf(ObjectTooLargeError);
    expect(tooLarge).toMatchObject({ sizeBytes: 100, maxBytes: 99 });
    await expect(store.put('not/a delta key', inner)).rejects.toThrow(UnauthenticatedObjectError);
  });

  it('deletes only delta keys, and says so when the store under it cannot delete', async () => {
    const raw = new MemoryDeltaStore();
    const store = new SealedDeltaStore(raw, Keyring.fixed(keySetOf(VM, A)));
    await store.put(key, inner);
    await raw.put('vms/other.json', inner);
    await expect(store.delete('vms/other.json')).rejects.toThrow(UnauthenticatedObjectError);
    expect(raw.keys()).toContain('vms/other.json');
    await store.delete(key);
    expect(raw.keys()).toEqual(['vms/other.json']);
    const readOnly = new SealedDeltaStore(
      { put: raw.put.bind(raw), get: raw.get.bind(raw) },
      Keyring.fixed(keySetOf(VM, A)),
    );
    await expect(readOnly.delete(key)).rejects.toThrow(/cannot delete/);
  });

  it('refuses an object sealed with another key, or not sealed at all', async () => {
    const raw = new MemoryDeltaStore();
    const store = new SealedDeltaStore(raw, Keyring.fixed(keySetOf(VM, A)));
    raw.tamper(
      key,
      sealObject(deriveVmKey(B, VM), { vmId: VM, epoch: 3, seq: 9, kind: 'background-ram' }, inner),
    );
    await expect(store.get(key)).rejects.toMatchObject({
      name: 'UnauthenticatedObjectError',
      failure: 'unknown-key',
    });
    raw.tamper(key, inner);
    await expect(store.get(key)).rejects.toMatchObject({ failure: 'not-sealed' });
  });

  it('a put repeated after a rotation finds the same object sealed with the old key: done; other bytes conflict', async () => {
    const raw = new MemoryDeltaStore();
    await new SealedDeltaStore(raw, Keyring.fixed(keySetOf(VM, A))).put(key, inner);
    const rotated = new SealedDeltaStore(raw, Keyring.fixed(keySetOf(VM, B, A)));
    await rotated.put(key, inner);
    expect(Buffer.from(await rotated.get(key)).equals(inner)).toBe(true);
    await expect(rotated.put(key, inner.subarray(1))).rejects.toBeInstanceOf(DeltaConflictError);
  });

  it('an object sealed with a key id unknown after the next allowed reload is refused, not read again forever', async () => {
    const clock = new VirtualClock(0);
    const ring = new Keyring({ vmId: VM, source: source({ current: A }), now: clock.now });
    const raw = new MemoryDeltaStore();
    await new SealedDeltaStore(raw, Keyring.fixed(keySetOf(VM, B))).put(key, inner);
    const waits: number[] = [];
    const store = new SealedDeltaStore(raw, ring, async (ms) => {
      waits.push(ms);
      clock.advance(ms);
    });
    await ring.keys(); // loaded just now: the next reload is a second away
    await expect(store.get(key)).rejects.toMatchObject({ name: 'UnauthenticatedObjectError' });
    expect(waits).toEqual([1000]);
  });

  it('an object of a key id not loaded yet is a transient KeyNotLoadedError (read again later)', async () => {
    const clock = new VirtualClock(0);
    const src = source({ current: A });
    const ring = new Keyring({ vmId: VM, source: src, now: clock.now });
    const raw = new MemoryDeltaStore();
    await new SealedDeltaStore(raw, Keyring.fixed(keySetOf(VM, B))).put(key, inner);
    const store = new SealedDeltaStore(raw, ring);
    await expect(store.get(key)).rejects.toBeInstanceOf(KeyNotLoadedError);
    src.versions = { current: B, previous: A };
    clock.advance(1000);
    expect(Buffer.from(await store.get(key)).equals(inner)).toBe(true);
  });
});
