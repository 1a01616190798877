// The lean state layout (hot document + overlay segments + page-array chunks) on in-memory ports: the same run
// as the whole layout, a bounded number of PUTs per save (hot document, ≤ 1 segment, ≤ foldsPerSave chunks),
// nothing written when nothing changed, warm reads of the hot document only, and the faults of the new path —
// a crash between the object writes and the hot save, a lost compare-and-swap after objects were written, a
// chunk read that fails or returns other bytes, a segment that is missing, a named object gone because the
// document moved on, a redelivered input after a partial save — plus migration of whole (format 1) documents
// and the sweep.
import { describe, expect, test } from 'vitest';
import { decodePrimaryDocument } from '../../../src/runtime/cloud/document.ts';
import {
  ChunkCache,
  CountingStateStore,
  chunkKey,
  DOCUMENT_FORMAT,
  decodeContainer,
  encodeContainer,
  encodeDocument,
  encodePrimaryState,
  encodeSecondaryState,
  LEAN_DOCUMENT_FORMAT,
  MemoryStateStore,
  nodeStateKey,
  primaryStateStore,
  StateDocumentError,
  type StateLayout,
  secondaryStateStore,
  segmentKey,
  sweepChunks,
} from '../../../src/runtime/cloud/index.ts';
import { testParams } from '../../helpers/engine.ts';
import { CloudPair } from './harness.ts';

/**
 * 256 pages in 4 chunks of 64; at most 16 changed elements ride in the hot document; past 32 live segment
 * elements a save folds one chunk; 3 segments of a level merge: every path (spill, merge, fold) runs often.
 */
const SMALL: Partial<StateLayout> = {
  kind: 'lean',
  chunkPages: 64,
  overlayEntries: 16,
  segmentEntries: 32,
  segmentFanout: 3,
  foldsPerSave: 1,
  retireGraceMs: 60_000,
};

function leanPair(layout: Partial<StateLayout> = SMALL, vmId = 'vm-0'): CloudPair {
  const pair = new CloudPair(testParams({ vmId }));
  pair.state.clock = pair.clock.now;
  pair.options = { sleep: pair.clock.sleep, stateLayout: layout, chunkCache: new ChunkCache(1 << 20) };
  return pair;
}

async function runFor(pair: CloudPair, ms: number): Promise<void> {
  await pair.start();
  await pair.run(ms);
}

async function states(pair: CloudPair) {
  const p = await pair.primaryDoc();
  const s = await pair.secondaryDoc();
  if (!p || !s) throw new Error('no documents');
  return { p, s, bytes: Buffer.concat([encodePrimaryState(p.state), encodeSecondaryState(s.state)]) };
}

function chunkKeys(pair: CloudPair): string[] {
  return pair.state.keys().filter((k) => k.includes('/chunk/'));
}

function segmentKeys(pair: CloudPair): string[] {
  return pair.state.keys().filter((k) => k.includes('/segment/'));
}

/** Chunks and segments: the objects a save writes before its hot document. */
function objectKeys(pair: CloudPair): string[] {
  return [...chunkKeys(pair), ...segmentKeys(pair)];
}

/** What a hot document names. */
function namedBy(pair: CloudPair, node: 'primary' | 'secondary' = 'primary') {
  const hot = decodeContainer(
    pair.state.peek(nodeStateKey('vm-0', node)) as Uint8Array,
    `${node}-document`,
    'hot',
  ) as {
    paged: {
      revisions: Uint32Array;
      hashes: Uint8Array;
      segments?: { revision: number; sha256: string; level: number }[];
      retired: { key: string }[];
    };
  };
  const { revisions, hashes, retired, segments = [] } = hot.paged;
  const chunks = [...revisions].flatMap((r, i) =>
    r === 0
      ? []
      : [
          {
            index: i,
            key: chunkKey(
              'vm-0',
              node,
              i,
              r,
              Buffer.from(hashes.subarray(i * 32, i * 32 + 32)).toString('hex'),
            ),
          },
        ],
  );
  return {
    chunks,
    segments: segments.map((x) => ({ ...x, key: segmentKey('vm-0', node, x.revision, x.sha256) })),
    live: [
      ...chunks.map((c) => c.key),
      ...segments.map((x) => segmentKey('vm-0', node, x.revision, x.sha256)),
    ],
    retired: retired.map((x) => x.key),
  };
}

describe('lean layout', () => {
  test('runs exactly as the whole layout: same states, same messages, same log', async () => {
    const lean = leanPair();
    const whole = leanPair({ kind: 'whole' });
    await runFor(lean, 5000);
    await runFor(whole, 5000);
    const a = await states(lean);
    const b = await states(whole);
    expect(a.p.state.epoch).toBeGreaterThan(2); // several checkpoints
    expect(a.bytes.equals(b.bytes)).toBe(true);
    expect(lean.p2s.history.length).toBeGreaterThan(10);
    expect(lean.p2s.history).toEqual(whole.p2s.history);
    expect(lean.s2p.history).toEqual(whole.s2p.history);
    expect(await lean.log('secondary')).toEqual(await whole.log('secondary'));
    // The lean run stored hot documents, segments and chunks; the whole run none.
    const hot = lean.state.peek(nodeStateKey('vm-0', 'primary')) as Uint8Array;
    expect(() => decodePrimaryDocument(hot, lean.params, 'hot')).toThrow(/format/);
    expect(chunkKeys(lean).length).toBeGreaterThan(4);
    expect(segmentKeys(lean).length).toBeGreaterThan(4);
    expect(objectKeys(whole)).toEqual([]);
  });

  test('a save costs the hot document, at most one segment of its changes and at most foldsPerSave chunks', async () => {
    const layout: Partial<StateLayout> = {
      kind: 'lean',
      chunkPages: 64,
      overlayEntries: 4,
      segmentEntries: 8,
      segmentFanout: 2,
      foldsPerSave: 1,
    };
    const pair = leanPair(layout);
    await runFor(pair, 1000);
    const counting = new CountingStateStore(pair.state);
    const store = primaryStateStore(counting, pair.params, { layout, cache: new ChunkCache(1 << 20) });
    const node = await store.load(decodePrimaryDocument);
    if (!node) throw new Error('no document');
    const bump = (pages: number[], by: number) => {
      for (const p of pages) node.doc.state.versions[p] = (node.doc.state.versions[p] ?? 0) + by;
    };
    // Settle what the run left into chunks first: one save that may fold every chunk.
    bump([255], 1);
    const flush = primaryStateStore(counting, pair.params, {
      layout: { ...layout, segmentEntries: 0, foldsPerSave: 4 },
      cache: new ChunkCache(1 << 20),
    });
    expect(await flush.save(node, pair.clock.now())).toMatchObject({
      segments: 0,
      overlay: 0,
    });
    const puts = () => ({
      node: counting.io.node.puts,
      chunk: counting.io.chunk.puts,
      segment: counting.io.segment.puts,
    });
    let before = puts();
    const delta = () => {
      const now = puts();
      const d = {
        node: now.node - before.node,
        chunk: now.chunk - before.chunk,
        segment: now.segment - before.segment,
      };
      before = now;
      return d;
    };
    // One page: the overlay (≤ 4) carries it: only the hot document is written.
    bump([200], 1);
    const one = await store.save(node, pair.clock.now());
    expect(one).toMatchObject({ saved: true, chunksWritten: 0, segmentEntries: 0, overlay: 1 });
    expect(delta()).toEqual({ node: 1, chunk: 0, segment: 0 });
    // 6 more pages of chunk 0: past the overlay's 4, the 7 changes leave as one segment; no chunk written.
    bump([0, 1, 2, 3, 4, 5], 7);
    const spill = await store.save(node, pair.clock.now());
    expect(spill).toMatchObject({ chunksWritten: 0, segmentEntries: 7, overlay: 0 });
    expect(delta()).toEqual({ node: 1, chunk: 0, segment: 1 });
    // 6 pages of chunk 2: live segment elements pass 8, so the chunk with most (0) is folded, and the new
    // changes leave as a second segment.
    bump([130, 131, 132, 133, 134, 135], 3);
    const folded = await store.save(node, pair.clock.now());
    expect(folded).toMatchObject({ chunksWritten: 1, segmentEntries: 6, overlay: 0 });
    expect(delta()).toEqual({ node: 1, chunk: 1, segment: 1 });
    // Two level-0 segments: the next save merges them (their live elements: pages 200 and 130–135; pages
    // 0–5 are in the folded chunk) with its own change into one level-1 segment, and retires both.
    bump([201], 1);
    const merged = await store.save(node, pair.clock.now());
    expect(merged).toMatchObject({ chunksWritten: 0, segmentEntries: 8, overlay: 0, segments: 1 });
    expect(delta()).toEqual({ node: 1, chunk: 0, segment: 1 });
    // Read back in a cold container: the same state.
    const again = await primaryStateStore(pair.state, pair.params, { cache: new ChunkCache(1 << 20) }).load(
      decodePrimaryDocument,
    );
    expect(Buffer.from(encodePrimaryState(again?.doc.state as never))).toEqual(
      Buffer.from(encodePrimaryState(node.doc.state)),
    );
  });

  test('over a run, every save writes at most one segment and foldsPerSave chunks; spills, merges and folds all happen', async () => {
    for (const foldsPerSave of [1, 2]) {
      // Segments live long enough to merge (128 live elements before folds start).
      const pair = leanPair({ ...SMALL, segmentEntries: 128, foldsPerSave });
      const hot = new Set([nodeStateKey('vm-0', 'primary'), nodeStateKey('vm-0', 'secondary')]);
      // Objects written since each node's last hot save.
      const since = { chunk: 0, segment: 0 };
      const worst = { chunk: 0, segment: 0, saves: 0, levels: new Set<number>() };
      pair.state.beforeSave = (key) => {
        if (hot.has(key)) {
          worst.chunk = Math.max(worst.chunk, since.chunk);
          worst.segment = Math.max(worst.segment, since.segment);
          worst.saves++;
          since.chunk = 0;
          since.segment = 0;
        } else if (key.includes('/chunk/')) since.chunk++;
        else if (key.includes('/segment/')) since.segment++;
      };
      await runFor(pair, 4000);
      // Every segment written is still stored (the grace period is 60 s): read their levels.
      for (const k of segmentKeys(pair)) {
        worst.levels.add(
          (decodeContainer(pair.state.peek(k) as Uint8Array, 'state-segment', k) as { level: number }).level,
        );
      }
      expect(worst.saves).toBeGreaterThan(20);
      expect(worst.segment).toBe(1); // spills happened, never two in one save
      expect(worst.chunk).toBe(foldsPerSave); // folds happened, never more than the bound
      expect(Math.max(...worst.levels)).toBeGreaterThan(0); // merges happened
      const { p, s } = await states(pair);
      expect(s.state.committedEpoch).toBe(p.state.epoch - 1);
    }
  });

  test('nothing is written when nothing changed; a warm load reads only the hot document', async () => {
    const pair = leanPair();
    await runFor(pair, 1000);
    const counting = new CountingStateStore(pair.state);
    const cache = new ChunkCache(1 << 20);
    const store = secondaryStateStore(counting, pair.params, { layout: SMALL, cache });
    const cold = await store.load(decodePrimaryDocument as never);
    const named = namedBy(pair, 'secondary');
    const objects = () => counting.io.chunk.gets + counting.io.segment.gets;
    expect(named.live.length).toBeGreaterThan(0);
    expect(objects()).toBe(named.live.length);
    const warm = await store.load(decodePrimaryDocument as never);
    expect(objects()).toBe(named.live.length); // every chunk and segment from the cache
    expect(counting.io.node.gets).toBe(2);
    const report = await store.save(warm as never, pair.clock.now() + 5000);
    expect(report.saved).toBe(false);
    expect(counting.total().puts).toBe(0);
    expect(cold?.doc.revision).toBe(warm?.doc.revision);
  });

  test('the bench figure in small: I/O per save stays bounded while the guest grows 64×', async () => {
    const bytesPerSave = async (guestPages: number) => {
      const pair = new CloudPair(testParams({ guestBytes: guestPages * 4096 }));
      pair.state.clock = pair.clock.now;
      const counting = new CountingStateStore(pair.state);
      pair.primaryPorts.state = counting;
      pair.secondaryPorts.state = counting;
      pair.options = {
        sleep: pair.clock.sleep,
        stateLayout: { kind: 'lean', chunkPages: 4096 },
        chunkCache: new ChunkCache(1 << 28),
      };
      await runFor(pair, 3000);
      const t = counting.total();
      return (t.bytesOut + t.bytesIn) / counting.io.node.puts;
    };
    const small = await bytesPerSave(256);
    const large = await bytesPerSave(256 * 64);
    // Whole documents grow with the guest; the hot document and changed chunks do not (much).
    expect(large / small).toBeLessThan(8);
  });
});

describe('layout choice and retirement', () => {
  test('auto is the default: whole below leanFromPages, lean from it on; bad settings are refused', () => {
    const params = testParams();
    const state = new MemoryStateStore();
    expect(primaryStateStore(state, params).layout.kind).toBe('whole'); // 256 pages < 1 GiB
    expect(primaryStateStore(state, testParams({ guestBytes: 1024 * 1024 * 1024 }), {}).layout.kind).toBe(
      'lean',
    );
    expect(primaryStateStore(state, params, { layout: { kind: 'auto' } }).layout.kind).toBe('whole'); // 256 pages < 1 GiB
    expect(
      primaryStateStore(state, params, { layout: { kind: 'auto', leanFromPages: 256 } }).layout.kind,
    ).toBe('lean');
    expect(() => primaryStateStore(state, params, { layout: { chunkPages: 100 } })).toThrow(/multiple of 64/);
    expect(() => primaryStateStore(state, params, { layout: { segmentFanout: 1 } })).toThrow(
      /segmentFanout 1/,
    );
    expect(() => primaryStateStore(state, params, { layout: { foldsPerSave: -1 } })).toThrow(
      /foldsPerSave -1/,
    );
  });

  test('a replaced chunk or segment is deleted by a save after its grace period, never while a document names it', async () => {
    const pair = leanPair({ ...SMALL, overlayEntries: 0, segmentEntries: 0, retireGraceMs: 2000 });
    await runFor(pair, 1000);
    const first = namedBy(pair);
    // Every save spills and folds: old chunks and merged segments retire.
    expect(first.retired.some((k) => k.includes('/chunk/'))).toBe(true);
    expect(first.retired.some((k) => k.includes('/segment/'))).toBe(true);
    for (const k of first.retired) expect(pair.state.peek(k)).toBeDefined(); // within the grace period
    await pair.run(3000);
    const later = namedBy(pair);
    for (const k of first.retired) expect(pair.state.peek(k)).toBeUndefined(); // deleted after it
    for (const k of later.live) expect(pair.state.peek(k)).toBeDefined();
    expect(pair.state.stats.deletes).toBeGreaterThan(0);
  });

  test('past maxRetired, the oldest replaced objects are deleted at once; the run is unaffected', async () => {
    const pair = leanPair({ ...SMALL, overlayEntries: 0, segmentEntries: 0, maxRetired: 2 });
    await runFor(pair, 2000);
    const named = namedBy(pair);
    expect(named.retired.length).toBeLessThanOrEqual(2);
    // Only what is named or retired is stored (nothing waits for the sweep).
    const kept = new Set([
      ...named.live,
      ...named.retired,
      ...namedBy(pair, 'secondary').live,
      ...namedBy(pair, 'secondary').retired,
    ]);
    expect(objectKeys(pair).filter((k) => !kept.has(k))).toEqual([]);
    const { p, s } = await states(pair);
    expect(s.state.committedEpoch).toBe(p.state.epoch - 1);
  });
});

describe('faults of the lean path', () => {
  test('a crash between the chunk writes and the hot save leaves the old document and only unreferenced chunks; the sweep keeps them while a retried save may name them, then removes the unnamed ones', async () => {
    const pair = leanPair();
    await runFor(pair, 1000);
    const hotKey = nodeStateKey('vm-0', 'primary');
    const before = Buffer.from(pair.state.peek(hotKey) as Uint8Array);
    const chunksBefore = objectKeys(pair);
    let crashed = 0;
    pair.state.beforeSave = (key) => {
      if (key === hotKey && objectKeys(pair).length > chunksBefore.length) {
        crashed++;
        throw new Error('Lambda crashed');
      }
    };
    // A checkpoint writes a segment or folds chunks (bitmaps clear, versions move): the crash hits after.
    pair.clock.advance(1500);
    await expect(pair.primary([{ type: 'tick' }])).rejects.toThrow('Lambda crashed');
    expect(crashed).toBe(1);
    expect(Buffer.from(pair.state.peek(hotKey) as Uint8Array).equals(before)).toBe(true);
    const orphans = objectKeys(pair).filter((k) => !chunksBefore.includes(k));
    expect(orphans.length).toBeGreaterThan(0);
    pair.state.beforeSave = undefined;
    // Of the revision the document has not reached: kept however old (a retried save may name them).
    pair.clock.advance(60_000);
    const early = await sweepChunks(pair.state, 'vm-0', 'primary', pair.clock.now(), 60_000);
    expect(early.deleted).toBe(0);
    expect(early.pending).toBe(orphans.length);
    // The run goes on (its next save is that revision again); then the orphans it did not name are garbage.
    await pair.run(3000);
    pair.clock.advance(60_000);
    const reused = orphans.filter((k) => namedBy(pair).live.includes(k) || namedBy(pair).retired.includes(k));
    const swept = await sweepChunks(pair.state, 'vm-0', 'primary', pair.clock.now(), 60_000);
    expect(swept.deleted).toBeGreaterThanOrEqual(orphans.length - reused.length);
    expect(objectKeys(pair).filter((k) => orphans.includes(k))).toEqual(reused);
    // Everything still named is there: the run goes on and commits what the primary checkpointed.
    await pair.run(3000);
    const { p, s } = await states(pair);
    expect(s.state.committedEpoch).toBe(p.state.epoch - 1);
    const ckpts = (await pair.log('primary')).filter((r) => r.type === 'checkpoint');
    const commits = (await pair.log('secondary')).filter((r) => r.type === 'commit');
    expect(commits.length).toBeGreaterThan(0);
    for (const c of commits) {
      const k = ckpts.find(
        (x) => x.type === 'checkpoint' && c.type === 'commit' && x.data.epoch === c.data.epoch,
      );
      expect(k?.type === 'checkpoint' && c.type === 'commit' && k.data.digest === c.data.digest).toBe(true);
    }
  });

  test('a lost compare-and-swap after chunks were written retries on the winner; the loser chunks are garbage', async () => {
    const pair = leanPair();
    await runFor(pair, 1000);
    const hotKey = nodeStateKey('vm-0', 'primary');
    const named = objectKeys(pair);
    let raced = 0;
    pair.state.beforeSave = async (key) => {
      if (key === hotKey && raced === 0 && objectKeys(pair).length > named.length) {
        raced++;
        // Another invocation (a later tick) commits first: this save's chunks are written, its document
        // will lose the compare-and-swap.
        pair.clock.advance(5);
        await pair.primary([{ type: 'tick' }]);
      }
    };
    pair.clock.advance(1500);
    const r = await pair.primary([{ type: 'tick' }]);
    expect(raced).toBe(1);
    expect(r.casConflicts).toBe(1);
    pair.state.beforeSave = undefined;
    pair.clock.advance(60_000);
    const swept = await sweepChunks(pair.state, 'vm-0', 'primary', pair.clock.now(), 60_000);
    // Named by the document or waiting in its retired list; the loser's objects go.
    expect(swept.referenced).toBeGreaterThan(0);
    expect(swept.deleted).toBeGreaterThan(0);
    await pair.run(2000);
    const { p, s } = await states(pair);
    expect(s.state.committedEpoch).toBe(p.state.epoch - 1);
  });

  test('a chunk read that fails changes nothing and fails the invocation; it succeeds once the read works', async () => {
    const pair = leanPair();
    await runFor(pair, 1000);
    const hotKey = nodeStateKey('vm-0', 'secondary');
    const before = Buffer.from(pair.state.peek(hotKey) as Uint8Array);
    let failing = true;
    const flaky = {
      load: (key: string) =>
        failing && (key.includes('/chunk/') || key.includes('/segment/'))
          ? Promise.reject(new Error('S3 503 SlowDown'))
          : pair.state.load(key),
      save: pair.state.save.bind(pair.state),
    };
    pair.secondaryPorts.state = flaky;
    pair.options = { ...pair.options, chunkCache: new ChunkCache(1 << 20) }; // cold container
    pair.clock.advance(200);
    await expect(pair.secondary([{ type: 'tick' }])).rejects.toThrow('SlowDown');
    expect(Buffer.from(pair.state.peek(hotKey) as Uint8Array).equals(before)).toBe(true);
    failing = false;
    await pair.secondary([{ type: 'tick' }]);
    await pair.run(1000);
    const { p, s } = await states(pair);
    expect(s.state.committedEpoch).toBe(p.state.epoch - 1);
  });

  test('a chunk that holds other bytes, or a chunk or segment that is missing, is a clear StateDocumentError, never wrong state', async () => {
    const pair = leanPair();
    await runFor(pair, 1000);
    const read = () =>
      primaryStateStore(pair.state, pair.params, { cache: new ChunkCache(1 << 20) }).load(
        decodePrimaryDocument,
      );
    const doc = await read();
    const named = namedBy(pair);
    expect(named.chunks.length).toBeGreaterThanOrEqual(2);
    expect(named.segments.length).toBeGreaterThan(0);
    const [c1, c2] = named.chunks as [{ index: number; key: string }, { index: number; key: string }];
    const bytes = pair.state.peek(c1.key) as Uint8Array;
    expect(bytes).toBeDefined();
    // Other bytes: a valid chunk of the same node, another range.
    pair.state.put(c1.key, pair.state.peek(c2.key) as Uint8Array, (await pair.state.load(c1.key))?.etag);
    const err = await read().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(StateDocumentError);
    expect(String(err)).toMatch(/other bytes than the document names/);
    // Missing (the document did not move on: no retry helps).
    await pair.state.delete(c1.key);
    await expect(read()).rejects.toThrow(new RegExp(`chunk ${c1.index} .* is missing`));
    pair.state.put(c1.key, bytes, undefined);
    const seg = named.segments[0] as { key: string };
    const segBytes = pair.state.peek(seg.key) as Uint8Array;
    await pair.state.delete(seg.key);
    await expect(read()).rejects.toThrow(/segment .* is missing/);
    // Back: read as before.
    pair.state.put(seg.key, segBytes, undefined);
    expect((await read())?.doc.revision).toBe(doc?.doc.revision);
  });

  test('an object gone because the document moved on (a later save retired it) makes the load start over', async () => {
    const pair = leanPair();
    await runFor(pair, 1000);
    const hotKey = nodeStateKey('vm-0', 'primary');
    const named = namedBy(pair);
    const gone = named.live[0] as string;
    let hotReads = 0;
    // The first hot read sees a document version that has since been replaced (another etag); its object reads
    // as missing. The second hot read sees the current version.
    const store = {
      load: async (key: string) => {
        const v = await pair.state.load(key);
        if (key === hotKey && v) return ++hotReads === 1 ? { ...v, etag: 'replaced' } : v;
        if (key === gone && hotReads === 1) return undefined;
        return v;
      },
      save: pair.state.save.bind(pair.state),
    };
    const got = await primaryStateStore(store, pair.params, { cache: new ChunkCache(1 << 20) }).load(
      decodePrimaryDocument,
    );
    expect(hotReads).toBe(3); // the stale read, the check that it moved on, the load that succeeds
    expect(got?.doc.revision).toBe((await pair.primaryDoc())?.revision);
  });

  test('a redelivered message after a partial save (chunks written, hot document not) is applied once', async () => {
    const pair = leanPair();
    await pair.start();
    await pair.run(900);
    pair.clock.advance(600);
    await pair.primary([{ type: 'tick' }]); // a checkpoint request goes out
    await pair.toSecondary(); // its reply comes back
    const hotKey = nodeStateKey('vm-0', 'primary');
    const batch = pair.s2p.take(10);
    expect(batch.map((r) => r.dedupId).join()).toContain('checkpoint-reply');
    const chunksBefore = objectKeys(pair).length;
    pair.state.beforeSave = (key) => {
      if (key === hotKey && objectKeys(pair).length > chunksBefore) throw new Error('Lambda crashed');
    };
    const body = batch.map((r) => ({ type: 'message' as const, body: r.body }));
    // The reply stops the VM and starts the checkpoint: bitmaps clear, the changes leave as a segment.
    const tight = { ...pair.options, stateLayout: { ...SMALL, overlayEntries: 0 } };
    await expect(pair.primary(body, tight)).rejects.toThrow('Lambda crashed');
    expect(objectKeys(pair).length).toBeGreaterThan(chunksBefore);
    expect(pair.p2s.size).toBe(0); // nothing of the uncommitted step left
    pair.state.beforeSave = undefined;
    const again = await pair.primary(body, tight);
    expect(again.outcomes.every((o) => o.status === 'applied')).toBe(true);
    const third = await pair.primary(body, tight);
    expect(third.outcomes.every((o) => o.status === 'duplicate')).toBe(true);
    await pair.settle();
    await pair.run(3000);
    const { p, s } = await states(pair);
    expect(s.state.committedEpoch).toBe(p.state.epoch - 1);
  });
});

describe('old and foreign formats', () => {
  test('a whole (format 1) document is read and migrated to a hot document and a segment at its next save', async () => {
    const whole = leanPair({ kind: 'whole' });
    await runFor(whole, 1000);
    const hotKey = nodeStateKey('vm-0', 'primary');
    const v1 = whole.state.peek(hotKey) as Uint8Array;
    const old = decodePrimaryDocument(v1, whole.params, 'v1');
    expect(old.format).toBe(DOCUMENT_FORMAT);
    whole.options = { ...whole.options, stateLayout: SMALL };
    await whole.run(1000);
    const doc = await whole.primaryDoc();
    expect(doc?.format).toBe(LEAN_DOCUMENT_FORMAT);
    expect(doc?.revision).toBeGreaterThan(old.revision);
    expect(objectKeys(whole).filter((k) => k.includes('/primary/')).length).toBeGreaterThan(0);
    const { p, s } = await states(whole);
    expect(s.state.committedEpoch).toBe(p.state.epoch - 1);
  });

  test('a document of another format is refused with a clear error, and nothing is written', async () => {
    const pair = leanPair();
    await runFor(pair, 500);
    const hotKey = nodeStateKey('vm-0', 'primary');
    const doc = await pair.primaryDoc();
    const future = encodeContainer('primary-document', { ...doc, format: 3 });
    const cur = await pair.state.load(hotKey);
    pair.state.put(hotKey, future, cur?.etag);
    const saves = pair.state.stats.saves;
    pair.clock.advance(1000);
    await expect(pair.primary([{ type: 'tick' }])).rejects.toThrow(
      /format 3; this runtime reads formats 1 \(migrated\) and 2/,
    );
    expect(pair.state.stats.saves).toBe(saves);
    expect(encodeDocument).toBeTypeOf('function');
  });
});
