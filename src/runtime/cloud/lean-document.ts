/**
 * The lean state layout: a node's document is a small **hot document** (engine scalars, phase, sequence
 * numbers, outbox, wake time, … — format 2) plus its page arrays in three tiers:
 *
 * - **chunks** of `chunkPages` pages, each an immutable object named by revision and SHA-256
 *   (state-chunks.ts); a range never written is implicitly all zeros (revision 0: nothing stored);
 * - **segments**, immutable objects of changed elements (state-segments.ts), applied in order over the
 *   chunks — an element only where its chunk is older than the segment;
 * - the **overlay**: changed elements riding in the hot document itself, up to `overlayEntries`.
 *
 * A save diffs the arrays against what chunks and segments hold. Up to `overlayEntries` changes stay in the
 * overlay (one PUT: the hot document); more are spilled as one level-0 segment (one more PUT, O(changed
 * elements) bytes). Compaction runs inside saves that write anyway, and is bounded per save: `segmentFanout`
 * segments of one level are merged into one of the next level (that save's segment, instead of a spill), and
 * while the segments hold more than `segmentEntries` live elements, at most `foldsPerSave` chunks — those
 * with most live elements — are rewritten (folded), so segments die. A save therefore writes at most the hot
 * document, one segment and `foldsPerSave` chunks, whatever the guest size.
 *
 * Atomicity: the hot document's compare-and-swap is the only commit point. Segments and chunks are written
 * create-only, under keys no committed document names yet, **before** the hot document that names them; a
 * crash or a lost race leaves only unreferenced objects (swept by chunk-sweep.ts). An object a save stops
 * naming (a folded chunk's old version, a merged or dead segment) is listed in the hot document as retired and
 * deleted by a later save once `retireGraceMs` has passed (a reader of the older document may still be
 * fetching it); past `maxRetired` entries the oldest are deleted at once. A reader that finds a named object
 * gone reads the hot document again: if it moved on, the load starts over.
 *
 * A whole (format 1) document is still read: its first save writes its arrays as one segment and a hot
 * document (migration). Layout `whole` keeps writing format 1 (the old layout, for comparisons).
 */
import { z } from 'zod';
import type { ColoParams } from '../../engine/params.ts';
import type { StateStore } from '../../engine/ports.ts';
import { decodeContainer, encodeContainer } from './container.ts';
import {
  checkDocumentShell,
  DOCUMENT_FORMAT,
  documentShellFields,
  encodeDocument,
  LEAN_DOCUMENT_FORMAT,
  type NodeDocument,
} from './document.ts';
import { StateDocumentError } from './errors.ts';
import { chunkKey, type NodeRole, nodeStateKey, segmentKey } from './keys.ts';
import {
  elementCount,
  fillPaged,
  type PagedArray,
  type PagedField,
  pagesPerElement,
  readPaged,
  withoutPaged,
} from './paged-fields.ts';
import { pool } from './pool.ts';
import {
  type ChunkCache,
  type ChunkIdentity,
  chunkCount,
  chunkSlice,
  decodeChunk,
  encodeChunk,
  WARM_CHUNK_CACHE,
} from './state-chunks.ts';
import { count } from './state-schema.ts';
import {
  cachedSegment,
  cacheSegment,
  checkEntries,
  decodeSegment,
  encodeSegment,
  type SegmentEntries,
  type SegmentFields,
  type SegmentIdentity,
} from './state-segments.ts';
import { prettify } from './zod-errors.ts';

/** How node state is laid out in the store. */
export interface StateLayout {
  /**
   * `whole` (format 1: everything in one object), `lean` (hot document + segments + chunks), or `auto` (the
   * default): lean from `leanFromPages` on, whole below (docs/cloud-runtime.md, "State layout").
   */
  kind: 'auto' | 'lean' | 'whole';
  /** Guest size from which `auto` is lean, pages; default 262 144 (1 GiB). */
  leanFromPages: number;
  /** Pages per chunk, a positive multiple of 64 (a region of the adaptive policy); default 32 768 (128 MiB). */
  chunkPages: number;
  /** Changed array elements the hot document carries before they are spilled as a segment; default 8 192. */
  overlayEntries: number;
  /** Live segment elements past which saves fold chunks, count; default 1 048 576 (≈ 4–8 MiB of segments). */
  segmentEntries: number;
  /** Segments of one level merged into one of the next level, count (≥ 2); default 8. */
  segmentFanout: number;
  /** Most chunks one save rewrites (folds), count; default 1. */
  foldsPerSave: number;
  /** How long a replaced object is kept for readers of older documents, ms; default 900 000 (a Lambda timeout). */
  retireGraceMs: number;
  /** Most replaced objects the hot document lists; past it the oldest are deleted at once; default 256. */
  maxRetired: number;
}

/**
 * The default layout: `auto` (lean from 1 GiB), 128 MiB chunks, up to 8 192 overlay entries (≈ 64 KiB), merges
 * of 8 segments, folds of at most one chunk per save past 1 Mi live segment elements.
 */
export const DEFAULT_STATE_LAYOUT: StateLayout = {
  kind: 'auto',
  leanFromPages: 262_144,
  chunkPages: 32_768,
  overlayEntries: 8192,
  segmentEntries: 1_048_576,
  segmentFanout: 8,
  foldsPerSave: 1,
  retireGraceMs: 15 * 60_000,
  maxRetired: 256,
};

/** Bytes of one SHA-256. */
const HASH_BYTES = 32;
/** Times a load starts over when a named object is gone because the document moved on. */
const LOAD_ATTEMPTS = 4;

/** What a node contributes: its role, its paged arrays and its state check. */
export interface NodeStateSpec<S> {
  /** Which node. */
  node: NodeRole;
  /** Its paged arrays. */
  fields: readonly PagedField[];
  /** Validates a decoded tree as this node's state of `pages` pages. @throws StateDocumentError */
  check(tree: unknown, pages: number, what: string): S;
}

/** A chunk named by a hot document. */
interface ChunkRef {
  /** Revision of the save that wrote it. */
  revision: number;
  /** SHA-256 of its bytes, hex. */
  sha256: string;
}

/** A segment named by a hot document (its entries' indices kept for compaction). */
interface LiveSegment {
  /** Revision of the save that wrote it. */
  revision: number;
  /** SHA-256 of its bytes, hex. */
  sha256: string;
  /** Compaction level. */
  level: number;
  /** Elements in it, count. */
  entries: number;
  /** Its element indices by field name. */
  at: ReadonlyMap<string, Uint32Array>;
  /** Its elements per chunk (so compaction decisions cost O(segments × chunks), not O(elements)). */
  perChunk: Uint32Array;
}

/** Elements per chunk of `chunkPages` pages, over `n` chunks, of entries `at` by field name. */
function histogram(
  fields: readonly PagedField[],
  at: ReadonlyMap<string, Uint32Array>,
  chunkPages: number,
  n: number,
): Uint32Array {
  const h = new Uint32Array(n);
  for (const f of fields) {
    const per = chunkPages / pagesPerElement(f.unit);
    const list = at.get(f.name);
    if (!list) continue;
    for (let k = 0; k < list.length; k++) {
      const c = Math.floor((list[k] as number) / per);
      h[c] = (h[c] as number) + 1;
    }
  }
  return h;
}

/** What chunks and segments hold: the arrays a save diffs against. */
interface Base {
  chunkPages: number;
  /** Per chunk: its reference, or undefined when nothing is stored (all zeros). */
  refs: (ChunkRef | undefined)[];
  /** Segments in the order they apply. */
  segments: LiveSegment[];
  /** The arrays chunks and segments hold (overlay not applied); undefined: all zeros (not built yet). */
  arrays: Map<string, PagedArray> | undefined;
  /** Replaced objects waiting for their grace period. */
  retired: { key: string; at: number }[];
}

/** A loaded (or new) node document and what its next save needs. */
export interface StoredNode<S> {
  /** The document (its state is the engine's to change). */
  doc: NodeDocument<S>;
  /** Version tag for the compare-and-swap; undefined when nothing is stored yet. */
  etag: string | undefined;
  /** @internal */
  base: Base;
  /** @internal The hot bytes as stored (a save that would write the same is skipped). */
  stored: Uint8Array | undefined;
}

/** What one save did. */
export interface SaveReport {
  /** False when nothing had changed: nothing was written. */
  saved: boolean;
  /** Chunks written (folded), count. */
  chunksWritten: number;
  /** Elements in the segment written (0: none written), count. */
  segmentEntries: number;
  /** Overlay entries the hot document carries. */
  overlay: number;
  /** Segments the hot document names after the save, count. */
  segments: number;
}

/** An overlay of one array: ascending element indices as gaps (first index, then differences: deflates well), values. */
const overlaySchema = z.strictObject({ gaps: z.instanceof(Uint32Array), values: z.instanceof(Uint32Array) });
const segmentRefSchema = z.strictObject({
  revision: count.min(1),
  sha256: z.string().regex(/^[0-9a-f]{64}$/),
  level: z.int().min(0).max(32),
  entries: count,
});
const pagedSchema = z.strictObject({
  chunkPages: z.int().min(64).multipleOf(64),
  revisions: z.instanceof(Uint32Array),
  hashes: z.instanceof(Uint8Array),
  segments: z.array(segmentRefSchema).max(4096).optional(),
  overlay: z.record(z.string(), overlaySchema),
  retired: z.array(z.strictObject({ key: z.string().min(1), at: z.number() })).max(1_000_000),
});
const hotSchema = z.strictObject({
  format: z.literal(LEAN_DOCUMENT_FORMAT),
  ...documentShellFields,
  paged: pagedSchema,
});
const formatOnly = z.looseObject({ format: count });

function kindOf(node: NodeRole) {
  return node === 'primary' ? 'primary-document' : 'secondary-document';
}

function hex(hashes: Uint8Array, i: number): string {
  return Buffer.from(hashes.buffer, hashes.byteOffset + i * HASH_BYTES, HASH_BYTES).toString('hex');
}

function equalBytes(a: Uint8Array | undefined, b: Uint8Array): boolean {
  return a !== undefined && a.byteLength === b.byteLength && Buffer.compare(a, b) === 0;
}

function bytesOf(a: PagedArray): Uint8Array {
  return new Uint8Array(a.buffer, a.byteOffset, a.byteLength);
}

/** Elements where `cur` differs from `old`, ascending (blocks compared as bytes first: most are equal). */
function diffIndices(cur: PagedArray, old: PagedArray): Uint32Array {
  const block = 1024;
  const width = cur.BYTES_PER_ELEMENT;
  const cb = bytesOf(cur);
  const ob = bytesOf(old);
  const out: number[] = [];
  for (let a = 0; a < cur.length; a += block) {
    const b = Math.min(cur.length, a + block);
    if (Buffer.compare(cb.subarray(a * width, b * width), ob.subarray(a * width, b * width)) === 0) continue;
    for (let k = a; k < b; k++) if (cur[k] !== old[k]) out.push(k);
  }
  return Uint32Array.from(out);
}

/** A named object that is not stored (the load may start over if the document moved on). */
class MissingObjectError extends StateDocumentError {}

/** Options of {@link NodeStateStore}. */
export interface NodeStateStoreOptions {
  /** Layout to write; default {@link DEFAULT_STATE_LAYOUT}. Either format is read. */
  layout?: Partial<StateLayout>;
  /** Decoded-chunk cache; default the warm container's {@link WARM_CHUNK_CACHE}. */
  cache?: ChunkCache;
  /** Chunks fetched or stored at once; default 8. */
  concurrency?: number;
}

function checkLayout(l: StateLayout): void {
  const int = (name: keyof StateLayout, min: number) => {
    const v = l[name] as number;
    if (!Number.isSafeInteger(v) || v < min)
      throw new RangeError(`${name} ${v}: must be an integer ≥ ${min}`);
  };
  if (!Number.isSafeInteger(l.chunkPages) || l.chunkPages < 64 || l.chunkPages % 64) {
    throw new RangeError(`chunkPages ${l.chunkPages}: must be a positive multiple of 64`);
  }
  int('overlayEntries', 0);
  int('segmentEntries', 0);
  int('segmentFanout', 2);
  int('foldsPerSave', 0);
  int('maxRetired', 0);
  if (!(l.retireGraceMs >= 0)) throw new RangeError(`retireGraceMs ${l.retireGraceMs}: must be ≥ 0`);
}

/** Loads and saves one node's document in the lean layout (or the whole one) over a {@link StateStore}. */
export class NodeStateStore<S extends object> {
  /** The hot document's key. */
  readonly key: string;
  /** The layout saves write (`auto` resolved to `lean` or `whole`). */
  readonly layout: StateLayout;
  readonly #cache: ChunkCache;
  readonly #concurrency: number;
  readonly #pages: number;

  /** A store for `spec`'s node of the VM `params` names. */
  constructor(
    readonly store: StateStore,
    readonly spec: NodeStateSpec<S>,
    readonly params: ColoParams,
    pages: number,
    options: NodeStateStoreOptions = {},
  ) {
    this.key = nodeStateKey(params.vmId, spec.node);
    const layout = { ...DEFAULT_STATE_LAYOUT, ...options.layout };
    if (layout.kind === 'auto') layout.kind = pages >= layout.leanFromPages ? 'lean' : 'whole';
    checkLayout(layout);
    this.layout = layout;
    this.#cache = options.cache ?? WARM_CHUNK_CACHE;
    this.#concurrency = Math.max(1, options.concurrency ?? 8);
    this.#pages = pages;
  }

  #identity(index: number, chunkPages: number, createdAt: number): ChunkIdentity {
    return {
      vmId: this.params.vmId,
      node: this.spec.node,
      index,
      chunkPages,
      pages: this.#pages,
      createdAt,
      fields: this.spec.fields,
    };
  }

  #segmentIdentity(revision: number, level: number, createdAt: number): SegmentIdentity {
    return {
      vmId: this.params.vmId,
      node: this.spec.node,
      revision,
      level,
      pages: this.#pages,
      createdAt,
      fields: this.spec.fields,
    };
  }

  #zeros(): Map<string, PagedArray> {
    return new Map(
      this.spec.fields.map((f) => {
        const n = elementCount(f.unit, this.#pages);
        return [f.name, f.unit === 'bit' ? new Uint8Array(n) : new Uint32Array(n)] as const;
      }),
    );
  }

  /** A stored-node wrapper around a document that is not stored yet. */
  fresh(doc: NodeDocument<S>): StoredNode<S> {
    const n = chunkCount(this.#pages, this.layout.chunkPages);
    return {
      doc,
      etag: undefined,
      base: {
        chunkPages: this.layout.chunkPages,
        refs: new Array(n),
        segments: [],
        arrays: undefined,
        retired: [],
      },
      stored: undefined,
    };
  }

  /**
   * Loads the node's document (either format), or undefined when there is none. Chunks and segments come
   * from the cache when it holds their hash, else from the store, checked against the hash the hot document
   * gives. A named object that is gone makes the load read the hot document again and start over if it
   * changed (a later save retired the object); if it did not, the document is broken.
   *
   * @param decodeWhole - Decodes a format-1 document (the node's own decoder).
   * @throws StateDocumentError for a corrupt or foreign document, a missing chunk or segment or one with other
   *   bytes; whatever the store throws (a failed read changes nothing).
   */
  async load(
    decodeWhole: (bytes: Uint8Array, params: ColoParams, what: string) => NodeDocument<S>,
  ): Promise<StoredNode<S> | undefined> {
    for (let attempt = 1; ; attempt++) {
      const loaded = await this.store.load(this.key);
      if (!loaded) return undefined;
      try {
        return await this.#loadFrom(loaded, decodeWhole);
      } catch (e) {
        if (!(e instanceof MissingObjectError) || attempt >= LOAD_ATTEMPTS) throw e;
        const again = await this.store.load(this.key);
        if (again?.etag === loaded.etag) throw e;
      }
    }
  }

  async #loadFrom(
    loaded: { value: Uint8Array; etag: string },
    decodeWhole: (bytes: Uint8Array, params: ColoParams, what: string) => NodeDocument<S>,
  ): Promise<StoredNode<S>> {
    const what = this.key;
    const tree = decodeContainer(loaded.value, kindOf(this.spec.node), what);
    const format = formatOnly.safeParse(tree);
    if (format.success && format.data.format === DOCUMENT_FORMAT) {
      const stored = this.fresh(decodeWhole(loaded.value, this.params, what));
      stored.etag = loaded.etag;
      stored.stored = loaded.value;
      return stored;
    }
    if (!format.success || format.data.format !== LEAN_DOCUMENT_FORMAT) {
      const found = format.success ? `format ${format.data.format}` : 'no format number';
      throw new StateDocumentError(
        `${what}: ${found}; this runtime reads formats ${DOCUMENT_FORMAT} (migrated) and ${LEAN_DOCUMENT_FORMAT}`,
      );
    }
    const r = hotSchema.safeParse(tree);
    if (!r.success) throw new StateDocumentError(`${what}: ${prettify(r.error)}`);
    const d = r.data;
    const pages = checkDocumentShell(d, this.spec.node, this.params, what);
    const { chunkPages, revisions, hashes, overlay, retired } = d.paged;
    const segmentRefs = d.paged.segments ?? [];
    const n = chunkCount(pages, chunkPages);
    if (revisions.length !== n || hashes.length !== n * HASH_BYTES) {
      throw new StateDocumentError(
        `${what}: names ${revisions.length} chunks (${hashes.length} hash bytes); a guest of ${pages} pages in chunks of ${chunkPages} needs ${n}`,
      );
    }
    const refs: (ChunkRef | undefined)[] = Array.from({ length: n }, (_, i) =>
      revisions[i] === 0 ? undefined : { revision: revisions[i] as number, sha256: hex(hashes, i) },
    );
    for (const [k, s] of segmentRefs.entries()) {
      if (s.revision > d.revision) {
        throw new StateDocumentError(
          `${what}: segment ${k} has revision ${s.revision} > the document's ${d.revision}`,
        );
      }
    }
    const arrays = this.#zeros();
    const segments: SegmentFields[] = new Array(segmentRefs.length);
    const jobs: (() => Promise<void>)[] = [
      ...refs.map((ref, i) => async () => {
        if (!ref) return;
        const c = await this.#chunk(i, ref, chunkPages, d.createdAt);
        for (const f of this.spec.fields) {
          (arrays.get(f.name) as PagedArray).set(
            c.get(f.name) as PagedArray,
            chunkSlice(f, i, chunkPages, this.#pages)[0],
          );
        }
      }),
      ...segmentRefs.map((s, k) => async () => {
        segments[k] = await this.#segment(s, d.createdAt);
      }),
    ];
    await pool(jobs, this.#concurrency, (job) => job());
    const chunkRev = (i: number) => refs[i]?.revision ?? 0;
    const live: LiveSegment[] = [];
    for (const [k, s] of segmentRefs.entries()) {
      const seg = segments[k] as SegmentFields;
      // Every chunk older than the segment (no fold since it was written): all its elements apply.
      const allOlder = refs.every((_, i) => chunkRev(i) < s.revision);
      const at = new Map<string, Uint32Array>();
      for (const f of this.spec.fields) {
        const e = seg.get(f.name) as SegmentEntries;
        const a = arrays.get(f.name) as PagedArray;
        const per = chunkPages / pagesPerElement(f.unit);
        if (allOlder) {
          for (let j = 0; j < e.at.length; j++) a[e.at[j] as number] = e.values[j] as number;
        } else {
          for (let j = 0; j < e.at.length; j++) {
            const idx = e.at[j] as number;
            // A chunk written at or after the segment already holds this element (or a later value).
            if (chunkRev(Math.floor(idx / per)) < s.revision) a[idx] = e.values[j] as number;
          }
        }
        at.set(f.name, e.at);
      }
      live.push({ ...s, at, perChunk: histogram(this.spec.fields, at, chunkPages, n) });
    }
    const base: Base = {
      chunkPages,
      refs,
      segments: live,
      arrays: new Map([...arrays].map(([k, v]) => [k, v.slice()] as const)),
      retired: retired.map((x) => ({ ...x })),
    };
    return this.#finish(d, loaded, arrays, base, overlay, pages, what);
  }

  /** Applies the overlay to `arrays`, puts them into the state and checks it. */
  #finish(
    d: z.infer<typeof hotSchema>,
    loaded: { value: Uint8Array; etag: string },
    arrays: Map<string, PagedArray>,
    base: Base,
    overlay: Record<string, { gaps: Uint32Array; values: Uint32Array }>,
    pages: number,
    what: string,
  ): StoredNode<S> {
    this.#applyOverlay(arrays, overlay, what);
    const state = d.state as Record<string, unknown> | null;
    if (typeof state !== 'object' || state === null)
      throw new StateDocumentError(`${what}: state is not an object`);
    fillPaged(state, this.spec.fields, arrays, pages);
    const checked = this.spec.check(state, pages, `${what}: state`);
    const { paged: _, ...rest } = d;
    return {
      doc: { ...(rest as unknown as NodeDocument<S>), state: checked },
      etag: loaded.etag,
      base,
      stored: loaded.value,
    };
  }

  async #chunk(index: number, ref: ChunkRef, chunkPages: number, createdAt: number) {
    const cached = this.#cache.get(ref.sha256);
    if (cached) return cached;
    const key = chunkKey(this.params.vmId, this.spec.node, index, ref.revision, ref.sha256);
    const got = await this.store.load(key);
    if (!got) {
      throw new MissingObjectError(
        `${this.key}: chunk ${index} (${key}) is missing: the document names a chunk that is not stored`,
      );
    }
    const fields = decodeChunk(got.value, ref.sha256, this.#identity(index, chunkPages, createdAt), key);
    this.#cache.set(ref.sha256, fields);
    return fields;
  }

  async #segment(
    ref: { revision: number; sha256: string; level: number; entries: number },
    createdAt: number,
  ) {
    const cached = cachedSegment(this.#cache, ref.sha256, this.spec.fields);
    if (cached) return cached;
    const key = segmentKey(this.params.vmId, this.spec.node, ref.revision, ref.sha256);
    const got = await this.store.load(key);
    if (!got) {
      throw new MissingObjectError(
        `${this.key}: segment ${key} is missing: the document names a segment that is not stored`,
      );
    }
    const fields = decodeSegment(
      got.value,
      ref.sha256,
      this.#segmentIdentity(ref.revision, ref.level, createdAt),
      key,
    );
    let entries = 0;
    for (const e of fields.values()) entries += e.at.length;
    if (entries !== ref.entries) {
      throw new StateDocumentError(`${key}: holds ${entries} elements; the document says ${ref.entries}`);
    }
    cacheSegment(this.#cache, ref.sha256, fields);
    return fields;
  }

  #applyOverlay(
    arrays: Map<string, PagedArray>,
    overlay: Record<string, { gaps: Uint32Array; values: Uint32Array }>,
    what: string,
  ): void {
    for (const name of Object.keys(overlay)) {
      if (!arrays.has(name)) throw new StateDocumentError(`${what}: overlay names unknown array ${name}`);
    }
    for (const f of this.spec.fields) {
      const o = overlay[f.name];
      const a = arrays.get(f.name) as PagedArray;
      if (!o) throw new StateDocumentError(`${what}: overlay has no entry for ${f.name}`);
      const e = checkEntries(f, o.gaps, o.values, this.#pages, `${what}: overlay`);
      for (let k = 0; k < e.at.length; k++) a[e.at[k] as number] = e.values[k] as number;
      if (f.unit === 'bit' && this.#pages % 8 !== 0) {
        const tail = (a[a.length - 1] as number) >>> (this.#pages % 8);
        if (tail !== 0)
          throw new StateDocumentError(`${what}: ${f.name} has bits set past page ${this.#pages}`);
      }
    }
  }

  /**
   * Saves `node.doc` with compare-and-swap on `node.etag` — unless it would store exactly what is stored
   * (nothing written). Lean layout: at most one segment and `foldsPerSave` chunks are written create-only
   * first, then the hot document; replaced objects past their grace period are deleted after it committed
   * (best effort). On success `node` is updated (revision, etag, base); on a conflict it is left as it was.
   *
   * @param now - Save time, ms (`updatedAt`, retirement times).
   * @throws StateConflictError when the document changed since `node` was loaded; a store error.
   */
  async save(node: StoredNode<S>, now: number): Promise<SaveReport> {
    if (this.layout.kind === 'whole') return this.#saveWhole(node, now);
    const { doc, base } = node;
    const L = this.layout;
    const fields = this.spec.fields;
    const cur = new Map(fields.map((f) => [f.name, readPaged(doc.state, f)] as const));
    const old = base.arrays ?? this.#zeros();
    const n = base.refs.length;
    const perChunk = (f: PagedField) => base.chunkPages / pagesPerElement(f.unit);
    const chunkRev = (i: number) => base.refs[i]?.revision ?? 0;
    const diff = new Map(
      fields.map(
        (f) => [f.name, diffIndices(cur.get(f.name) as PagedArray, old.get(f.name) as PagedArray)] as const,
      ),
    );
    let changed = 0;
    for (const d of diff.values()) changed += d.length;

    const entriesOf = (
      keep: (f: PagedField, idx: number) => boolean,
      from: ReadonlyMap<string, Uint32Array>,
    ) => {
      const out = new Map<string, SegmentEntries>();
      for (const f of fields) {
        const src = from.get(f.name) ?? new Uint32Array(0);
        const c = cur.get(f.name) as PagedArray;
        const at = src.filter((idx) => keep(f, idx));
        out.set(f.name, { at, values: Uint32Array.from(at, (idx) => c[idx] as number) });
      }
      return out;
    };
    const hotOf = (
      revision: number,
      updatedAt: number,
      refs: (ChunkRef | undefined)[],
      segments: readonly LiveSegment[],
      overlay: ReadonlyMap<string, SegmentEntries>,
      retired: Base['retired'],
    ) => {
      const revisions = new Uint32Array(n);
      const hashes = new Uint8Array(n * HASH_BYTES);
      for (const [i, r] of refs.entries()) {
        if (!r) continue;
        revisions[i] = r.revision;
        hashes.set(Buffer.from(r.sha256, 'hex'), i * HASH_BYTES);
      }
      const o: Record<string, { gaps: Uint32Array; values: Uint32Array }> = {};
      for (const f of fields) {
        const e = overlay.get(f.name) as SegmentEntries;
        o[f.name] = {
          gaps: Uint32Array.from(e.at, (k, j) => (j === 0 ? k : k - (e.at[j - 1] as number))),
          values: e.values,
        };
      }
      return encodeContainer(kindOf(this.spec.node), {
        ...doc,
        format: LEAN_DOCUMENT_FORMAT,
        revision,
        updatedAt,
        state: withoutPaged(doc.state, fields),
        paged: {
          chunkPages: base.chunkPages,
          revisions,
          hashes,
          segments: segments.map((s) => ({
            revision: s.revision,
            sha256: s.sha256,
            level: s.level,
            entries: s.entries,
          })),
          overlay: o,
          retired,
        },
      });
    };

    // Nothing changed: the hot document would be what is stored (the overlay is the same diff).
    if (changed <= L.overlayEntries && node.stored !== undefined) {
      const same = hotOf(
        doc.revision,
        doc.updatedAt,
        base.refs,
        base.segments,
        entriesOf(() => true, diff),
        base.retired,
      );
      if (equalBytes(node.stored, same)) {
        return {
          saved: false,
          chunksWritten: 0,
          segmentEntries: 0,
          overlay: changed,
          segments: base.segments.length,
        };
      }
    }

    const revision = doc.revision + 1;
    // Live elements per chunk (segment elements whose chunk is older than the segment, plus the diff).
    const livePerChunk = new Float64Array(n);
    let liveTotal = 0;
    for (const s of base.segments) {
      for (let c = 0; c < n; c++) {
        const k = s.perChunk[c] as number;
        if (k > 0 && chunkRev(c) < s.revision) {
          livePerChunk[c] = (livePerChunk[c] as number) + k;
          liveTotal += k;
        }
      }
    }
    for (const f of fields) {
      const per = perChunk(f);
      for (const idx of diff.get(f.name) ?? []) {
        const c = Math.floor(idx / per);
        livePerChunk[c] = (livePerChunk[c] as number) + 1;
      }
    }
    // Folds: bounded per save, only while the segments hold more than their budget.
    const fold = new Set<number>();
    if (liveTotal + changed > L.segmentEntries) {
      const order = [...livePerChunk.keys()]
        .filter((i) => (livePerChunk[i] as number) > 0)
        .sort((x, y) => (livePerChunk[y] as number) - (livePerChunk[x] as number) || x - y);
      for (const i of order.slice(0, L.foldsPerSave)) fold.add(i);
    }
    const unfolded = (f: PagedField, idx: number) => !fold.has(Math.floor(idx / perChunk(f)));
    const isLive = (s: LiveSegment) => (f: PagedField, idx: number) => {
      const c = Math.floor(idx / perChunk(f));
      return !fold.has(c) && chunkRev(c) < s.revision;
    };
    // One segment at most: a merge of `segmentFanout` segments of the lowest full level (with the diff), else
    // a spill of the diff when it passes the overlay budget.
    const levels = new Map<number, LiveSegment[]>();
    for (const s of base.segments) levels.set(s.level, [...(levels.get(s.level) ?? []), s]);
    const full = [...levels]
      .filter(([, list]) => list.length >= L.segmentFanout)
      .sort((x, y) => x[0] - y[0])[0];
    const merged = new Set<LiveSegment>(full ? full[1] : []);
    let newSegment: { level: number; fields: Map<string, SegmentEntries> } | undefined;
    const pendingDiff = entriesOf(unfolded, diff);
    let pending = 0;
    for (const e of pendingDiff.values()) pending += e.at.length;
    if (full) {
      const union = new Map<string, Uint32Array>();
      for (const f of fields) {
        // Sorted union of the merged segments' live indices and the pending changes.
        const parts: Uint32Array[] = [...merged].map((s) => {
          const keep = isLive(s);
          return (s.at.get(f.name) ?? new Uint32Array(0)).filter((idx) => keep(f, idx));
        });
        parts.push(pendingDiff.get(f.name)?.at ?? new Uint32Array(0));
        const all = new Uint32Array(parts.reduce((t, p) => t + p.length, 0));
        let o = 0;
        for (const p of parts) {
          all.set(p, o);
          o += p.length;
        }
        all.sort();
        let w = 0;
        for (let k = 0; k < all.length; k++)
          if (k === 0 || all[k] !== all[k - 1]) all[w++] = all[k] as number;
        union.set(f.name, all.slice(0, w));
      }
      newSegment = { level: (full[0] as number) + 1, fields: entriesOf(() => true, union) };
    } else if (pending > L.overlayEntries) {
      newSegment = { level: 0, fields: pendingDiff };
    }
    const overlay = newSegment
      ? new Map(fields.map((f) => [f.name, { at: new Uint32Array(0), values: new Uint32Array(0) }] as const))
      : pendingDiff;

    const refs = [...base.refs];
    const retired = base.retired.filter((r) => !(r.at + L.retireGraceMs <= now));
    const expired = base.retired.filter((r) => r.at + L.retireGraceMs <= now);
    const retire = (key: string) => retired.push({ key, at: now });
    const written: { sha256: string; fields: ReadonlyMap<string, PagedArray> }[] = [];
    let segmentRef: LiveSegment | undefined;
    let segmentFields: SegmentFields | undefined;
    const jobs: (() => Promise<void>)[] = [...fold]
      .sort((x, y) => x - y)
      .map((i) => async () => {
        const enc = encodeChunk(this.#identity(i, base.chunkPages, doc.createdAt), cur);
        const prev = base.refs[i];
        // Written even when its bytes equal the stored chunk's: the new revision is what marks the segments'
        // elements in this range as folded (a range changed and changed back would otherwise stay live forever).
        await putCreateOnly(
          this.store,
          chunkKey(this.params.vmId, this.spec.node, i, revision, enc.sha256),
          enc.bytes,
        );
        refs[i] = { revision, sha256: enc.sha256 };
        written.push(enc);
        if (prev) retire(chunkKey(this.params.vmId, this.spec.node, i, prev.revision, prev.sha256));
      });
    if (newSegment) {
      const { level, fields: segFields } = newSegment;
      jobs.push(async () => {
        const enc = encodeSegment(this.#segmentIdentity(revision, level, doc.createdAt), segFields);
        await putCreateOnly(
          this.store,
          segmentKey(this.params.vmId, this.spec.node, revision, enc.sha256),
          enc.bytes,
        );
        segmentFields = segFields;
        const at = new Map([...segFields].map(([k, e]) => [k, e.at] as const));
        segmentRef = {
          revision,
          sha256: enc.sha256,
          level,
          entries: enc.entries,
          at,
          perChunk: histogram(fields, at, base.chunkPages, n),
        };
      });
    }
    await pool(jobs, this.#concurrency, (job) => job());
    const foldedNow = fold;
    const revAfter = (i: number) => refs[i]?.revision ?? 0;
    const segments: LiveSegment[] = [];
    for (const s of base.segments) {
      const key = segmentKey(this.params.vmId, this.spec.node, s.revision, s.sha256);
      if (merged.has(s)) {
        retire(key);
        continue;
      }
      // Dead when every element's chunk was written at or after it.
      let alive = false;
      for (let c = 0; c < n && !alive; c++) alive = (s.perChunk[c] as number) > 0 && revAfter(c) < s.revision;
      if (alive) segments.push(s);
      else retire(key);
    }
    if (segmentRef) segments.push(segmentRef);
    retired.sort((x, y) => x.at - y.at || (x.key < y.key ? -1 : 1));
    const overflow = retired.length > L.maxRetired ? retired.splice(0, retired.length - L.maxRetired) : [];
    const bytes = hotOf(revision, now, refs, segments, overlay, retired);
    node.etag = await this.store.save(this.key, bytes, node.etag);

    // Committed: the base now holds what chunks and segments hold.
    const arrays = base.arrays ?? old;
    for (const f of fields) {
      const a = arrays.get(f.name) as PagedArray;
      const c = cur.get(f.name) as PagedArray;
      for (const i of foldedNow) {
        const [lo, hi] = chunkSlice(f, i, base.chunkPages, this.#pages);
        a.set(c.subarray(lo, hi), lo);
      }
      for (const idx of segmentFields?.get(f.name)?.at ?? []) a[idx] = c[idx] as number;
    }
    doc.revision = revision;
    doc.updatedAt = now;
    doc.format = LEAN_DOCUMENT_FORMAT;
    node.stored = bytes;
    node.base = { chunkPages: base.chunkPages, refs, segments, arrays, retired };
    for (const w of written) this.#cache.set(w.sha256, w.fields);
    if (segmentRef && segmentFields) cacheSegment(this.#cache, segmentRef.sha256, segmentFields);
    if (this.store.delete) {
      const live = new Set([
        ...refs.map((r, i) => (r ? chunkKey(this.params.vmId, this.spec.node, i, r.revision, r.sha256) : '')),
        ...segments.map((s) => segmentKey(this.params.vmId, this.spec.node, s.revision, s.sha256)),
      ]);
      for (const r of [...expired, ...overflow]) {
        if (live.has(r.key)) continue;
        // Best effort: an object not deleted now is unreferenced, and the sweep (chunk-sweep.ts) finds it.
        await this.store.delete(r.key).catch(() => undefined);
      }
    }
    return {
      saved: true,
      chunksWritten: written.length,
      segmentEntries: segmentRef?.entries ?? 0,
      overlay: newSegment ? 0 : pending,
      segments: segments.length,
    };
  }

  async #saveWhole(node: StoredNode<S>, now: number): Promise<SaveReport> {
    const { doc } = node;
    const none = { chunksWritten: 0, segmentEntries: 0, overlay: 0, segments: 0 };
    if (equalBytes(node.stored, encodeDocument({ ...doc, format: DOCUMENT_FORMAT } as NodeDocument<never>))) {
      return { saved: false, ...none };
    }
    const next = { ...doc, format: DOCUMENT_FORMAT, revision: doc.revision + 1, updatedAt: now } as const;
    const bytes = encodeDocument(next as NodeDocument<never>);
    node.etag = await this.store.save(this.key, bytes, node.etag);
    doc.revision = next.revision;
    doc.updatedAt = now;
    doc.format = DOCUMENT_FORMAT;
    node.stored = bytes;
    return { saved: true, ...none };
  }
}

/**
 * Writes a chunk or segment create-only. One already there under that key is the same object (the key holds
 * its hash; readers check it), written by a retry or by a racing save of the same revision and content.
 */
async function putCreateOnly(store: StateStore, key: string, bytes: Uint8Array): Promise<void> {
  try {
    await store.save(key, bytes, undefined);
  } catch (e) {
    if (e instanceof Error && e.name === 'StateConflictError') return;
    throw e;
  }
}
