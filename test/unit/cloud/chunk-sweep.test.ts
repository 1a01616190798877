// The sweep of unreferenced chunks and segments (chunk-sweep.ts) against its faults: interleaved with a save
// that names an object the sweep sees as unreferenced, dying mid-way, running twice or side by side, deletes
// that fail, and its per-call bound. Two cloud nodes on in-memory ports and a virtual clock.
import { describe, expect, test } from 'vitest';
import { decodePrimaryDocument, decodeSecondaryDocument } from '../../../src/runtime/cloud/document.ts';
import {
  ChunkCache,
  chunkKey,
  chunkPrefix,
  decodeContainer,
  MemoryStateStore,
  nodeStateKey,
  objectRevision,
  primaryStateStore,
  type StateLayout,
  secondaryStateStore,
  segmentKey,
  segmentPrefix,
  sweepChunks,
} from '../../../src/runtime/cloud/index.ts';
import { testParams } from '../../helpers/engine.ts';
import { CloudPair } from './harness.ts';

/** Small chunks, overlay and segment budget: spills, merges and folds happen every few saves. */
const SMALL: Partial<StateLayout> = {
  kind: 'lean',
  chunkPages: 64,
  overlayEntries: 16,
  segmentEntries: 32,
  segmentFanout: 3,
  foldsPerSave: 1,
  retireGraceMs: 60_000,
};
const GRACE = 60_000;
const NODES = ['primary', 'secondary'] as const;

function leanPair(): CloudPair {
  const pair = new CloudPair(testParams({ vmId: 'vm-0' }));
  pair.state.clock = pair.clock.now;
  pair.options = { sleep: pair.clock.sleep, stateLayout: SMALL, chunkCache: new ChunkCache(1 << 20) };
  return pair;
}

function objectKeys(pair: CloudPair, node: 'primary' | 'secondary' = 'primary'): string[] {
  return pair.state
    .keys()
    .filter((k) => k.startsWith(chunkPrefix('vm-0', node)) || k.startsWith(segmentPrefix('vm-0', node)));
}

/** Keys the hot document names (live) and lists as retired. */
function named(
  pair: CloudPair,
  node: 'primary' | 'secondary' = 'primary',
): { live: string[]; retired: string[] } {
  const hot = decodeContainer(
    pair.state.peek(nodeStateKey('vm-0', node)) as Uint8Array,
    `${node}-document`,
    'hot',
  ) as {
    paged: {
      revisions: Uint32Array;
      hashes: Uint8Array;
      segments?: { revision: number; sha256: string }[];
      retired: { key: string }[];
    };
  };
  const { revisions, hashes, segments = [], retired } = hot.paged;
  const live = [...revisions].flatMap((r, i) =>
    r === 0
      ? []
      : [chunkKey('vm-0', node, i, r, Buffer.from(hashes.subarray(i * 32, i * 32 + 32)).toString('hex'))],
  );
  for (const s of segments) live.push(segmentKey('vm-0', node, s.revision, s.sha256));
  return { live, retired: retired.map((x) => x.key) };
}

/** Every commit equals the checkpoint of its epoch, and the secondary is one epoch behind the primary. */
async function expectConsistent(pair: CloudPair): Promise<void> {
  const p = await pair.primaryDoc();
  const s = await pair.secondaryDoc();
  expect(p && s && s.state.committedEpoch === p.state.epoch - 1).toBe(true);
  const ckpts = (await pair.log('primary')).flatMap((r) => (r.type === 'checkpoint' ? [r.data] : []));
  const commits = (await pair.log('secondary')).flatMap((r) => (r.type === 'commit' ? [r.data] : []));
  expect(commits.length).toBeGreaterThan(0);
  for (const c of commits) expect(ckpts.find((k) => k.epoch === c.epoch)?.digest).toBe(c.digest);
}

/**
 * Makes garbage: a primary save crashes between its object writes and its hot save, the next tick's save
 * commits (other objects: time moved on), so the crashed save's objects are of a revision the document has
 * passed and named by nothing. Returns them.
 */
async function withGarbage(pair: CloudPair): Promise<string[]> {
  await pair.start();
  await pair.run(1000);
  const hotKey = nodeStateKey('vm-0', 'primary');
  for (let attempt = 0; attempt < 20; attempt++) {
    const before = objectKeys(pair);
    pair.state.beforeSave = (key) => {
      if (key === hotKey && objectKeys(pair).length > before.length) throw new Error('Lambda crashed');
    };
    pair.clock.advance(500);
    const crashed = await pair.primary([{ type: 'tick' }]).then(
      () => false,
      () => true,
    );
    pair.state.beforeSave = undefined;
    await pair.run(2000);
    const live = new Set([...named(pair).live, ...named(pair).retired]);
    const garbage = objectKeys(pair).filter((k) => !before.includes(k) && !live.has(k));
    if (crashed && garbage.length > 0) return garbage;
  }
  throw new Error('no garbage made');
}

describe('objectRevision', () => {
  test('reads the revision of chunk and segment keys and nothing else', () => {
    const sha = 'ab'.repeat(32);
    const cp = chunkPrefix('vm-0', 'primary');
    const sp = segmentPrefix('vm-0', 'primary');
    expect(objectRevision(chunkKey('vm-0', 'primary', 3, 17, sha), cp, true)).toBe(17);
    expect(objectRevision(segmentKey('vm-0', 'primary', 9, sha), sp, false)).toBe(9);
    for (const bad of [
      `${cp}17-${sha}.bin`,
      `${cp}x/17-${sha}.bin`,
      `${cp}1/17-${sha}.txt`,
      `${cp}1/17-ab.bin`,
      `${cp}1/2/17-${sha}.bin`,
    ]) {
      expect(objectRevision(bad, cp, true)).toBeUndefined();
    }
    expect(objectRevision(`${sp}a-${sha}.bin`, sp, false)).toBeUndefined();
    expect(objectRevision(chunkKey('vm-1', 'primary', 3, 17, sha), cp, true)).toBeUndefined();
  });

  test('a key under the prefixes that is not an object key is kept and counted', async () => {
    const store = new MemoryStateStore();
    store.clock = () => 0;
    await store.save(`${chunkPrefix('vm-0', 'primary')}notes.txt`, new Uint8Array([1]), undefined);
    const r = await sweepChunks(store, 'vm-0', 'primary', 10 * GRACE, GRACE);
    expect(r).toMatchObject({ listed: 1, unknown: 1, deleted: 0 });
    expect(store.keys()).toHaveLength(1);
  });
});

describe('the sweep and its faults', () => {
  test('interleaved with a retried save that names the crashed save’s objects, it deletes none of them', async () => {
    const pair = leanPair();
    await pair.start();
    await pair.run(1000);
    const hotKey = nodeStateKey('vm-0', 'primary');
    // A save crashes after writing its objects; the same invocation, retried at the same guest time, writes
    // the same objects again (create-only: it finds them there) and then its hot document. Between the two,
    // a sweep whose clock is far past the grace period runs: to it they are old and named by nothing yet.
    let crashedObjects: string[] = [];
    let reports: Awaited<ReturnType<typeof sweepChunks>>[] = [];
    for (let attempt = 0; attempt < 20 && crashedObjects.length === 0; attempt++) {
      const before = objectKeys(pair);
      pair.state.beforeSave = (key) => {
        if (key === hotKey && objectKeys(pair).length > before.length) throw new Error('Lambda crashed');
      };
      pair.clock.advance(500);
      if (
        await pair.primary([{ type: 'tick' }]).then(
          () => false,
          () => true,
        )
      ) {
        crashedObjects = objectKeys(pair).filter((k) => !before.includes(k));
      }
    }
    expect(crashedObjects.length).toBeGreaterThan(0);
    reports = [];
    pair.state.beforeSave = async (key) => {
      if (key !== hotKey) return;
      for (const node of NODES)
        reports.push(await sweepChunks(pair.state, 'vm-0', node, pair.clock.now() + 10 * GRACE, GRACE));
    };
    await pair.primary([{ type: 'tick' }]);
    pair.state.beforeSave = undefined;
    // The committed document names what the crashed save wrote, and all of it is there.
    const live = named(pair).live;
    expect(crashedObjects.filter((k) => live.includes(k)).length).toBeGreaterThan(0);
    expect(reports[0]?.pending).toBe(crashedObjects.length);
    expect(reports[0]?.deleted).toBe(0);
    for (const k of live) expect(pair.state.peek(k), k).toBeDefined();
    // Cold containers load the state and the run goes on consistent.
    pair.options = { ...pair.options, chunkCache: new ChunkCache(1 << 20) };
    await pair.run(4000);
    await expectConsistent(pair);
  });

  test('with no grace at all, sweeps before every save of a run with crashes never delete a live object', async () => {
    const pair = leanPair();
    let sweeps = 0;
    let deleted = 0;
    let pending = 0;
    let crashes = 0;
    let hotSaves = 0;
    const missing: string[] = [];
    pair.state.beforeSave = async (key, store) => {
      if (!key.endsWith('.bin') || key.includes('/chunk/') || key.includes('/segment/')) return;
      for (const node of NODES) {
        // What the documents committed so far name is all there (the last sweep ran before this save).
        if (store.peek(nodeStateKey('vm-0', node))) {
          missing.push(...named(pair, node).live.filter((k) => store.peek(k) === undefined));
        }
        const r = await sweepChunks(store, 'vm-0', node, pair.clock.now(), 0);
        sweeps++;
        deleted += r.deleted;
        pending += r.pending;
      }
      // Every 5th document save crashes after its objects were written (and after the sweep above).
      if (++hotSaves % 5 === 0) {
        crashes++;
        throw new Error('Lambda crashed');
      }
    };
    await pair.start().catch(() => undefined);
    for (let i = 0; i < 40; i++) await pair.run(200).catch(() => undefined);
    pair.state.beforeSave = undefined;
    // Coverage: crashes left garbage the sweeps deleted, and they met objects of saves in flight.
    expect(crashes).toBeGreaterThan(5);
    expect(sweeps).toBeGreaterThan(50);
    expect(deleted).toBeGreaterThan(0);
    expect(pending).toBeGreaterThan(0);
    expect(missing).toEqual([]);
    // Both documents load whole from a cold cache (a deleted live object would be "… is missing").
    const cold = { cache: new ChunkCache(1 << 20) };
    await primaryStateStore(pair.state, pair.params, cold).load(decodePrimaryDocument);
    await secondaryStateStore(pair.state, pair.params, cold).load(decodeSecondaryDocument);
  });

  test('dying mid-way leaves only garbage; the next sweep finishes; a second run deletes nothing', async () => {
    const pair = leanPair();
    const garbage = await withGarbage(pair);
    expect(garbage.length).toBeGreaterThanOrEqual(2);
    // The first sweep's process dies during its second delete (it never returns).
    let deletes = 0;
    const dying = {
      load: pair.state.load.bind(pair.state),
      save: pair.state.save.bind(pair.state),
      list: pair.state.list.bind(pair.state),
      delete: (key: string) => (++deletes >= 2 ? new Promise<void>(() => {}) : pair.state.delete(key)),
    };
    pair.clock.advance(GRACE);
    void sweepChunks(dying, 'vm-0', 'primary', pair.clock.now(), GRACE);
    await new Promise((r) => setTimeout(r, 20));
    expect(garbage.filter((k) => pair.state.peek(k) !== undefined)).toHaveLength(garbage.length - 1);
    const again = await sweepChunks(pair.state, 'vm-0', 'primary', pair.clock.now(), GRACE);
    expect(again.deleted).toBe(garbage.length - 1);
    expect(garbage.filter((k) => pair.state.peek(k) !== undefined)).toEqual([]);
    const twice = await sweepChunks(pair.state, 'vm-0', 'primary', pair.clock.now(), GRACE);
    expect(twice).toMatchObject({
      deleted: 0,
      failed: 0,
      listed: twice.referenced + twice.pending + twice.young,
    });
    pair.options = { ...pair.options, chunkCache: new ChunkCache(1 << 20) };
    await pair.run(3000);
    await expectConsistent(pair);
  });

  test('two sweeps side by side delete the garbage once between them and nothing else', async () => {
    const pair = leanPair();
    const garbage = await withGarbage(pair);
    pair.clock.advance(GRACE);
    const live = named(pair).live;
    const [a, b] = await Promise.all([
      sweepChunks(pair.state, 'vm-0', 'primary', pair.clock.now(), GRACE),
      sweepChunks(pair.state, 'vm-0', 'primary', pair.clock.now(), GRACE),
    ]);
    // S3 deletes are idempotent: both may count one, none fails.
    expect(a.failed + b.failed).toBe(0);
    expect(a.deleted + b.deleted).toBeGreaterThanOrEqual(garbage.length);
    expect(garbage.filter((k) => pair.state.peek(k) !== undefined)).toEqual([]);
    for (const k of live) expect(pair.state.peek(k), k).toBeDefined();
    await pair.run(3000);
    await expectConsistent(pair);
  });

  test('deletes that fail are counted with the first error; nothing changes; a later sweep deletes', async () => {
    const pair = leanPair();
    const garbage = await withGarbage(pair);
    pair.clock.advance(GRACE);
    const denied = {
      load: pair.state.load.bind(pair.state),
      save: pair.state.save.bind(pair.state),
      list: pair.state.list.bind(pair.state),
      delete: () => Promise.reject(new Error('AccessDenied: s3:DeleteObject')),
    };
    const before = pair.state.keys();
    const r = await sweepChunks(denied, 'vm-0', 'primary', pair.clock.now(), GRACE);
    expect(r).toMatchObject({
      deleted: 0,
      failed: garbage.length,
      firstError: 'AccessDenied: s3:DeleteObject',
    });
    expect(pair.state.keys()).toEqual(before);
    const later = await sweepChunks(pair.state, 'vm-0', 'primary', pair.clock.now(), GRACE);
    expect(later.deleted).toBe(garbage.length);
  });

  test('a listing or a document read that fails deletes nothing', async () => {
    const pair = leanPair();
    await withGarbage(pair);
    pair.clock.advance(GRACE);
    const before = pair.state.keys();
    const failingRead = {
      load: () => Promise.reject(new Error('S3 503 SlowDown')),
      save: pair.state.save.bind(pair.state),
      list: pair.state.list.bind(pair.state),
      delete: pair.state.delete.bind(pair.state),
    };
    await expect(sweepChunks(failingRead, 'vm-0', 'primary', pair.clock.now(), GRACE)).rejects.toThrow(
      'SlowDown',
    );
    const failingList = {
      ...failingRead,
      load: pair.state.load.bind(pair.state),
      list: () => Promise.reject(new Error('S3 500')),
    };
    await expect(sweepChunks(failingList, 'vm-0', 'primary', pair.clock.now(), GRACE)).rejects.toThrow(
      'S3 500',
    );
    expect(pair.state.keys()).toEqual(before);
  });

  test('at most maxDeletes per call; the rest are deferred to the next', async () => {
    const pair = leanPair();
    const garbage = await withGarbage(pair);
    expect(garbage.length).toBeGreaterThanOrEqual(2);
    pair.clock.advance(GRACE);
    const first = await sweepChunks(pair.state, 'vm-0', 'primary', pair.clock.now(), GRACE, 1);
    expect(first).toMatchObject({ deleted: 1, deferred: garbage.length - 1 });
    const rest = await sweepChunks(pair.state, 'vm-0', 'primary', pair.clock.now(), GRACE, 1000);
    expect(rest).toMatchObject({ deleted: garbage.length - 1, deferred: 0 });
  });

  test('without a document every object is pending: nothing is deleted', async () => {
    const pair = leanPair();
    await withGarbage(pair);
    const keys = objectKeys(pair);
    await pair.state.delete(nodeStateKey('vm-0', 'primary'));
    const r = await sweepChunks(pair.state, 'vm-0', 'primary', pair.clock.now() + 10 * GRACE, GRACE);
    expect(r).toMatchObject({ deleted: 0, pending: keys.length });
  });
});
