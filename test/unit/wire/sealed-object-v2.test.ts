// Sealed objects of frame version 2 (src/wire/sealed-object.ts): the MAC covers the header and the inner
// object's SHA-256, so each side hashes an object once; hostile frames — a tampered byte, another key under
// our key id, truncation, a version byte changed either way — are refused, and version 1 is still read.
import { createHash } from 'node:crypto';
import { describe, expect, it } from 'vitest';
import { PAGE_SIZE, type PageDelta } from '../../../src/engine/protocol/delta.ts';
import { decodeDelta, encodeDeltaWithClaim, WireError } from '../../../src/wire/delta-codec.ts';
import { deriveVmKey, seedKeySet } from '../../../src/wire/replication-key.ts';
import {
  type ObjectContext,
  openObject,
  SEALED_OBJECT_HEADER_BYTES,
  SEALED_OBJECT_VERSION,
  sealObject,
} from '../../../src/wire/sealed-object.ts';

const VM = 'vm-7';
const keys = seedKeySet(4, VM);
const ctx: ObjectContext = { vmId: VM, epoch: 3, seq: 9, kind: 'background-ram' };
const start = SEALED_OBJECT_HEADER_BYTES + VM.length;

/** A page-delta object of `pages` pages with its claim digest. */
function object(pages = 3): { bytes: Uint8Array; sha256: string } {
  const delta: PageDelta = {
    vmId: VM,
    epoch: ctx.epoch,
    seq: ctx.seq,
    kind: ctx.kind,
    pages: Array.from({ length: pages }, (_, i) => ({
      index: i * 5,
      version: i + 1,
      data: Uint8Array.from({ length: PAGE_SIZE }, (_, b) => (b * 7 + i) & 0xff),
    })),
    blob: new Uint8Array(0),
  };
  return encodeDeltaWithClaim(delta);
}

/** A frame of version 1, as the earlier sealer wrote it: HMAC over every byte before the tag. */
function sealV1(inner: Uint8Array): Uint8Array {
  const v2 = sealObject(keys.signing, ctx, inner);
  const frame = Buffer.from(v2);
  frame[4] = 1;
  const bodyEnd = frame.byteLength - 32;
  frame.set(keys.signing.mac('colo-sealed-object/1\n', frame.subarray(0, bodyEnd)), bodyEnd);
  return new Uint8Array(frame);
}

const sha = (b: Uint8Array) => createHash('sha256').update(b).digest();

describe('sealed objects, frame version 2', () => {
  it('writes version 2 with a MAC over the header and the inner object’s SHA-256', () => {
    const { bytes } = object();
    const sealed = sealObject(keys.signing, ctx, bytes);
    expect(SEALED_OBJECT_VERSION).toBe(2);
    expect(sealed[4]).toBe(2);
    const tag = sealed.subarray(sealed.byteLength - 32);
    const want = keys.signing.mac('colo-sealed-object/2\n', sealed.subarray(0, start), sha(bytes));
    expect(Buffer.from(tag).equals(want)).toBe(true);
    const opened = openObject(keys, sealed, ctx);
    expect(opened.ok && Buffer.from(opened.inner).equals(bytes)).toBe(true);
  });

  it('refuses a tampered byte anywhere in a large inner object, and in its header', () => {
    const { bytes } = object(64);
    const sealed = sealObject(keys.signing, ctx, bytes);
    for (const at of [4, 7, 12, 20, start, start + 100, start + 40 * PAGE_SIZE, sealed.byteLength - 33]) {
      const bad = sealed.slice();
      bad[at] = (bad[at] as number) ^ 0x10;
      expect(openObject(keys, bad, ctx).ok, `byte ${at}`).toBe(false);
    }
  });

  it('refuses a frame sealed under another key that carries our key id', () => {
    const { bytes } = object();
    const forged = sealObject(deriveVmKey('another deployment secret of 32+ bytes', VM), ctx, bytes);
    forged.set(Buffer.from(keys.signing.id, 'hex'), 8);
    expect(openObject(keys, forged, ctx)).toMatchObject({ ok: false, failure: 'bad-mac' });
  });

  it('refuses every truncation', () => {
    const sealed = sealObject(keys.signing, ctx, object(1).bytes);
    for (let n = 0; n < sealed.byteLength; n += 97) {
      expect(openObject(keys, sealed.subarray(0, n), ctx).ok, `${n} bytes`).toBe(false);
    }
  });

  it('refuses version confusion both ways, and unknown versions by name', () => {
    const { bytes } = object();
    const v2AsV1 = sealObject(keys.signing, ctx, bytes);
    v2AsV1[4] = 1;
    expect(openObject(keys, v2AsV1, ctx)).toMatchObject({ ok: false, failure: 'bad-mac' });
    const v1AsV2 = sealV1(bytes);
    v1AsV2[4] = 2;
    expect(openObject(keys, v1AsV2, ctx)).toMatchObject({ ok: false, failure: 'bad-mac' });
    const v3 = sealObject(keys.signing, ctx, bytes);
    v3[4] = 3;
    expect(openObject(keys, v3, ctx)).toMatchObject({
      ok: false,
      failure: 'not-sealed',
      reason: 'frame version 3, expected 2 (or 1)',
    });
  });

  it('still opens frames of version 1', () => {
    const { bytes } = object();
    const opened = openObject(keys, sealV1(bytes), ctx);
    expect(opened.ok && Buffer.from(opened.inner).equals(bytes)).toBe(true);
  });

  it('keeps the claim and trailer checks after opening: a wrong claim is refused, a true one accepted', () => {
    const { bytes, sha256 } = object();
    const opened = openObject(keys, sealObject(keys.signing, ctx, bytes), ctx);
    if (!opened.ok) throw new Error(opened.reason);
    expect(decodeDelta(opened.inner, { maxObjectBytes: 1 << 20, expectedSha256: sha256 }).pages).toHaveLength(
      3,
    );
    const wrong = sha256.replace(/^./, (c) => (c === '0' ? '1' : '0'));
    expect(() => decodeDelta(opened.inner, { maxObjectBytes: 1 << 20, expectedSha256: wrong })).toThrow(
      WireError,
    );
  });

  it('fails closed when an encoded object is changed before it is sealed (the encoder’s digest is stale)', () => {
    const { bytes } = object();
    bytes[start + 50] = (bytes[start + 50] as number) ^ 1;
    expect(openObject(keys, sealObject(keys.signing, ctx, bytes), ctx)).toMatchObject({
      ok: false,
      failure: 'bad-mac',
    });
  });

  it('seals an encoded object in the room the encoder left once; a second seal copies, the first frame stays', () => {
    const { bytes } = object();
    const first = sealObject(keys.signing, ctx, bytes);
    expect(first.buffer).toBe(bytes.buffer);
    const before = Buffer.from(first);
    const rotated = seedKeySet(5, VM);
    const second = sealObject(rotated.signing, ctx, bytes);
    expect(second.buffer).not.toBe(bytes.buffer);
    expect(Buffer.from(first).equals(before)).toBe(true);
    expect(openObject(keys, first, ctx).ok).toBe(true);
    expect(openObject(rotated, second, ctx).ok).toBe(true);
  });
});
