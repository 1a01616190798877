import type { SQSRecord } from 'aws-lambda';
import { describe, expect, test } from 'vitest';
import { controlStateKey } from '../../../lambda/adapters/contract.ts';
import { InvalidEventError } from '../../../lambda/handlers/common/sqs.ts';
import { encodeSecondaryState } from '../../../src/runtime/cloud/index.ts';
import { objectContextOfKey, openObject, sealObject } from '../../../src/wire/sealed-object.ts';
import { HandlerSim, handlerParams, sqsEvent, typeOfBody } from './sim.ts';

/** Arms the chains and runs until the secondary has started and the primary runs. */
async function started(sim: HandlerSim): Promise<void> {
  expect(await sim.tickArm({ source: 'colo.watchdog', vmId: 'vm-0' })).toEqual({
    vmId: 'vm-0',
    chains: { checkpoint: 'armed', 'pending-check': 'armed', heartbeat: 'armed' },
  });
  await sim.run(100);
  expect((await sim.secondaryDoc())?.state.phase).toBe('idle');
  expect((await sim.primaryDoc())?.state.phase).toBe('running');
}

describe('handlers: a VM started afresh under the same id', () => {
  test("its first messages are not taken for resends of the old VM's (the channel drops resends by id)", async () => {
    const sim = new HandlerSim(handlerParams({ policy: 'none' }));
    await started(sim);
    await sim.run(3500);
    const commits = async () => (await sim.log('secondary')).filter((r) => r.type === 'commit').length;
    expect(await commits()).toBeGreaterThanOrEqual(1);
    // `colo vm remove --delete-state`: every state object and delta goes; the channels (one FIFO queue
    // each, which here drops a resend forever, SQS for 5 min) stay, empty.
    await sim.run(2000, 100, []);
    expect(sim.p2s.size + sim.s2p.size).toBe(0);
    for (const k of await sim.state.list('')) await sim.state.delete(k.key);
    for (const k of sim.deltas.keys()) sim.deltas.delete(k);
    sim.clock.advance(1000);
    // Added again: the same first messages (checkpoint-ready, epoch 0 seq 0, same body) — a new sender.
    const dropped = sim.s2p.stats.duplicates;
    await started(sim);
    await sim.run(3500);
    expect(sim.s2p.stats.duplicates).toBe(dropped);
    expect(await commits()).toBeGreaterThanOrEqual(1);
    expect((await sim.primaryDoc())?.state.phase).toBe('running');
  });
});

describe('handlers: a full checkpoint', () => {
  test('tick-arm → heartbeat-monitor starts the secondary → timers → checkpoint → commit', async () => {
    const sim = new HandlerSim(handlerParams({ policy: 'none' }));
    await started(sim);
    await sim.run(3500);
    const checkpoints = (await sim.log('primary')).flatMap((r) => (r.type === 'checkpoint' ? [r.data] : []));
    const commits = (await sim.log('secondary')).flatMap((r) => (r.type === 'commit' ? [r.data] : []));
    expect(checkpoints.length).toBeGreaterThanOrEqual(1);
    expect(commits.map((c) => c.digest)).toEqual(checkpoints.map((c) => c.digest));
    expect(sim.metric('Checkpoints')).toBe(checkpoints.length);
    expect(sim.metric('Commits')).toBe(commits.length);
    expect(sim.obs.metricValues.get('CheckpointDowntime')?.length).toBe(checkpoints.length);
    expect(sim.obs.logs.some((l) => l.message === 'checkpoint' && l.extra.epoch === 1)).toBe(true);
    expect(sim.metric('Failovers')).toBe(0);
    // The invocation log names what left: a checkpoint starts with checkpoint-request of its epoch.
    expect(
      sim.obs.logs.some(
        (l) =>
          l.message === 'invocation' &&
          JSON.stringify(l.extra.messages).includes('{"type":"checkpoint-request","epoch":1,'),
      ),
    ).toBe(true);
    // A routine tick (heartbeats only) logs its summary at debug level; anything else at info.
    const summaries = sim.obs.logs.filter((l) => l.message === 'invocation');
    expect(summaries.some((l) => l.level === 'debug')).toBe(true);
    expect(summaries.some((l) => l.level === 'info')).toBe(true);
    expect(sim.obs.logs.find((l) => l.message === 'watchdog')?.extra).toMatchObject({
      source: 'colo.watchdog',
    });
    expect((await sim.primaryDoc())?.state.epoch).toBe(checkpoints.length + 1);
    // Every chain kept exactly one tick in flight.
    for (const q of Object.values(sim.ticks)) expect(q.messages.length).toBe(1);
  });
});

describe('handlers: a background round', () => {
  test('pending-check-timer starts a round; secondary-apply stages it; the checkpoint is smaller', async () => {
    const sim = new HandlerSim(handlerParams({ policy: 'fixed' }));
    await started(sim);
    await sim.run(1000);
    expect(sim.metric('BackgroundRounds')).toBeGreaterThan(0);
    // Its object was stored, sent, and deleted by secondary-apply once consumed.
    const rounds = sim.p2s.history.filter((m) => m.type === 'delta' && m.kind === 'background-ram');
    expect(rounds.length).toBeGreaterThan(0);
    expect(sim.metric('DeltasDeleted')).toBeGreaterThanOrEqual(rounds.length);
    expect(sim.deltas.keys().filter((k) => k.endsWith('background-ram'))).toEqual([]);
    await sim.run(2500);
    const ckpt = (await sim.log('primary')).find((r) => r.type === 'checkpoint');
    expect(ckpt?.type === 'checkpoint' && ckpt.data.backgroundPages).toBeGreaterThan(0);
    expect(ckpt?.type === 'checkpoint' && ckpt.data.resentPages).toBe(0);
    const commit = (await sim.log('secondary')).find((r) => r.type === 'commit');
    expect(commit?.type === 'commit' && commit.data.digest).toBe(
      ckpt?.type === 'checkpoint' && ckpt.data.digest,
    );
  });
});

/**
 * Runs until a background delta is queued for the secondary, then corrupts its object — as a faulty
 * primary would, sealed with the key (one bit of the page-delta object's trailer flipped), so the secondary
 * opens it and refuses its content.
 */
async function corruptNextRound(sim: HandlerSim): Promise<void> {
  await started(sim);
  for (
    let i = 0;
    i < 30 && !sim.p2s.history.some((m) => m.type === 'delta' && m.kind === 'background-ram');
    i++
  ) {
    sim.clock.advance(100);
    await sim.deliverTicks('pending-check');
  }
  const delta = sim.p2s.history.find((m) => m.type === 'delta' && m.kind === 'background-ram');
  if (delta?.type !== 'delta') throw new Error('no background round');
  const keys = await sim.keys.keys();
  const ctx = objectContextOfKey(delta.claim.key);
  const opened = ctx && openObject(keys, sim.deltas.peek(delta.claim.key) ?? new Uint8Array(), ctx);
  if (!ctx || !opened?.ok) throw new Error('the stored object does not open');
  const bytes = Buffer.from(opened.inner);
  bytes[bytes.length - 1] = (bytes[bytes.length - 1] as number) ^ 1;
  sim.deltas.tamper(delta.claim.key, sealObject(keys.signing, ctx, bytes));
}

describe('handlers: a rejected delta', () => {
  test('is acknowledged and logged; the state is unchanged; the next message abandons the round', async () => {
    const sim = new HandlerSim(handlerParams({ policy: 'fixed' }));
    await corruptNextRound(sim);
    const records = sim.fifoRecords(sim.p2s.take(), 'p2s.fifo');
    const bad = records.findIndex((r) => typeOfBody(r.body) === 'delta');
    for (const r of records.slice(0, bad))
      expect(await sim.secondaryApply(sqsEvent([r]))).toEqual({ batchItemFailures: [] });
    const before = await sim.secondaryDoc();
    expect(before?.state.phase).toBe('bg-loading');

    expect(await sim.secondaryApply(sqsEvent([records[bad] as SQSRecord]))).toEqual({
      batchItemFailures: [],
    });
    const rejected = sim.obs.logs.find((l) => l.message === 'input rejected');
    expect(rejected?.extra).toMatchObject({ code: 'claim-mismatch' });
    expect(sim.metric('InputsRejected')).toBe(1);
    // The evidence went to the dead-letter queue before the record was acknowledged.
    expect(sim.deadLetters).toEqual([
      {
        body: records[bad]?.body,
        groupId: sim.params.vmId,
        messageId: records[bad]?.messageId,
        code: 'claim-mismatch',
        detail: expect.stringMatching(/SHA-256/),
        rejectedBy: 'secondary-apply',
        at: sim.clock.now(),
      },
    ]);
    expect(sim.metric('RejectedForwarded')).toBe(1);
    const after = await sim.secondaryDoc();
    expect(
      Buffer.from(encodeSecondaryState(after?.state as never)).equals(
        encodeSecondaryState(before?.state as never),
      ),
    ).toBe(true);

    // The next message of the stream (here or after the next tick) abandons the round.
    sim.clock.advance(1000);
    await sim.deliverTicks('pending-check');
    sim.redeliverP2S.push(...records.slice(bad + 1));
    await sim.deliverToSecondary();
    expect((await sim.secondaryDoc())?.state.appliedRounds).not.toContain(1);
    expect(
      sim.obs.logs.some(
        (l) => l.message === 'trace' && JSON.stringify(l.extra).includes('colo_background_round_abandoned'),
      ),
    ).toBe(true);

    await sim.run(3500);
    const ckpt = (await sim.log('primary')).find((r) => r.type === 'checkpoint');
    expect(ckpt?.type === 'checkpoint' && ckpt.data.resentPages).toBeGreaterThan(0);
    const commit = (await sim.log('secondary')).find((r) => r.type === 'commit');
    expect(commit?.type === 'commit' && commit.data.digest).toBe(
      ckpt?.type === 'checkpoint' && ckpt.data.digest,
    );
  });

  test('with REJECTED_MESSAGES=retry it and every later record of the group are redelivered', async () => {
    const sim = new HandlerSim(handlerParams({ policy: 'fixed' }), 'retry');
    await corruptNextRound(sim);
    const records = sim.fifoRecords(sim.p2s.take(), 'p2s.fifo');
    expect(records.length).toBeGreaterThanOrEqual(2);
    const badIndex = records.findIndex((r) => typeOfBody(r.body) === 'delta');
    const response = await sim.secondaryApply(sqsEvent(records));
    expect(response.batchItemFailures.map((f) => f.itemIdentifier)).toEqual(
      records.slice(badIndex).map((r) => r.messageId),
    );
    // The records before it were applied (migrate-ram-background), none after: the secondary waits for the data.
    const doc = await sim.secondaryDoc();
    expect(doc?.state.phase).toBe('bg-loading');
    const redelivered = await sim.secondaryApply(sqsEvent(records.slice(badIndex)));
    expect(redelivered.batchItemFailures.length).toBe(records.length - badIndex);
    expect((await sim.secondaryDoc())?.state.inSeq).toBe(doc?.state.inSeq);
    // SQS's redrive moves it to the DLQ after maxReceiveCount; the handler forwards nothing itself.
    expect(sim.deadLetters).toEqual([]);
  });

  test('a refused record whose forward fails is still acknowledged; its body and reason are logged', async () => {
    const sim = new HandlerSim(handlerParams({ policy: 'fixed' }));
    await corruptNextRound(sim);
    sim.deadLettersFailing = true;
    const records = sim.fifoRecords(sim.p2s.take(), 'p2s.fifo');
    const bad = records.findIndex((r) => typeOfBody(r.body) === 'delta');
    expect(await sim.secondaryApply(sqsEvent(records))).toEqual({ batchItemFailures: [] });
    expect(sim.deadLetters).toEqual([]);
    expect(sim.metric('DeadLetterForwardFailures')).toBe(1);
    const kept = sim.obs.logs.find((l) => l.level === 'error' && /could not be forwarded/.test(l.message));
    expect(kept?.extra).toMatchObject({
      error: 'DLQ unavailable',
      letter: { body: records[bad]?.body, code: 'claim-mismatch' },
    });
  });

  test('a record whose object cannot be read fails with every later record; a redelivery applies them', async () => {
    const sim = new HandlerSim(handlerParams({ policy: 'fixed' }));
    await started(sim);
    for (let i = 0; i < 30 && !sim.p2s.history.some((m) => m.type === 'delta'); i++) {
      sim.clock.advance(100);
      await sim.deliverTicks('pending-check');
    }
    sim.clock.advance(1000);
    await sim.deliverTicks('pending-check'); // a heartbeat (and maybe more) after the round
    sim.deltas.beforeCall = (op) => {
      if (op === 'get') throw new Error('S3 unavailable');
    };
    const first = await sim.deliverToSecondary();
    const records = first?.event.Records ?? [];
    const bad = records.findIndex((r) => typeOfBody(r.body) === 'delta');
    expect(first?.response.batchItemFailures.map((f) => f.itemIdentifier)).toEqual(
      records.slice(bad).map((r) => r.messageId),
    );
    expect(sim.metric('InputsFailed')).toBe(records.length - bad);
    sim.deltas.beforeCall = undefined;
    const again = await sim.deliverToSecondary();
    expect(again?.response).toEqual({ batchItemFailures: [] });
    expect((await sim.secondaryDoc())?.state.appliedRounds).toContain(1);
  });
});

describe('handlers: failover', () => {
  test('an explicit request takes over, sets the control flag, and the chains end', async () => {
    const sim = new HandlerSim(handlerParams({ policy: 'fixed' }));
    await started(sim);
    await sim.run(3500);
    const lastCommit = (await sim.log('secondary')).filter((r) => r.type === 'commit').at(-1);
    const answer = await sim.heartbeatMonitor({ source: 'colo.failover', vmId: 'vm-0' });
    expect(answer).toEqual({ vmId: 'vm-0', failedOver: true, phase: 'failed-over' });
    expect(JSON.parse(Buffer.from(sim.state.peek(controlStateKey('vm-0')) ?? []).toString())).toMatchObject({
      failedOver: true,
      reason: 'requested',
    });
    const doc = await sim.secondaryDoc();
    expect(doc?.state.cache.size).toBe(0);
    expect(lastCommit?.type === 'commit' && lastCommit.data.epoch).toBe(doc?.state.committedEpoch);
    // Ticks still queued are dropped without a successor; the watchdog does not re-arm.
    await sim.run(3000);
    for (const q of Object.values(sim.ticks)) expect(q.messages).toEqual([]);
    expect(sim.metric('TicksStopped')).toBeGreaterThanOrEqual(3);
    sim.clock.advance(120_000);
    expect((await sim.tickArm({})).chains).toEqual({
      checkpoint: 'stopped',
      'pending-check': 'stopped',
      heartbeat: 'stopped',
    });
  });

  test('lost heartbeats: heartbeat-monitor fails over when the primary falls silent', async () => {
    const sim = new HandlerSim(handlerParams({ policy: 'none' }));
    await started(sim);
    await sim.run(1500);
    // The primary's timers stop (the primary "dies"); only the secondary's chain keeps running.
    await sim.run(5000, 100, ['heartbeat']);
    const doc = await sim.secondaryDoc();
    expect(doc?.state.phase).toBe('failed-over');
    expect(doc?.exit?.detail).toMatch(/no message from the primary/);
    expect(sim.metric('Failovers')).toBe(1);
    expect(sim.state.peek(controlStateKey('vm-0'))).toBeDefined();
  });

  test('a failover request for another VM, or a malformed event, is refused', async () => {
    const sim = new HandlerSim(handlerParams());
    await expect(sim.heartbeatMonitor({ source: 'colo.failover', vmId: 'vm-9' })).rejects.toThrow(
      /requested for VM vm-9; this is VM vm-0/,
    );
    await expect(sim.heartbeatMonitor({ hello: 1 })).rejects.toThrow(InvalidEventError);
    await expect(sim.primary({ Records: [{ body: 'x' }] })).rejects.toThrow(/not an SQS event/);
    await expect(sim.secondaryApply({})).rejects.toThrow(InvalidEventError);
  });
});

describe('handlers: channel redelivery', () => {
  test('a redelivered batch is acknowledged as duplicates', async () => {
    const sim = new HandlerSim(handlerParams({ policy: 'none' }));
    await started(sim);
    // A checkpoint's request and a heartbeat.
    sim.clock.advance(sim.params.checkpointDelayMs);
    await sim.deliverTicks('checkpoint');
    sim.clock.advance(sim.params.heartbeatIntervalMs);
    await sim.deliverTicks('pending-check');
    const records = sim.fifoRecords(sim.p2s.take(), 'p2s.fifo');
    expect(records.length).toBeGreaterThan(0);
    expect(await sim.secondaryApply(sqsEvent(records))).toEqual({ batchItemFailures: [] });
    const applied = sim.metric('InputsApplied');
    // Delivered again: the same records (send times kept), received a second time.
    const again = records.map((r) => ({
      ...r,
      attributes: { ...r.attributes, ApproximateReceiveCount: '2' },
    }));
    expect(await sim.secondaryApply(sqsEvent(again))).toEqual({ batchItemFailures: [] });
    // A heartbeat (outside the sequence) is admitted again and moves nothing; the others are duplicates.
    const heartbeats = records.filter((r) => typeOfBody(r.body) === 'heartbeat').length;
    expect(records.length - heartbeats).toBeGreaterThan(0);
    expect(sim.metric('InputsDuplicate')).toBe(records.length - heartbeats);
    expect(sim.metric('InputsApplied') - applied).toBe(heartbeats);
  });

  test('an invocation that fails as a whole reports every record', async () => {
    const sim = new HandlerSim(handlerParams({ policy: 'none' }));
    await started(sim);
    sim.clock.advance(1000);
    await sim.deliverTicks('pending-check');
    const records = sim.fifoRecords(sim.p2s.take(), 'p2s.fifo');
    sim.state.beforeSave = () => {
      throw new Error('S3 down');
    };
    const response = await sim.secondaryApply(sqsEvent(records));
    sim.state.beforeSave = undefined;
    expect(response.batchItemFailures.map((f) => f.itemIdentifier)).toEqual(records.map((r) => r.messageId));
    expect(sim.obs.logs.some((l) => l.level === 'error' && /whole batch/.test(l.message))).toBe(true);
  });
});
