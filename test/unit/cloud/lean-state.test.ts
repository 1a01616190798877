// The lean state layout (hot document + page-array chunks + overlay) on in-memory ports: the same run as the
// whole layout, I/O of O(changed pages), nothing written when nothing changed, warm reads of the hot document
// only, and the faults of the new path — a crash between the chunk writes and the hot save, a lost
// compare-and-swap after chunks were written, a chunk read that fails or returns other bytes, a redelivered
// input after a partial save — plus migration of whole (format 1) documents and the chunk sweep.
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
  sweepChunks,
} from '../../../src/runtime/cloud/index.ts';
import { testParams } from '../../helpers/engine.ts';
import { CloudPair } from './harness.ts';

/** 256 pages in 4 chunks of 64; at most 16 changed elements ride in the hot document. */
const SMALL: Partial<StateLayout> = {
  kind: 'lean',
  chunkPages: 64,
  overlayEntries: 16,
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
    // The lean run stored hot documents and chunks; the whole run none.
    const hot = lean.state.peek(nodeStateKey('vm-0', 'primary')) as Uint8Array;
    expect(() => decodePrimaryDocument(hot, lean.params, 'hot')).toThrow(/format/);
    expect(chunkKeys(lean).length).toBeGreaterThan(8);
    expect(chunkKeys(whole)).toEqual([]);
  });

  test('a save costs the hot document plus the changed chunks; a chunk is written only when it changed', async () => {
    const pair = leanPair({ kind: 'lean', chunkPages: 64, overlayEntries: 4 });
    await runFor(pair, 1000);
    const counting = new CountingStateStore(pair.state);
    const store = primaryStateStore(counting, pair.params, {
      layout: { kind: 'lean', chunkPages: 64, overlayEntries: 4 },
    });
    const node = await store.load(decodePrimaryDocument);
    if (!node) throw new Error('no document');
    // Change one page: one chunk differs, the overlay (≤ 4) carries it; no chunk written.
    node.doc.state.versions[200] = (node.doc.state.versions[200] ?? 0) + 1;
    const before = counting.total();
    const one = await store.save(node, pair.clock.now());
    expect(one).toEqual({ saved: true, chunksWritten: 0, overlay: 1 });
    expect(counting.io.chunk.puts).toBe(0);
    // Change 6 pages of the first chunk: past the overlay's 4, that chunk (only) is rewritten.
    for (let p = 0; p < 6; p++) node.doc.state.versions[p] = (node.doc.state.versions[p] ?? 0) + 7;
    const fold = await store.save(node, pair.clock.now());
    expect(fold.chunksWritten).toBe(1);
    expect(fold.overlay).toBe(1); // page 200 still waits in the overlay
    expect(counting.io.chunk.puts).toBe(1);
    expect(counting.io.node.puts - before.puts).toBe(2);
    // Read back: the same state.
    const again = await primaryStateStore(pair.state, pair.params, { cache: new ChunkCache(1 << 20) }).load(
      decodePrimaryDocument,
    );
    expect(Buffer.from(encodePrimaryState(again?.doc.state as never))).toEqual(
      Buffer.from(encodePrimaryState(node.doc.state)),
    );
  });

  test('nothing is written when nothing changed; a warm load reads only the hot document', async () => {
    const pair = leanPair();
    await runFor(pair, 1000);
    const counting = new CountingStateStore(pair.state);
    const cache = new ChunkCache(1 << 20);
    const store = secondaryStateStore(counting, pair.params, { layout: SMALL, cache });
    const cold = await store.load(decodePrimaryDocument as never);
    expect(counting.io.chunk.gets).toBe(4);
    const warm = await store.load(decodePrimaryDocument as never);
    expect(counting.io.chunk.gets).toBe(4); // every chunk from the cache
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
  test('whole is the default; auto is whole below leanFromPages and lean from it on', () => {
    const params = testParams();
    const state = new MemoryStateStore();
    expect(primaryStateStore(state, params).layout.kind).toBe('whole');
    expect(primaryStateStore(state, params, { layout: { kind: 'auto' } }).layout.kind).toBe('whole'); // 256 pages < 1 GiB
    expect(
      primaryStateStore(state, params, { layout: { kind: 'auto', leanFromPages: 256 } }).layout.kind,
    ).toBe('lean');
    expect(() => primaryStateStore(state, params, { layout: { chunkPages: 100 } })).toThrow(/multiple of 64/);
  });

  test('a replaced chunk is deleted by a save after its grace period, never while a document names it', async () => {
    const pair = leanPair({ ...SMALL, overlayEntries: 0, retireGraceMs: 2000 });
    await runFor(pair, 1000);
    const named = async () => {
      const hot = decodeContainer(
        pair.state.peek(nodeStateKey('vm-0', 'primary')) as Uint8Array,
        'primary-document',
        'hot',
      ) as { paged: { revisions: Uint32Array; hashes: Uint8Array; retired: { key: string }[] } };
      const { revisions, hashes, retired } = hot.paged;
      const live = [...revisions].map((r, i) =>
        chunkKey('vm-0', 'primary', i, r, Buffer.from(hashes.subarray(i * 32, i * 32 + 32)).toString('hex')),
      );
      return { live, retired: retired.map((x) => x.key) };
    };
    const first = await named();
    expect(first.retired.length).toBeGreaterThan(0); // every save folds (overlay 0): old chunks retire
    for (const k of first.retired) expect(pair.state.peek(k)).toBeDefined(); // within the grace period
    await pair.run(3000);
    const later = await named();
    for (const k of first.retired) expect(pair.state.peek(k)).toBeUndefined(); // deleted after it
    for (const k of later.live) expect(pair.state.peek(k)).toBeDefined();
    expect(pair.state.stats.deletes).toBeGreaterThan(0);
  });
});

describe('faults of the lean path', () => {
  test('a crash between the chunk writes and the hot save leaves the old document and only unreferenced chunks; the sweep removes them after the grace period', async () => {
    const pair = leanPair();
    await runFor(pair, 1000);
    const hotKey = nodeStateKey('vm-0', 'primary');
    const before = Buffer.from(pair.state.peek(hotKey) as Uint8Array);
    const chunksBefore = chunkKeys(pair);
    let crashed = 0;
    pair.state.beforeSave = (key) => {
      if (key === hotKey && chunkKeys(pair).length > chunksBefore.length) {
        crashed++;
        throw new Error('Lambda crashed');
      }
    };
    // A checkpoint folds chunks (bitmaps clear, versions move): the crash hits after they were written.
    pair.clock.advance(1500);
    await expect(pair.primary([{ type: 'tick' }])).rejects.toThrow('Lambda crashed');
    expect(crashed).toBe(1);
    expect(Buffer.from(pair.state.peek(hotKey) as Uint8Array).equals(before)).toBe(true);
    const orphans = chunkKeys(pair).filter((k) => !chunksBefore.includes(k));
    expect(orphans.length).toBeGreaterThan(0);
    pair.state.beforeSave = undefined;
    // Too young: kept (a save may still be in flight).
    const early = await sweepChunks(pair.state, 'vm-0', 'primary', pair.clock.now(), 60_000);
    expect(early.deleted).toBe(0);
    expect(early.young).toBe(orphans.length);
    pair.clock.advance(60_000);
    const swept = await sweepChunks(pair.state, 'vm-0', 'primary', pair.clock.now(), 60_000);
    expect(swept.deleted).toBe(orphans.length);
    expect(chunkKeys(pair).some((k) => orphans.includes(k))).toBe(false);
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
    const named = chunkKeys(pair);
    let raced = 0;
    pair.state.beforeSave = async (key) => {
      if (key === hotKey && raced === 0 && chunkKeys(pair).length > named.length) {
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
    // Named by the document (4) or waiting in its retired list; the loser's chunks go.
    expect(swept.referenced).toBeGreaterThanOrEqual(4);
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
        failing && key.includes('/chunk/')
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

  test('a chunk that holds other bytes, or is missing, is a clear StateDocumentError, never wrong state', async () => {
    const pair = leanPair();
    await runFor(pair, 1000);
    const read = () =>
      primaryStateStore(pair.state, pair.params, { cache: new ChunkCache(1 << 20) }).load(
        decodePrimaryDocument,
      );
    const doc = await read();
    // The key the hot document names for chunk 1.
    const hot = decodeContainer(
      pair.state.peek(nodeStateKey('vm-0', 'primary')) as Uint8Array,
      'primary-document',
      'hot',
    );
    const paged = (hot as { paged: { revisions: Uint32Array; hashes: Uint8Array } }).paged;
    const sha = Buffer.from(paged.hashes.subarray(32, 64)).toString('hex');
    const key = chunkKey('vm-0', 'primary', 1, paged.revisions[1] as number, sha);
    const bytes = pair.state.peek(key) as Uint8Array;
    expect(bytes).toBeDefined();
    // Other bytes: a valid chunk of the same node, another range.
    const other = chunkKey(
      'vm-0',
      'primary',
      2,
      paged.revisions[2] as number,
      Buffer.from(paged.hashes.subarray(64, 96)).toString('hex'),
    );
    pair.state.put(key, pair.state.peek(other) as Uint8Array, (await pair.state.load(key))?.etag);
    const err = await read().then(
      () => undefined,
      (e: unknown) => e,
    );
    expect(err).toBeInstanceOf(StateDocumentError);
    expect(String(err)).toMatch(/other bytes than the document names/);
    // Missing.
    await pair.state.delete(key);
    await expect(read()).rejects.toThrow(/chunk 1 .* is missing/);
    // Back: read as before.
    pair.state.put(key, bytes, undefined);
    expect((await read())?.doc.revision).toBe(doc?.doc.revision);
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
    const chunksBefore = chunkKeys(pair).length;
    pair.state.beforeSave = (key) => {
      if (key === hotKey && chunkKeys(pair).length > chunksBefore) throw new Error('Lambda crashed');
    };
    const body = batch.map((r) => ({ type: 'message' as const, body: r.body }));
    // The reply stops the VM and starts the checkpoint: bitmaps clear, the chunks are rewritten.
    const tight = { ...pair.options, stateLayout: { ...SMALL, overlayEntries: 0 } };
    await expect(pair.primary(body, tight)).rejects.toThrow('Lambda crashed');
    expect(chunkKeys(pair).length).toBeGreaterThan(chunksBefore);
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
  test('a whole (format 1) document is read and migrated to a hot document and chunks at its next save', async () => {
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
    expect(chunkKeys(whole).filter((k) => k.includes('/primary/')).length).toBeGreaterThanOrEqual(4);
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
