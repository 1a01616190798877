/**
 * Fuzz inputs for the decoders of the binary container (src/runtime/cloud/container.ts): node documents and
 * modelled deltas. From valid stored objects it makes byte mutations (some left with a stale SHA-256
 * trailer, most resealed), structure-aware edits of the header's JSON tree and blob table (tags, blob
 * indices, sizes, prototype keys), edits of the decoded value re-encoded by the real encoder (valid
 * containers of invalid documents), blob-byte edits, and a few hostile shapes (deep nesting, one blob
 * referenced many times, huge declared sizes).
 */
import { createHash } from 'node:crypto';
import { DirtyBitmap } from '../../src/engine/memory/dirty-bitmap.ts';
import { PageVersionMap } from '../../src/engine/memory/page-version-map.ts';
import { encodeContainer } from '../../src/runtime/cloud/container.ts';
import { cloneJson, defineKey, type Json, mutateJson, ODD_VALUES, odd } from './json-mutate.ts';
import { mutateBytes, type Rng } from './mutate.ts';

const PREFIX_BYTES = 12;
const TRAILER_BYTES = 32;

/** A container taken apart: prefix fields, parsed header and the blob region. */
interface Parts {
  version: number;
  kind: number;
  blobs: Json[];
  body: Json;
  region: Buffer;
}

/** A valid object, with its parts, its decoded value (for the value-level edits) and what it was made for. */
export interface ContainerSeed<C = unknown> {
  bytes: Buffer;
  parts: Parts;
  value: unknown;
  /** Decoder context the object is valid under (the node documents' parameters). */
  context: C;
}

function split(bytes: Uint8Array): Parts {
  const buf = Buffer.from(bytes);
  const h = buf.readUInt32LE(8);
  const header = JSON.parse(buf.toString('utf8', PREFIX_BYTES, PREFIX_BYTES + h)) as {
    blobs: Json[];
    body: Json;
  };
  return {
    version: buf[4] as number,
    kind: buf[5] as number,
    blobs: header.blobs,
    body: header.body,
    region: buf.subarray(PREFIX_BYTES + h, buf.length - TRAILER_BYTES),
  };
}

/** Recomputes the SHA-256 trailer of a container (in place) and returns it. */
export function reseal(buf: Buffer): Buffer {
  if (buf.length < PREFIX_BYTES + TRAILER_BYTES) return buf;
  const end = buf.length - TRAILER_BYTES;
  createHash('sha256').update(buf.subarray(0, end)).digest().copy(buf, end);
  return buf;
}

/** Builds a sealed container from a header text and a blob region. */
export function assemble(version: number, kind: number, header: string, region: Uint8Array): Buffer {
  const h = Buffer.from(header, 'utf8');
  const out = Buffer.alloc(PREFIX_BYTES + h.length + region.byteLength + TRAILER_BYTES);
  out.write('CLSD', 0, 'latin1');
  out[4] = version;
  out[5] = kind;
  out.writeUInt32LE(h.length, 8);
  h.copy(out, PREFIX_BYTES);
  out.set(region, PREFIX_BYTES + h.length);
  return reseal(out);
}

/** Seeds from valid containers, valid under `context`; `decode` gives each one's value. */
export function containerSeeds<C>(
  objects: readonly Uint8Array[],
  context: C,
  decode: (b: Uint8Array, context: C) => unknown,
): ContainerSeed<C>[] {
  return objects.map((b) => ({ bytes: Buffer.from(b), parts: split(b), value: decode(b, context), context }));
}

/** Tagged nodes and tag-shaped traps spliced into header trees. */
function tagPool(blobCount: number): Json[] {
  const i = blobCount > 0 ? blobCount - 1 : 0;
  return [
    { $num: 'NaN' },
    { $num: 'Infinity' },
    { $num: '-Infinity' },
    { $num: 'constructor' },
    { $num: 'toString' },
    { $num: '__proto__' },
    { $num: 'nan' },
    { $u32: 0 },
    { $u32: i },
    { $u32: blobCount },
    { $u32: -1 },
    { $u32: 0.5 },
    { $u32: '0' },
    { $u8: 0 },
    { $u8: i },
    { $u32s: 0 },
    { $u32s: i },
    { $bitmap: 0, size: 64 },
    { $bitmap: 0, size: 63 },
    { $bitmap: i, size: -1 },
    { $bitmap: 0 },
    { $map32: [0, i] },
    { $map32: [0, 0] },
    { $map32: [0] },
    { $map: [[1, 2]] },
    {
      $map: [
        [1, 2],
        [1, 3],
      ],
    },
    { $map: [1] },
    { $map: {} },
    { $wat: 1 },
    { $u32: 0, x: 1 },
    { a: 1, $num: 'NaN' },
    protoTrap({ $u32: 0 }),
    protoTrap({ $bitmap: 0, size: 64 }),
    protoTrap({ $map32: [0, i] }),
    protoTrap({ x: 1 }),
    protoTrap(null),
    [],
    {},
  ];
}

/** `{"__proto__": inner}` with `__proto__` as an own key, as JSON.parse makes it. */
function protoTrap(inner: Json): Json {
  const o: { [key: string]: Json } = {};
  defineKey(o, '__proto__', inner);
  return o;
}

/** Edits a blob-table entry: another encoding, type, raw or stored size. */
function mutateTable(rng: Rng, blobs: Json[]): Json[] {
  const out = cloneJson(blobs) as Json[];
  if (out.length === 0 || rng.chance(0.1)) {
    out.push([rng.int(3), rng.pick([1, 4, 2]), rng.int(300), rng.int(300)]);
    return out;
  }
  const at = rng.int(out.length);
  const entry = out[at];
  if (!Array.isArray(entry) || rng.chance(0.1)) {
    out[at] = odd(rng);
    return out;
  }
  const field = rng.int(4);
  const v = entry[field];
  entry[field] =
    typeof v === 'number' && rng.chance(0.7)
      ? rng.pick([v + 1, v - 1, v + 4, v * 2, 0, 2 ** 32, 2 ** 53, -1, 0.5, 512 * 1024 * 1024 + 1])
      : odd(rng);
  if (rng.chance(0.1)) out.splice(rng.int(out.length), 1);
  return out;
}

/** Odd values for the value-level edits (never edited in place). */
const VALUE_ODD: readonly unknown[] = [
  // Tag-shaped objects ({"$num": …}) are the header edits' business: the encoder refuses `$` keys.
  ...ODD_VALUES.filter((v) => v === null || typeof v !== 'object' || Array.isArray(v)),
  { x: 1 },
  Number.NaN,
  Number.POSITIVE_INFINITY,
  new Uint32Array(0),
  new Uint32Array(65),
  Uint32Array.of(64, 0xffff_ffff),
  new Uint8Array(3),
  new DirtyBitmap(63),
  new DirtyBitmap(64),
  new DirtyBitmap(640),
  new Map([[1, 2]]),
  new Map([[-1, 2]]),
  new Map([[64, 1]]),
  new Map<unknown, unknown>([['x', 'y']]),
  Array.from({ length: 40 }, (_, i) => i * 3),
  [64, 65],
  [2, 1],
];

/** A shallow path copy of `value` with one field (top level or one level down) replaced or removed. */
function mutateValue(rng: Rng, value: unknown, pool: readonly unknown[]): unknown {
  const edit = (o: unknown, depth: number): unknown => {
    if (
      o === null ||
      typeof o !== 'object' ||
      Array.isArray(o) ||
      ArrayBuffer.isView(o) ||
      o instanceof Map
    ) {
      return rng.pick(VALUE_ODD);
    }
    const copy: Record<string, unknown> = { ...(o as Record<string, unknown>) };
    const keys = Object.keys(copy);
    const key = rng.pick(keys);
    const inner = copy[key];
    const r = rng.int(10);
    if (r === 0) delete copy[key];
    else if (r === 1) copy[rng.pick(['extra', 'constructor', 'toString'])] = rng.pick(VALUE_ODD);
    else if (
      r < 5 &&
      depth > 0 &&
      inner !== null &&
      typeof inner === 'object' &&
      !ArrayBuffer.isView(inner)
    ) {
      copy[key] = Array.isArray(inner)
        ? inner.length > 0
          ? inner.map((x, i) => (i === rng.int(inner.length) ? edit(x, depth - 1) : x))
          : [rng.pick(pool)]
        : edit(inner, depth - 1);
    } else if (r < 7) copy[key] = rng.pick(VALUE_ODD);
    else {
      // Another seed's value for the same field (valid alone, maybe not together).
      const other = rng.pick(pool) as Record<string, unknown> | null;
      copy[key] =
        other !== null && typeof other === 'object' && Object.hasOwn(other, key)
          ? other[key]
          : rng.pick(VALUE_ODD);
    }
    return copy;
  };
  return edit(value, 3);
}

/** Counters of what a generator produced, by strategy (the tests print them). */
export type Strategy =
  | 'valid'
  | 'bytes'
  | 'bytes-stale'
  | 'header'
  | 'table'
  | 'value'
  | 'blob-bytes'
  | 'prefix'
  | 'hostile';

/**
 * The input mix of one container kind over `seeds`: 5 % valid, 8 % byte edits (one in four left with the
 * old trailer), 37 % header-tree edits, 10 % blob-table edits, 25 % value edits re-encoded by the real
 * encoder, 8 % blob-byte edits, 6.5 % prefix edits (version, kind, header length), 0.5 % hostile shapes.
 */
export class ContainerInputs<C> {
  readonly #values: unknown[];
  readonly #bodies: Json[];
  readonly #tags = new Map<number, Json[]>();

  constructor(
    readonly seeds: readonly ContainerSeed<C>[],
    readonly kind: Parameters<typeof encodeContainer>[0],
  ) {
    this.#values = seeds.map((s) => s.value);
    this.#bodies = seeds.slice(0, 4).map((s) => s.parts.body);
  }

  #pool(blobCount: number): Json[] {
    let pool = this.#tags.get(blobCount);
    if (!pool) {
      pool = [...tagPool(blobCount), ...this.#bodies];
      this.#tags.set(blobCount, pool);
    }
    return pool;
  }

  /** Draws the next input; `seed` is the object it was made from. */
  next(rng: Rng): { input: Buffer; strategy: Strategy; seed: ContainerSeed<C> } {
    const seed = rng.pick(this.seeds);
    const made = (input: Buffer, strategy: Strategy) => ({ input, strategy, seed });
    const { parts } = seed;
    const r = rng.int(1000);
    if (r < 50) return made(seed.bytes, 'valid');
    if (r < 130) {
      const input = mutateBytes(rng, seed.bytes, [8], rng.chance(0.5));
      return rng.chance(0.25) ? made(input, 'bytes-stale') : made(reseal(input), 'bytes');
    }
    if (r < 500) {
      const body = mutateJson(rng, parts.body, this.#pool(parts.blobs.length));
      const header = JSON.stringify({ blobs: parts.blobs, body });
      return made(assemble(parts.version, parts.kind, header, parts.region), 'header');
    }
    if (r < 600) {
      const header = JSON.stringify({ blobs: mutateTable(rng, parts.blobs), body: parts.body });
      return made(assemble(parts.version, parts.kind, header, parts.region), 'table');
    }
    if (r < 850) {
      const value = mutateValue(rng, seed.value, this.#values);
      return made(Buffer.from(encodeContainer(this.kind, value)), 'value');
    }
    if (r < 930) {
      const region = Buffer.from(parts.region);
      for (let k = 1 + rng.int(3); k > 0 && region.length > 0; k--)
        region[rng.int(region.length)] = rng.int(256);
      const header = JSON.stringify({ blobs: parts.blobs, body: parts.body });
      return made(assemble(parts.version, parts.kind, header, region), 'blob-bytes');
    }
    if (r < 995) {
      const input = Buffer.from(seed.bytes);
      switch (rng.int(4)) {
        case 0:
          input[4] = rng.pick([0, 2, 255]);
          break;
        case 1:
          input[5] = rng.pick([0, 1, 2, 3, 4, 5, 6, 255]);
          break;
        case 2:
          input.writeUInt32LE(rng.pick([0, 1, input.length, 0xffff_ffff, input.readUInt32LE(8) + 1]), 8);
          break;
        default: {
          const at = rng.int(4);
          input[at] = (input[at] as number) ^ 0x20;
        }
      }
      return made(reseal(input), 'prefix');
    }
    return made(hostile(rng, parts), 'hostile');
  }
}

/** Deep nesting, one blob referenced many times, a huge declared size, many tiny blobs. */
function hostile(rng: Rng, parts: Parts): Buffer {
  switch (rng.int(4)) {
    case 0: {
      const n = 1000 + rng.int(30_000);
      const header = `{"blobs":${JSON.stringify(parts.blobs)},"body":${'['.repeat(n)}${']'.repeat(n)}}`;
      return assemble(parts.version, parts.kind, header, parts.region);
    }
    case 1: {
      // A blob of 4 KiB referenced 1 000 times: 4 MiB of copies if each reference is materialised.
      const blob = Buffer.alloc(4096, 7);
      const refs = Array.from({ length: 1000 }, () => '{"$u8":0}').join(',');
      return assemble(parts.version, parts.kind, `{"blobs":[[0,1,4096,4096]],"body":[${refs}]}`, blob);
    }
    case 2: {
      const raw = rng.pick([512 * 1024 * 1024, 512 * 1024 * 1024 + 1, 2 ** 53 - 1]);
      return assemble(
        parts.version,
        parts.kind,
        `{"blobs":[[1,1,${raw},3]],"body":{"$u8":0}}`,
        Buffer.of(3, 0, 0),
      );
    }
    default: {
      const n = 3000;
      const table = Array.from({ length: n }, () => '[0,1,0,0]').join(',');
      return assemble(
        parts.version,
        parts.kind,
        `{"blobs":[${table}],"body":{"$u8":${rng.int(n)}}}`,
        Buffer.alloc(0),
      );
    }
  }
}

/**
 * Throws unless `value` is something `encodeContainer` takes (plain objects without `$` or `__proto__`
 * keys, arrays without holes, primitives, `Uint32Array`, `Uint8Array`, `DirtyBitmap`, `Map`, `PageVersionMap`): the cheap
 * form of "a decoded value can be saved again", checked on every accepted input.
 */
export function assertEncodable(value: unknown, path = '$'): void {
  if (value === null || typeof value === 'boolean' || typeof value === 'string' || typeof value === 'number')
    return;
  if (value instanceof Uint32Array || value instanceof Uint8Array) return;
  if (value instanceof DirtyBitmap) {
    if (!(value.bits instanceof Uint8Array) || !Number.isInteger(value.size))
      throw new Error(`${path}: bad bitmap`);
    return;
  }
  if (value instanceof Map || value instanceof PageVersionMap) {
    for (const [k, v] of value) {
      assertEncodable(k, `${path}<key>`);
      assertEncodable(v, `${path}<value>`);
    }
    return;
  }
  if (Array.isArray(value)) {
    for (let i = 0; i < value.length; i++) {
      if (value[i] === undefined) throw new Error(`${path}[${i}] is undefined`);
      assertEncodable(value[i], `${path}[${i}]`);
    }
    return;
  }
  if (typeof value === 'object') {
    const proto = Object.getPrototypeOf(value);
    if (proto !== Object.prototype && proto !== null) throw new Error(`${path} has a foreign prototype`);
    for (const [k, v] of Object.entries(value)) {
      if (k.startsWith('$') || k === '__proto__') throw new Error(`${path}.${k}: reserved key`);
      if (v !== undefined) assertEncodable(v, `${path}.${k}`);
    }
    return;
  }
  throw new Error(`${path} is a ${typeof value}`);
}
