/**
 * The metrics/trace log: per VM and node, a ring of `segments` JSON documents in the state store, each
 * holding up to `segmentRecords` consecutive records (segment k holds records [k·S, (k+1)·S) and lives in
 * slot k mod M). Bounded: at most M·S records per node are kept; older segments are overwritten.
 * Appends are idempotent (records are merged by number) and safe under concurrency (compare-and-swap).
 *
 * Segment document (UTF-8 JSON): `{ "v": 1, "vmId", "node", "segment": k, "records": [LogRecord…] }`;
 * non-finite numbers appear as `null`.
 */
import { z } from 'zod';
import { StateConflictError, type StateStore } from '../../engine/ports.ts';
import { CasExhaustedError } from './errors.ts';
import { logSegmentKey, type NodeRole } from './keys.ts';
import { LOG_RECORD_TYPES, type LogRecord } from './log-record.ts';

/** Shape of the log ring. */
export interface LogLayout {
  /** Records per segment (S). */
  segmentRecords: number;
  /** Segments kept (M). */
  segments: number;
}

/** Default ring: 32 segments of 128 records (4 096 records per node; about 68 minutes at one record/s). */
export const DEFAULT_LOG_LAYOUT: LogLayout = { segmentRecords: 128, segments: 32 };

/** Compare-and-swap attempts of one segment append. */
const APPEND_ATTEMPTS = 8;

const recordSchema = z.looseObject({
  n: z.int().min(0),
  at: z.number().nullable(),
  node: z.enum(['primary', 'secondary']),
  type: z.enum(LOG_RECORD_TYPES as [LogRecord['type'], ...LogRecord['type'][]]),
  data: z.record(z.string(), z.unknown()),
});

const segmentSchema = z.strictObject({
  v: z.literal(1),
  vmId: z.string(),
  node: z.enum(['primary', 'secondary']),
  segment: z.int().min(0),
  records: z.array(recordSchema),
});

/** One stored segment. */
export interface LogSegment {
  /** Format version, 1. */
  v: 1;
  /** VM id. */
  vmId: string;
  /** Node. */
  node: NodeRole;
  /** Segment number k (records [k·S, (k+1)·S)). */
  segment: number;
  /** Records, ascending by number. */
  records: LogRecord[];
}

function parseSegment(bytes: Uint8Array): LogSegment | undefined {
  try {
    const r = segmentSchema.safeParse(JSON.parse(Buffer.from(bytes).toString('utf8')));
    return r.success ? (r.data as unknown as LogSegment) : undefined;
  } catch {
    return undefined;
  }
}

function encodeSegment(s: LogSegment): Uint8Array {
  return Buffer.from(JSON.stringify(s), 'utf8');
}

/**
 * Appends numbered records to a node's log. Records already stored (same number) are skipped, so a replay
 * appends nothing twice; records of a segment that has since been overwritten by a newer one are dropped.
 *
 * @throws CasExhaustedError when a segment keeps changing under us.
 */
export async function appendLog(
  store: StateStore,
  vmId: string,
  node: NodeRole,
  records: readonly LogRecord[],
  layout: LogLayout = DEFAULT_LOG_LAYOUT,
): Promise<void> {
  const bySegment = new Map<number, LogRecord[]>();
  for (const r of records) {
    const k = Math.floor(r.n / layout.segmentRecords);
    const list = bySegment.get(k) ?? [];
    list.push(r);
    bySegment.set(k, list);
  }
  for (const [k, list] of [...bySegment].sort((a, b) => a[0] - b[0])) {
    const key = logSegmentKey(vmId, node, k % layout.segments);
    for (let attempt = 1; ; attempt++) {
      const loaded = await store.load(key);
      const stored = loaded ? parseSegment(loaded.value) : undefined;
      if (stored && stored.segment > k) break;
      const base: LogSegment =
        stored && stored.segment === k ? stored : { v: 1, vmId, node, segment: k, records: [] };
      const have = new Set(base.records.map((r) => r.n));
      const fresh = list.filter((r) => !have.has(r.n));
      if (fresh.length === 0 && stored?.segment === k) break;
      const merged = [...base.records, ...fresh].sort((a, b) => a.n - b.n);
      try {
        await store.save(key, encodeSegment({ ...base, records: merged }), loaded?.etag);
        break;
      } catch (e) {
        if (!(e instanceof StateConflictError)) throw e;
        if (attempt >= APPEND_ATTEMPTS) throw new CasExhaustedError(key, attempt, { cause: e });
      }
    }
  }
}

/** What {@link readLog} returns. */
export interface LogView {
  /** Records kept, ascending by number, from `since` on. */
  records: LogRecord[];
  /** Number the next record will have (one past the newest stored), or 0 for an empty log. */
  next: number;
}

/**
 * Reads a node's log: every slot of the ring, newest window only, records with number ≥ `since`.
 *
 * @param since - First record number wanted; default 0.
 */
export async function readLog(
  store: StateStore,
  vmId: string,
  node: NodeRole,
  since = 0,
  layout: LogLayout = DEFAULT_LOG_LAYOUT,
): Promise<LogView> {
  const slots = await Promise.all(
    Array.from({ length: layout.segments }, (_, slot) => store.load(logSegmentKey(vmId, node, slot))),
  );
  const segments = slots.flatMap((s) => {
    const seg = s ? parseSegment(s.value) : undefined;
    return seg && seg.vmId === vmId && seg.node === node ? [seg] : [];
  });
  const newest = Math.max(-1, ...segments.map((s) => s.segment));
  const all = segments
    .filter((s) => s.segment > newest - layout.segments)
    .flatMap((s) => s.records)
    .sort((a, b) => a.n - b.n);
  const last = all[all.length - 1];
  return { records: all.filter((r) => r.n >= since), next: last ? last.n + 1 : 0 };
}
