/**
 * The binary container every cloud-runtime document is stored in: a JSON tree with typed arrays, bitmaps and
 * integer maps moved into binary blobs (deflated when that pays), non-finite numbers tagged, a versioned
 * header and a SHA-256 trailer. Layout (all integers little-endian):
 *
 * | offset | size | field                                                        |
 * | ------ | ---- | ------------------------------------------------------------ |
 * | 0      | 4    | magic `CLSD`                                                  |
 * | 4      | 1    | container format version (1)                                 |
 * | 5      | 1    | kind: 1/2 primary/secondary state, 3/4 their documents, 5 modelled delta, 6 state chunk, 7 state segment |
 * | 6      | 2    | reserved, 0                                                  |
 * | 8      | 4    | header length H, bytes                                       |
 * | 12     | H    | header: UTF-8 JSON `{ "blobs": [[enc, type, raw, stored]…], "body": tree }` |
 * | 12+H   | …    | blob bytes, in table order                                   |
 * | end−32 | 32   | SHA-256 of everything before it                               |
 *
 * Tags in the tree: `{"$num":"NaN"|"Infinity"|"-Infinity"}`, `{"$u32":i}` / `{"$u8":i}` (typed arrays),
 * `{"$bitmap":i,"size":n}` ({@link DirtyBitmap}), `{"$map32":[k,v]}` (a `Map` of u32 → u32 or a {@link PageVersionMap}, keys and values
 * as two u32 blobs), `{"$map":[[k,v]…]}` (any other `Map`), `{"$u32s":i}` (a long `number[]` of u32).
 * Plain objects may not have keys starting with `$`, nor the key `__proto__`. Each blob is referenced by one
 * tag only, and the tree is at most {@link MAX_TREE_DEPTH} levels deep (the decoder refuses anything else:
 * a reused blob would be materialised once per reference, a deep tree would overflow the decoder's stack).
 */
import { createHash } from 'node:crypto';
import { endianness } from 'node:os';
import { deflateRawSync, inflateRawSync } from 'node:zlib';
import { DirtyBitmap } from '../../engine/memory/dirty-bitmap.ts';
import { PageVersionMap } from '../../engine/memory/page-version-map.ts';
import { StateDocumentError } from './errors.ts';
import { showValue } from './text.ts';

/** Document kinds a container can hold. */
export type ContainerKind =
  | 'primary-state'
  | 'secondary-state'
  | 'primary-document'
  | 'secondary-document'
  | 'modelled-delta'
  | 'state-chunk'
  | 'state-segment';

/** Container format version this code writes and the only one it reads. */
export const CONTAINER_VERSION = 1;

const MAGIC = Buffer.from('CLSD', 'latin1');
const PREFIX_BYTES = 12;
const TRAILER_BYTES = 32;
const KIND_CODES: Readonly<Record<ContainerKind, number>> = {
  'primary-state': 1,
  'secondary-state': 2,
  'primary-document': 3,
  'secondary-document': 4,
  'modelled-delta': 5,
  'state-chunk': 6,
  'state-segment': 7,
};
const KIND_BY_CODE = new Map(Object.entries(KIND_CODES).map(([k, c]) => [c, k as ContainerKind]));
/** Arrays of u32 at least this long become a blob. */
const U32_ARRAY_BLOB_MIN = 32;
/** Blobs at least this large are offered to deflate. */
const DEFLATE_MIN_BYTES = 64;
/**
 * Most bytes the blobs of one container may decode to, together (512 MiB). A node document's blobs hold
 * about 8–24 bytes per guest page (page versions, bitmaps, colo cache, outbox recipes): a few MiB for the
 * 1 GiB default guest, up to ~400 MiB for a 64 GiB guest (16 Mi pages), the largest the project targets. Each inflate's output is capped at
 * the blob's declared size, which must fit in what is left of this ceiling — a header cannot make zlib
 * produce more, and a deflate stream cannot inflate past what its header declared.
 */
export const MAX_CONTAINER_DECODED_BYTES = 512 * 1024 * 1024;
/**
 * Deepest tree the decoder accepts, levels (the root is level 0). Node documents are about 8 deep (the
 * claim of a message in the outbox); the limit keeps a hostile header from overflowing the decoder's stack.
 */
export const MAX_TREE_DEPTH = 64;
const LITTLE_ENDIAN = endianness() === 'LE';

/** Blob encodings. */
const Enc = { Raw: 0, Deflate: 1 } as const;
type Enc = (typeof Enc)[keyof typeof Enc];
/** Blob element types (the value is the element size, bytes). */
const BlobType = { U8: 1, U32: 4 } as const;
type BlobType = (typeof BlobType)[keyof typeof BlobType];

type Json = null | boolean | number | string | Json[] | { [key: string]: Json };
type BlobEntry = [enc: Enc, type: BlobType, raw: number, stored: number];

function isU32(v: unknown): v is number {
  return typeof v === 'number' && Number.isInteger(v) && v >= 0 && v <= 0xffff_ffff;
}

function u32ToBytes(a: Uint32Array): Uint8Array {
  if (LITTLE_ENDIAN) return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
  const out = Buffer.alloc(a.byteLength);
  for (let i = 0; i < a.length; i++) out.writeUInt32LE(a[i] as number, i * 4);
  return out;
}

function bytesToU32(b: Uint8Array): Uint32Array {
  const out = new Uint32Array(b.byteLength / 4);
  if (LITTLE_ENDIAN) new Uint8Array(out.buffer).set(b);
  else {
    const view = Buffer.from(b.buffer, b.byteOffset, b.byteLength);
    for (let i = 0; i < out.length; i++) out[i] = view.readUInt32LE(i * 4);
  }
  return out;
}

class Writer {
  readonly blobs: { entry: BlobEntry; bytes: Uint8Array }[] = [];

  blob(type: BlobType, raw: Uint8Array): number {
    let enc: Enc = Enc.Raw;
    let stored = raw;
    if (raw.byteLength >= DEFLATE_MIN_BYTES) {
      const packed = deflateRawSync(raw, { level: 1 });
      if (packed.byteLength <= raw.byteLength - raw.byteLength / 8) {
        enc = Enc.Deflate;
        stored = packed;
      }
    }
    this.blobs.push({ entry: [enc, type, raw.byteLength, stored.byteLength], bytes: stored });
    return this.blobs.length - 1;
  }

  tree(value: unknown, path: string): Json {
    if (value === null || typeof value === 'boolean' || typeof value === 'string') return value;
    if (typeof value === 'number') {
      if (Number.isFinite(value)) return value;
      return { $num: Number.isNaN(value) ? 'NaN' : value > 0 ? 'Infinity' : '-Infinity' };
    }
    if (value instanceof Uint32Array) return { $u32: this.blob(BlobType.U32, u32ToBytes(value)) };
    if (value instanceof Uint8Array) return { $u8: this.blob(BlobType.U8, value) };
    if (value instanceof DirtyBitmap)
      return { $bitmap: this.blob(BlobType.U8, value.bits), size: value.size };
    if (value instanceof Map) return this.map(value, path);
    // The colo cache: the same `$map32` as a Map of its entries (decoded as a Map; see state-schema.ts).
    if (value instanceof PageVersionMap) return this.map32(value);
    if (Array.isArray(value)) {
      if (value.length >= U32_ARRAY_BLOB_MIN && value.every(isU32)) {
        return { $u32s: this.blob(BlobType.U32, u32ToBytes(Uint32Array.from(value))) };
      }
      return value.map((v, i) => {
        if (v === undefined) throw new TypeError(`${path}[${i}] is undefined; arrays may not hold undefined`);
        return this.tree(v, `${path}[${i}]`);
      });
    }
    if (typeof value === 'object') {
      const proto = Object.getPrototypeOf(value);
      if (proto !== Object.prototype && proto !== null) {
        throw new TypeError(`${path} is a ${proto?.constructor?.name ?? 'class instance'}; cannot encode it`);
      }
      const out: { [key: string]: Json } = {};
      for (const [k, v] of Object.entries(value)) {
        if (k.startsWith('$')) throw new TypeError(`${path}.${k}: keys starting with $ are reserved`);
        if (k === '__proto__') throw new TypeError(`${path}: the key __proto__ cannot be decoded again`);
        if (v !== undefined) out[k] = this.tree(v, `${path}.${k}`);
      }
      return out;
    }
    throw new TypeError(`${path} is a ${typeof value}; cannot encode it`);
  }

  map(m: Map<unknown, unknown>, path: string): Json {
    let u32 = true;
    for (const [k, v] of m) {
      if (!isU32(k) || !isU32(v)) {
        u32 = false;
        break;
      }
    }
    if (u32) return this.map32(m as Map<number, number>);
    return {
      $map: [...m].map(([k, v], i) => [this.tree(k, `${path}<key ${i}>`), this.tree(v, `${path}<${i}>`)]),
    };
  }

  /** A u32 → u32 map as two u32 blobs, keys and values in iteration order. */
  map32(m: { size: number } & Iterable<readonly [number, number]>): Json {
    const keys = new Uint32Array(m.size);
    const values = new Uint32Array(m.size);
    let i = 0;
    for (const [k, v] of m) {
      keys[i] = k;
      values[i++] = v;
    }
    return {
      $map32: [this.blob(BlobType.U32, u32ToBytes(keys)), this.blob(BlobType.U32, u32ToBytes(values))],
    };
  }
}

/**
 * Encodes `value` (plain objects, arrays, strings, booleans, null, numbers including NaN and ±∞,
 * `Uint32Array`, `Uint8Array`, {@link DirtyBitmap}, `Map`) as a container of `kind`.
 *
 * @throws TypeError when `value` holds anything else (a class instance, a function, a `$` key).
 */
export function encodeContainer(kind: ContainerKind, value: unknown): Uint8Array {
  const w = new Writer();
  const body = w.tree(value, '$');
  const header = Buffer.from(JSON.stringify({ blobs: w.blobs.map((b) => b.entry), body }), 'utf8');
  const blobBytes = w.blobs.reduce((n, b) => n + b.bytes.byteLength, 0);
  const out = Buffer.alloc(PREFIX_BYTES + header.byteLength + blobBytes + TRAILER_BYTES);
  MAGIC.copy(out, 0);
  out[4] = CONTAINER_VERSION;
  out[5] = KIND_CODES[kind];
  out.writeUInt32LE(header.byteLength, 8);
  header.copy(out, PREFIX_BYTES);
  let at = PREFIX_BYTES + header.byteLength;
  for (const b of w.blobs) {
    out.set(b.bytes, at);
    at += b.bytes.byteLength;
  }
  createHash('sha256').update(out.subarray(0, at)).digest().copy(out, at);
  return new Uint8Array(out.buffer, out.byteOffset, out.byteLength);
}

function fail(what: string, detail: string): never {
  throw new StateDocumentError(`${what}: ${detail}`);
}

/** The values of `$num`: own properties only (`constructor` or `toString` must not name a function). */
const NON_FINITE = new Map<unknown, number>([
  ['NaN', Number.NaN],
  ['Infinity', Number.POSITIVE_INFINITY],
  ['-Infinity', Number.NEGATIVE_INFINITY],
]);

class Reader {
  /** Blobs a tag has taken already. */
  readonly #used = new Set<number>();

  constructor(
    readonly what: string,
    readonly blobs: Uint8Array[],
    readonly types: BlobType[],
  ) {}

  blob(index: unknown, type: BlobType, path: string): Uint8Array {
    if (!Number.isInteger(index) || (index as number) < 0 || (index as number) >= this.blobs.length) {
      fail(this.what, `${path} names blob ${showValue(index)}; there are ${this.blobs.length}`);
    }
    if (this.types[index as number] !== type) fail(this.what, `${path}: blob ${index} has the wrong type`);
    if (this.#used.has(index as number)) fail(this.what, `${path}: blob ${index} is referenced twice`);
    this.#used.add(index as number);
    return this.blobs[index as number] as Uint8Array;
  }

  tree(node: unknown, path: string, depth = 0): unknown {
    if (node === null || typeof node !== 'object') return node;
    if (depth >= MAX_TREE_DEPTH) fail(this.what, `${path}: nested deeper than ${MAX_TREE_DEPTH} levels`);
    if (Array.isArray(node)) return node.map((v, i) => this.tree(v, `${path}[${i}]`, depth + 1));
    const o = node as Record<string, unknown>;
    const keys = Object.keys(o);
    const tag = keys.find((k) => k.startsWith('$'));
    if (tag === undefined) {
      const out: Record<string, unknown> = {};
      for (const k of keys) {
        // Assigning `__proto__` would set the prototype (a Uint32Array's, say) instead of a field.
        if (k === '__proto__') fail(this.what, `${path}: the key __proto__ is not allowed`);
        out[k] = this.tree(o[k], `${path}.${k}`, depth + 1);
      }
      return out;
    }
    const expectKeys = (...allowed: string[]): void => {
      if (keys.length !== allowed.length || !allowed.every((k) => keys.includes(k))) {
        fail(this.what, `${path}: tag ${tag} has fields ${keys.join(', ')}; expected ${allowed.join(', ')}`);
      }
    };
    switch (tag) {
      case '$num': {
        expectKeys('$num');
        const v = NON_FINITE.get(o.$num);
        if (v === undefined) fail(this.what, `${path}: $num ${showValue(o.$num)} is not NaN or ±Infinity`);
        return v;
      }
      case '$u32':
        expectKeys('$u32');
        return bytesToU32(this.blob(o.$u32, BlobType.U32, path));
      case '$u8':
        expectKeys('$u8');
        return Uint8Array.from(this.blob(o.$u8, BlobType.U8, path));
      case '$u32s':
        expectKeys('$u32s');
        return Array.from(bytesToU32(this.blob(o.$u32s, BlobType.U32, path)));
      case '$bitmap': {
        expectKeys('$bitmap', 'size');
        const size = o.size;
        const bits = Uint8Array.from(this.blob(o.$bitmap, BlobType.U8, path));
        if (
          !Number.isInteger(size) ||
          (size as number) < 0 ||
          bits.byteLength !== Math.ceil((size as number) / 8)
        ) {
          fail(this.what, `${path}: bitmap of ${showValue(size)} pages has ${bits.byteLength} bytes`);
        }
        for (let i = size as number; i < bits.byteLength * 8; i++) {
          if ((bits[i >>> 3] as number) & (1 << (i & 7)))
            fail(this.what, `${path}: bit ${i} set past the end`);
        }
        return new DirtyBitmap(size as number, bits);
      }
      case '$map32': {
        expectKeys('$map32');
        const pair = o.$map32;
        if (!Array.isArray(pair) || pair.length !== 2) fail(this.what, `${path}: $map32 needs two blobs`);
        const k = bytesToU32(this.blob(pair[0], BlobType.U32, path));
        const v = bytesToU32(this.blob(pair[1], BlobType.U32, path));
        if (k.length !== v.length)
          fail(this.what, `${path}: $map32 has ${k.length} keys, ${v.length} values`);
        const m = new Map<number, number>();
        for (let i = 0; i < k.length; i++) m.set(k[i] as number, v[i] as number);
        if (m.size !== k.length) fail(this.what, `${path}: $map32 repeats a key`);
        return m;
      }
      case '$map': {
        expectKeys('$map');
        if (!Array.isArray(o.$map)) fail(this.what, `${path}: $map is not an array`);
        const m = new Map<unknown, unknown>();
        for (const [i, e] of (o.$map as unknown[]).entries()) {
          if (!Array.isArray(e) || e.length !== 2) fail(this.what, `${path}: $map entry ${i} is not a pair`);
          m.set(this.tree(e[0], `${path}<key ${i}>`, depth + 1), this.tree(e[1], `${path}<${i}>`, depth + 1));
        }
        return m;
      }
      default:
        return fail(this.what, `${path}: unknown tag ${tag}`);
    }
  }
}

/**
 * Decodes a container, checking everything: magic, version, kind, framing, SHA-256, blob table, blob sizes
 * (declared ones against {@link MAX_CONTAINER_DECODED_BYTES} before inflating, actual ones after) and tags. The result still needs a schema check of its own shape.
 *
 * @param what - Names the document in error messages (e.g. its key).
 * @param maxDecodedBytes - Ceiling on all blobs' decoded bytes together, bytes; default
 *   {@link MAX_CONTAINER_DECODED_BYTES}.
 * @throws StateDocumentError describing the first problem found.
 */
export function decodeContainer(
  bytes: Uint8Array,
  kind: ContainerKind,
  what: string,
  maxDecodedBytes = MAX_CONTAINER_DECODED_BYTES,
): unknown {
  const buf = Buffer.from(bytes.buffer, bytes.byteOffset, bytes.byteLength);
  if (buf.byteLength < PREFIX_BYTES + TRAILER_BYTES) {
    fail(
      what,
      `${buf.byteLength} bytes is too short for a document (at least ${PREFIX_BYTES + TRAILER_BYTES})`,
    );
  }
  if (!buf.subarray(0, 4).equals(MAGIC)) {
    fail(what, `magic is 0x${buf.toString('hex', 0, 4)}; expected 0x${MAGIC.toString('hex')} ("CLSD")`);
  }
  if (buf[4] !== CONTAINER_VERSION) {
    fail(what, `container format version ${buf[4]}; this runtime reads version ${CONTAINER_VERSION}`);
  }
  const found = KIND_BY_CODE.get(buf[5] as number);
  if (found !== kind) fail(what, `holds a ${found ?? `kind ${buf[5]}`} document; expected ${kind}`);
  const end = buf.byteLength - TRAILER_BYTES;
  const digest = createHash('sha256').update(buf.subarray(0, end)).digest();
  if (!digest.equals(buf.subarray(end))) fail(what, 'SHA-256 trailer does not match the content (corrupt)');
  const headerLength = buf.readUInt32LE(8);
  if (PREFIX_BYTES + headerLength > end) fail(what, `header length ${headerLength} runs past the end`);
  let header: unknown;
  try {
    header = JSON.parse(buf.toString('utf8', PREFIX_BYTES, PREFIX_BYTES + headerLength));
  } catch (e) {
    fail(what, `header is not JSON: ${e instanceof Error ? e.message : String(e)}`);
  }
  const h = header as { blobs?: unknown; body?: unknown } | null;
  if (typeof h !== 'object' || h === null || !Array.isArray(h.blobs) || !('body' in h)) {
    fail(what, 'header must be an object with "blobs" and "body"');
  }
  const blobs: Uint8Array[] = [];
  const types: BlobType[] = [];
  let at = PREFIX_BYTES + headerLength;
  let decoded = 0;
  for (const [i, entry] of (h.blobs as unknown[]).entries()) {
    if (
      !Array.isArray(entry) ||
      entry.length !== 4 ||
      !entry.every((n) => Number.isSafeInteger(n) && n >= 0)
    ) {
      fail(what, `blob table entry ${i} is malformed`);
    }
    const [enc, type, raw, stored] = entry as number[] as BlobEntry;
    if (enc !== Enc.Raw && enc !== Enc.Deflate) fail(what, `blob ${i} has unknown encoding ${enc}`);
    if (type !== BlobType.U8 && type !== BlobType.U32) fail(what, `blob ${i} has unknown type ${type}`);
    if (type === BlobType.U32 && raw % 4 !== 0)
      fail(what, `u32 blob ${i} is ${raw} bytes, not a multiple of 4`);
    if (at + stored > end) fail(what, `blob ${i} (${stored} bytes) runs past the end`);
    if (raw > maxDecodedBytes - decoded) {
      fail(
        what,
        `blob ${i} declares ${raw} bytes; after ${decoded} decoded that passes the ${maxDecodedBytes}-byte ceiling`,
      );
    }
    decoded += raw;
    const slice = buf.subarray(at, at + stored);
    at += stored;
    let data: Uint8Array = slice;
    if (enc === Enc.Deflate) {
      try {
        // `raw` is within the ceiling (checked above); zlib stops with an error past it.
        data = inflateRawSync(slice, { maxOutputLength: Math.max(1, raw) });
      } catch (e) {
        fail(what, `blob ${i} does not inflate: ${e instanceof Error ? e.message : String(e)}`);
      }
    } else if (stored !== raw) fail(what, `raw blob ${i} stores ${stored} bytes for ${raw}`);
    if (data.byteLength !== raw)
      fail(what, `blob ${i} inflates to ${data.byteLength} bytes; expected ${raw}`);
    blobs.push(data);
    types.push(type);
  }
  if (at !== end) fail(what, `${end - at} bytes follow the last blob`);
  return new Reader(what, blobs, types).tree(h.body, '$');
}
