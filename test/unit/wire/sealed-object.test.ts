// Sealed delta objects (src/wire/sealed-object.ts): the frame's layout, the MAC checked before any field
// is interpreted, every bit flip and truncation refused, and the binding to the object asked for.
import { describe, expect, it } from 'vitest';
import { deltaKey } from '../../../src/engine/transfer/build-delta.ts';
import { deriveVmKey, keySetOf, seedKeySet } from '../../../src/wire/replication-key.ts';
import {
  type ObjectContext,
  objectContextOfKey,
  openObject,
  SEALED_OBJECT_HEADER_BYTES,
  sealedObjectOverhead,
  sealObject,
} from '../../../src/wire/sealed-object.ts';

const VM = 'vm-3';
const keys = seedKeySet(9, VM);
const ctx: ObjectContext = { vmId: VM, epoch: 12, seq: 2 ** 40 + 5, kind: 'checkpoint-ram' };
const inner = Uint8Array.from({ length: 200 }, (_, i) => (i * 31) & 0xff);

describe('sealed objects', () => {
  it('seal → open gives back the inner bytes; the frame is header + VM id + inner + 32-byte MAC', () => {
    const sealed = sealObject(keys.signing, ctx, inner);
    expect(sealed.byteLength).toBe(inner.byteLength + sealedObjectOverhead(VM));
    expect(Buffer.from(sealed.subarray(0, 4)).toString('latin1')).toBe('CSOB');
    expect(Buffer.from(sealed.subarray(8, 12)).toString('hex')).toBe(keys.signing.id);
    const opened = openObject(keys, sealed, ctx);
    expect(opened.ok && Buffer.from(opened.inner).equals(inner)).toBe(true);
  });

  it('refuses every single-bit flip and every truncation', () => {
    const sealed = sealObject(keys.signing, ctx, inner.subarray(0, 40));
    for (let i = 0; i < sealed.byteLength * 8; i++) {
      const bad = sealed.slice();
      bad[i >> 3] = (bad[i >> 3] as number) ^ (1 << (i & 7));
      expect(openObject(keys, bad, ctx).ok, `bit ${i}`).toBe(false);
    }
    for (let n = 0; n < sealed.byteLength; n++)
      expect(openObject(keys, sealed.subarray(0, n), ctx).ok).toBe(false);
    const longer = new Uint8Array(sealed.byteLength + 1);
    longer.set(sealed);
    expect(openObject(keys, longer, ctx)).toMatchObject({ ok: false, failure: 'not-sealed' });
  });

  it('refuses another key, and an authentic object stored as another one', () => {
    const foreign = sealObject(deriveVmKey('some other deployment secret, 32+ bytes', VM), ctx, inner);
    expect(openObject(keys, foreign, ctx)).toMatchObject({ ok: false, failure: 'unknown-key' });
    const sealed = sealObject(keys.signing, ctx, inner);
    for (const other of [
      { ...ctx, seq: ctx.seq + 1 },
      { ...ctx, epoch: 13 },
      { ...ctx, kind: 'background-ram' as const },
    ]) {
      expect(openObject(keys, sealed, other)).toMatchObject({ ok: false, failure: 'wrong-object' });
    }
    expect(openObject(keys, new Uint8Array(SEALED_OBJECT_HEADER_BYTES + 40), ctx)).toMatchObject({
      ok: false,
      failure: 'not-sealed',
    });
  });

  it('opens with the previous key during a rotation', () => {
    const old = 'deployment secret before the rotation....';
    const sealed = sealObject(keySetOf(VM, old).signing, ctx, inner);
    expect(openObject(keySetOf(VM, 'deployment secret after the rotation.....', old), sealed, ctx).ok).toBe(
      true,
    );
  });

  it('maps delta keys to contexts and back, and refuses other keys', () => {
    for (const c of [ctx, { vmId: 'a', epoch: 0, seq: 0, kind: 'device-state' as const }]) {
      expect(objectContextOfKey(deltaKey(c.vmId, c.epoch, c.seq, c.kind))).toEqual(c);
    }
    for (const bad of [
      'vm/x/1/2-device-state',
      'vm-3/01/2-device-state',
      'vm-3/1/2-vmstate',
      'vm-3/4294967296/1-device-state',
      '',
    ]) {
      expect(objectContextOfKey(bad), bad).toBeUndefined();
    }
    expect(() => sealObject(keys.signing, { ...ctx, vmId: 'Bad' }, inner)).toThrow(RangeError);
  });
});
