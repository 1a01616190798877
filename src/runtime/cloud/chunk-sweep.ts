/**
 * The sweep of unreferenced state chunks and segments. A save writes its chunks and segment before the hot
 * document that names them (lean-document.ts), so a crash or a lost compare-and-swap leaves objects no
 * document names; they are garbage. This lists a node's chunk and segment prefixes and deletes every object
 * that neither the hot document names nor its retired list will delete, once it is older than the grace period (a save in flight may not have
 * committed yet; a reader of an older document may still be fetching). Needs a store with `list` and
 * `delete` (the S3 state store has both); meant for a periodic caller (e.g. the minute rule).
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
  /** Unreferenced objects deleted. */
  deleted: number;
  /** Unreferenced objects kept because they are younger than the grace period. */
  young: number;
}

const refsSchema = z.looseObject({
  format: z.literal(LEAN_DOCUMENT_FORMAT),
  paged: z.looseObject({
    revisions: z.instanceof(Uint32Array),
    hashes: z.instanceof(Uint8Array),
    segments: z.array(z.looseObject({ revision: z.number(), sha256: z.string() })).optional(),
    retired: z.array(z.looseObject({ key: z.string() })),
  }),
});

/**
 * Deletes `node`'s unreferenced chunks and segments of VM `vmId` older than `graceMs` at `now`.
 *
 * @param graceMs - Minimum age of a chunk to delete, ms; default the layout's retire grace (15 min).
 * @throws StateDocumentError when the hot document cannot be read (nothing is deleted then); a store error.
 */
export async function sweepChunks(
  store: StateStore,
  vmId: string,
  node: NodeRole,
  now: number,
  graceMs = DEFAULT_STATE_LAYOUT.retireGraceMs,
): Promise<SweepReport> {
  if (!store.list || !store.delete) throw new TypeError('sweepChunks: the state store cannot list or delete');
  const listed = [
    ...(await store.list(chunkPrefix(vmId, node))),
    ...(await store.list(segmentPrefix(vmId, node))),
  ];
  // Read the document after listing: a chunk listed before its document committed is named by now.
  const keep = new Set<string>();
  const key = nodeStateKey(vmId, node);
  const hot = await store.load(key);
  if (hot) {
    const tree = decodeContainer(
      hot.value,
      node === 'primary' ? 'primary-document' : 'secondary-document',
      key,
    );
    const r = refsSchema.safeParse(tree);
    if (r.success) {
      const { revisions, hashes, retired, segments } = r.data.paged;
      for (const s of segments ?? []) keep.add(segmentKey(vmId, node, s.revision, s.sha256));
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
  const report: SweepReport = { listed: listed.length, referenced: 0, deleted: 0, young: 0 };
  for (const k of listed) {
    if (keep.has(k.key)) report.referenced++;
    else if (now - k.modifiedAt < graceMs) report.young++;
    else {
      await store.delete(k.key);
      report.deleted++;
    }
  }
  return report;
}
