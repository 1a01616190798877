/**
 * Outbox integrity and streaming checkpoints: no message is ever dropped, a payload that cannot be stored
 * retires its sequence number with a `skip`, a failing log holds no message back, and a checkpoint is
 * uploaded one chunk at a time (bounded memory, the secondary's deadline pushed per chunk).
 */
import { describe, expect, test } from 'vitest';
import type { DeltaStore } from '../../../src/engine/ports.ts';
import type { ColoMessage } from '../../../src/engine/protocol/messages.ts';
import {
  type CloudPorts,
  encodeDocument,
  logSegmentKey,
  nodeStateKey,
  primaryInvocation,
} from '../../../src/runtime/cloud/index.ts';
import { testParams } from '../../helpers/engine.ts';
import { expectContiguous } from './contiguous.ts';
import { CloudPair } from './harness.ts';

function types(messages: readonly ColoMessage[]): string[] {
  return messages.map((m) => (m.type === 'delta' ? `delta(${m.kind})` : m.type));
}

/** Marks every page of the primary's guest dirty at a fresh version (a dirty set as large as the guest). */
async function dirtyEverything(pair: CloudPair): Promise<void> {
  const doc = await pair.primaryDoc();
  if (!doc) throw new Error('no primary document');
  for (let p = 0; p < doc.state.versions.length; p++) {
    doc.state.versions[p] = (doc.state.versions[p] ?? 0) + 1;
    doc.state.dirty.set(p);
  }
  const key = nodeStateKey(pair.params.vmId, 'primary');
  const cur = await pair.state.load(key);
  pair.state.put(key, encodeDocument(doc), cur?.etag);
}

async function checkpointsAndCommits(pair: CloudPair) {
  const checkpoints = (await pair.log('primary')).flatMap((r) => (r.type === 'checkpoint' ? [r.data] : []));
  const commits = (await pair.log('secondary')).flatMap((r) => (r.type === 'commit' ? [r.data] : []));
  return { checkpoints, commits };
}

describe('streaming checkpoints', () => {
  test('an upload of ≥ 3× applyTimeoutMs in total commits; one chunk (+ device state) is held at a time', async () => {
    // 256 pages in chunks of 16: a whole-guest dirty set is 16 chunks.
    const params = testParams({ policy: 'none', maxDeltaBytes: 16 * 4096 });
    const pair = new CloudPair(params);
    await pair.start();
    await pair.settle();
    await dirtyEverything(pair);
    pair.clock.advance(1000);
    await pair.primary([{ type: 'tick' }]);
    await pair.toSecondary(); // checkpoint-request → checkpoint-reply

    // A slow store (each put takes 150 ms, far less than the 500 ms apply timeout, 16 × 150 ms ≫ 3 × 500 ms),
    // with the secondary consuming its queue and ticking while the primary uploads, as its Lambda would.
    const putMs = 150;
    const sizes: number[] = [];
    let secondarySawFailover = false;
    const slow: DeltaStore = {
      put: async (key, bytes) => {
        await pair.toSecondary();
        const s = await pair.secondaryDoc();
        if (s && s.wakeAt <= pair.clock.now()) await pair.secondary([{ type: 'tick' }]);
        if ((await pair.secondaryDoc())?.state.phase === 'failed-over') secondarySawFailover = true;
        await pair.clock.sleep(putMs);
        sizes.push(bytes.byteLength);
        await pair.deltas.put(key, bytes);
      },
      get: (key) => pair.deltas.get(key),
    };
    const ports: CloudPorts = { state: pair.state, deltas: slow, channel: pair.p2s };
    const t0 = pair.clock.now();
    const reply = pair.s2p.take().map((r) => ({ type: 'message' as const, body: r.body }));
    const r = await primaryInvocation(ports, params, pair.clock.now, reply, pair.options);
    const uploadMs = pair.clock.now() - t0;
    await pair.settle();

    expect(uploadMs).toBeGreaterThanOrEqual(3 * params.applyTimeoutMs);
    expect(sizes.length).toBe(17); // 16 chunks + device state
    expect(secondarySawFailover).toBe(false);
    const deviceBytes = sizes.at(-1) as number;
    const largestChunk = Math.max(...sizes.slice(0, -1));
    // One chunk at a time, plus the device state that travels with the last one.
    expect(r.peakPayloadBytes).toBeGreaterThan(0);
    expect(r.peakPayloadBytes).toBeLessThanOrEqual(largestChunk + deviceBytes);
    expect(r.peakPayloadBytes * 4).toBeLessThan(sizes.reduce((a, b) => a + b, 0));
    // In order: each chunk's message right after its object, the device state last.
    expect(types(r.sent)).toEqual([
      'vmstate-send',
      ...Array.from({ length: 16 }, () => 'delta(checkpoint-ram)'),
      'vmstate-size',
      'delta(device-state)',
    ]);

    const { checkpoints, commits } = await checkpointsAndCommits(pair);
    expect(checkpoints).toHaveLength(1);
    expect(checkpoints[0]?.pages).toBe(256);
    expect(checkpoints[0]?.downtimeMs).toBeGreaterThanOrEqual(uploadMs);
    // The memory phase spans the chunks (stop + prep → last chunk left): 15 puts after the first.
    expect(checkpoints[0]?.phases.memory).toBeGreaterThanOrEqual(15 * putMs);
    expect(commits.map((c) => c.digest)).toEqual(checkpoints.map((c) => c.digest));
    expect((await pair.secondaryDoc())?.state.phase).toBe('idle');
  });

  test('a checkpoint with more chunks than 32 drain rounds still finishes in one invocation', async () => {
    const params = testParams({ policy: 'none', maxDeltaBytes: 4 * 4096 }); // 64 chunks
    const pair = new CloudPair(params);
    await pair.start();
    await pair.settle();
    await dirtyEverything(pair);
    pair.clock.advance(1000);
    await pair.primary([{ type: 'tick' }]);
    await pair.toSecondary();
    const r = await pair.toPrimary();
    expect(r?.sent.filter((m) => m.type === 'delta').length).toBe(65);
    expect(r?.document.outbox.sends).toEqual([]);
    await pair.settle();
    const { checkpoints, commits } = await checkpointsAndCommits(pair);
    expect(commits.map((c) => c.digest)).toEqual(checkpoints.map((c) => c.digest));
  });
});

describe('a payload that cannot be stored', () => {
  test('retires its sequence number with a skip; the round fails; a replay after a crash sends the same skip', async () => {
    const pair = new CloudPair(testParams({ policy: 'fixed' }));
    // Short backoffs, so the secondary's 400 ms watchdog does not fire while the puts are retried.
    pair.options = { ...pair.options, retryBackoffMs: 10 };
    await pair.start();
    pair.clock.advance(100);
    let puts = 0;
    pair.deltas.beforeCall = (op) => {
      if (op === 'put') {
        puts++;
        throw new Error('S3 is down');
      }
    };
    // The process dies after the retirement was persisted, before the skip leaves.
    pair.p2s.beforeSend = (messages) => {
      if (messages.some((m) => m.type === 'skip')) throw new Error('crash');
    };
    await expect(pair.primary([{ type: 'tick' }])).rejects.toThrow('crash');
    expect(puts).toBe(4);
    const left = await pair.primaryDoc();
    const retired = left?.outbox.sends.find((s) => s.message.type === 'skip');
    expect(retired?.payload).toBeNull();
    expect(retired?.message).toMatchObject({ type: 'skip', retired: 'delta', epoch: 1 });
    const mrb = pair.p2s.history.find((m) => m.type === 'migrate-ram-background');
    expect(retired?.message.seq).toBe((mrb?.seq ?? -2) + 1);
    const reason = retired?.message.type === 'skip' ? retired.message.reason : '';
    expect(reason).toMatch(/put vm-0\/1\/\d+-background-ram failed 4 times: Error: S3 is down/);
    expect(reason.length).toBeLessThanOrEqual(200);

    // Both recover; the replay sends the skip that was decided — never the delta.
    pair.deltas.beforeCall = undefined;
    pair.p2s.beforeSend = undefined;
    const replay = await pair.primary([{ type: 'tick' }]);
    expect(replay.sent.find((m) => m.seq === retired?.message.seq)).toEqual(retired?.message);
    expect(pair.p2s.history.filter((m) => m.seq === retired?.message.seq)).toEqual([retired?.message]);
    const rounds = (await pair.log('primary')).flatMap((r) => (r.type === 'round' ? [r.data] : []));
    expect(rounds.filter((r) => r.round === 1)).toEqual([expect.objectContaining({ ok: false, pages: 0 })]);
    expect((await pair.log('primary')).filter((r) => r.type === 'send-retired')).toHaveLength(1);
    expectContiguous(pair.p2s.history);

    // Replication goes on: the next checkpoint carries the round's pages and commits the PVM's image.
    await pair.run(1000);
    const { checkpoints, commits } = await checkpointsAndCommits(pair);
    expect(checkpoints.length).toBeGreaterThan(0);
    expect(commits.slice(0, checkpoints.length).map((c) => c.digest)).toEqual(
      checkpoints.map((c) => c.digest),
    );
  });

  test('in a checkpoint: the skip goes out in the chunk’s place and the primary leaves COLO', async () => {
    const pair = new CloudPair(testParams({ policy: 'none' }));
    // Short backoffs: 4 tries of two puts must fit in the transaction's 2 s deadline.
    pair.options = { ...pair.options, retryBackoffMs: 10 };
    await pair.start();
    pair.clock.advance(1000);
    await pair.primary([{ type: 'tick' }]);
    await pair.toSecondary();
    pair.deltas.beforeCall = (op) => {
      if (op === 'put') throw new Error('S3 is down');
    };
    const r = await pair.toPrimary();
    pair.deltas.beforeCall = undefined;
    expect(r?.retired).toBeGreaterThanOrEqual(1);
    expect(types(r?.sent ?? [])[1]).toBe('skip');
    expect(r?.document.state.phase).toBe('exited');
    expect(r?.document.exit?.detail).toMatch(
      /checkpoint send failed: object not stored: put .* failed 4 times/,
    );
    expectContiguous(pair.p2s.history);
  });
});

describe('a channel that fails for a while', () => {
  test('drops nothing: every message arrives, in order, once it recovers', async () => {
    // Deadlines long enough for a few seconds of outage (each failed invocation retries for 1.3 s).
    const pair = new CloudPair(
      testParams({
        policy: 'none',
        applyTimeoutMs: 3000,
        checkpointTimeoutMs: 10_000,
        heartbeatTimeoutMs: 10_000,
      }),
    );
    await pair.start();
    await pair.settle();
    let refused = 0;
    const down = () => {
      refused++;
      throw new Error('SQS unavailable');
    };
    // P → S is down when the checkpoint starts, across several invocations.
    pair.p2s.beforeSend = down;
    pair.clock.advance(1000);
    await expect(pair.primary([{ type: 'tick' }])).rejects.toThrow('SQS unavailable');
    for (let i = 0; i < 3; i++) {
      pair.clock.advance(100);
      await expect(pair.primary([{ type: 'tick' }])).rejects.toThrow(/could not send/);
    }
    expect(refused).toBe(16); // 4 invocations × 4 tries
    expect((await pair.primaryDoc())?.outbox.sends.map((s) => s.message.type)).toEqual([
      'checkpoint-request',
    ]);
    pair.p2s.beforeSend = undefined;

    // S → P is down for the reply.
    pair.s2p.beforeSend = down;
    pair.clock.advance(100);
    await pair.primary([{ type: 'tick' }]);
    await expect(pair.toSecondary()).rejects.toThrow('SQS unavailable');
    expect((await pair.secondaryDoc())?.outbox.sends.map((s) => s.message.type)).toEqual([
      'checkpoint-reply',
    ]);
    pair.s2p.beforeSend = undefined;
    await pair.secondary([{ type: 'tick' }]);
    await pair.settle();

    expect(types(pair.p2s.history)).toEqual(
      expect.arrayContaining(['checkpoint-request', 'vmstate-send', 'vmstate-size']),
    );
    expectContiguous(pair.p2s.history);
    expectContiguous(pair.s2p.history);
    expect(pair.p2s.history.some((m) => m.type === 'skip')).toBe(false);
    const { checkpoints, commits } = await checkpointsAndCommits(pair);
    expect(checkpoints).toHaveLength(1);
    expect(commits.map((c) => c.digest)).toEqual(checkpoints.map((c) => c.digest));
  });
});

describe('a metrics log that keeps failing', () => {
  test('holds no message back; its records wait in the document, bounded, and reach the log later', async () => {
    // Pending checks every 100 ms: many records.
    const pair = new CloudPair(testParams({ policy: 'fixed' }));
    await pair.start();
    const logKeys = new Set(
      Array.from({ length: 32 }, (_, i) => logSegmentKey(pair.params.vmId, 'primary', i)),
    );
    pair.state.beforeSave = (key) => {
      if (logKeys.has(key)) throw new Error('log bucket unavailable');
    };
    const backlog = { maxLogBacklog: 8 };
    pair.options = { ...pair.options, ...backlog };
    await pair.run(2500);
    const doc = await pair.primaryDoc();
    expect(doc?.outbox.sends).toEqual([]);
    expect(doc?.outbox.records.length).toBeLessThanOrEqual(8);
    expect(doc?.outbox.lastError).toMatch(/log append failed/);
    expect(await pair.log('primary')).toEqual([]);
    // The messages all went: checkpoints committed on the secondary, in order.
    const commits = (await pair.log('secondary')).filter((r) => r.type === 'commit');
    expect(commits.length).toBeGreaterThanOrEqual(2);
    expectContiguous(pair.p2s.history);

    pair.state.beforeSave = undefined;
    pair.clock.advance(10);
    const r = await pair.primary([{ type: 'tick' }]);
    expect(r.logDeferred).toBe(false);
    const log = await pair.log('primary');
    const dropped = log.filter((x) => x.type === 'log-dropped');
    expect(dropped.length).toBeGreaterThan(0);
    expect(log.some((x) => x.type === 'pending-check')).toBe(true);
    const lost = dropped.reduce((n, x) => n + (x.type === 'log-dropped' ? x.data.dropped : 0), 0);
    // Every record number is either in the log or counted as dropped.
    expect(log.length + lost).toBe(r.document.logNext);
    expect(log.map((x) => x.n)).toEqual([...log.map((x) => x.n)].sort((a, b) => a - b));
  });
});

describe('the secondary holds one fetched payload at a time', () => {
  test('a retry after a lost compare-and-swap fetches again and steps at the first time', async () => {
    const pair = new CloudPair(testParams({ policy: 'fixed' }));
    await pair.start();
    pair.clock.advance(100);
    await pair.primary([{ type: 'tick' }]);
    const batch = pair.p2s.take().map((r) => ({ type: 'message' as const, body: r.body }));
    expect(batch.length).toBeGreaterThanOrEqual(3); // heartbeat, migrate-ram-background, delta
    const key = nodeStateKey(pair.params.vmId, 'secondary');
    let interfered = false;
    pair.state.beforeSave = async (k, store) => {
      if (interfered || k !== key) return;
      interfered = true;
      // Another writer bumps the document's version (same content) while time passes.
      const cur = await store.load(k);
      if (cur) store.put(k, cur.value, cur.etag);
      pair.clock.advance(50);
    };
    const gets = pair.deltas.stats.gets;
    const t0 = pair.clock.now();
    const r = await pair.secondary(batch);
    pair.state.beforeSave = undefined;
    expect(r.casConflicts).toBe(1);
    expect(r.outcomes.every((o) => o.status === 'applied')).toBe(true);
    expect(pair.deltas.stats.gets - gets).toBe(2); // fetched again for the retry, not kept
    expect(r.document.state.appliedRounds).toEqual([1]);
    // Stepped at the first time, not 50 ms later.
    expect(r.document.state.lastNow).toBe(t0);
  });
});
