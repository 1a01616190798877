import { describe, expect, test } from 'vitest';
import {
  consumedDeltaKeys,
  type InputOutcome,
  MemoryDeltaStore,
  retireDeltas,
} from '../../../src/runtime/cloud/index.ts';
import { testParams } from '../../helpers/engine.ts';
import { CloudPair } from './harness.ts';

const delta = (key: string, seq = 5) => JSON.stringify({ vmId: 'vm-1', seq, type: 'delta', claim: { key } });
const outcome = (index: number, status: InputOutcome['status']): InputOutcome => ({ index, status });

describe('consumedDeltaKeys: the objects a saved secondary has passed', () => {
  test('applied and duplicate deltas of this VM below inSeq; nothing else', () => {
    const bodies = [
      delta('vm-1/2/5-background-ram', 5), // applied
      delta('vm-1/2/6-checkpoint-ram', 6), // duplicate
      delta('vm-1/2/7-device-state', 7), // rejected: kept for the lifecycle rule
      delta('vm-1/2/8-background-ram', 8), // failed: delivered again, must still be there
      delta('vm-1/2/9-background-ram', 9), // applied, but the key's seq is not below inSeq
      delta('vm-2/2/3-background-ram', 3), // another VM's object
      delta('vm-1/2/4-not-a-kind', 4), // not a delta key
      JSON.stringify({ vmId: 'vm-1', seq: 2, type: 'heartbeat' }),
      '{"vmId": "vm-1", "seq": 1, "type": "delta", "claim": ', // not JSON
      undefined, // a tick
    ];
    const outcomes = [
      outcome(0, 'applied'),
      outcome(1, 'duplicate'),
      outcome(2, 'rejected'),
      outcome(3, 'failed'),
      outcome(4, 'applied'),
      outcome(5, 'applied'),
      outcome(6, 'applied'),
      outcome(7, 'applied'),
      outcome(8, 'applied'),
      outcome(9, 'duplicate'),
    ];
    expect(consumedDeltaKeys(bodies, outcomes, 'vm-1', 9)).toEqual([
      'vm-1/2/5-background-ram',
      'vm-1/2/6-checkpoint-ram',
    ]);
    // The same object named twice (a redelivered copy beside its original) is deleted once.
    expect(
      consumedDeltaKeys([bodies[0], bodies[0]], [outcome(0, 'applied'), outcome(1, 'duplicate')], 'vm-1', 9),
    ).toEqual(['vm-1/2/5-background-ram']);
  });

  test('retireDeltas counts what it could not delete and never throws', async () => {
    const store = new MemoryDeltaStore();
    await store.put('vm-1/1/1-background-ram', new Uint8Array([1]));
    await store.put('vm-1/1/2-background-ram', new Uint8Array([2]));
    store.beforeCall = (op, key) => {
      if (op === 'delete' && key.endsWith('2-background-ram')) throw new Error('AccessDenied');
    };
    const r = await retireDeltas(store, ['vm-1/1/1-background-ram', 'vm-1/1/2-background-ram']);
    expect(r).toEqual({ deleted: 1, failed: 1, firstError: 'Error: AccessDenied' });
    expect(store.keys()).toEqual(['vm-1/1/2-background-ram']);
    // A store that cannot delete: nothing happens.
    expect(await retireDeltas({ put: store.put.bind(store), get: store.get.bind(store) }, ['x'])).toEqual({
      deleted: 0,
      failed: 0,
    });
  });
});

/** Runs a pair through several checkpoints with background rounds, delivering every batch by hand. */
async function replicate(pair: CloudPair, ms: number) {
  const delivered: string[] = [];
  let deleted = 0;
  let failed = 0;
  const end = pair.clock.now() + ms;
  await pair.start();
  while (pair.clock.now() < end) {
    pair.clock.advance(10);
    const p = await pair.primaryDoc();
    if (p && p.wakeAt <= pair.clock.now()) await pair.primary([{ type: 'tick' }]);
    const s = await pair.secondaryDoc();
    if (s && s.wakeAt <= pair.clock.now()) await pair.secondary([{ type: 'tick' }]);
    for (let i = 0; i < 20 && (pair.p2s.size > 0 || pair.s2p.size > 0); i++) {
      const batch = pair.p2s.take(10);
      if (batch.length > 0) {
        const r = await pair.secondary(batch.map((b) => ({ type: 'message' as const, body: b.body })));
        delivered.push(...batch.map((b) => b.body));
        deleted += r.consumedDeltas.deleted;
        failed += r.consumedDeltas.failed;
      }
      await pair.toPrimary();
    }
  }
  const commits = (await pair.log('secondary')).flatMap((r) =>
    r.type === 'commit' ? [`${r.data.epoch}:${r.data.digest}`] : [],
  );
  return { delivered, deleted, failed, commits };
}

const kindOf = (body: string) => (JSON.parse(body) as { type: string; kind?: string }).kind;

describe('the secondary deletes the delta objects it consumed', () => {
  test('after each save: the store keeps nothing the secondary has passed; the replication is the same as without deleting', async () => {
    const pair = new CloudPair(testParams({ heartbeatTimeoutMs: 5000 }));
    const run = await replicate(pair, 5000);
    const kinds = new Set(run.delivered.map(kindOf));
    expect([...kinds]).toEqual(expect.arrayContaining(['background-ram', 'checkpoint-ram', 'device-state']));
    expect(run.commits.length).toBeGreaterThanOrEqual(3);
    expect(pair.deltas.stats.puts).toBeGreaterThan(5);
    expect(run.deleted).toBe(pair.deltas.stats.puts);
    expect(run.failed).toBe(0);
    expect(pair.deltas.keys()).toEqual([]);

    // Every delete failing (denied): the objects stay for the lifecycle rule, and nothing else differs.
    const denied = new CloudPair(testParams({ heartbeatTimeoutMs: 5000 }));
    denied.deltas.beforeCall = (op) => {
      if (op === 'delete') throw new Error('AccessDenied: s3:DeleteObject');
    };
    const kept = await replicate(denied, 5000);
    expect(kept.commits).toEqual(run.commits);
    expect(kept.delivered).toEqual(run.delivered);
    expect(kept.deleted).toBe(0);
    expect(kept.failed).toBe(denied.deltas.stats.puts);
    expect(denied.deltas.keys()).toHaveLength(denied.deltas.stats.puts);
  });

  test('a delta delivered again after its object was deleted is acknowledged as a duplicate, never refused', async () => {
    const pair = new CloudPair(testParams({ heartbeatTimeoutMs: 5000 }));
    const run = await replicate(pair, 3000);
    const deltas = run.delivered.filter((b) => kindOf(b) !== undefined);
    expect(deltas.length).toBeGreaterThan(3);
    expect(pair.deltas.keys()).toEqual([]);
    const before = await pair.secondaryDoc();
    const gets = pair.deltas.stats.gets;
    const again = await pair.secondary(deltas.map((body) => ({ type: 'message' as const, body })));
    expect(again.outcomes.map((o) => o.status)).toEqual(deltas.map(() => 'duplicate'));
    // Judged by its number alone: no object was read.
    expect(pair.deltas.stats.gets).toBe(gets);
    expect((await pair.secondaryDoc())?.state.inSeq).toBe(before?.state.inSeq);
  });

  test('a delta whose read failed is not deleted: delivered again, it is applied from its object', async () => {
    // The failed reads' backoff (0.7 s of the virtual clock) stays inside the apply timeout.
    const pair = new CloudPair(
      testParams({
        policy: 'fixed',
        heartbeatTimeoutMs: 5000,
        applyTimeoutMs: 3000,
        checkpointTimeoutMs: 6000,
      }),
    );
    await pair.start();
    pair.clock.advance(100);
    await pair.primary([{ type: 'tick' }]);
    const batch = pair.p2s.take(10).map((r) => ({ type: 'message' as const, body: r.body }));
    expect(batch.some((b) => kindOf(b.body) === 'background-ram')).toBe(true);
    pair.deltas.beforeCall = (op) => {
      if (op === 'get') throw new Error('SlowDown');
    };
    const first = await pair.secondary(batch);
    pair.deltas.beforeCall = undefined;
    const failedAt = first.outcomes.findIndex((o) => o.status === 'failed');
    expect(failedAt).toBeGreaterThanOrEqual(0);
    expect(pair.deltas.keys()).toHaveLength(1);
    const again = await pair.secondary(batch.slice(failedAt, failedAt + 1));
    expect(again.outcomes[0]?.status).toBe('applied');
    expect(again.consumedDeltas.deleted).toBe(1);
    expect(pair.deltas.keys()).toEqual([]);
  });
});
