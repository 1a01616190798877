/**
 * A delta object larger than its claim is refused unread by the store and rejected by the secondary at
 * once — never read again, never retried — and the in-memory store honours the cap as S3's does.
 */
import { describe, expect, test } from 'vitest';
import { ColoError } from '../../../src/engine/errors.ts';
import { type DeltaReadOptions, type DeltaStore, ObjectTooLargeError } from '../../../src/engine/ports.ts';
import type { PageDelta } from '../../../src/engine/protocol/delta.ts';
import type { ClaimCheck } from '../../../src/engine/protocol/messages.ts';
import {
  encodeModelledDelta,
  encodeSecondaryState,
  fetchPayload,
  MemoryDeltaStore,
} from '../../../src/runtime/cloud/index.ts';
import { testParams } from '../../helpers/engine.ts';
import { CloudPair } from './harness.ts';

const noSleep = async (): Promise<void> => {};

/** A store that records the options of every get. */
function recording(inner: DeltaStore): DeltaStore & { calls: (DeltaReadOptions | undefined)[] } {
  const calls: (DeltaReadOptions | undefined)[] = [];
  return {
    calls,
    put: (key, bytes) => inner.put(key, bytes),
    get(key, options) {
      calls.push(options);
      return inner.get(key, options);
    },
  };
}

describe('MemoryDeltaStore.get with maxBytes', () => {
  test('reads up to the cap and refuses one byte more', async () => {
    const store = new MemoryDeltaStore();
    await store.put('k', new Uint8Array([1, 2, 3]));
    expect(await store.get('k', { maxBytes: 3 })).toEqual(new Uint8Array([1, 2, 3]));
    expect(await store.get('k')).toEqual(new Uint8Array([1, 2, 3]));
    const e = await store.get('k', { maxBytes: 2 }).catch((err: unknown) => err);
    expect(e).toBeInstanceOf(ObjectTooLargeError);
    expect(e).toMatchObject({ key: 'k', sizeBytes: 3, exact: true, maxBytes: 2 });
  });
});

describe('fetchPayload', () => {
  const claim: ClaimCheck = { key: 'vm-0/1/2-background-ram', size: 4, sha256: '0'.repeat(64) };

  test('caps a real object at the claimed size and turns an oversize one into claim-mismatch, once', async () => {
    const inner = new MemoryDeltaStore();
    await inner.put(claim.key, new Uint8Array(5));
    const store = recording(inner);
    let sleeps = 0;
    const out = await fetchPayload(store, testParams(), claim, async () => {
      sleeps++;
    });
    expect(out).toBeInstanceOf(ColoError);
    expect(out).toMatchObject({ code: 'claim-mismatch' });
    expect((out as ColoError).message).toBe('object is 5 bytes, claim says 4; refused unread');
    expect(store.calls).toEqual([{ maxBytes: 4 }]);
    expect(sleeps).toBe(0);
  });

  test('still reads a real object of the claimed size', async () => {
    const store = new MemoryDeltaStore();
    await store.put(claim.key, new Uint8Array([9, 8, 7, 6]));
    expect(await fetchPayload(store, testParams(), claim, noSleep)).toEqual(new Uint8Array([9, 8, 7, 6]));
  });

  test('holds a modelled object to maxObjectBytes, not to the claim (its modelled wire size)', async () => {
    const delta: PageDelta = {
      vmId: 'vm-0',
      epoch: 1,
      seq: 2,
      kind: 'background-ram',
      pages: [{ index: 3, version: 1, data: null }],
      blob: new Uint8Array(0),
    };
    const bytes = encodeModelledDelta(delta);
    const small: ClaimCheck = { ...claim, size: 80 };
    expect(bytes.byteLength).toBeGreaterThan(small.size);
    const inner = new MemoryDeltaStore();
    await inner.put(small.key, bytes);
    const store = recording(inner);

    const params = testParams({ payload: 'modelled', maxObjectBytes: bytes.byteLength });
    const read = await fetchPayload(store, params, small, noSleep);
    expect(read).toMatchObject({ modelled: true, pages: [{ index: 3, version: 1 }] });
    expect(store.calls).toEqual([{ maxBytes: bytes.byteLength }]);

    const tight = testParams({ payload: 'modelled', maxObjectBytes: bytes.byteLength - 1 });
    const refused = await fetchPayload(store, tight, small, noSleep);
    expect(refused).toBeInstanceOf(ColoError);
    expect(refused).toMatchObject({ code: 'invalid-delta' });
  });
});

describe('a delta object larger than its claim, through the secondary invocation', () => {
  test('is rejected as claim-mismatch after one refused read and changes nothing', async () => {
    const pair = new CloudPair(testParams({ policy: 'fixed' }));
    await pair.start();
    await pair.secondary(pair.p2s.take().map((r) => ({ type: 'message', body: r.body })));
    pair.clock.advance(100);
    const tick = await pair.primary([{ type: 'tick' }]);
    const delta = tick.sent.find((m) => m.type === 'delta');
    if (delta?.type !== 'delta') throw new Error('no background delta');
    const stored = pair.deltas.peek(delta.claim.key) ?? new Uint8Array();
    const grown = new Uint8Array(stored.byteLength + 1_000_000);
    grown.set(stored);
    pair.deltas.tamper(delta.claim.key, grown);

    const migrate = await pair.secondary(pair.p2s.take(1).map((r) => ({ type: 'message', body: r.body })));
    expect(migrate.document.state.phase).toBe('bg-loading');
    const before = encodeSecondaryState(migrate.document.state);
    const gets = pair.deltas.stats.gets;

    const refused = await pair.secondary(pair.p2s.take(1).map((r) => ({ type: 'message', body: r.body })));
    expect(refused.outcomes).toEqual([
      expect.objectContaining({
        index: 0,
        status: 'rejected',
        code: 'claim-mismatch',
        detail: `object is ${grown.byteLength} bytes, claim says ${delta.claim.size}; refused unread`,
      }),
    ]);
    expect(pair.deltas.stats.gets - gets).toBe(1); // not read again: a bigger object never shrinks
    expect(Buffer.from(encodeSecondaryState(refused.document.state)).equals(before)).toBe(true);
    expect(refused.outcomes[0]?.message?.type).toBe('delta');
  });
});
