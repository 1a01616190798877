/**
 * Sealed delta objects: what the delta store holds is a page-delta object (or a modelled one) inside a
 * frame that names its VM, epoch, sequence number and kind and ends with an HMAC-SHA-256 over every byte
 * before it (docs/wire-format.md, "Sealed object").
 *
 * | Offset | Size | Field |
 * | --- | --- | --- |
 * | 0 | 4 | magic `CSOB` |
 * | 4 | 1 | version: 2 (1 is still read) |
 * | 5 | 1 | kind: 1 background-ram, 2 checkpoint-ram, 3 device-state |
 * | 6 | 1 | VM id length L (1–63) |
 * | 7 | 1 | reserved, 0 |
 * | 8 | 4 | key id (u32 big-endian: the key id's 8 hex digits) |
 * | 12 | 4 | epoch, u32 LE |
 * | 16 | 8 | seq: low u32 LE, high u32 LE (≤ 0x1FFFFF) |
 * | 24 | 4 | inner length N, u32 LE |
 * | 28 | L | VM id, ASCII |
 * | 28 + L | N | the inner object |
 * | 28 + L + N | 32 | the MAC, under the VM's key |
 *
 * The MAC of version 2 is HMAC-SHA-256 of `colo-sealed-object/2\n`, the header and VM id (bytes [0, 28 + L))
 * and the SHA-256 of the inner object: the inner object is hashed once, and that one pass also gives the
 * claim check's digest (the `delta` message's `sha256` is of the inner object) and the page-delta object's
 * trailer digest — each side hashes an object once instead of twice (SHA-256, then HMAC). Forging it needs
 * the key or a SHA-256 collision, as before. Version 1's MAC is HMAC-SHA-256 of `colo-sealed-object/1\n` and
 * bytes [0, 28 + L + N); frames of version 1 are still opened, none are written.
 *
 * Opening reads the fixed 28 bytes, checks the framing (magic, version, exact length), picks the key by id
 * and verifies the MAC — before any other field is interpreted — then checks every header field and that
 * they name the object the reader asked for.
 */
import type { DeltaKind } from '../engine/protocol/messages.ts';
import { takeFrameRoom } from './frame-room.ts';
import { knownDigests, rememberDigests } from './known-digests.ts';
import { MAX_EPOCH, MAX_OBJECT_BYTES, VM_ID_PATTERN } from './limits.ts';
import { type KeySet, keysWithId, MAC_BYTES, type ReplicationKey } from './replication-key.ts';
import { splitDigests } from './sha256.ts';

/** Magic of a sealed object: ASCII `CSOB` ("COLO sealed object"). */
export const SEALED_OBJECT_MAGIC = Uint8Array.of(0x43, 0x53, 0x4f, 0x42);

/** Format version of the frames written (version 1 is still read). */
export const SEALED_OBJECT_VERSION = 2;
/** The version before: a MAC over every byte of the frame (read, never written). */
export const SEALED_OBJECT_VERSION_1 = 1;

/** Fixed header bytes before the VM id. */
export const SEALED_OBJECT_HEADER_BYTES = 28;

/** Largest inner object a frame holds, bytes (the encoder's 1 GiB cap). */
export const MAX_SEALED_INNER_BYTES = MAX_OBJECT_BYTES;

const OBJECT_DOMAIN_V1 = 'colo-sealed-object/1\n';
const OBJECT_DOMAIN = 'colo-sealed-object/2\n';
/** The page-delta object's trailer (a SHA-256 of its body): where the one pass splits its digests. */
const INNER_TRAILER_BYTES = 32;

const KIND_CODES: Readonly<Record<DeltaKind, number>> = {
  'background-ram': 1,
  'checkpoint-ram': 2,
  'device-state': 3,
};
const KINDS: readonly DeltaKind[] = ['background-ram', 'checkpoint-ram', 'device-state'];

/** What a sealed object is: the object of message `seq` of `epoch` of VM `vmId`, of kind `kind`. */
export interface ObjectContext {
  /** VM id. */
  vmId: string;
  /** Epoch. */
  epoch: number;
  /** Sequence number of the `delta` message that claims it. */
  seq: number;
  /** Delta kind. */
  kind: DeltaKind;
}

/** Why a sealed object was refused. */
export type ObjectSealFailure =
  /** Not a sealed object: wrong magic or version, or framing that does not add up. */
  | 'not-sealed'
  /** Sealed with a key id that is not among the accepted keys. */
  | 'unknown-key'
  /** The MAC does not match: forged or altered. */
  | 'bad-mac'
  /** Authentic, but it is not the object that was asked for (another VM, epoch, sequence or kind). */
  | 'wrong-object';

/** The result of {@link openObject}: the inner object (a view into the input) or why it was refused. */
export type OpenedObject =
  | { ok: true; inner: Uint8Array; keyId: string }
  | { ok: false; failure: ObjectSealFailure; reason: string };

/** Bytes a frame adds around an inner object of VM `vmId`. */
export function sealedObjectOverhead(vmId: string): number {
  return SEALED_OBJECT_HEADER_BYTES + Buffer.byteLength(vmId, 'ascii') + MAC_BYTES;
}

/**
 * The context of a delta-store key `<vmId>/<epoch>/<seq>-<kind>` (the engine's `deltaKey`), or undefined
 * for a key of another form.
 */
export function objectContextOfKey(key: string): ObjectContext | undefined {
  const m = /^([a-z0-9][a-z0-9-]{0,62})\/(0|[1-9][0-9]{0,9})\/(0|[1-9][0-9]{0,15})-([a-z-]+)$/.exec(key);
  if (!m) return undefined;
  const [, vmId, epochText, seqText, kind] = m as unknown as string[];
  const epoch = Number(epochText);
  const seq = Number(seqText);
  if (epoch > MAX_EPOCH || !Number.isSafeInteger(seq) || !KINDS.includes(kind as DeltaKind)) return undefined;
  return { vmId: vmId as string, epoch, seq, kind: kind as DeltaKind };
}

function checkContext(ctx: ObjectContext): void {
  if (!VM_ID_PATTERN.test(ctx.vmId))
    throw new RangeError(`not a VM id: ${JSON.stringify(ctx.vmId.slice(0, 80))}`);
  if (!Number.isInteger(ctx.epoch) || ctx.epoch < 0 || ctx.epoch > MAX_EPOCH) {
    throw new RangeError(`epoch ${ctx.epoch} is not a u32`);
  }
  if (!Number.isSafeInteger(ctx.seq) || ctx.seq < 0)
    throw new RangeError(`seq ${ctx.seq} is not a safe integer ≥ 0`);
  if (KIND_CODES[ctx.kind] === undefined) throw new RangeError(`not a delta kind: ${String(ctx.kind)}`);
}

/**
 * Seals `inner` as the object `ctx` under `key`.
 *
 * @throws RangeError for a context outside the frame's fields, or an inner object over 1 GiB.
 */
export function sealObject(key: ReplicationKey, ctx: ObjectContext, inner: Uint8Array): Uint8Array {
  checkContext(ctx);
  if (inner.byteLength > MAX_SEALED_INNER_BYTES) {
    throw new RangeError(`inner object of ${inner.byteLength} bytes; at most ${MAX_SEALED_INNER_BYTES}`);
  }
  const idBytes = Buffer.from(ctx.vmId, 'ascii');
  const headerEnd = SEALED_OBJECT_HEADER_BYTES + idBytes.byteLength;
  // The encoder left room for the frame around the object: write around it rather than copy it.
  const framed = takeFrameRoom(inner, headerEnd, MAC_BYTES);
  const out = framed ?? Buffer.allocUnsafe(headerEnd + inner.byteLength + MAC_BYTES);
  out.set(SEALED_OBJECT_MAGIC, 0);
  out[4] = SEALED_OBJECT_VERSION;
  out[5] = KIND_CODES[ctx.kind];
  out[6] = idBytes.byteLength;
  out[7] = 0;
  out.write(key.id, 8, 'hex');
  out.writeUInt32LE(ctx.epoch, 12);
  out.writeUInt32LE(ctx.seq % 2 ** 32, 16);
  out.writeUInt32LE(Math.floor(ctx.seq / 2 ** 32), 20);
  out.writeUInt32LE(inner.byteLength, 24);
  out.set(idBytes, SEALED_OBJECT_HEADER_BYTES);
  if (!framed) out.set(inner, headerEnd);
  const bodyEnd = headerEnd + inner.byteLength;
  out.set(key.mac(OBJECT_DOMAIN, out.subarray(0, headerEnd), innerDigest(inner)), bodyEnd);
  return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
}

/** Where the one pass over an inner object of `size` bytes splits: before its 32-byte trailer. */
function splitPoint(size: number): number {
  return Math.max(0, size - INNER_TRAILER_BYTES);
}

/** SHA-256 of `inner`, 32 bytes: the encoder's, when it just hashed these very bytes, else one pass. */
function innerDigest(inner: Uint8Array): Buffer {
  const split = splitPoint(inner.byteLength);
  const digests = knownDigests(inner, split) ?? splitDigests(inner, split);
  return Buffer.from(digests.wholeHex, 'hex');
}

function refuse(failure: ObjectSealFailure, reason: string): OpenedObject {
  return { ok: false, failure, reason };
}

/**
 * Opens a sealed object that must be `expected`: framing, key id and MAC first (one HMAC pass over the
 * object), then the header's fields against `expected`. Returns a view of the inner object, or why the
 * object was refused. Never throws.
 */
export function openObject(keys: KeySet, bytes: Uint8Array, expected: ObjectContext): OpenedObject {
  if (!(bytes instanceof Uint8Array)) return refuse('not-sealed', 'not bytes');
  const size = bytes.byteLength;
  const min = SEALED_OBJECT_HEADER_BYTES + 1 + MAC_BYTES;
  if (size < min) return refuse('not-sealed', `${size} bytes; a sealed object has at least ${min}`);
  const view = Buffer.from(bytes.buffer, bytes.byteOffset, size);
  if (!view.subarray(0, 4).equals(SEALED_OBJECT_MAGIC)) return refuse('not-sealed', 'no CSOB magic');
  const version = view[4];
  if (version !== SEALED_OBJECT_VERSION && version !== SEALED_OBJECT_VERSION_1) {
    return refuse('not-sealed', `frame version ${version}, expected 2 (or 1)`);
  }
  const idLength = view[6] as number;
  const inner = view.readUInt32LE(24);
  const declared = SEALED_OBJECT_HEADER_BYTES + idLength + inner + MAC_BYTES;
  if (declared !== size) return refuse('not-sealed', `${size} bytes; its header declares ${declared}`);
  const keyId = view.toString('hex', 8, 12);
  const candidates = keysWithId(keys, keyId);
  if (candidates.length === 0) {
    return refuse(
      'unknown-key',
      `sealed with key ${keyId}; accepted keys are ${keys.accepted.map((k) => k.id).join(', ')}`,
    );
  }
  const bodyEnd = size - MAC_BYTES;
  const tag = view.subarray(bodyEnd);
  const start = SEALED_OBJECT_HEADER_BYTES + idLength;
  const innerBytes = bytes.subarray(start, start + inner);
  if (version === SEALED_OBJECT_VERSION_1) {
    const body = view.subarray(0, bodyEnd);
    if (!candidates.some((k) => k.verify(tag, OBJECT_DOMAIN_V1, body))) {
      return refuse('bad-mac', `MAC check failed (key ${keyId}, frame version 1)`);
    }
  } else {
    // One pass over the inner object: its digest for the MAC, kept for the decoder's claim and trailer.
    const split = splitPoint(inner);
    const digests = splitDigests(innerBytes, split);
    const digest = Buffer.from(digests.wholeHex, 'hex');
    const header = view.subarray(0, start);
    if (!candidates.some((k) => k.verify(tag, OBJECT_DOMAIN, header, digest))) {
      return refuse('bad-mac', `MAC check failed (key ${keyId})`);
    }
    rememberDigests(innerBytes, split, digests);
  }
  // Authentic from here on: the fields are the sealer's. They must name the object asked for.
  const kind = KINDS[(view[5] as number) - 1];
  const vmId = view.toString('latin1', SEALED_OBJECT_HEADER_BYTES, SEALED_OBJECT_HEADER_BYTES + idLength);
  const epoch = view.readUInt32LE(12);
  const seqHigh = view.readUInt32LE(20);
  const seq = seqHigh * 2 ** 32 + view.readUInt32LE(16);
  const got = `${vmId}/${epoch}/${seq}-${kind ?? `kind ${view[5]}`}`;
  const want = `${expected.vmId}/${expected.epoch}/${expected.seq}-${expected.kind}`;
  if (view[7] !== 0 || seqHigh > 0x1f_ffff || kind === undefined || got !== want) {
    return refuse(
      'wrong-object',
      `the object is sealed as ${got}${view[7] !== 0 ? ' (reserved byte set)' : ''}; expected ${want}`,
    );
  }
  return { ok: true, inner: innerBytes, keyId };
}
