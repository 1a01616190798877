/**
 * Overlay segments: a batch of changed paged-array elements (paged-fields.ts) spilled out of a lean hot
 * document as one immutable object (container kind `state-segment`), named by the hot document with its
 * SHA-256. A save that changes more elements than the hot document carries writes them as one segment — one
 * PUT of O(changed elements) bytes — instead of rewriting the page-range chunks they fall in
 * (lean-document.ts). Decoded segments are cached per warm container by hash, like chunks.
 */
import { decodeContainer, encodeContainer } from './container.ts';
import { StateDocumentError } from './errors.ts';
import type { NodeRole } from './keys.ts';
import { elementCount, type PagedArray, type PagedField } from './paged-fields.ts';
import type { ChunkCache, ChunkFields } from './state-chunks.ts';
import { sha256Hex } from './state-chunks.ts';
import { showValue } from './text.ts';

/** Changed elements of one array: ascending element indices and their values (a bitmap's bytes as u32). */
export interface SegmentEntries {
  /** Element indices, strictly ascending. */
  at: Uint32Array;
  /** Values, one per index. */
  values: Uint32Array;
}

/** A segment's elements by field name (every field of the node, possibly empty). */
export type SegmentFields = ReadonlyMap<string, SegmentEntries>;

/** What a segment must be: whose, which save wrote it, which fields. */
export interface SegmentIdentity {
  /** VM id. */
  vmId: string;
  /** Node. */
  node: NodeRole;
  /** Revision of the save that wrote it. */
  revision: number;
  /** Compaction level: 0 for a spilled overlay, ℓ + 1 for a merge of level-ℓ segments. */
  level: number;
  /** Guest size, pages. */
  pages: number;
  /** Creation time of the document it belongs to, ms (as for chunks). */
  createdAt: number;
  /** The node's paged fields. */
  fields: readonly PagedField[];
}

/** A segment ready to store. */
export interface EncodedSegment {
  /** The container bytes. */
  bytes: Uint8Array;
  /** SHA-256 of `bytes`, lower-case hex. */
  sha256: string;
  /** Elements in it, count. */
  entries: number;
}

/** Ascending indices as gaps (first index, then differences): small numbers, which deflate well. */
function toGaps(at: Uint32Array): Uint32Array {
  const g = new Uint32Array(at.length);
  for (let k = 0; k < at.length; k++)
    g[k] = k === 0 ? (at[0] as number) : (at[k] as number) - (at[k - 1] as number);
  return g;
}

/** The identity a segment stores beside its fields, and a decoded one must repeat. */
function headerOf(id: SegmentIdentity): Record<string, string | number> {
  return {
    vmId: id.vmId,
    node: id.node,
    revision: id.revision,
    level: id.level,
    pages: id.pages,
    createdAt: id.createdAt,
  };
}

/** Encodes a segment of `fields` (by field name; a field without entries is stored empty). */
export function encodeSegment(id: SegmentIdentity, fields: SegmentFields): EncodedSegment {
  const body: Record<string, { gaps: Uint32Array; values: Uint32Array }> = {};
  let entries = 0;
  for (const f of id.fields) {
    const e = fields.get(f.name) ?? { at: new Uint32Array(0), values: new Uint32Array(0) };
    body[f.name] = { gaps: toGaps(e.at), values: e.values };
    entries += e.at.length;
  }
  const bytes = encodeContainer('state-segment', { ...headerOf(id), fields: body });
  return { bytes, sha256: sha256Hex(bytes), entries };
}

/**
 * Checks one array's entries (indices as gaps) and returns them with absolute indices.
 *
 * @throws StateDocumentError for unequal lengths, indices out of order or past the array, a bitmap byte > 255.
 */
export function checkEntries(
  field: PagedField,
  gaps: Uint32Array,
  values: Uint32Array,
  pages: number,
  what: string,
): SegmentEntries {
  if (gaps.length !== values.length) {
    throw new StateDocumentError(
      `${what}: ${field.name} has ${gaps.length} indices, ${values.length} values`,
    );
  }
  const length = elementCount(field.unit, pages);
  const at = new Uint32Array(gaps.length);
  let last = -1;
  for (let k = 0; k < gaps.length; k++) {
    const gap = gaps[k] as number;
    const i = k === 0 ? gap : last + gap;
    if ((k > 0 && gap === 0) || i >= length) {
      throw new StateDocumentError(`${what}: ${field.name} index ${i} is out of order or past ${length}`);
    }
    if (field.unit === 'bit' && (values[k] as number) > 255) {
      throw new StateDocumentError(`${what}: ${field.name} byte ${values[k]} > 255`);
    }
    at[k] = i;
    last = i;
  }
  return { at, values };
}

/**
 * Decodes a segment and checks it is the one expected: its SHA-256, the container, whose it is, which save
 * and level wrote it, and every field's entries.
 *
 * @throws StateDocumentError naming what differs.
 */
export function decodeSegment(
  bytes: Uint8Array,
  sha256: string,
  id: SegmentIdentity,
  what: string,
): SegmentFields {
  const found = sha256Hex(bytes);
  if (found !== sha256) {
    throw new StateDocumentError(
      `${what}: holds other bytes than the document names (SHA-256 ${found}, expected ${sha256}): a stale or overwritten segment`,
    );
  }
  const tree = decodeContainer(bytes, 'state-segment', what) as Record<string, unknown> | null;
  if (typeof tree !== 'object' || tree === null)
    throw new StateDocumentError(`${what}: body is not an object`);
  for (const [k, v] of Object.entries(headerOf(id))) {
    if (tree[k] !== v)
      throw new StateDocumentError(`${what}: ${k} is ${showValue(tree[k])}; expected ${showValue(v)}`);
  }
  const keys = Object.keys(tree).sort().join(',');
  if (keys !== 'createdAt,fields,level,node,pages,revision,vmId') {
    throw new StateDocumentError(
      `${what}: fields ${keys}; expected createdAt, fields, level, node, pages, revision, vmId`,
    );
  }
  const body = tree.fields as Record<string, unknown> | null;
  if (typeof body !== 'object' || body === null)
    throw new StateDocumentError(`${what}: fields is not an object`);
  if (Object.keys(body).length !== id.fields.length) {
    throw new StateDocumentError(
      `${what}: holds ${Object.keys(body).length} arrays; expected ${id.fields.length}`,
    );
  }
  const out = new Map<string, SegmentEntries>();
  for (const f of id.fields) {
    const e = body[f.name] as { gaps?: unknown; values?: unknown } | undefined;
    if (
      typeof e !== 'object' ||
      e === null ||
      Object.keys(e).sort().join(',') !== 'gaps,values' ||
      !(e.gaps instanceof Uint32Array) ||
      !(e.values instanceof Uint32Array)
    ) {
      throw new StateDocumentError(`${what}: ${f.name} is not { gaps, values } of u32 (${showValue(e)})`);
    }
    out.set(f.name, checkEntries(f, e.gaps, e.values, id.pages, what));
  }
  return out;
}

/** Elements in a decoded segment, count. */
export function segmentEntryCount(fields: SegmentFields): number {
  let n = 0;
  for (const e of fields.values()) n += e.at.length;
  return n;
}

/** Keeps a decoded segment in a chunk cache (content-addressed: segment and chunk hashes never collide). */
export function cacheSegment(cache: ChunkCache, sha256: string, fields: SegmentFields): void {
  const flat = new Map<string, PagedArray>();
  for (const [name, e] of fields) {
    flat.set(`${name}@at`, e.at);
    flat.set(`${name}@values`, e.values);
  }
  cache.set(sha256, flat);
}

/** A decoded segment from a chunk cache, or undefined. */
export function cachedSegment(
  cache: ChunkCache,
  sha256: string,
  fields: readonly PagedField[],
): SegmentFields | undefined {
  const flat: ChunkFields | undefined = cache.get(sha256);
  if (!flat) return undefined;
  const out = new Map<string, SegmentEntries>();
  for (const f of fields) {
    const at = flat.get(`${f.name}@at`);
    const values = flat.get(`${f.name}@values`);
    if (!(at instanceof Uint32Array) || !(values instanceof Uint32Array)) return undefined;
    out.set(f.name, { at, values });
  }
  return out;
}
