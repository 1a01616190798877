import { describe, expect, test } from 'vitest';
import type { ColoMessage } from '../../../src/engine/protocol/messages.ts';
import { heartbeatSlackMs } from '../../../src/engine/secondary/heartbeat.ts';
import { encodeSecondaryState, nodeStateKey, readControl } from '../../../src/runtime/cloud/index.ts';
import { testParams } from '../../helpers/engine.ts';
import { CloudPair } from './harness.ts';

function types(messages: readonly ColoMessage[]): string[] {
  return messages.map((m) => (m.type === 'delta' ? `delta(${m.kind})` : m.type));
}

describe('a full checkpoint through the two invocations', () => {
  test('request → reply → epoch → received + loaded; the SVM commits exactly the PVM image', async () => {
    const pair = new CloudPair(testParams({ policy: 'none' }));
    const started = await pair.secondary([{ type: 'start' }]);
    expect(types(started.sent)).toEqual(['checkpoint-ready']);
    expect((await pair.toPrimary())?.document.state.phase).toBe('running');

    pair.clock.advance(1000);
    const tick = await pair.primary([{ type: 'tick' }]);
    expect(types(tick.sent)).toContain('checkpoint-request');
    expect(tick.document.state.phase).toBe('ckpt-wait-reply');

    const reply = await pair.toSecondary();
    expect(types(reply?.sent ?? [])).toEqual(['checkpoint-reply']);
    const epoch = await pair.toPrimary();
    expect(types(epoch?.sent ?? [])).toEqual([
      'vmstate-send',
      'delta(checkpoint-ram)',
      'vmstate-size',
      'delta(device-state)',
    ]);
    expect(pair.deltas.keys()).toEqual(
      expect.arrayContaining([
        expect.stringMatching(/^vm-0\/1\/\d+-checkpoint-ram$/),
        expect.stringMatching(/device-state$/),
      ]),
    );

    const commit = await pair.toSecondary();
    expect(commit?.outcomes.every((o) => o.status === 'applied')).toBe(true);
    // The commit's modelled flush ends a few ms later; the invocation waits for it (settle).
    expect(types(commit?.sent ?? [])).toEqual(['vmstate-received', 'vmstate-loaded']);
    expect(commit?.document.state.committedEpoch).toBe(1);

    const done = await pair.toPrimary();
    const ckpt = done?.effects.find((e) => e.type === 'checkpoint');
    expect(ckpt?.type === 'checkpoint' && ckpt.record.epoch).toBe(1);
    expect(done?.document.state.phase).toBe('running');
    expect(done?.document.state.epoch).toBe(2);

    const plog = await pair.log('primary');
    const slog = await pair.log('secondary');
    const checkpoint = plog.find((r) => r.type === 'checkpoint');
    const committed = slog.find((r) => r.type === 'commit');
    expect(checkpoint?.type === 'checkpoint' && checkpoint.data.downtimeMs).toBeGreaterThan(0);
    expect(committed?.type === 'commit' && committed.data.digest).toBe(
      checkpoint?.type === 'checkpoint' && checkpoint.data.digest,
    );
  });

  test('checkpoints keep coming on the timer; every commit matches its checkpoint', async () => {
    const pair = new CloudPair(testParams({ policy: 'none' }));
    await pair.start();
    await pair.run(3500);
    const checkpoints = (await pair.log('primary')).flatMap((r) => (r.type === 'checkpoint' ? [r.data] : []));
    const commits = (await pair.log('secondary')).flatMap((r) => (r.type === 'commit' ? [r.data] : []));
    expect(checkpoints.length).toBeGreaterThanOrEqual(3);
    expect(commits.map((c) => c.digest)).toEqual(checkpoints.map((c) => c.digest));
  });
});

describe('background rounds', () => {
  test('a round reaches the colo cache and spares the checkpoint those pages', async () => {
    const pair = new CloudPair(testParams({ policy: 'fixed' }));
    await pair.start();
    pair.clock.advance(100);
    const tick = await pair.primary([{ type: 'tick' }]);
    expect(types(tick.sent)).toEqual(
      expect.arrayContaining(['migrate-ram-background', 'delta(background-ram)']),
    );
    const round = tick.records.find((r) => r.type === 'round');
    expect(round?.type === 'round' && round.data.ok).toBe(true);

    const applied = await pair.toSecondary();
    expect(applied?.document.state.appliedRounds).toEqual([1]);
    expect(applied?.document.state.cache.size).toBeGreaterThan(0);
    expect(applied?.document.state.committedEpoch).toBe(0);

    await pair.run(1000);
    const ckpt = (await pair.log('primary')).find((r) => r.type === 'checkpoint');
    expect(ckpt?.type === 'checkpoint' && ckpt.data.rounds).toBeGreaterThan(0);
    expect(ckpt?.type === 'checkpoint' && ckpt.data.backgroundPages).toBeGreaterThan(0);
    expect(ckpt?.type === 'checkpoint' && ckpt.data.resentPages).toBe(0);
    const commit = (await pair.log('secondary')).find((r) => r.type === 'commit');
    expect(commit?.type === 'commit' && commit.data.digest).toBe(
      ckpt?.type === 'checkpoint' && ckpt.data.digest,
    );
  });

  test('a delta that arrives after the apply deadline (slow fetch) abandons the round', async () => {
    const pair = new CloudPair(testParams({ policy: 'fixed', heartbeatTimeoutMs: 5000 }));
    await pair.start();
    pair.clock.advance(100);
    await pair.primary([{ type: 'tick' }]);
    pair.deltas.beforeCall = (op) => {
      if (op === 'get') pair.clock.advance(600); // applyTimeoutMs is 500
    };
    const r = await pair.toSecondary();
    pair.deltas.beforeCall = undefined;
    // The deadline passed before the data could be applied: the round is abandoned first, and the late
    // delta, whose slot that retired, is acknowledged as stale (never applied, never dead-lettered).
    expect(r?.outcomes.map((o) => o.status)).toEqual(['applied', 'applied', 'duplicate', 'applied']);
    // A stale delta is not a refusal: nothing for the dead-letter queue.
    expect(r?.outcomes.some((o) => o.status === 'rejected')).toBe(false);
    expect(r?.effects.some((e) => e.type === 'trace' && e.name === 'colo_background_round_abandoned')).toBe(
      true,
    );
    expect(r?.document.state.appliedRounds).toEqual([]);
    expect(r?.document.state.cache.size).toBe(0);
  });
  test('a delta is judged when its object has been read, other messages at their first arrival', async () => {
    const pair = new CloudPair(testParams({ policy: 'fixed', heartbeatTimeoutMs: 5000 }));
    await pair.start();
    pair.clock.advance(100);
    await pair.primary([{ type: 'tick' }]);
    const arrivedAt = pair.clock.now();
    pair.deltas.beforeCall = (op) => {
      if (op === 'get') pair.clock.advance(600); // a slow transfer; applyTimeoutMs is 500
    };
    const batch = pair.p2s.take(10).map((r) => ({ type: 'message' as const, body: r.body, arrivedAt }));
    const r = await pair.secondary(batch);
    pair.deltas.beforeCall = undefined;
    // Every record arrived in time, but the round's data was only readable 600 ms later: abandoned whole.
    expect(r.effects.some((e) => e.type === 'trace' && e.name === 'colo_background_round_abandoned')).toBe(
      true,
    );
    expect(r.document.state.cache.size).toBe(0);
    expect(r.document.state.appliedRounds).toEqual([]);
  });
  test("a round whose data came after its apply timeout is abandoned even when another step moved the state's clock meanwhile (a compare-and-swap retry)", async () => {
    // The monitor steps the secondary while this invocation reads a slow delta: it abandons an older round
    // whose deadline fell due and saves, so this invocation's save conflicts and it steps its delivery
    // again on a state whose clock is past the announcement. Stepped alone, the announcement would be
    // raised to that clock and its deadline with it: data 600 ms after the announcement (applyTimeoutMs
    // 500) would count as in time.
    const run = async (concurrent: boolean) => {
      const pair = new CloudPair(testParams({ policy: 'fixed', heartbeatTimeoutMs: 5000 }));
      await pair.start();
      pair.clock.advance(100);
      await pair.primary([{ type: 'tick' }]);
      const first = pair.p2s.take(10).map((r) => ({ type: 'message' as const, body: r.body }));
      const kinds = first.map((m) => JSON.parse(m.body).type as string);
      // Round 1's announcement alone: its data never comes (an older round left open).
      await pair.secondary(first.slice(0, kinds.indexOf('migrate-ram-background') + 1));
      expect((await pair.toPrimary())?.document.state.phase ?? 'running').toBe('running');
      pair.clock.advance(200);
      const tick = await pair.primary([{ type: 'tick' }]);
      expect(types(tick.sent)).toEqual(
        expect.arrayContaining(['migrate-ram-background', 'delta(background-ram)']),
      );
      const arrivedAt = pair.clock.now();
      let reads = 0;
      pair.deltas.beforeCall = async (op) => {
        if (op !== 'get') return;
        pair.clock.advance(400);
        if (concurrent && reads++ === 0) {
          // Round 1's deadline (its announcement + 500 ms) has passed: the monitor's tick abandons it.
          const t = await pair.secondary([{ type: 'tick' }]);
          expect(
            t.effects.some((e) => e.type === 'trace' && e.name === 'colo_background_round_abandoned'),
          ).toBe(true);
        }
        pair.clock.advance(200);
      };
      const batch = pair.p2s.take(10).map((r) => ({ type: 'message' as const, body: r.body, arrivedAt }));
      const r = await pair.secondary(batch);
      pair.deltas.beforeCall = undefined;
      return r;
    };
    const raced = await run(true);
    expect(raced.casConflicts).toBe(1);
    expect(raced.document.state.appliedRounds).toEqual([]);
    expect(raced.document.state.cache.size).toBe(0);
    expect(
      raced.effects.filter((e) => e.type === 'trace' && e.name === 'colo_background_round_abandoned'),
    ).toHaveLength(1);
    // The control: without the monitor's step the same delivery is judged the same way.
    const alone = await run(false);
    expect(alone.casConflicts).toBe(0);
    expect(alone.document.state.appliedRounds).toEqual([]);
  });
  test('a redelivered checkpoint is judged at its first arrival plus its reads, not when SQS hands it over again', async () => {
    // heartbeatTimeoutMs 0: the apply timeout alone bounds each wait of the checkpoint.
    const params = testParams({ policy: 'none', heartbeatTimeoutMs: 0 });
    const run = async (redelivered: boolean) => {
      const pair = new CloudPair(params);
      await pair.start();
      pair.clock.advance(1000);
      await pair.primary([{ type: 'tick' }]);
      await pair.toSecondary(); // checkpoint-request
      await pair.toPrimary(); // checkpoint-reply: the epoch leaves
      const epoch = pair.p2s.take();
      expect(epoch.map((x) => JSON.parse(x.body).type)).toContain('vmstate-size');
      const arrivedAt = pair.clock.now();
      // The first delivery failed (a crash before the save); SQS hands the batch over again long after
      // the wait that started at the checkpoint-request would have ended. Each read takes 50 ms.
      pair.clock.setTo(arrivedAt + params.applyTimeoutMs + 2000);
      pair.deltas.beforeCall = (op) => {
        if (op === 'get') pair.clock.advance(50);
      };
      return pair.secondary(
        epoch.map((x) => ({ type: 'message' as const, body: x.body, ...(redelivered ? { arrivedAt } : {}) })),
      );
    };
    const again = await run(true);
    expect(again.outcomes.every((o) => o.status === 'applied')).toBe(true);
    expect(again.effects.some((e) => e.type === 'claim')).toBe(false);
    expect(again.effects.some((e) => e.type === 'send' && e.message.type === 'vmstate-loaded')).toBe(true);
    // The control: the same batch with no first arrival is judged when it is handled — too late.
    const late = await run(false);
    expect(late.effects.some((e) => e.type === 'claim')).toBe(true);
  });
});

describe('a rejected delta', () => {
  test('is reported, changes nothing, and the next message abandons the round', async () => {
    const pair = new CloudPair(testParams({ policy: 'fixed', applyTimeoutMs: 5000 }));
    await pair.start();
    // The heartbeat the primary sent on checkpoint-ready.
    await pair.secondary(pair.p2s.take().map((r) => ({ type: 'message', body: r.body })));
    pair.clock.advance(100);
    const tick = await pair.primary([{ type: 'tick' }]);
    const delta = tick.sent.find((m) => m.type === 'delta');
    if (delta?.type !== 'delta') throw new Error('no background delta');
    const bytes = Buffer.from(pair.deltas.peek(delta.claim.key) ?? []);
    bytes[bytes.length - 40] = (bytes[bytes.length - 40] as number) ^ 0xff;
    pair.deltas.tamper(delta.claim.key, bytes);

    const migrate = await pair.secondary(pair.p2s.take(1).map((r) => ({ type: 'message', body: r.body })));
    expect(migrate.document.state.phase).toBe('bg-loading');
    const before = encodeSecondaryState(migrate.document.state);
    const gets = pair.deltas.stats.gets;
    const stored = await pair.state.load(nodeStateKey(pair.params.vmId, 'secondary'));
    const saves = pair.state.stats.saves;

    const refused = await pair.secondary(pair.p2s.take(1).map((r) => ({ type: 'message', body: r.body })));
    expect(refused.outcomes).toEqual([
      expect.objectContaining({
        index: 0,
        status: 'rejected',
        code: 'claim-mismatch',
        message: { type: 'delta', seq: expect.any(Number) },
      }),
    ]);
    expect(pair.deltas.stats.gets - gets).toBe(4); // read again three times before giving up
    expect(Buffer.from(encodeSecondaryState(refused.document.state)).equals(before)).toBe(true);
    // A refusal writes nothing: no save, the stored document the same object byte for byte.
    expect(pair.state.stats.saves).toBe(saves);
    const after = await pair.state.load(nodeStateKey(pair.params.vmId, 'secondary'));
    expect(after?.etag).toBe(stored?.etag);
    expect(Buffer.from(after?.value ?? []).equals(Buffer.from(stored?.value ?? []))).toBe(true);

    pair.clock.advance(100);
    await pair.primary([{ type: 'tick' }]);
    const next = await pair.toSecondary();
    expect(
      next?.effects.some((e) => e.type === 'trace' && e.name === 'colo_background_round_abandoned'),
    ).toBe(true);
    expect(next?.outcomes.every((o) => o.status === 'applied')).toBe(true);

    await pair.run(1000);
    const ckpt = (await pair.log('primary')).find((r) => r.type === 'checkpoint');
    expect(ckpt?.type === 'checkpoint' && ckpt.data.resentPages).toBeGreaterThan(0);
    const commit = (await pair.log('secondary')).find((r) => r.type === 'commit');
    expect(commit?.type === 'commit' && commit.data.digest).toBe(
      ckpt?.type === 'checkpoint' && ckpt.data.digest,
    );
  });

  test("a watchdog tick before the secondary's next wake is acknowledged unstepped and saves nothing; one after it steps", async () => {
    const pair = new CloudPair(testParams({ policy: 'none', heartbeatTimeoutMs: 5000 }));
    await pair.start();
    pair.clock.advance(100);
    await pair.primary([{ type: 'tick' }]);
    await pair.toSecondary();
    const doc = await pair.secondaryDoc();
    const wakeAt = doc?.wakeAt ?? 0;
    expect(Number.isFinite(wakeAt)).toBe(true);
    const saves = pair.state.stats.saves;
    const early = await pair.secondary([{ type: 'start' }, { type: 'tick' }]);
    expect(early.outcomes.map((o) => [o.status, o.code])).toEqual([
      ['duplicate', 'not-due'],
      ['duplicate', 'not-due'],
    ]);
    expect(pair.state.stats.saves).toBe(saves);
    pair.clock.advance(Math.max(0, wakeAt - pair.clock.now()) + 1);
    const due = await pair.secondary([{ type: 'tick' }]);
    expect(due.outcomes.map((o) => o.status)).toEqual(['applied']);
    expect(pair.state.stats.saves).toBeGreaterThan(saves);
  });

  test('stopAtRejection leaves every input after a refused one unprocessed', async () => {
    const pair = new CloudPair(testParams({ policy: 'none' }));
    await pair.start();
    pair.clock.advance(1000);
    await pair.primary([{ type: 'tick' }]);
    const bodies = pair.p2s.take().map((r) => ({ type: 'message' as const, body: r.body }));
    const r = await pair.secondary([{ type: 'message', body: '[]' }, ...bodies], { stopAtRejection: true });
    expect(r.outcomes.map((o) => o.status)).toEqual(['rejected', ...bodies.map(() => 'failed')]);
    expect(r.outcomes[1]?.code).toBe('after-rejection');
    const again = await pair.secondary(bodies, { stopAtRejection: true });
    expect(again.outcomes.every((o) => o.status === 'applied')).toBe(true);
  });

  test('a body that is not JSON is rejected without reaching the engine', async () => {
    const pair = new CloudPair(testParams());
    await pair.start();
    const r = await pair.secondary([{ type: 'message', body: '{nope' }]);
    expect(r.outcomes).toEqual([expect.objectContaining({ status: 'rejected', code: 'invalid-message' })]);
    expect(r.outcomes[0]?.detail).toMatch(/not JSON/);
  });

  test('a message delivered twice is a duplicate the second time', async () => {
    const pair = new CloudPair(testParams({ policy: 'none' }));
    await pair.start();
    pair.clock.advance(1000);
    await pair.primary([{ type: 'tick' }]);
    const batch = pair.p2s.take();
    const inputs = batch.map((r) => ({ type: 'message' as const, body: r.body }));
    const first = await pair.secondary(inputs);
    const again = await pair.secondary(inputs);
    expect(first.outcomes.every((o) => o.status === 'applied')).toBe(true);
    expect(again.outcomes.map((o) => o.status)).toEqual(inputs.map(() => 'duplicate'));
    expect(again.sent).toEqual([]);
    expect(again.document.state.inSeq).toBe(first.document.state.inSeq);
  });
});

describe('failover', () => {
  test('requested: the SVM continues from the last commit; the uncommitted cache is dropped', async () => {
    const pair = new CloudPair(testParams({ policy: 'fixed' }));
    await pair.start();
    await pair.run(1050);
    const ckpt = (await pair.log('primary')).find((r) => r.type === 'checkpoint');
    pair.clock.advance(100);
    await pair.primary([{ type: 'tick' }]);
    await pair.settle();
    expect((await pair.secondaryDoc())?.state.cache.size).toBeGreaterThan(0);

    const r = await pair.secondary([{ type: 'failover' }]);
    const s = r.document.state;
    expect(s.phase).toBe('failed-over');
    expect(s.cache.size).toBe(0);
    expect(r.document.exit).toMatchObject({ reason: 'failover' });
    expect(r.document.wakeAt).toBe(Number.POSITIVE_INFINITY);
    const commit = (await pair.log('secondary')).filter((r) => r.type === 'commit').at(-1);
    expect(commit?.type === 'commit' && commit.data.digest).toBe(
      ckpt?.type === 'checkpoint' && ckpt.data.digest,
    );
    expect((await pair.log('secondary')).some((rec) => rec.type === 'colo-exit')).toBe(true);

    // The primary's next invocation reads the fence first: it lost, stops for good and sends nothing.
    pair.clock.advance(100);
    const fenced = await pair.primary([{ type: 'tick' }]);
    expect(fenced.document.state.phase).toBe('fenced');
    expect(fenced.document.state.vmRunning).toBe(false);
    expect(fenced.document.exit).toMatchObject({ reason: 'fenced' });
    expect(fenced.sent).toEqual([]);
    expect(await pair.toSecondary()).toBeUndefined();
  });

  test('lost heartbeats: the secondary watchdog takes over on a tick', async () => {
    const pair = new CloudPair(testParams({ policy: 'none' }));
    await pair.start();
    await pair.run(300);
    pair.clock.advance(300);
    const quiet = await pair.secondary([{ type: 'tick' }]);
    expect(quiet.document.state.phase).toBe('idle');
    pair.clock.advance(500);
    const r = await pair.secondary([{ type: 'tick' }]);
    expect(r.document.state.phase).toBe('failed-over');
    expect(r.document.exit?.detail).toMatch(/no message from the primary/);
  });

  test('requested during a commit: waits for the commit, then takes over', async () => {
    const pair = new CloudPair(testParams({ policy: 'none' }));
    await pair.start();
    pair.clock.advance(1000);
    await pair.primary([{ type: 'tick' }]);
    await pair.toSecondary();
    await pair.toPrimary();
    const batch = pair.p2s.take().map((r) => ({ type: 'message' as const, body: r.body }));
    const committing = await pair.secondary(batch, { settleMs: 0 });
    expect(committing.document.state.phase).toBe('committing');
    const deferred = await pair.secondary([{ type: 'failover' }], { settleMs: 0 });
    expect(deferred.document.state.phase).toBe('committing');
    expect(deferred.document.state.failoverDeferred).toBe(true);
    pair.clock.advance(50);
    const r = await pair.secondary([{ type: 'tick' }]);
    expect(r.document.state.phase).toBe('failed-over');
    expect(r.document.state.committedEpoch).toBe(1);
    expect(r.effects.map((e) => e.type)).toEqual(expect.arrayContaining(['commit', 'colo-exit']));
  });
});

describe('an input is stepped at its first arrival, not when an invocation gets to it', () => {
  test('secondary: a heartbeat sent before the watchdog was due, handed over after it, re-arms the watchdog from its send time', async () => {
    const params = testParams({ policy: 'none' });
    const H = params.heartbeatTimeoutMs;
    const S = heartbeatSlackMs(params);
    const pair = new CloudPair(params);
    await pair.start();
    const L = pair.clock.now();
    await pair.toSecondary(); // the primary's first heartbeat
    expect((await pair.secondaryDoc())?.state.lastHeardAt).toBe(L);
    pair.clock.setTo(L + S + H - 100);
    await pair.primary([{ type: 'tick' }]);
    const records = pair.p2s.take();
    expect(records.map((r) => JSON.parse(r.body).type)).toEqual(['heartbeat']);
    // SQS received it at L + S + H - 100; the secondary's function only gets it 600 ms later (a retry, a
    // cold start), after its watchdog was due.
    pair.clock.setTo(L + S + H + 500);
    const r = await pair.secondary(
      records.map((x) => ({
        type: 'message',
        body: x.body,
        arrivedAt: L + S + H - 100,
        sentAt: L + S + H - 100,
      })),
    );
    expect(r.outcomes.map((o) => o.status)).toEqual(['applied']);
    expect(r.effects.some((e) => e.type === 'claim')).toBe(false);
    expect(r.document.state.phase).toBe('idle');
    expect((await readControl(pair.state, params.vmId)).owner).toBeNull();
    // The primary was last heard when SQS took the heartbeat: the watchdog runs from then.
    expect(r.document.state.lastHeardAt).toBe(L + S + H - 100);
    expect(r.document.wakeAt).toBe(L + 2 * S + 2 * H - 100);
  });

  test('secondary: a vmstate-send that arrived before the apply deadline, handed over after it, is taken', async () => {
    const params = testParams({ policy: 'none', heartbeatTimeoutMs: 0 });
    const pair = new CloudPair(params);
    await pair.start();
    pair.clock.advance(1000);
    await pair.primary([{ type: 'tick' }]);
    const request = await pair.toSecondary();
    const deadline = request?.document.state.deadline ?? Number.NaN;
    expect(request?.document.state.phase).toBe('ckpt-wait-vmstate-send');
    expect(deadline).toBe(pair.clock.now() + params.applyTimeoutMs);
    await pair.toPrimary();
    const [send] = pair.p2s.take(1);
    expect(JSON.parse(send?.body ?? '{}').type).toBe('vmstate-send');
    pair.clock.setTo(deadline + 500);
    const r = await pair.secondary([{ type: 'message', body: send?.body ?? '', arrivedAt: deadline - 100 }]);
    expect(r.outcomes.map((o) => o.status)).toEqual(['applied']);
    expect(r.effects.some((e) => e.type === 'claim')).toBe(false);
    expect(r.document.state.phase).toBe('ckpt-wait-ram');
    // The wait for the RAM runs from the vmstate-send's arrival too.
    expect(r.document.state.deadline).toBe(deadline - 100 + params.applyTimeoutMs);
    expect((await readControl(pair.state, params.vmId)).owner).toBeNull();
  });

  test('primary: vmstate-received and vmstate-loaded that arrived before the checkpoint deadline, handed over after it, complete the checkpoint', async () => {
    const params = testParams({ policy: 'none', heartbeatTimeoutMs: 0 });
    const pair = new CloudPair(params);
    await pair.start();
    pair.clock.advance(1000);
    await pair.primary([{ type: 'tick' }]);
    await pair.toSecondary();
    const epoch = await pair.toPrimary();
    expect(epoch?.document.state.phase).toBe('ckpt-wait-received');
    const deadline = epoch?.document.state.txn?.deadline ?? Number.NaN;
    await pair.toSecondary();
    const answers = pair.s2p.take();
    expect(answers.map((x) => JSON.parse(x.body).type)).toEqual(['vmstate-received', 'vmstate-loaded']);
    // Sent well before the deadline; SQS had them at deadline - 100; the primary gets them 600 ms later.
    expect(pair.clock.now()).toBeLessThan(deadline - 100);
    pair.clock.setTo(deadline + 500);
    const r = await pair.primary(
      answers.map((x) => ({ type: 'message', body: x.body, arrivedAt: deadline - 100 })),
    );
    expect(r.outcomes.map((o) => o.status)).toEqual(['applied', 'applied']);
    expect(r.effects.some((e) => e.type === 'claim')).toBe(false);
    expect(r.effects.some((e) => e.type === 'checkpoint')).toBe(true);
    expect(r.document.exit).toBeNull();
    expect((await readControl(pair.state, params.vmId)).owner).toBeNull();
    expect(r.document.state.epoch).toBe(2);
  });
});

describe('payload modes', () => {
  test('modelled payloads go through the delta store and commit the same image', async () => {
    const pair = new CloudPair(testParams({ payload: 'modelled', policy: 'fixed' }));
    await pair.start();
    await pair.run(1100);
    const ckpt = (await pair.log('primary')).find((r) => r.type === 'checkpoint');
    const commit = (await pair.log('secondary')).find((r) => r.type === 'commit');
    expect(ckpt).toBeDefined();
    expect(commit?.type === 'commit' && commit.data.digest).toBe(
      ckpt?.type === 'checkpoint' && ckpt.data.digest,
    );
  });
});
