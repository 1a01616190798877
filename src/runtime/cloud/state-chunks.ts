/**
 * State chunks: one fixed page range of a node's paged arrays (paged-fields.ts), stored as its own immutable
 * object (container kind `state-chunk`) and named by the hot document with its SHA-256. Decoded chunks are
 * cached per warm container by that hash, so a warm invocation reads only the hot document.
 */
import { createHash } from 'node:crypto';
import { decodeContainer, encodeContainer } from './container.ts';
import { StateDocumentError } from './errors.ts';
import type { NodeRole } from './keys.ts';
import { elementCount, type PagedArray, type PagedField, pagesPerElement } from './paged-fields.ts';
import { showValue } from './text.ts';

/** A chunk's decoded arrays by field name: the chunk's slice of each paged array. Never mutated. */
export type ChunkFields = ReadonlyMap<string, PagedArray>;

/** Where chunk `index` of `chunkPages` pages starts and ends in a `field` array of a `pages`-page guest. */
export function chunkSlice(
  field: PagedField,
  index: number,
  chunkPages: number,
  pages: number,
): [number, number] {
  const per = chunkPages / pagesPerElement(field.unit);
  const total = elementCount(field.unit, pages);
  return [Math.min(total, index * per), Math.min(total, (index + 1) * per)];
}

/** Chunks of `chunkPages` pages a `pages`-page guest needs (at least 1). */
export function chunkCount(pages: number, chunkPages: number): number {
  return Math.max(1, Math.ceil(pages / chunkPages));
}

/** What a chunk must be: whose, which range, which fields. */
export interface ChunkIdentity {
  /** VM id. */
  vmId: string;
  /** Node. */
  node: NodeRole;
  /** Chunk number (page range `[index × chunkPages, (index + 1) × chunkPages)`). */
  index: number;
  /** Pages per chunk. */
  chunkPages: number;
  /** Guest size, pages. */
  pages: number;
  /**
   * Creation time of the document it belongs to, ms: a document created again (a VM removed and added)
   * never names, nor overwrites, an older one's chunks — their hashes differ.
   */
  createdAt: number;
  /** The node's paged fields. */
  fields: readonly PagedField[];
}

/** A chunk ready to store. */
export interface EncodedChunk {
  /** The container bytes. */
  bytes: Uint8Array;
  /** SHA-256 of `bytes`, lower-case hex. */
  sha256: string;
  /** The chunk's arrays (copies, for the cache). */
  fields: ChunkFields;
}

/** SHA-256 of `bytes`, lower-case hex. */
export function sha256Hex(bytes: Uint8Array): string {
  return createHash('sha256').update(bytes).digest('hex');
}

/** Cuts chunk `id.index` out of the full arrays (by field name) and encodes it. */
export function encodeChunk(id: ChunkIdentity, arrays: ReadonlyMap<string, PagedArray>): EncodedChunk {
  const fields = new Map<string, PagedArray>();
  const body: Record<string, PagedArray> = {};
  for (const f of id.fields) {
    const [a, b] = chunkSlice(f, id.index, id.chunkPages, id.pages);
    const slice = (arrays.get(f.name) as PagedArray).slice(a, b);
    fields.set(f.name, slice);
    body[f.name] = slice;
  }
  const bytes = encodeContainer('state-chunk', {
    vmId: id.vmId,
    node: id.node,
    index: id.index,
    chunkPages: id.chunkPages,
    pages: id.pages,
    createdAt: id.createdAt,
    fields: body,
  });
  return { bytes, sha256: sha256Hex(bytes), fields };
}

/**
 * Decodes a chunk and checks it is the one expected: its SHA-256 (the name the hot document gave it), then
 * the container, then whose and which range it is and every field's type and length.
 *
 * @throws StateDocumentError naming what differs.
 */
export function decodeChunk(bytes: Uint8Array, sha256: string, id: ChunkIdentity, what: string): ChunkFields {
  const found = sha256Hex(bytes);
  if (found !== sha256) {
    throw new StateDocumentError(
      `${what}: holds other bytes than the document names (SHA-256 ${found}, expected ${sha256}): a stale or overwritten chunk`,
    );
  }
  const tree = decodeContainer(bytes, 'state-chunk', what) as Record<string, unknown> | null;
  if (typeof tree !== 'object' || tree === null)
    throw new StateDocumentError(`${what}: body is not an object`);
  const expect = {
    vmId: id.vmId,
    node: id.node,
    index: id.index,
    chunkPages: id.chunkPages,
    pages: id.pages,
    createdAt: id.createdAt,
  };
  for (const [k, v] of Object.entries(expect)) {
    if (tree[k] !== v) {
      throw new StateDocumentError(`${what}: ${k} is ${showValue(tree[k])}; expected ${showValue(v)}`);
    }
  }
  const keys = Object.keys(tree).sort().join(',');
  if (keys !== 'chunkPages,createdAt,fields,index,node,pages,vmId') {
    throw new StateDocumentError(
      `${what}: fields ${keys}; expected chunkPages, createdAt, fields, index, node, pages, vmId`,
    );
  }
  const body = tree.fields as Record<string, unknown> | null;
  if (typeof body !== 'object' || body === null)
    throw new StateDocumentError(`${what}: fields is not an object`);
  const names = Object.keys(body);
  if (names.length !== id.fields.length) {
    throw new StateDocumentError(`${what}: holds ${names.length} arrays; expected ${id.fields.length}`);
  }
  const out = new Map<string, PagedArray>();
  for (const f of id.fields) {
    const v = body[f.name];
    const [a, b] = chunkSlice(f, id.index, id.chunkPages, id.pages);
    const ok = f.unit === 'bit' ? v instanceof Uint8Array : v instanceof Uint32Array;
    if (!ok || (v as PagedArray).length !== b - a) {
      throw new StateDocumentError(
        `${what}: ${f.name} is not ${b - a} ${f.unit === 'bit' ? 'bytes' : 'u32 values'} (${showValue(v)})`,
      );
    }
    out.set(f.name, v as PagedArray);
  }
  return out;
}

/** Decoded chunks by SHA-256, least recently used dropped first past a byte budget. */
export class ChunkCache {
  readonly #entries = new Map<string, { fields: ChunkFields; bytes: number }>();
  #bytes = 0;
  /** Lookups that found / did not find their chunk. */
  readonly stats = { hits: 0, misses: 0 };

  /** @param maxBytes - Most array bytes kept, bytes. */
  constructor(readonly maxBytes: number) {}

  /** The chunk with SHA-256 `sha256`, or undefined. */
  get(sha256: string): ChunkFields | undefined {
    const e = this.#entries.get(sha256);
    if (!e) {
      this.stats.misses++;
      return undefined;
    }
    this.stats.hits++;
    this.#entries.delete(sha256);
    this.#entries.set(sha256, e);
    return e.fields;
  }

  /** Keeps a decoded chunk (its arrays must never be changed afterwards). */
  set(sha256: string, fields: ChunkFields): void {
    let bytes = 0;
    for (const a of fields.values()) bytes += a.byteLength;
    if (bytes > this.maxBytes || this.#entries.has(sha256)) return;
    this.#entries.set(sha256, { fields, bytes });
    this.#bytes += bytes;
    for (const [k, e] of this.#entries) {
      if (this.#bytes <= this.maxBytes) break;
      this.#entries.delete(k);
      this.#bytes -= e.bytes;
    }
  }

  /** Array bytes held now, bytes. */
  get bytes(): number {
    return this.#bytes;
  }
}

/**
 * The warm container's chunk cache (256 MiB of arrays: one node's whole paged state up to a 64 GiB guest —
 * the primary's is ~73 MiB there, the secondary's ~130 MiB). Content-addressed, so sharing it between VMs
 * and nodes in one process is safe.
 */
export const WARM_CHUNK_CACHE = new ChunkCache(256 * 1024 * 1024);
