import { describe, expect, test } from 'vitest';
import {
  CasExhaustedError,
  claimFence,
  LEFT_TO_CONCURRENT,
  type MemoryStateStore,
  nodeStateKey,
  OutboxRebuildError,
} from '../../../src/runtime/cloud/index.ts';
import { testParams } from '../../helpers/engine.ts';
import { expectContiguous } from './contiguous.ts';
import { CloudPair } from './harness.ts';

/** Brings the pair to the point where the primary's next input (the reply) starts the epoch transfer. */
async function untilReply(pair: CloudPair): Promise<void> {
  await pair.start();
  pair.clock.advance(1000);
  await pair.primary([{ type: 'tick' }]);
  await pair.toSecondary();
}

/**
 * A pair whose primary's checkpoint sends were saved by a writer that died before sending them (its channel
 * failed: they stay in the document, as a crash after the save leaves them).
 */
async function writerDiedWithSends(): Promise<CloudPair> {
  const pair = new CloudPair(testParams({ policy: 'none' }));
  await untilReply(pair);
  pair.p2s.beforeSend = () => {
    throw new Error('the writer died');
  };
  await expect(pair.toPrimary()).rejects.toThrow(/could not send/);
  pair.p2s.beforeSend = undefined;
  return pair;
}

/** The secondary's first commit carries the primary's first checkpoint digest; P → S stayed contiguous. */
async function expectFirstCommitMatches(pair: CloudPair): Promise<void> {
  const ckpt = (await pair.log('primary')).find((r) => r.type === 'checkpoint');
  const commit = (await pair.log('secondary')).find((r) => r.type === 'commit');
  expect(commit?.type === 'commit' && commit.data.digest).toBe(
    ckpt?.type === 'checkpoint' && ckpt.data.digest,
  );
  expectContiguous(pair.p2s.history);
}

describe('compare-and-swap', () => {
  test('a conflicting write is reloaded and retried; the input is applied once', async () => {
    const pair = new CloudPair(testParams({ policy: 'none' }));
    await pair.start();
    pair.clock.advance(1000);
    let interfered = false;
    pair.state.beforeSave = async (key) => {
      if (interfered || key !== nodeStateKey('vm-0', 'primary')) return;
      interfered = true;
      // Another invocation (a timer tick) commits first.
      const saved = pair.state.beforeSave;
      pair.state.beforeSave = undefined;
      await pair.primary([{ type: 'tick' }]);
      pair.state.beforeSave = saved;
    };
    pair.clock.advance(5);
    const r = await pair.primary([{ type: 'request-checkpoint', trigger: 'request' }]);
    pair.state.beforeSave = undefined;
    expect(r.casConflicts).toBe(1);
    expect(r.outcomes).toEqual([{ index: 0, status: 'applied' }]);
    // The tick started the periodic checkpoint; the request, retried on top of it, was coalesced.
    expect(r.document.state.phase).toBe('ckpt-wait-reply');
    expect(r.document.state.coalesced).toBe(1);
    expect(pair.p2s.history.filter((m) => m.type === 'checkpoint-request').length).toBe(1);
    expectContiguous(pair.p2s.history);
  });

  test('concurrent invocations on one node stay consistent', async () => {
    const pair = new CloudPair(testParams({ policy: 'fixed' }));
    await pair.start();
    let conflicts = 0;
    for (let i = 0; i < 150; i++) {
      pair.clock.advance(10);
      const inbound = pair.s2p.take().map((r) => ({ type: 'message' as const, body: r.body }));
      const outbound = pair.p2s.take().map((r) => ({ type: 'message' as const, body: r.body }));
      const results = await Promise.all([
        pair.primary([{ type: 'tick' }]),
        pair.primary(inbound),
        pair.secondary([{ type: 'tick' }]),
        pair.secondary(outbound),
      ]);
      conflicts += results.reduce((n, r) => n + r.casConflicts, 0);
      // A tick before the node's next wake is acknowledged unstepped (`duplicate`); nothing else is refused.
      for (const r of results) {
        expect(r.outcomes.every((o) => o.status === 'applied' || o.status === 'duplicate')).toBe(true);
      }
      expect(results[3]?.outcomes.every((o) => o.status === 'applied')).toBe(true);
    }
    expect(conflicts).toBeGreaterThan(0);
    expectContiguous(pair.p2s.history);
    expectContiguous(pair.s2p.history);
    const checkpoints = (await pair.log('primary')).flatMap((r) => (r.type === 'checkpoint' ? [r.data] : []));
    const commits = (await pair.log('secondary')).flatMap((r) => (r.type === 'commit' ? [r.data] : []));
    expect(checkpoints.length).toBeGreaterThan(0);
    expect(commits.slice(0, checkpoints.length).map((c) => c.digest)).toEqual(
      checkpoints.map((c) => c.digest),
    );
    const log = await pair.log('primary');
    expect(log.map((r) => r.n)).toEqual(log.map((_, i) => i));
  });

  test('inputs committed, then another writer saves sends: it is left to perform them, nothing replayed here', async () => {
    const pair = new CloudPair(testParams({ policy: 'none' }));
    await untilReply(pair);
    let saves = 0;
    let interfered = false;
    pair.state.beforeSave = async (key) => {
      // This invocation's second save (its first persisted the checkpoint's sends, which it then sent).
      if (key !== nodeStateKey('vm-0', 'primary') || ++saves !== 2) return;
      interfered = true;
      // Meanwhile another invocation (a timer tick) took the document, replayed the sends and saved its
      // outbox (its channel failed every try: it persisted and gave up, its sends still in the document).
      const saved = pair.state.beforeSave;
      pair.state.beforeSave = undefined;
      pair.p2s.beforeSend = () => {
        throw new Error('channel down for the other writer');
      };
      await expect(pair.primary([{ type: 'tick' }])).rejects.toThrow(/could not send/);
      pair.p2s.beforeSend = undefined;
      pair.state.beforeSave = saved;
    };
    const r = await pair.toPrimary();
    pair.state.beforeSave = undefined;
    if (!r) throw new Error('no reply reached the primary');
    expect(interfered).toBe(true);
    expect(r.casConflicts).toBe(1);
    expect(r.leftToConcurrent).toBe(true);
    // Its inputs were committed before the conflict; the stored outbox was not replayed here.
    expect(r.outcomes.map((o) => o.status)).toEqual(['applied']);
    expect(r.replayed).toBe(0);
    const left = await pair.primaryDoc();
    expect(left?.outbox.sends.length).toBeGreaterThan(0);
    // The next invocation performs the outbox; the checkpoint commits with the primary's digest.
    pair.clock.advance(100);
    const next = await pair.primary([{ type: 'tick' }]);
    expect(next.replayed).toBeGreaterThan(0);
    await pair.settle();
    await expectFirstCommitMatches(pair);
  });

  test('a tick that loses to a writer with sends in the document leaves them to it (no replay, no retry)', async () => {
    const pair = new CloudPair(testParams({ policy: 'none' }));
    await untilReply(pair);
    pair.clock.advance(100);
    let interfered = false;
    pair.state.beforeSave = async (key) => {
      if (interfered || key !== nodeStateKey('vm-0', 'primary')) return;
      interfered = true;
      // Before the tick's save another invocation consumes the reply and saves the checkpoint's sends
      // (its channel fails: they stay in the document).
      pair.state.beforeSave = undefined;
      pair.p2s.beforeSend = () => {
        throw new Error('channel down for the other writer');
      };
      await expect(pair.toPrimary()).rejects.toThrow(/could not send/);
      pair.p2s.beforeSend = undefined;
    };
    const tick = await pair.primary([{ type: 'tick' }]);
    expect(interfered).toBe(true);
    expect(tick.casConflicts).toBe(1);
    expect(tick.leftToConcurrent).toBe(true);
    expect(tick.outcomes).toEqual([
      expect.objectContaining({ index: 0, status: 'duplicate', code: LEFT_TO_CONCURRENT }),
    ]);
    expect(tick.replayed).toBe(0);
    expect(pair.p2s.size).toBe(0);
    // The next tick (the sends' writer gave up) performs them; the checkpoint commits.
    pair.clock.advance(100);
    expect((await pair.primary([{ type: 'tick' }])).replayed).toBeGreaterThan(0);
    await pair.settle();
    await expectFirstCommitMatches(pair);
  });

  test("leaveFreshOutboxMs: a tick leaves sends saved moments ago to their writer, and performs a dead writer's later", async () => {
    const pair = await writerDiedWithSends();
    const savedAt = (await pair.primaryDoc())?.updatedAt ?? 0;
    // A pulse tick a second later: the writer may still be uploading — left to it, nothing performed.
    pair.clock.advance(1000);
    const early = await pair.primary([{ type: 'tick' }], { leaveFreshOutboxMs: 3000 });
    expect(early.leftToConcurrent).toBe(true);
    expect(early.casConflicts).toBe(0);
    expect(early.replayed).toBe(0);
    expect(pair.p2s.size).toBe(0);
    // Three seconds after the save: the writer is taken for dead, the tick performs its sends.
    pair.clock.advance(savedAt + 3000 - pair.clock.now());
    const late = await pair.primary([{ type: 'tick' }], { leaveFreshOutboxMs: 3000 });
    expect(late.leftToConcurrent).toBeUndefined();
    expect(late.replayed).toBeGreaterThan(0);
    await pair.settle();
    await expectFirstCommitMatches(pair);
  });

  test("a tick that finds a dead writer's checkpoint sends in a node fenced since drops them unperformed", async () => {
    const pair = await writerDiedWithSends();
    const left = (await pair.primaryDoc())?.outbox.sends.length ?? 0;
    expect(left).toBeGreaterThan(0);
    // …and the secondary takes over meanwhile (its wait ran out): the fence names it.
    expect(
      await claimFence(pair.state, 'vm-0', 'secondary', 'timed out in ckpt-wait-ram', pair.clock.now()),
    ).toBe('secondary');
    const putsBefore = pair.deltas.stats.puts;
    pair.clock.advance(10_000);
    const tick = await pair.primary([{ type: 'tick' }], { leaveFreshOutboxMs: 6000 });
    // The primary learns it is fenced and sends nothing: no object uploaded, no message on the channel.
    expect(tick.droppedAfterExit).toBe(left);
    expect(tick.sent).toEqual([]);
    expect(tick.replayed).toBe(0);
    expect(pair.deltas.stats.puts).toBe(putsBefore);
    expect(pair.p2s.size).toBe(0);
    const doc = await pair.primaryDoc();
    expect(doc?.exit?.reason).toBe('fenced');
    expect(doc?.outbox.sends).toEqual([]);
    // Nothing comes back: the next tick has nothing to drop.
    pair.clock.advance(1000);
    expect((await pair.primary([{ type: 'tick' }])).droppedAfterExit).toBe(0);
  });

  test('a long perform that finds the fence decided before its next put stops there: nothing more is uploaded or sent', async () => {
    const pair = new CloudPair(testParams({ policy: 'none' }));
    await untilReply(pair);
    // The writer consuming the reply performs the checkpoint's sends; its first upload is slow…
    let release: () => void = () => undefined;
    const gate = new Promise<void>((r) => {
      release = r;
    });
    let puts = 0;
    let reached: () => void = () => undefined;
    const uploading = new Promise<void>((r) => {
      reached = r;
    });
    pair.deltas.beforeCall = async (op) => {
      if (op !== 'put') return;
      puts++;
      if (puts === 1) {
        reached();
        await gate;
      }
    };
    const sentBefore = pair.p2s.history.length;
    const writer = pair.toPrimary();
    await uploading;
    const announced = pair.p2s.history.length - sentBefore;
    // vmstate-send left before the upload of the checkpoint's RAM.
    expect(announced).toBe(1);
    // …meanwhile the secondary's wait ran out and it took the fence; the upload ends 3 s later.
    await claimFence(pair.state, 'vm-0', 'secondary', 'timed out in ckpt-wait-ram', pair.clock.now());
    pair.clock.advance(3_000);
    release();
    const r = await writer;
    pair.deltas.beforeCall = undefined;
    // No further put, no further message: the fence was read before them.
    expect(puts).toBe(1);
    expect(pair.p2s.history.length - sentBefore).toBe(announced);
    expect(r?.droppedAfterExit).toBeGreaterThan(0);
    // The invocation reports the messages that did leave (before the upload), and no other.
    expect(r?.sent).toHaveLength(announced);
    expect((r?.sent.length ?? 0) + (r?.droppedAfterExit ?? 0)).toBe(4);
    const doc = await pair.primaryDoc();
    expect(doc?.exit?.reason).toBe('fenced');
    expect(doc?.outbox.sends).toEqual([]);
  });

  test('gives up with a clear error when every attempt loses', async () => {
    const pair = new CloudPair(testParams());
    const store: MemoryStateStore = pair.state;
    await pair.secondary([{ type: 'start' }]);
    // Another writer commits between every load and save.
    store.beforeSave = async (key) => {
      const cur = await store.load(key);
      if (cur) store.put(key, cur.value, cur.etag);
    };
    await expect(pair.secondary([{ type: 'failover' }], { maxCasAttempts: 3 })).rejects.toThrow(
      CasExhaustedError,
    );
    await expect(pair.secondary([{ type: 'failover' }], { maxCasAttempts: 3 })).rejects.toThrow(
      /compare-and-swap lost 3 times in a row/,
    );
  });
});

describe('the outbox', () => {
  test('a crash between persist and send: the next invocation sends it (payloads rebuilt)', async () => {
    const pair = new CloudPair(testParams({ policy: 'none' }));
    await untilReply(pair);
    // The channel is down (every retry fails): the invocation gives up after persisting its outbox.
    pair.p2s.beforeSend = () => {
      throw new Error('crash');
    };
    await expect(pair.toPrimary()).rejects.toThrow('crash');
    pair.p2s.beforeSend = undefined;
    const left = await pair.primaryDoc();
    expect(left?.outbox.sends.map((s) => s.message.type)).toEqual([
      'vmstate-send',
      'delta',
      'vmstate-size',
      'delta',
    ]);
    expect(left?.outbox.attempts).toBe(1);
    expect(pair.p2s.size).toBe(0);

    const replay = await pair.primary([{ type: 'tick' }]);
    expect(replay.replayed).toBe(4);
    expect(replay.rebuilt).toBe(2);
    expect(replay.document.outbox.sends).toEqual([]);
    await pair.settle();
    await expectFirstCommitMatches(pair);
  });

  test('a crash after sending, before the second persist: the replay is deduplicated, completions fed once', async () => {
    const pair = new CloudPair(testParams({ policy: 'fixed' }));
    await pair.start();
    pair.clock.advance(100);
    let saves = 0;
    pair.state.beforeSave = (key) => {
      if (key === nodeStateKey('vm-0', 'primary') && ++saves === 2) throw new Error('crash after send');
    };
    await expect(pair.primary([{ type: 'tick' }])).rejects.toThrow('crash after send');
    pair.state.beforeSave = undefined;
    const sentBefore = pair.p2s.history.length;
    expect(pair.p2s.history.map((m) => m.type)).toEqual(
      expect.arrayContaining(['migrate-ram-background', 'delta']),
    );

    const replay = await pair.primary([{ type: 'tick' }]);
    expect(replay.replayed).toBeGreaterThanOrEqual(2);
    expect(pair.p2s.stats.duplicates).toBeGreaterThanOrEqual(2);
    const rounds = (await pair.log('primary')).filter((r) => r.type === 'round' && r.data.round === 1);
    expect(rounds.length).toBe(1);
    expect(pair.p2s.history.length).toBeGreaterThanOrEqual(sentBefore);
    expectContiguous(pair.p2s.history);
    await pair.settle();
    expect((await pair.secondaryDoc())?.state.appliedRounds).toEqual([1]);
  });

  test('a replay whose payload cannot be rebuilt exactly is refused (never sends a wrong object)', async () => {
    const pair = new CloudPair(testParams({ policy: 'none' }));
    await untilReply(pair);
    pair.p2s.beforeSend = () => {
      throw new Error('channel down');
    };
    await expect(pair.toPrimary()).rejects.toThrow('channel down');
    pair.p2s.beforeSend = undefined;
    // The parameters changed under the stored outbox (another seed): the rebuilt bytes differ from the claim.
    const other = new CloudPair(testParams({ policy: 'none', seed: 99 }));
    const key = nodeStateKey('vm-0', 'primary');
    other.state.put(key, pair.state.peek(key) as Uint8Array, undefined);
    await expect(other.primary([{ type: 'tick' }])).rejects.toThrow(OutboxRebuildError);
    // The outbox is performed in order: vmstate-send went out, the delta whose object differs did not.
    expect(other.p2s.history.map((m) => m.type)).toEqual(['vmstate-send']);
    expect(other.deltas.keys()).toEqual([]);
  });
});
