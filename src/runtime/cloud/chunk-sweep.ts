/**
 * The sweep of unreferenced state chunks and segments. A save writes its chunks and segment before the hot
 * document that names them (lean-document.ts), so a crash or a lost compare-and-swap leaves objects no
 * document names; they are garbage. This lists a node's chunk and segment prefixes, reads the hot document
 * after the listing, and deletes an object only when all of these hold:
 *
 * - the document neither names it nor lists it as retired (a later save deletes those itself);
 * - its revision (in its key) is at most the document's revision. A save writes under the document's
 *   revision + 1, and a save retried after a crash writes the same keys again — create-only, so it finds
 *   the crashed save's objects there and commits a document naming them. An object of a revision the
 *   document has not reached may therefore still become live: it is never deleted (`pending`). One of a
 *   revision the document has passed can never be named again (every later document names only what its
 *   predecessor named or what its own save wrote under its own, newer revision);
 * - it is older than the grace period (a reader of an older document may still be fetching it; a reader that
 *   finds it gone starts over on the newer document anyway).
 *
 * Safe to run twice, concurrently with saves, or again after dying mid-way; deletes at most `maxDeletes`
 * objects per call (the rest wait for the next). Needs a store with `list` and `delete` (the S3 state store
 * has both).
 */
import { z } from 'zod';
import type { StateStore } from '../../engine/ports.ts';
import { decodeContainer } from './container.ts';
import { LEAN_DOCUMENT_FORMAT } from './document.ts';
import { StateDocumentError } from './errors.ts';
import { chunkKey, chunkPrefix, type NodeRole, nodeStateKey, segmentKey, segmentPrefix } from './keys.ts';
import { DEFAULT_STATE_LAYOUT } from './lean-document.ts';

/** What a sweep did. */
export interface SweepReport {
  /** Chunk and segment objects listed. */
  listed: number;
  /** Objects the document names or retires (kept). */
  referenced: number;
  /** Objects of a revision the document has not reached (kept: a save in flight or retried may name them). */
  pending: number;
  /** Keys under the prefixes that are not chunk or segment keys (kept: not the sweep's to judge). */
  unknown: number;
  /** Unreferenced objects deleted. */
  deleted: number;
  /** Unreferenced objects kept because they are younger than the grace period. */
  young: number;
  /** Unreferenced objects left for a later sweep: past `maxDeletes` this call. */
  deferred: number;
  /** Deletes that failed (the objects stay; a later sweep tries again). */
  failed: number;
  /** The first failed delete's error, if any. */
  firstError?: string;
}

const revisionSchema = z.looseObject({ revision: z.int().min(0) });

const refsSchema = z.looseObject({
  format: z.literal(LEAN_DOCUMENT_FORMAT),
  paged: z.looseObject({
    revisions: z.instanceof(Uint32Array),
    hashes: z.instanceof(Uint8Array),
    segments: z.array(z.looseObject({ revision: z.number(), sha256: z.string() })).optional(),
    retired: z.array(z.looseObject({ key: z.string() })),
  }),
});

/** `<revision>-<64 hex>.bin`: the last part of every chunk and segment key (keys.ts). */
const OBJECT_NAME = /^(\d{1,10})-[0-9a-f]{64}\.bin$/;

/**
 * The revision in a chunk or segment key under `prefix`, or undefined when `key` is no such key. A chunk key
 * has its index before the name (`<index>/<name>`), a segment key only the name.
 */
export function objectRevision(key: string, prefix: string, chunk: boolean): number | undefined {
  if (!key.startsWith(prefix)) return undefined;
  const rest = key.slice(prefix.length).split('/');
  if (rest.length !== (chunk ? 2 : 1)) return undefined;
  if (chunk && !/^\d{1,10}$/.test(rest[0] as string)) return undefined;
  const m = OBJECT_NAME.exec(rest[rest.length - 1] as string);
  return m ? Number(m[1]) : undefined;
}

/**
 * Deletes `node`'s unreferenced chunks and segments of VM `vmId` older than `graceMs` at `now` (the rules
 * above).
 *
 * @param now - Current time, ms since the Unix epoch (on the store's clock: objects' `modifiedAt`).
 * @param graceMs - Minimum age of an object to delete, ms; default the layout's retire grace (15 min).
 * @param maxDeletes - Most deletes this call (attempted, failed ones included); default unbounded.
 * @throws StateDocumentError when the hot document cannot be read (nothing is deleted then); a store error
 *   from listing or reading (nothing deleted). A failed delete is counted, not thrown.
 */
export async function sweepChunks(
  store: StateStore,
  vmId: string,
  node: NodeRole,
  now: number,
  graceMs = DEFAULT_STATE_LAYOUT.retireGraceMs,
  maxDeletes = Number.POSITIVE_INFINITY,
): Promise<SweepReport> {
  if (!store.list || !store.delete) throw new TypeError('sweepChunks: the state store cannot list or delete');
  const chunks = chunkPrefix(vmId, node);
  const segments = segmentPrefix(vmId, node);
  const listed = [
    ...(await store.list(chunks)).map((k) => ({ ...k, revision: objectRevision(k.key, chunks, true) })),
    ...(await store.list(segments)).map((k) => ({ ...k, revision: objectRevision(k.key, segments, false) })),
  ];
  // Read the document after listing: an object listed before its document committed is named by now, or
  // is of a revision beyond the document's.
  const keep = new Set<string>();
  const key = nodeStateKey(vmId, node);
  const hot = await store.load(key);
  // No document: every save to come writes revision 1 or later, so every object is pending.
  let docRevision = 0;
  if (hot) {
    const tree = decodeContainer(
      hot.value,
      node === 'primary' ? 'primary-document' : 'secondary-document',
      key,
    );
    const rev = revisionSchema.safeParse(tree);
    if (!rev.success) throw new StateDocumentError(`${key}: the document has no revision; nothing swept`);
    docRevision = rev.data.revision;
    const r = refsSchema.safeParse(tree);
    if (r.success) {
      const { revisions, hashes, retired, segments: segs } = r.data.paged;
      for (const s of segs ?? []) keep.add(segmentKey(vmId, node, s.revision, s.sha256));
      for (let i = 0; i < revisions.length; i++) {
        if (revisions[i] === 0) continue; // never written: all zeros
        const sha = Buffer.from(hashes.subarray(i * 32, i * 32 + 32)).toString('hex');
        keep.add(chunkKey(vmId, node, i, revisions[i] as number, sha));
      }
      for (const x of retired) keep.add(x.key);
    } else if ((tree as { format?: unknown } | null)?.format !== 1) {
      throw new StateDocumentError(`${key}: not a lean document; nothing swept`);
    }
  }
  const report: SweepReport = {
    listed: listed.length,
    referenced: 0,
    pending: 0,
    unknown: 0,
    deleted: 0,
    young: 0,
    deferred: 0,
    failed: 0,
  };
  let attempts = 0;
  for (const k of listed) {
    if (k.revision === undefined) report.unknown++;
    else if (keep.has(k.key)) report.referenced++;
    else if (k.revision > docRevision) report.pending++;
    else if (now - k.modifiedAt < graceMs) report.young++;
    else if (attempts >= maxDeletes) report.deferred++;
    else {
      attempts++;
      try {
        await store.delete(k.key);
        report.deleted++;
      } catch (e) {
        report.failed++;
        report.firstError ??= e instanceof Error ? e.message : String(e);
      }
    }
  }
  return report;
}
