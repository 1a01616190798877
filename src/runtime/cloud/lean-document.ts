/**
 * The lean state layout: a node's document is a small **hot document** (engine scalars, phase, sequence
 * numbers, outbox, wake time, … — format 2) plus its page arrays in **chunks** of `chunkPages` pages, each an
 * immutable object named in the hot document by revision and SHA-256 (state-chunks.ts). Changes since the
 * chunks were written ride in the hot document as a sparse **overlay**; when the overlay passes
 * `overlayEntries`, the chunks with most changes are rewritten (folded). So a save costs the hot document plus
 * O(changed pages), never O(guest).
 *
 * Atomicity: the hot document's compare-and-swap is the only commit point. New chunks are written
 * create-only, under keys no committed document names yet, **before** the hot document that names them; a
 * crash or a lost race leaves only unreferenced chunks (swept by chunk-sweep.ts). A chunk replaced by a fold
 * is listed in the hot document as retired and deleted by a later save once `retireGraceMs` has passed (a
 * reader that loaded the older document may still be fetching it).
 *
 * A whole (format 1) document is still read: its first save writes every chunk and a hot document
 * (migration). Layout `whole` keeps writing format 1 (the old layout, for comparisons).
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
import { chunkKey, type NodeRole, nodeStateKey } from './keys.ts';
import {
  elementCount,
  fillPaged,
  type PagedArray,
  type PagedField,
  readPaged,
  withoutPaged,
} from './paged-fields.ts';
import {
  type ChunkCache,
  type ChunkFields,
  type ChunkIdentity,
  chunkCount,
  chunkSlice,
  decodeChunk,
  encodeChunk,
  WARM_CHUNK_CACHE,
} from './state-chunks.ts';
import { count } from './state-schema.ts';
import { prettify } from './zod-errors.ts';

/** How node state is laid out in the store. */
export interface StateLayout {
  /**
   * `whole` (format 1: everything in one object; the default), `lean` (hot document + chunks), or `auto`:
   * lean from `leanFromPages` on, whole below. Whole stays the default until the lean layout's folds are
   * cheaper than its saved bytes: measured, a guest whose writes are spread over every chunk folds many
   * chunks per save (docs/cloud-runtime.md, "State layout").
   */
  kind: 'auto' | 'lean' | 'whole';
  /** Guest size from which `auto` is lean, pages; default 262 144 (1 GiB). */
  leanFromPages: number;
  /** Pages per chunk, a positive multiple of 64 (a region of the adaptive policy); default 32 768 (128 MiB). */
  chunkPages: number;
  /** Changed array elements the hot document carries before chunks are rewritten; default 8 192. */
  overlayEntries: number;
  /** How long a replaced chunk is kept for readers of older documents, ms; default 900 000 (a Lambda timeout). */
  retireGraceMs: number;
}

/** The default layout: whole; lean (when chosen) in 128 MiB chunks with up to 8 192 overlay entries (≈ 64 KiB). */
export const DEFAULT_STATE_LAYOUT: StateLayout = {
  kind: 'whole',
  leanFromPages: 262_144,
  chunkPages: 32_768,
  overlayEntries: 8192,
  retireGraceMs: 15 * 60_000,
};

/** Bytes of one SHA-256. */
const HASH_BYTES = 32;

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

/** The chunks a loaded document stands on. */
interface Base {
  chunkPages: number;
  /** Per chunk: its reference, or undefined when none is stored yet (a new or migrated document). */
  refs: (ChunkRef | undefined)[];
  /** Per chunk: its arrays (held for the diff at the next save). */
  chunks: (ChunkFields | undefined)[];
  /** Replaced chunks waiting for their grace period. */
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
  /** Overlay entries the hot document carries. */
  overlay: number;
}

/** An overlay of one array: ascending element indices as gaps (first index, then differences: deflates well), values. */
const overlaySchema = z.strictObject({ gaps: z.instanceof(Uint32Array), values: z.instanceof(Uint32Array) });
const pagedSchema = z.strictObject({
  chunkPages: z.int().min(64).multipleOf(64),
  revisions: z.instanceof(Uint32Array),
  hashes: z.instanceof(Uint8Array),
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

/** Runs `f` over `items` with at most `limit` at a time. */
async function pool<T>(items: readonly T[], limit: number, f: (item: T) => Promise<void>): Promise<void> {
  let next = 0;
  const worker = async (): Promise<void> => {
    while (next < items.length) await f(items[next++] as T);
  };
  await Promise.all(Array.from({ length: Math.min(limit, items.length) }, worker));
}

/** Options of {@link NodeStateStore}. */
export interface NodeStateStoreOptions {
  /** Layout to write; default {@link DEFAULT_STATE_LAYOUT}. Either format is read. */
  layout?: Partial<StateLayout>;
  /** Decoded-chunk cache; default the warm container's {@link WARM_CHUNK_CACHE}. */
  cache?: ChunkCache;
  /** Chunks fetched or stored at once; default 8. */
  concurrency?: number;
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
    this.layout = layout;
    if (
      !Number.isSafeInteger(this.layout.chunkPages) ||
      this.layout.chunkPages < 64 ||
      this.layout.chunkPages % 64
    ) {
      throw new RangeError(`chunkPages ${this.layout.chunkPages}: must be a positive multiple of 64`);
    }
    if (!Number.isSafeInteger(this.layout.overlayEntries) || this.layout.overlayEntries < 0) {
      throw new RangeError(`overlayEntries ${this.layout.overlayEntries}: must be a non-negative integer`);
    }
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

  /** A stored-node wrapper around a document that is not stored yet. */
  fresh(doc: NodeDocument<S>): StoredNode<S> {
    const n = chunkCount(this.#pages, this.layout.chunkPages);
    return {
      doc,
      etag: undefined,
      base: { chunkPages: this.layout.chunkPages, refs: new Array(n), chunks: new Array(n), retired: [] },
      stored: undefined,
    };
  }

  /**
   * Loads the node's document (either format), or undefined when there is none. Chunks come from the cache
   * when it holds their hash, else from the store, checked against the hash the hot document gives.
   *
   * @param decodeWhole - Decodes a format-1 document (the node's own decoder).
   * @throws StateDocumentError for a corrupt or foreign document, a missing chunk or one with other bytes;
   *   whatever the store throws (a failed read changes nothing).
   */
  async load(
    decodeWhole: (bytes: Uint8Array, params: ColoParams, what: string) => NodeDocument<S>,
  ): Promise<StoredNode<S> | undefined> {
    const loaded = await this.store.load(this.key);
    if (!loaded) return undefined;
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
    const n = chunkCount(pages, chunkPages);
    if (revisions.length !== n || hashes.length !== n * HASH_BYTES) {
      throw new StateDocumentError(
        `${what}: names ${revisions.length} chunks (${hashes.length} hash bytes); a guest of ${pages} pages in chunks of ${chunkPages} needs ${n}`,
      );
    }
    const refs: ChunkRef[] = Array.from({ length: n }, (_, i) => ({
      revision: revisions[i] as number,
      sha256: hex(hashes, i),
    }));
    const chunks: ChunkFields[] = new Array(n);
    await pool(
      refs.map((ref, i) => ({ ref, i })),
      this.#concurrency,
      async ({ ref, i }) => {
        chunks[i] = await this.#chunk(i, ref, chunkPages, d.createdAt);
      },
    );
    const arrays = this.#assemble(chunks, chunkPages);
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
      base: { chunkPages, refs, chunks, retired: retired.map((x) => ({ ...x })) },
      stored: loaded.value,
    };
  }

  async #chunk(index: number, ref: ChunkRef, chunkPages: number, createdAt: number): Promise<ChunkFields> {
    const cached = this.#cache.get(ref.sha256);
    if (cached) return cached;
    const key = chunkKey(this.params.vmId, this.spec.node, index, ref.revision, ref.sha256);
    const got = await this.store.load(key);
    if (!got) {
      throw new StateDocumentError(
        `${this.key}: chunk ${index} (${key}) is missing: the document names a chunk that is not stored`,
      );
    }
    const fields = decodeChunk(got.value, ref.sha256, this.#identity(index, chunkPages, createdAt), key);
    this.#cache.set(ref.sha256, fields);
    return fields;
  }

  #assemble(chunks: readonly ChunkFields[], chunkPages: number): Map<string, PagedArray> {
    const arrays = new Map<string, PagedArray>();
    for (const f of this.spec.fields) {
      const length = elementCount(f.unit, this.#pages);
      const a = f.unit === 'bit' ? new Uint8Array(length) : new Uint32Array(length);
      for (const [i, c] of chunks.entries()) {
        a.set(c.get(f.name) as PagedArray, chunkSlice(f, i, chunkPages, this.#pages)[0]);
      }
      arrays.set(f.name, a);
    }
    return arrays;
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
      if (o.gaps.length !== o.values.length) {
        throw new StateDocumentError(
          `${what}: overlay ${f.name} has ${o.gaps.length} indices, ${o.values.length} values`,
        );
      }
      let last = -1;
      for (let k = 0; k < o.gaps.length; k++) {
        const gap = o.gaps[k] as number;
        const i = k === 0 ? gap : last + gap;
        const v = o.values[k] as number;
        if ((k > 0 && gap === 0) || i >= a.length) {
          throw new StateDocumentError(
            `${what}: overlay ${f.name} index ${i} is out of order or past ${a.length}`,
          );
        }
        if (f.unit === 'bit' && v > 255)
          throw new StateDocumentError(`${what}: overlay ${f.name} byte ${v} > 255`);
        a[i] = v;
        last = i;
      }
      if (f.unit === 'bit' && this.#pages % 8 !== 0) {
        const tail = (a[a.length - 1] as number) >>> (this.#pages % 8);
        if (tail !== 0)
          throw new StateDocumentError(`${what}: ${f.name} has bits set past page ${this.#pages}`);
      }
    }
  }

  /**
   * Saves `node.doc` with compare-and-swap on `node.etag` — unless it would store exactly what is stored
   * (nothing written). Lean layout: folded chunks are written create-only first, then the hot document;
   * replaced chunks past their grace period are deleted after it committed (best effort).
   * On success `node` is updated (revision, etag, base); on a conflict it is left as it was.
   *
   * @param now - Save time, ms (`updatedAt`, retirement times).
   * @throws StateConflictError when the document changed since `node` was loaded; a store error.
   */
  async save(node: StoredNode<S>, now: number): Promise<SaveReport> {
    if (this.layout.kind === 'whole') return this.#saveWhole(node, now);
    const { doc, base } = node;
    const arrays = new Map(this.spec.fields.map((f) => [f.name, readPaged(doc.state, f)] as const));
    const n = base.refs.length;
    // Changed elements per chunk, against the chunks the document stands on.
    const diffs: { field: string; at: number[] }[][] = [];
    const counts: number[] = [];
    const fold = new Set<number>();
    for (let i = 0; i < n; i++) {
      const c = base.chunks[i];
      const perField: { field: string; at: number[] }[] = [];
      let total = 0;
      if (c === undefined) fold.add(i);
      else {
        for (const f of this.spec.fields) {
          const [a, b] = chunkSlice(f, i, base.chunkPages, this.#pages);
          const cur = arrays.get(f.name) as PagedArray;
          const old = c.get(f.name) as PagedArray;
          const at: number[] = [];
          for (let k = a; k < b; k++) if (cur[k] !== old[k - a]) at.push(k);
          perField.push({ field: f.name, at });
          total += at.length;
        }
      }
      diffs.push(perField);
      counts.push(total);
    }
    let overlayTotal = counts.reduce((s, c, i) => s + (fold.has(i) ? 0 : c), 0);
    if (overlayTotal > this.layout.overlayEntries) {
      // Fold the chunks with most changes until half the budget is left: hot ranges fold often, a change
      // spread thin waits in the overlay.
      const order = [...counts.keys()]
        .filter((i) => !fold.has(i))
        .sort((x, y) => (counts[y] as number) - (counts[x] as number));
      for (const i of order) {
        if (overlayTotal <= this.layout.overlayEntries / 2) break;
        fold.add(i);
        overlayTotal -= counts[i] as number;
      }
    }
    const overlay: Record<string, { gaps: Uint32Array; values: Uint32Array }> = {};
    for (const f of this.spec.fields) {
      const at: number[] = [];
      for (let i = 0; i < n; i++) {
        if (fold.has(i)) continue;
        for (const d of diffs[i] as { field: string; at: number[] }[])
          if (d.field === f.name) at.push(...d.at);
      }
      const cur = arrays.get(f.name) as PagedArray;
      overlay[f.name] = {
        gaps: Uint32Array.from(at, (k, j) => (j === 0 ? k : k - (at[j - 1] as number))),
        values: Uint32Array.from(at, (k) => cur[k] as number),
      };
    }
    const hotOf = (
      revision: number,
      updatedAt: number,
      refs: (ChunkRef | undefined)[],
      retired: Base['retired'],
    ) => {
      const revisions = new Uint32Array(n);
      const hashes = new Uint8Array(n * HASH_BYTES);
      for (const [i, r] of refs.entries()) {
        if (!r) continue;
        revisions[i] = r.revision;
        hashes.set(Buffer.from(r.sha256, 'hex'), i * HASH_BYTES);
      }
      return encodeContainer(kindOf(this.spec.node), {
        ...doc,
        format: LEAN_DOCUMENT_FORMAT,
        revision,
        updatedAt,
        state: withoutPaged(doc.state, this.spec.fields),
        paged: { chunkPages: base.chunkPages, revisions, hashes, overlay, retired },
      });
    };
    if (
      fold.size === 0 &&
      equalBytes(node.stored, hotOf(doc.revision, doc.updatedAt, base.refs, base.retired))
    ) {
      return { saved: false, chunksWritten: 0, overlay: overlayTotal };
    }
    const revision = doc.revision + 1;
    const refs = [...base.refs];
    const chunks = [...base.chunks];
    const retired = base.retired.filter((r) => !(r.at + this.layout.retireGraceMs <= now));
    const expired = base.retired.filter((r) => r.at + this.layout.retireGraceMs <= now);
    const written: { sha256: string; fields: ChunkFields }[] = [];
    await pool(
      [...fold].sort((x, y) => x - y),
      this.#concurrency,
      async (i) => {
        const enc = encodeChunk(this.#identity(i, base.chunkPages, doc.createdAt), arrays);
        const old = base.refs[i];
        if (old?.sha256 === enc.sha256) return; // the range is back to what is stored
        const key = chunkKey(this.params.vmId, this.spec.node, i, revision, enc.sha256);
        await putCreateOnly(this.store, key, enc.bytes);
        refs[i] = { revision, sha256: enc.sha256 };
        chunks[i] = enc.fields;
        written.push(enc);
        if (old)
          retired.push({
            key: chunkKey(this.params.vmId, this.spec.node, i, old.revision, old.sha256),
            at: now,
          });
      },
    );
    retired.sort((x, y) => x.at - y.at || (x.key < y.key ? -1 : 1));
    const bytes = hotOf(revision, now, refs, retired);
    node.etag = await this.store.save(this.key, bytes, node.etag);
    doc.revision = revision;
    doc.updatedAt = now;
    doc.format = LEAN_DOCUMENT_FORMAT;
    node.stored = bytes;
    node.base = { chunkPages: base.chunkPages, refs, chunks, retired };
    for (const w of written) this.#cache.set(w.sha256, w.fields);
    if (this.store.delete) {
      const live = new Set(
        refs.map((r, i) => (r ? chunkKey(this.params.vmId, this.spec.node, i, r.revision, r.sha256) : '')),
      );
      for (const r of expired) {
        if (live.has(r.key)) continue;
        // Best effort: a chunk not deleted now is unreferenced, and the sweep (chunk-sweep.ts) finds it.
        await this.store.delete(r.key).catch(() => undefined);
      }
    }
    return { saved: true, chunksWritten: written.length, overlay: overlayTotal };
  }

  async #saveWhole(node: StoredNode<S>, now: number): Promise<SaveReport> {
    const { doc } = node;
    if (equalBytes(node.stored, encodeDocument({ ...doc, format: DOCUMENT_FORMAT } as NodeDocument<never>))) {
      return { saved: false, chunksWritten: 0, overlay: 0 };
    }
    const next = { ...doc, format: DOCUMENT_FORMAT, revision: doc.revision + 1, updatedAt: now } as const;
    const bytes = encodeDocument(next as NodeDocument<never>);
    node.etag = await this.store.save(this.key, bytes, node.etag);
    doc.revision = next.revision;
    doc.updatedAt = now;
    doc.format = DOCUMENT_FORMAT;
    node.stored = bytes;
    return { saved: true, chunksWritten: 0, overlay: 0 };
  }
}

/**
 * Writes a chunk create-only. One already there under that key is the same chunk (the key holds its hash;
 * readers check it), written by a retry or by a racing save of the same revision and content.
 */
async function putCreateOnly(store: StateStore, key: string, bytes: Uint8Array): Promise<void> {
  try {
    await store.save(key, bytes, undefined);
  } catch (e) {
    if (e instanceof Error && e.name === 'StateConflictError') return;
    throw e;
  }
}
