// Authenticity at the channel consumers (lambda/handlers/common/channel-consumer.ts): a message or object
// crafted without the replication key — valid in every other respect for the current epoch and sequence —
// is refused before anything is read, leaves the node documents byte for byte as they were, is logged,
// counted and dead-lettered; the same bytes sealed with the key are applied. Keys that cannot be loaded
// fail the batch (delivered again), and a rotation is picked up at the first message of the new key.
import type { SQSRecord } from 'aws-lambda';
import { describe, expect, test } from 'vitest';
import { createPendingCheckTimerHandler } from '../../../lambda/handlers/pending-check-timer.ts';
import { createSecondaryApplyHandler } from '../../../lambda/handlers/secondary-apply.ts';
import type { ColoMessage } from '../../../src/engine/protocol/messages.ts';
import {
  claimFence,
  Keyring,
  MemoryChannel,
  nodeStateKey,
  sealingSerializer,
} from '../../../src/runtime/cloud/index.ts';
import { serializeMessage } from '../../../src/wire/message-schema.ts';
import { deriveVmKey, keySetOf, seedKeySet, seedSecret } from '../../../src/wire/replication-key.ts';
import { sealMessage, sealMessageBody } from '../../../src/wire/sealed-message.ts';
import { objectContextOfKey, openObject, sealObject } from '../../../src/wire/sealed-object.ts';
import { HandlerSim, handlerParams, sqsEvent, sqsRecord, typeOfBody } from './sim.ts';

const WRONG_KEY = deriveVmKey('a key that is not the deployment secret at all', 'vm-0');

async function started(sim: HandlerSim): Promise<void> {
  await sim.tickArm({ source: 'colo.watchdog', vmId: 'vm-0' });
  await sim.run(100);
  expect((await sim.secondaryDoc())?.state.phase).toBe('idle');
}

/** The secondary's node document, as stored. */
function secondaryBytes(sim: HandlerSim): Buffer {
  return Buffer.from(sim.state.peek(nodeStateKey('vm-0', 'secondary')) ?? []);
}

/**
 * A message at the secondary's next sequence number (a `skip`, which an idle secondary takes: a heartbeat
 * takes no number): valid in every respect but the seal.
 */
async function nextHeartbeat(sim: HandlerSim): Promise<ColoMessage> {
  const s = (await sim.secondaryDoc())?.state;
  if (!s) throw new Error('no secondary');
  return { v: 1, vmId: 'vm-0', epoch: s.epoch, seq: s.inSeq, type: 'skip', retired: 'delta', reason: 'test' };
}

describe('secondary-apply: a message crafted without the key', () => {
  test('is refused unread, changes nothing, is logged, counted and dead-lettered; sealed with the key it applies', async () => {
    const sim = new HandlerSim(handlerParams({ policy: 'none' }));
    await started(sim);
    const message = await nextHeartbeat(sim);
    const forgeries = {
      'sealed with another key': sealMessage(WRONG_KEY, message),
      'not sealed (plain JSON)': serializeMessage(message),
      'a known key id, a made-up MAC': sealMessage((await sim.keys.keys()).signing, message).replace(
        /[A-Za-z0-9_-]{43}\n/,
        `${'A'.repeat(43)}\n`,
      ),
    };
    for (const [name, body] of Object.entries(forgeries)) {
      const before = secondaryBytes(sim);
      const loads = sim.state.stats.loads;
      const record = sqsRecord(body, { fifo: { group: 'vm-0', dedup: name.replace(/\W/g, '') } });
      expect(await sim.secondaryApply(sqsEvent([record])), name).toEqual({ batchItemFailures: [] });
      // Nothing was read or written: not the document, not the control document, not the log.
      expect(sim.state.stats.loads, name).toBe(loads);
      expect(secondaryBytes(sim).equals(before), name).toBe(true);
      expect(sim.deadLetters.at(-1), name).toMatchObject({
        body,
        messageId: record.messageId,
        code: 'unauthenticated',
        rejectedBy: 'secondary-apply',
      });
    }
    expect(sim.metric('InputsUnauthenticated')).toBe(3);
    expect(sim.metric('InputsRejected')).toBe(0);
    const lines = sim.obs.logs.filter((l) => l.message.startsWith('message refused: authentication failed'));
    expect(lines.map((l) => [l.level, l.extra.failure])).toEqual([
      ['error', 'unknown-key'],
      ['error', 'not-sealed'],
      ['error', 'bad-mac'],
    ]);
    expect(JSON.stringify(lines)).not.toContain(seedSecret(sim.params.seed));

    // The same message, sealed with the key, is applied.
    const inSeq = (await sim.secondaryDoc())?.state.inSeq;
    const genuine = sealMessage((await sim.keys.keys()).signing, message);
    expect(await sim.secondaryApply(sqsEvent([sqsRecord(genuine)]))).toEqual({ batchItemFailures: [] });
    expect((await sim.secondaryDoc())?.state.inSeq).toBe((inSeq ?? 0) + 1);
  });

  test('a forged heartbeat at the next seq does not cost the genuine message its slot', async () => {
    const sim = new HandlerSim(handlerParams({ policy: 'none' }));
    await started(sim);
    sim.clock.advance(1000);
    await sim.deliverTicks('pending-check');
    const genuine = sim.fifoRecords(sim.p2s.take(), 'p2s.fifo');
    expect(genuine.length).toBeGreaterThan(0);
    const first = genuine[0] as SQSRecord;
    const header = first.body.slice(0, first.body.indexOf('\n')).split(' ');
    const forged = sealMessage(WRONG_KEY, {
      v: 1,
      vmId: 'vm-0',
      epoch: Number(header[3]),
      seq: Number(header[4]),
      type: 'heartbeat',
      beat: 0,
      sentAt: 0,
    });
    const applied = sim.metric('InputsApplied');
    // Attacker's copy first, in the same batch.
    const response = await sim.secondaryApply(sqsEvent([sqsRecord(forged), ...genuine]));
    expect(response).toEqual({ batchItemFailures: [] });
    expect(sim.metric('InputsUnauthenticated')).toBe(1);
    // Every genuine record (heartbeats: outside the sequence) is applied; the forgery took nothing.
    expect(sim.metric('InputsApplied') - applied).toBe(genuine.length);
    const doc = await sim.secondaryDoc();
    expect(doc?.state.inSeq).toBe(Number(header[4]));
  });

  test('with REJECTED_MESSAGES=retry a refused record holds back the later ones, nothing is forwarded', async () => {
    const sim = new HandlerSim(handlerParams({ policy: 'none' }), 'retry');
    await started(sim);
    const message = await nextHeartbeat(sim);
    const forged = sqsRecord(sealMessage(WRONG_KEY, message));
    const genuine = sqsRecord(sealMessage((await sim.keys.keys()).signing, message));
    const response = await sim.secondaryApply(sqsEvent([forged, genuine]));
    expect(response.batchItemFailures.map((f) => f.itemIdentifier)).toEqual([
      forged.messageId,
      genuine.messageId,
    ]);
    expect(sim.deadLetters).toEqual([]);
  });
});

describe('secondary-apply: an object crafted without the key', () => {
  test('under a genuine message is refused as unauthenticated before decoding; the engine state is unchanged', async () => {
    const sim = new HandlerSim(handlerParams({ policy: 'fixed' }));
    await started(sim);
    for (
      let i = 0;
      i < 30 && !sim.p2s.history.some((m) => m.type === 'delta' && m.kind === 'background-ram');
      i++
    ) {
      sim.clock.advance(100);
      await sim.deliverTicks('pending-check');
    }
    const delta = sim.p2s.history.find((m) => m.type === 'delta');
    if (delta?.type !== 'delta') throw new Error('no delta');
    const ctx = objectContextOfKey(delta.claim.key);
    const stored = sim.deltas.peek(delta.claim.key);
    const opened = ctx && stored && openObject(await sim.keys.keys(), stored, ctx);
    if (!ctx || !opened?.ok) throw new Error('no object');
    // The very same inner bytes, sealed with a key that is not the VM's.
    sim.deltas.tamper(delta.claim.key, sealObject(WRONG_KEY, ctx, opened.inner));
    const records = sim.fifoRecords(sim.p2s.take(), 'p2s.fifo');
    const bad = records.findIndex((r) => typeOfBody(r.body) === 'delta');
    for (const r of records.slice(0, bad)) await sim.secondaryApply(sqsEvent([r]));
    const before = await sim.secondaryDoc();
    expect(await sim.secondaryApply(sqsEvent([records[bad] as SQSRecord]))).toEqual({
      batchItemFailures: [],
    });
    const after = await sim.secondaryDoc();
    expect(after?.state.inSeq).toBe(before?.state.inSeq);
    expect(after?.state.cache).toEqual(before?.state.cache);
    expect(sim.deadLetters.at(-1)).toMatchObject({ code: 'unauthenticated', detail: /unknown-key/ });
    expect(sim.metric('InputsUnauthenticated')).toBe(1);
    const line = sim.obs.logs.find((l) => l.message === 'input rejected');
    expect([line?.level, line?.extra.code]).toEqual(['error', 'unauthenticated']);
  });
});

describe('primary: a message crafted without the key', () => {
  test("is refused unread and forwarded to the S → P dead-letter queue, like any refusal but the protocol's own", async () => {
    const sim = new HandlerSim(handlerParams({ policy: 'none' }));
    await started(sim);
    const p = (await sim.primaryDoc())?.state;
    if (!p) throw new Error('no primary');
    const reply: ColoMessage = {
      v: 1,
      vmId: 'vm-0',
      epoch: p.epoch,
      seq: p.inSeq,
      type: 'checkpoint-reply',
      appliedRounds: [],
    };
    const before = Buffer.from(sim.state.peek(nodeStateKey('vm-0', 'primary')) ?? []);
    await sim.primary(sqsEvent([sqsRecord(sealMessage(WRONG_KEY, reply))]));
    expect(Buffer.from(sim.state.peek(nodeStateKey('vm-0', 'primary')) ?? []).equals(before)).toBe(true);
    expect(sim.deadLettersS2P.map((l) => [l.code, l.rejectedBy])).toEqual([['unauthenticated', 'primary']]);
    // A genuine but unexpected message is refused by the engine: logged, counted and forwarded too…
    await sim.primary(sqsEvent([sqsRecord(sealMessage((await sim.keys.keys()).signing, reply))]));
    expect(sim.metric('InputsRejected')).toBe(1);
    expect(sim.deadLettersS2P.map((l) => l.code)).toEqual(['unauthenticated', 'unexpected-message']);
    expect(Buffer.from(sim.state.peek(nodeStateKey('vm-0', 'primary')) ?? []).equals(before)).toBe(true);
    // …but not what the protocol refuses as replication ends (here: once the primary is fenced).
    await claimFence(sim.state, 'vm-0', 'secondary', 'test: the secondary took over', sim.clock.now());
    await sim.primary(sqsEvent([sqsRecord(sealMessage((await sim.keys.keys()).signing, reply))]));
    expect((await sim.primaryDoc())?.state.phase).toBe('fenced');
    expect(sim.metric('InputsRejected')).toBe(2);
    expect(sim.deadLettersS2P).toHaveLength(2);
  });
});

describe('keys', () => {
  test('keys that cannot be loaded fail the whole batch (delivered again); once they load it applies', async () => {
    const sim = new HandlerSim(handlerParams({ policy: 'none' }));
    await started(sim);
    sim.clock.advance(1000);
    await sim.deliverTicks('pending-check');
    const records = sim.fifoRecords(sim.p2s.take(), 'p2s.fifo');
    let failing = true;
    const keyring = new Keyring({
      vmId: 'vm-0',
      now: sim.clock.now,
      source: {
        description: 'secret arn:test:colo',
        load: async () => {
          if (failing) throw new Error('AccessDeniedException: not authorized to GetSecretValue');
          return { current: seedSecret(sim.params.seed) };
        },
      },
    });
    const apply = createSecondaryApplyHandler({ ...sim.secondaryDeps, keys: keyring });
    const before = secondaryBytes(sim);
    const failed = await apply(sqsEvent(records));
    expect(failed.batchItemFailures.map((f) => f.itemIdentifier)).toEqual(records.map((r) => r.messageId));
    expect(secondaryBytes(sim).equals(before)).toBe(true);
    const line = sim.obs.logs.find((l) => l.level === 'error' && /whole batch/.test(l.message));
    expect(JSON.stringify(line?.extra)).toMatch(
      /KeyringUnavailableError.*replication key unavailable: secret arn:test:colo: Error: AccessDeniedException/,
    );
    failing = false;
    sim.clock.advance(10_000);
    expect(await apply(sqsEvent(records))).toEqual({ batchItemFailures: [] });
  });

  test('a timer tick whose keys cannot be loaded keeps its sends in the outbox; the next tick sends them sealed', async () => {
    const sim = new HandlerSim(handlerParams({ policy: 'none' }));
    await started(sim);
    let failing = true;
    const keyring = new Keyring({
      vmId: 'vm-0',
      now: sim.clock.now,
      source: {
        description: 'secret arn:test:colo',
        load: async () => {
          if (failing) throw new Error('ServiceUnavailable');
          return { current: seedSecret(sim.params.seed) };
        },
      },
    });
    const channel = new MemoryChannel({ serialize: sealingSerializer(keyring) });
    const tick = createPendingCheckTimerHandler({
      ...sim.primaryDeps,
      keys: keyring,
      ports: { ...sim.primaryDeps.ports, channel },
      ticks: sim.ticks['pending-check'],
    });
    sim.clock.advance(1500);
    const due = () => sim.ticks['pending-check'].takeDue(sim.clock.now());
    await tick(sqsEvent(due().map((m) => sqsRecord(m.body, { messageId: m.id }))));
    expect(channel.size).toBe(0);
    const held = await sim.primaryDoc();
    expect(held?.outbox.sends.length).toBeGreaterThan(0);
    expect(held?.outbox.lastError).toMatch(
      /KeyringUnavailableError: replication key unavailable: secret arn:test:colo/,
    );
    failing = false;
    sim.clock.advance(1500);
    await tick(sqsEvent(due().map((m) => sqsRecord(m.body, { messageId: m.id }))));
    expect(channel.size).toBeGreaterThan(0);
    expect((await sim.primaryDoc())?.outbox.sends).toEqual([]);
    const opened = await sim.message(channel.take(1)[0]?.body ?? '');
    expect(opened.vmId).toBe('vm-0');
  });

  test('a rotation: messages sealed with the new key open at once (one reload), the old key still opens', async () => {
    const OLD = seedSecret(1);
    const NEW = 'the rotated deployment secret: 64 characters of random text ok';
    let versions: { current: string; previous?: string } = { current: OLD };
    const sim = new HandlerSim(handlerParams({ policy: 'none' }), 'ack', {
      keys: Keyring.fixed(seedKeySet(1, 'vm-0')),
    });
    await started(sim);
    const receiver = new Keyring({
      vmId: 'vm-0',
      now: sim.clock.now,
      source: { description: 'test secret', load: async () => versions },
    });
    await receiver.keys();
    const apply = createSecondaryApplyHandler({ ...sim.secondaryDeps, keys: receiver });
    versions = { current: NEW, previous: OLD };
    const rotated = keySetOf('vm-0', NEW, OLD);
    const m1 = await nextHeartbeat(sim);
    sim.clock.advance(1000);
    // An in-flight message sealed before the rotation, then one sealed after it.
    const oldSealed = sealMessage(keySetOf('vm-0', OLD).signing, m1);
    const newSealed = sealMessageBody(
      rotated.signing,
      { ...m1, seq: m1.seq + 1 },
      serializeMessage({ ...m1, seq: m1.seq + 1 }),
    );
    expect(await apply(sqsEvent([sqsRecord(oldSealed), sqsRecord(newSealed)]))).toEqual({
      batchItemFailures: [],
    });
    expect((await sim.secondaryDoc())?.state.inSeq).toBe(m1.seq + 2);
    expect(receiver.stats.loads).toBe(2);
    // A stream of messages with unknown key ids costs at most one reload per interval; within it they are
    // delivered again (they might be a rotation not seen yet), after a reload that lacks them refused.
    const forged = sqsRecord(sealMessage(WRONG_KEY, { ...m1, seq: m1.seq + 2 }));
    for (let i = 0; i < 5; i++) {
      expect((await apply(sqsEvent([forged]))).batchItemFailures).toHaveLength(1);
    }
    expect(receiver.stats.loads).toBe(2);
    sim.clock.advance(1000);
    expect(await apply(sqsEvent([forged]))).toEqual({ batchItemFailures: [] });
    expect(receiver.stats.loads).toBe(3);
    expect(sim.metric('InputsUnauthenticated')).toBe(1);
  });
});
