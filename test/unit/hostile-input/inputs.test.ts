/**
 * Issue 9, "no input bricks a node": hostile or broken inputs are refused with the node state unchanged,
 * never persisted into a document that cannot be loaded again, and never block the FIFO group.
 */
import { describe, expect, it } from 'vitest';
import type { Effect } from '../../../src/engine/effects.ts';
import { pageCount } from '../../../src/engine/params.ts';
import type { ColoMessage } from '../../../src/engine/protocol/messages.ts';
import { secondaryStep } from '../../../src/engine/secondary/secondary.ts';
import { buildRamDelta } from '../../../src/engine/transfer/build-delta.ts';
import { readControl } from '../../../src/runtime/cloud/control.ts';
import { runInvocation } from '../../../src/runtime/cloud/driver.ts';
import {
  FailoverWithoutStateError,
  MemoryChannel,
  nodeStateKey,
  StateDocumentError,
} from '../../../src/runtime/cloud/index.ts';
import { SECONDARY_SPEC } from '../../../src/runtime/cloud/secondary-invocation.ts';
import { fingerprint, testParams } from '../../helpers/engine.ts';
import { CloudPair } from '../cloud/harness.ts';

// maxObjectBytes: 1 MiB, so a claim can announce more than it within the message schema's 1 GiB.
const params = testParams({ policy: 'none', heartbeatTimeoutMs: 0, maxObjectBytes: 1024 * 1024 });
const zeros = new Uint32Array(pageCount(params));

/** A pair whose secondary is started and idle; nothing queued. */
async function started(): Promise<CloudPair> {
  const pair = new CloudPair(params);
  await pair.start();
  pair.p2s.take();
  return pair;
}

/** The secondary's state, decoded from its stored document. */
async function secondaryState(pair: CloudPair) {
  const doc = await pair.secondaryDoc();
  if (!doc) throw new Error('no secondary document');
  return doc.state;
}

/** The envelope of the secondary's next expected message. */
async function next(pair: CloudPair, over: Partial<{ epoch: number; seq: number; vmId: string }> = {}) {
  const s = await secondaryState(pair);
  return { v: 1 as const, vmId: params.vmId, epoch: s.epoch, seq: s.inSeq, ...over };
}

/** Delivers hand-made messages to the secondary in one invocation. */
function deliver(pair: CloudPair, ...messages: object[]) {
  return pair.secondary(messages.map((m) => ({ type: 'message' as const, body: JSON.stringify(m) })));
}

/** Announces background round `round` and stores and delivers its data. */
async function backgroundRound(pair: CloudPair, round: number) {
  const env = await next(pair);
  const built = buildRamDelta(params, zeros, [0, 1], 'background-ram', env.epoch, env.seq + 1);
  if (built.payload.bytes) await pair.deltas.put(built.claim.key, built.payload.bytes);
  return deliver(
    pair,
    { ...env, type: 'migrate-ram-background', round },
    { ...env, seq: env.seq + 1, type: 'delta', kind: 'background-ram', round, claim: built.claim },
  );
}

describe('round numbers (finding 1)', () => {
  it('a repeated round is refused; the next checkpoint-reply is sendable and the document still loads', async () => {
    const pair = await started();
    const first = await backgroundRound(pair, 1);
    expect(first.outcomes.map((o) => o.status)).toEqual(['applied', 'applied']);
    const before = fingerprint(await secondaryState(pair));
    const again = await backgroundRound(pair, 1);
    expect(again.outcomes[0]).toMatchObject({ status: 'rejected', code: 'stale-transfer' });
    // Its data slot follows a refused announcement: refused too.
    expect(again.outcomes[1]?.status).toBe('rejected');
    const after = await secondaryState(pair);
    expect(fingerprint(after).equals(before)).toBe(true);
    const reply = await deliver(pair, {
      ...(await next(pair)),
      type: 'checkpoint-request',
      trigger: 'timer',
    });
    expect(reply.outcomes[0]?.status).toBe('applied');
    const sent = reply.sent.find((m) => m.type === 'checkpoint-reply');
    expect(sent?.type === 'checkpoint-reply' && sent.appliedRounds).toEqual([1]);
    await expect(pair.secondaryDoc()).resolves.toBeDefined();
  });

  it('the driver refuses a step whose outbox could not be sent: nothing of it is persisted', async () => {
    const pair = await started();
    const key = nodeStateKey(params.vmId, 'secondary');
    const stored = pair.state.peek(key)?.slice();
    const before = fingerprint(await secondaryState(pair));
    // An engine bug stand-in: the reply lists its rounds out of order (the schema refuses that).
    const broken = {
      ...SECONDARY_SPEC,
      step: (...args: Parameters<typeof secondaryStep>): Effect[] => {
        const fx = secondaryStep(...args);
        for (const e of fx)
          if (e.type === 'send' && e.message.type === 'checkpoint-reply') e.message.appliedRounds = [2, 1];
        return fx;
      },
    };
    const env = await next(pair);
    const request = { ...env, type: 'checkpoint-request', trigger: 'timer' };
    const result = await runInvocation(
      broken,
      pair.secondaryPorts,
      params,
      pair.clock.now,
      [
        {
          index: 0,
          envelope: { vmId: params.vmId, seq: env.seq, type: 'checkpoint-request' },
          resolve: () => ({ type: 'message' as const, message: request }),
        },
      ],
      pair.options,
    );
    expect(result.outcomes[0]).toMatchObject({ status: 'rejected', code: 'unsendable' });
    expect(result.outcomes[0]?.detail).toMatch(/checkpoint-reply .* would be unsendable/);
    expect(result.sent).toEqual([]);
    expect(stored).toBeDefined();
    expect(fingerprint(await secondaryState(pair)).equals(before)).toBe(true);
    // The node goes on: the same request through the real engine is applied.
    const ok = await deliver(pair, request);
    expect(ok.outcomes[0]?.status).toBe('applied');
  });

  it('the in-memory channel serialises like SQS: an unsendable message fails the whole call', async () => {
    const channel = new MemoryChannel();
    const good = {
      v: 1,
      vmId: 'vm-0',
      epoch: 1,
      seq: 0,
      type: 'heartbeat',
      beat: 1,
      sentAt: 0,
    } as ColoMessage;
    const bad = {
      v: 1,
      vmId: 'vm-0',
      epoch: 1,
      seq: 1,
      type: 'checkpoint-reply',
      appliedRounds: [3, 3],
    } as ColoMessage;
    await expect(channel.send([good, bad])).rejects.toThrow(/invalid COLO message/);
    expect(channel.size).toBe(0);
    await channel.send([good]);
    expect(channel.take()[0]?.body).toBe(
      '{"v":1,"type":"heartbeat","vmId":"vm-0","epoch":1,"seq":0,"beat":1,"sentAt":0}',
    );
  });
});

describe('a delta is checked before its object is read (findings 2 and 3)', () => {
  /** A background-ram delta message for the secondary's next slot after an announcement of round 1. */
  async function announced(pair: CloudPair) {
    const env = await next(pair);
    const r = await deliver(pair, { ...env, type: 'migrate-ram-background', round: 1 });
    expect(r.outcomes[0]?.status).toBe('applied');
    const seq = env.seq + 1;
    const built = buildRamDelta(params, zeros, [0], 'background-ram', env.epoch, seq);
    return {
      env: { ...env, seq },
      built,
      message: { ...env, seq, type: 'delta', kind: 'background-ram', round: 1, claim: built.claim },
    };
  }

  it('a missing object is a rejection (missing-object), read once, and the messages behind it go on', async () => {
    const pair = await started();
    const { message, env } = await announced(pair);
    const before = fingerprint(await secondaryState(pair));
    const gets = pair.deltas.stats.gets;
    const r = await deliver(pair, message, {
      ...env,
      seq: env.seq + 1,
      type: 'heartbeat',
      beat: 1,
      sentAt: 0,
    });
    expect(r.outcomes[0]).toMatchObject({ status: 'rejected', code: 'missing-object' });
    expect(r.outcomes[0]?.detail).toMatch(/does not exist/);
    expect(pair.deltas.stats.gets - gets).toBe(1);
    // The heartbeat after it abandons the round (its data was refused) and is applied: nothing is blocked.
    expect(r.outcomes[1]?.status).toBe('applied');
    expect(before.length).toBeGreaterThan(0);
  });

  it('a missing object alone leaves the state byte-identical', async () => {
    const pair = await started();
    const { message } = await announced(pair);
    const before = fingerprint(await secondaryState(pair));
    const r = await deliver(pair, message);
    expect(r.outcomes[0]).toMatchObject({ status: 'rejected', code: 'missing-object' });
    expect(fingerprint(await secondaryState(pair)).equals(before)).toBe(true);
  });

  it('a transient read error still fails the input (delivered again), after the retries', async () => {
    const pair = await started();
    const { message, built } = await announced(pair);
    if (built.payload.bytes) await pair.deltas.put(built.claim.key, built.payload.bytes);
    pair.deltas.beforeCall = (op) => {
      if (op === 'get') throw Object.assign(new Error('SlowDown'), { name: 'SlowDown' });
    };
    const gets = pair.deltas.stats.gets;
    const r = await deliver(pair, message);
    expect(r.outcomes[0]).toMatchObject({ status: 'failed', code: 'SlowDown' });
    expect(pair.deltas.stats.gets).toBe(gets); // beforeCall threw before counting; 4 tries were made
  });

  const unread: [
    string,
    (m: Record<string, unknown>, env: { epoch: number; seq: number }) => object,
    RegExp,
  ][] = [
    ['another VM', (m) => ({ ...m, vmId: 'vm-9' }), /^wrong-vm$/],
    ['another epoch', (m, e) => ({ ...m, epoch: e.epoch + 1 }), /^wrong-epoch$/],
    ['a sequence gap', (m, e) => ({ ...m, seq: e.seq + 5 }), /^wrong-sequence$/],
    ['another round', (m) => ({ ...m, round: 7 }), /^stale-transfer$/],
    ['checkpoint RAM in a background load', (m) => ({ ...m, kind: 'checkpoint-ram', round: 0 }), /^not-ram$/],
    [
      "a claim naming another VM's object",
      (m) => ({ ...m, claim: { ...(m.claim as object), key: 'vm-9/1/2-background-ram' } }),
      /^claim-mismatch$/,
    ],
    [
      'a claim naming another epoch',
      (m, e) => ({
        ...m,
        claim: { ...(m.claim as object), key: `vm-0/${e.epoch + 1}/${e.seq}-background-ram` },
      }),
      /^claim-mismatch$/,
    ],
    [
      'a claim naming a state document',
      (m) => ({ ...m, claim: { ...(m.claim as object), key: 'vm-0/node/secondary.bin' } }),
      /^claim-mismatch$/,
    ],
    [
      'a claim larger than maxObjectBytes',
      (m) => ({ ...m, claim: { ...(m.claim as object), size: params.maxObjectBytes + 1 } }),
      /^invalid-delta$/,
    ],
  ];
  for (const [what, change, code] of unread) {
    it(`${what}: rejected without a read, state unchanged`, async () => {
      const pair = await started();
      const { message, env, built } = await announced(pair);
      if (built.payload.bytes) await pair.deltas.put(built.claim.key, built.payload.bytes);
      const before = fingerprint(await secondaryState(pair));
      const gets = pair.deltas.stats.gets;
      const r = await deliver(pair, change(message as Record<string, unknown>, env));
      expect(r.outcomes[0]?.status).toBe('rejected');
      expect(r.outcomes[0]?.code).toMatch(code);
      expect(pair.deltas.stats.gets).toBe(gets);
      expect(fingerprint(await secondaryState(pair)).equals(before)).toBe(true);
    });
  }

  it('a delta in a phase that takes none (idle) is rejected without a read', async () => {
    const pair = await started();
    const env = await next(pair);
    const built = buildRamDelta(params, zeros, [0], 'background-ram', env.epoch, env.seq);
    if (built.payload.bytes) await pair.deltas.put(built.claim.key, built.payload.bytes);
    const before = fingerprint(await secondaryState(pair));
    const r = await deliver(pair, {
      ...env,
      type: 'delta',
      kind: 'background-ram',
      round: 1,
      claim: built.claim,
    });
    expect(r.outcomes[0]).toMatchObject({ status: 'rejected', code: 'unexpected-message' });
    expect(pair.deltas.stats.gets).toBe(0);
    expect(fingerprint(await secondaryState(pair)).equals(before)).toBe(true);
  });
});

describe('a secondary whose document cannot be read (finding 4)', () => {
  async function corrupted(): Promise<CloudPair> {
    const pair = await started();
    const key = nodeStateKey(params.vmId, 'secondary');
    const bytes = pair.state.peek(key)?.slice() as Uint8Array;
    bytes[bytes.length - 1] = (bytes[bytes.length - 1] ?? 0) ^ 0xff;
    pair.state.put(key, bytes, (await pair.state.load(key))?.etag);
    return pair;
  }

  it('a failover request still claims the fence and says clearly that there is no image', async () => {
    const pair = await corrupted();
    const failover = pair.secondary([{ type: 'failover' }]);
    await expect(failover).rejects.toBeInstanceOf(FailoverWithoutStateError);
    await expect(failover).rejects.toMatchObject({ owner: 'secondary' });
    await expect(failover).rejects.toThrow(/state document cannot be read.*needs an operator/s);
    const control = await readControl(pair.state, params.vmId);
    expect(control).toMatchObject({ owner: 'secondary', failedOver: true });
    expect(control.reason).toMatch(/cannot be read/);
    // The primary learns it at its next invocation and stops for good.
    const p = await pair.primary([{ type: 'tick' }]);
    expect(p.document.state.phase).toBe('fenced');
  });

  it('any other input still fails with the StateDocumentError and claims nothing', async () => {
    const pair = await corrupted();
    await expect(pair.secondary([{ type: 'tick' }])).rejects.toBeInstanceOf(StateDocumentError);
    expect((await readControl(pair.state, params.vmId)).owner).toBeNull();
  });
});
