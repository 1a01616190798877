// The hostile-input suite on LocalStack: messages and objects put straight into the deployed `manual`
// stack's real P → S queue and bucket — by someone with the key (a broken or compromised primary: every
// check behind authentication is reached) and by someone without it. For each case: the clear error code
// and reason on the dead letter, the function's log line naming the message, no change to the secondary's
// stored state (the S3 object is the same, byte for byte and by ETag), and valid traffic right behind it
// still applied. docs/reliability.md ("Hostile input end to end") lists the cases with their codes.
// The flood case runs on the live stack (test/integration/colo-live.test.ts), where a watchdog is armed.
//
// Needs LocalStack (npm run localstack:up); the stacks are deployed by the first file that needs them.
// Run: npx vitest run --project integration test/integration/colo-hostile.test.ts

import { randomBytes } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import { deflateRawSync } from 'node:zlib';
import { GetSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import { type Message, SendMessageCommand } from '@aws-sdk/client-sqs';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { DEAD_LETTER_ATTRIBUTES, MAX_DETAIL_CHARS } from '../../lambda/adapters/sqs-dead-letters.ts';
import { fillPage } from '../../src/engine/memory/page-content.ts';
import { pageCount } from '../../src/engine/params.ts';
import type { ClaimCheck } from '../../src/engine/protocol/messages.ts';
import { buildRamDelta, deltaKey } from '../../src/engine/transfer/build-delta.ts';
import { nodeStateKey, type SecondaryDocument } from '../../src/runtime/cloud/index.ts';
import { encodeDeltaWithClaim, sha256Hex } from '../../src/wire/delta-codec.ts';
import { deriveVmKey } from '../../src/wire/replication-key.ts';
import { sealMessage, unverifiedBody } from '../../src/wire/sealed-message.ts';
import { objectContextOfKey, sealObject } from '../../src/wire/sealed-object.ts';
import { craft, records, runTable } from '../unit/wire/craft.ts';
import { clients, since, waitFor } from './helpers/aws.ts';
import { type ColoTestStack, ensureColoStacks } from './helpers/colo-stacks.ts';
import {
  type Announced,
  ManualPrimary,
  position,
  receiveUntil,
  type StreamPosition,
  startManualSession,
} from './helpers/manual-primary.ts';

let m: ColoTestStack;
let primary: ManualPrimary;
let dlq: string;
/** Background round number: rounds must increase within an epoch, so it starts above any applied one. */
let round = 0;
/** The deployment secret's current value (to derive another VM's key, as a neighbour VM would hold it). */
let secret: string;

/** The secondary's stored document: ETag and exact bytes. */
async function stored(): Promise<{ etag: string | undefined; bytes: Buffer }> {
  const d = await m.state.load(nodeStateKey(m.vmId, 'secondary'));
  return { etag: d?.etag, bytes: Buffer.from(d?.value ?? []) };
}

async function secondary(): Promise<SecondaryDocument> {
  const d = await m.secondaryDoc();
  if (!d) throw new Error('no secondary document');
  return d;
}

/** Waits until the secondary is in `phase` with `inSeq` at least `seq`. */
function reached(seq: number, phase: string): Promise<SecondaryDocument> {
  return waitFor(
    `the secondary to reach ${phase} at inSeq ≥ ${seq}`,
    async (note) => {
      const d = await secondary();
      note({ phase: d.state.phase, inSeq: d.state.inSeq });
      return d.state.inSeq >= seq && d.state.phase === phase ? d : undefined;
    },
    60_000,
  );
}

/** True when a dead letter carries `body` (LocalStack's event source re-serialises JSON bodies). */
function carries(letter: Message, body: string): boolean {
  if (letter.Body === body) return true;
  try {
    return isDeepStrictEqual(JSON.parse(unverifiedBody(letter.Body ?? '')), JSON.parse(unverifiedBody(body)));
  } catch {
    return false;
  }
}

/** The dead letter of `body`, with its code and reason. */
async function letterOf(body: string): Promise<{ code?: string; detail?: string; by?: string }> {
  const letter = await receiveUntil(dlq, (x) => carries(x, body), 60_000);
  const attr = (name: string) => letter.MessageAttributes?.[name]?.StringValue;
  expect(letter.Attributes?.MessageGroupId).toBe(m.vmId);
  return {
    code: attr(DEAD_LETTER_ATTRIBUTES.code),
    detail: attr(DEAD_LETTER_ATTRIBUTES.detail),
    by: attr(DEAD_LETTER_ATTRIBUTES.rejectedBy),
  };
}

/** A valid round right behind a case: announced and delivered, and applied to the colo cache. */
async function validRoundApplies(name: string): Promise<void> {
  const at = position(await secondary());
  round++;
  const pages = new Map([[(round * 7) % 1000, (round % 50) + 1]]);
  await primary.sendRound(at, round, primary.ramDelta(at.epoch, at.seq + 1, pages));
  const after = await reached(at.seq + 2, 'idle');
  expect(after.state.appliedRounds, `${name}: the valid round behind it`).toContain(round);
  for (const [p, v] of pages) expect(after.state.cache.get(p), `${name}: page ${p}`).toBe(v);
}

/** Waits until `secondary-apply` logs the message `id` as a duplicate it acknowledged. */
async function acknowledgedAsDuplicate(id: string | undefined, what: string): Promise<void> {
  await waitFor(
    what,
    async () => {
      const logs = await m.functionLogs('SecondaryApplyFunctionName');
      return logs.some((l) => l.message === 'duplicate input acknowledged' && l.messageId === id)
        ? true
        : undefined;
    },
    60_000,
    500,
  );
}

/** The envelope of a message at `at`. */
function envelope(at: StreamPosition, type: string): Record<string, unknown> {
  return { v: 1, vmId: m.vmId, epoch: at.epoch, seq: at.seq, type };
}

/** Beat numbers of this file's heartbeats: strictly increasing, as a primary's are. */
let nextBeat = 1;

/** A well-formed heartbeat at `at`: a fresh beat, sent now (ms). */
function heartbeatAt(at: StreamPosition): Record<string, unknown> {
  return { ...envelope(at, 'heartbeat'), beat: nextBeat++, sentAt: Date.now() };
}

/** A message case: a body sent alone at the secondary's current position (idle). */
interface MessageCase {
  name: string;
  body: (at: StreamPosition) => Promise<string> | string;
  code: string;
  detail?: RegExp;
}

/** An object case: the data of an open background round (`at.seq` announced, the delta at `at.seq + 1`). */
interface ObjectCase {
  name: string;
  /** Stores whatever it stores and returns the sealed `delta` body it sent. */
  send: (at: StreamPosition, round: number, valid: Announced) => Promise<string>;
  code: string;
  detail?: RegExp;
}

beforeAll(async () => {
  ({ manual: m } = await ensureColoStacks(inject('coloItRunId')));
  primary = new ManualPrimary(m);
  dlq = m.output('PrimaryToSecondaryDlqUrl');
  const s = await clients().secrets.send(
    new GetSecretValueCommand({ SecretId: m.output('ReplicationKeySecretArn') }),
  );
  secret = (JSON.parse(s.SecretString ?? '{}') as { key: string }).key;
  await startManualSession(m);
  round = (await secondary()).state.appliedRounds.at(-1) ?? 0;
}, 600_000);

describe('hostile input on LocalStack: refused with its reason, nothing changed, valid traffic behind it applied', () => {
  it('messages: malformed, unknown, for another VM, replayed, out of sequence, forged, unsealed, oversize, garbage', async () => {
    const otherVm = `${m.vmId.slice(0, 40)}-other`;
    const heartbeat = heartbeatAt;
    const cases: MessageCase[] = [
      {
        name: 'malformed JSON (sealed with the key)',
        body: (at) =>
          primary.seal({ vmId: m.vmId, epoch: at.epoch, seq: at.seq, type: 'heartbeat' }, '{"v":1,'),
        code: 'invalid-message',
        detail: /JSON/i,
      },
      {
        name: 'unknown message type',
        body: (at) => primary.sealJson(envelope(at, 'self-destruct')),
        code: 'invalid-message',
      },
      {
        name: "another VM's message, sealed with that VM's key",
        body: (at) => sealMessage(deriveVmKey(secret, otherVm), { ...heartbeat(at), vmId: otherVm } as never),
        code: 'unauthenticated',
        detail: /wrong-vm/,
      },
      {
        name: 'an unknown VM id, sealed with a key derived for it',
        body: (at) =>
          sealMessage(deriveVmKey(secret, 'nobody-knows-me'), {
            ...heartbeat(at),
            vmId: 'nobody-knows-me',
          } as never),
        code: 'unauthenticated',
        detail: /wrong-vm/,
      },
      {
        name: 'a body naming another VM than its sealed header',
        body: (at) =>
          primary.seal(
            { vmId: m.vmId, epoch: at.epoch, seq: at.seq, type: 'heartbeat' },
            JSON.stringify({ ...heartbeat(at), vmId: otherVm }),
          ),
        code: 'unauthenticated',
        detail: /header-mismatch/,
      },
      {
        name: 'an old epoch replayed at the current sequence',
        body: (at) =>
          primary.sealJson({ ...heartbeat(at), epoch: at.epoch > 0 ? at.epoch - 1 : at.epoch + 3 }),
        code: 'wrong-epoch',
      },
      {
        name: 'a sequence number from the future',
        body: (at) => primary.sealJson({ ...heartbeat(at), seq: at.seq + 5 }),
        code: 'wrong-sequence',
      },
      {
        name: 'a forged MAC (one character changed)',
        body: async (at) => {
          const sealed = await primary.sealJson(heartbeat(at));
          const nl = sealed.indexOf('\n');
          const flip = sealed[nl - 2] === 'A' ? 'B' : 'A';
          return `${sealed.slice(0, nl - 2)}${flip}${sealed.slice(nl - 1)}`;
        },
        code: 'unauthenticated',
        detail: /bad-mac/,
      },
      {
        name: 'no MAC at all (bare JSON)',
        body: (at) => JSON.stringify(heartbeat(at)),
        code: 'unauthenticated',
        detail: /not-sealed/,
      },
      {
        name: 'a 200 KB body of unknown fields (sealed)',
        body: (at) =>
          primary.sealJson({
            ...heartbeat(at),
            ...Object.fromEntries(Array.from({ length: 12_000 }, (_, i) => [`f${i}`, i])),
          }),
        code: 'invalid-message',
      },
      {
        name: 'garbage text',
        body: () => `\u00ff\u2603 garbage ${'x'.repeat(300)}`,
        code: 'unauthenticated',
      },
    ];
    for (const c of cases) {
      const t0 = Date.now();
      const before = await secondary();
      expect(before.state.phase, c.name).toBe('idle');
      const was = await stored();
      const body = await c.body(position(before));
      await primary.sendBodies([body]);
      const letter = await letterOf(body);
      expect(letter.code, c.name).toBe(c.code);
      if (c.detail) expect(letter.detail, c.name).toMatch(c.detail);
      expect(letter.by).toBe('secondary-apply');
      // Bounded: the reason of a hostile input never buys more than its cap.
      expect(letter.detail?.length ?? 0, c.name).toBeLessThanOrEqual(MAX_DETAIL_CHARS);
      // Nothing changed: the same stored object, byte for byte.
      const now = await stored();
      expect(now.etag, c.name).toBe(was.etag);
      expect(now.bytes.equals(was.bytes), c.name).toBe(true);
      await validRoundApplies(c.name);
      console.log(`[colo-hostile] ${c.name}: ${letter.code} — ${since(t0)} ms`);
    }

    // A replay of a message already consumed (the very bytes the primary sent): acknowledged as a
    // duplicate — SQS redelivers the same way after a crash — and changes nothing.
    const before = await secondary();
    const at = position(before);
    round++;
    const object = primary.ramDelta(at.epoch, at.seq + 1, new Map([[42, 9]]));
    const sent = await primary.sendRound(at, round, object);
    await reached(at.seq + 2, 'idle');
    const was = await stored();
    const replayed = await primary.sealJson(JSON.parse(sent));
    const [id] = await primary.sendBodies([replayed]);
    await acknowledgedAsDuplicate(id, 'secondary-apply to acknowledge the replay as a duplicate');
    const now = await stored();
    expect(now.etag).toBe(was.etag);
    expect(now.bytes.equals(was.bytes)).toBe(true);
    await validRoundApplies('replayed sequence');
  });

  it('objects: missing, misplaced, mis-sized, wrong kind, oversize, truncated, out of the guest, semantically wrong, a deflate bomb, unsealed', async () => {
    const params = m.params;
    const guestPages = pageCount(params);
    const otherVm = `${m.vmId.slice(0, 40)}-other`;
    /** The delta message of the round with `claim`, sealed with the key; `put` stores raw bytes first. */
    const withClaim = async (
      at: StreamPosition,
      r: number,
      claim: ClaimCheck,
      put?: [string, Uint8Array],
    ) => {
      if (put) await m.deltas.put(put[0], put[1]);
      return primary.sendDelta(at, r, claim);
    };
    /** Stores `inner` sealed under the round's own key with a matching claim, and sends the delta. */
    const stored_ = (at: StreamPosition, r: number, valid: Announced, inner: Uint8Array) =>
      primary.sendDelta(
        at,
        r,
        { key: valid.key, size: inner.byteLength, sha256: sha256Hex(inner) },
        {
          key: valid.key,
          bytes: inner,
          claim: valid.claim,
        },
      );
    /** A background-ram object of this VM at (epoch, seq) with the given raw page table. */
    const crafted = (
      at: StreamPosition,
      pages: number,
      runs: [number, number][],
      recs: [number, number, number][],
      payload: Uint8Array,
    ) =>
      craft({
        vmId: params.vmId,
        kind: 1,
        epoch: at.epoch,
        seqLow: at.seq + 1,
        pageCount: pages,
        runs: runTable(runs),
        records: records(recs),
        payload,
      });
    const cases: ObjectCase[] = [
      {
        name: 'a claim naming a missing object',
        send: (at, r, valid) => primary.sendDelta(at, r, valid.claim),
        code: 'missing-object',
      },
      {
        name: "a claim naming another VM's object",
        send: (at, r, valid) => {
          const key = deltaKey(otherVm, at.epoch, at.seq + 1, 'background-ram');
          return withClaim(at, r, { ...valid.claim, key }, [key, valid.bytes]);
        },
        code: 'claim-mismatch',
        detail: /claim names object/,
      },
      {
        name: "a claim key outside the VM's prefix",
        send: (at, r, valid) =>
          withClaim(at, r, { ...valid.claim, key: `../state/${params.vmId}/node/secondary.bin` }),
        code: 'invalid-message',
      },
      {
        name: 'a claim with the wrong size (object smaller)',
        send: (at, r, valid) =>
          primary.sendDelta(at, r, { ...valid.claim, size: valid.claim.size + 7 }, valid),
        code: 'claim-mismatch',
      },
      {
        name: 'an object larger than its claim (refused unread)',
        send: (at, r, valid) =>
          primary.sendDelta(at, r, { ...valid.claim, size: valid.claim.size - 100 }, valid),
        code: 'claim-mismatch',
        detail: /refused unread/,
      },
      {
        name: 'a claim with the wrong SHA-256',
        send: (at, r, valid) =>
          primary.sendDelta(
            at,
            r,
            { ...valid.claim, sha256: valid.claim.sha256.replace(/^./, (x) => (x === '0' ? '1' : '0')) },
            valid,
          ),
        code: 'claim-mismatch',
      },
      {
        name: 'a claim announcing more than the function can hold',
        send: (at, r, valid) => withClaim(at, r, { ...valid.claim, size: 2 ** 40 }),
        code: 'invalid-message',
      },
      {
        name: 'device state in a background transfer',
        send: (at, r) => {
          const dev = primary.deviceStateAsRam(at.epoch, at.seq + 1);
          return primary.sendDelta(at, r, dev.claim, dev);
        },
        code: 'not-ram',
      },
      {
        name: 'checkpoint RAM in a background transfer (object)',
        send: (at, r, valid) => {
          const versions = new Uint32Array(guestPages);
          versions[3] = 2;
          const ck = buildRamDelta(params, versions, [3], 'checkpoint-ram', at.epoch, at.seq + 1).payload
            .bytes as Uint8Array;
          return stored_(at, r, valid, ck);
        },
        code: 'not-ram',
      },
      {
        name: 'a truncated object',
        send: (at, r, valid) => stored_(at, r, valid, valid.bytes.slice(0, valid.bytes.byteLength - 40)),
        code: 'invalid-delta',
        detail: /truncated/,
      },
      {
        name: 'pages outside the guest (checksum correct)',
        send: (at, r, valid) =>
          stored_(at, r, valid, crafted(at, 1, [[guestPages + 5, 1]], [[1, 0, 0]], new Uint8Array(0))),
        code: 'invalid-delta',
        detail: /range|outside/,
      },
      {
        name: 'an object whose header names another sequence (checksum correct)',
        send: (at, r, valid) => {
          const versions = new Uint32Array(guestPages);
          versions[4] = 1;
          const other = buildRamDelta(params, versions, [4], 'background-ram', at.epoch, at.seq + 9).payload
            .bytes as Uint8Array;
          return stored_(at, r, valid, other);
        },
        code: 'invalid-delta',
        detail: /does not match message/,
      },
      {
        name: "page bytes that are not the page's version (checksum correct)",
        send: (at, r, valid) => {
          const data = new Uint8Array(4096);
          fillPage(data, params.seed, 6, 4, params.contentMix);
          const { bytes } = encodeDeltaWithClaim({
            vmId: params.vmId,
            epoch: at.epoch,
            seq: at.seq + 1,
            kind: 'background-ram',
            pages: [{ index: 6, version: 3, data }],
            blob: new Uint8Array(0),
          });
          return stored_(at, r, valid, bytes);
        },
        code: 'page-content-mismatch',
      },
      {
        name: 'a deflate bomb (one page inflating to 16 MiB)',
        send: (at, r, valid) => {
          const bomb = deflateRawSync(Buffer.alloc(16 * 1024 * 1024));
          return stored_(at, r, valid, crafted(at, 1, [[7, 1]], [[1, 2, bomb.byteLength]], bomb));
        },
        code: 'invalid-delta',
      },
      {
        name: 'an object sealed with another key, under a genuine message',
        send: async (at, r, valid) => {
          const ctx = objectContextOfKey(valid.key);
          if (!ctx) throw new Error('no object context');
          await m.deltas.put(
            valid.key,
            sealObject(
              deriveVmKey('an attacker-made key, not the deployment secret', params.vmId),
              ctx,
              valid.bytes,
            ),
          );
          return primary.sendDelta(at, r, valid.claim);
        },
        code: 'unauthenticated',
      },
      {
        name: 'an object stored unsealed, under a genuine message',
        send: async (at, r, valid) => {
          await m.deltas.put(valid.key, valid.bytes);
          return primary.sendDelta(at, r, valid.claim);
        },
        code: 'unauthenticated',
      },
    ];
    for (const c of cases) {
      const t0 = Date.now();
      const at = position(await secondary());
      round++;
      const r = round;
      // The round is announced (valid) and opens; then the case supplies its data.
      await primary.announce(at, r);
      await reached(at.seq + 1, 'bg-loading');
      const was = await stored();
      const valid = primary.ramDelta(
        at.epoch,
        at.seq + 1,
        new Map([
          [11, 2],
          [12, 3],
        ]),
      );
      const body = await c.send(at, r, valid);
      const letter = await letterOf(body);
      expect(letter.code, c.name).toBe(c.code);
      if (c.detail) expect(letter.detail, c.name).toMatch(c.detail);
      const now = await stored();
      expect(now.etag, c.name).toBe(was.etag);
      expect(now.bytes.equals(was.bytes), c.name).toBe(true);
      const after = await secondary();
      expect(after.state.appliedRounds, c.name).not.toContain(r);
      await validRoundApplies(c.name);
      console.log(`[colo-hostile] ${c.name}: ${letter.code} — ${since(t0)} ms`);
    }
  });

  it('a burst mixing hostile and valid messages in one FIFO group: each hostile one dead-lettered, the round applied', async () => {
    const at = position(await secondary());
    round++;
    const pages = new Map([
      [21, 4],
      [22, 5],
      [23, 6],
    ]);
    const valid = primary.ramDelta(at.epoch, at.seq + 1, pages);
    await m.sealedDeltas.put(valid.key, valid.bytes);
    const next = { epoch: at.epoch, seq: at.seq + 1 };
    const announce = await primary.sealJson({ ...envelope(at, 'migrate-ram-background'), round });
    const delta = (claim: ClaimCheck) =>
      primary.sealJson({ ...envelope(next, 'delta'), kind: 'background-ram', round, claim });
    const hostile = [
      'garbage, no header',
      await primary.seal({ vmId: m.vmId, epoch: at.epoch, seq: at.seq, type: 'heartbeat' }, '{"v":'),
      JSON.stringify(heartbeatAt(at)),
      await delta({ ...valid.claim, sha256: '0'.repeat(64) }),
    ];
    const good = await delta(valid.claim);
    await primary.sendBodies([hostile[0], hostile[1], hostile[2], announce, hostile[3], good] as string[]);
    const codes = [];
    for (const b of hostile) codes.push((await letterOf(b)).code);
    expect(codes).toEqual(['unauthenticated', 'invalid-message', 'unauthenticated', 'claim-mismatch']);
    const after = await reached(at.seq + 2, 'idle');
    expect(after.state.appliedRounds).toContain(round);
    for (const [p, v] of pages) expect(after.state.cache.get(p), `page ${p}`).toBe(v);
  });
  it('a captured sealed heartbeat replayed later: acknowledged as a duplicate, lastHeardAt not moved, nothing stored', async () => {
    // This stack's watchdog is off (heartbeatTimeoutMs 0), so its slack is 0: every heartbeat that moves
    // lastHeardAt is saved at once. A replay counted from the queue's send time (the replay's) would move
    // it and change the stored document; counted from its sealed send time it cannot.
    expect(m.params.heartbeatTimeoutMs).toBe(0);
    const at = position(await secondary());
    const genuine = await primary.sealJson(heartbeatAt(at));
    const sentAt = (JSON.parse(unverifiedBody(genuine)) as { sentAt: number }).sentAt;
    const beat = (JSON.parse(unverifiedBody(genuine)) as { beat: number }).beat;
    await primary.sendBodies([genuine]);
    const heard = await waitFor(
      'the genuine heartbeat to be admitted and stored',
      async (note) => {
        const d = await secondary();
        note({ lastBeat: d.state.lastBeat, lastHeardAt: d.state.lastHeardAt });
        return d.state.lastBeat === beat ? d : undefined;
      },
      60_000,
      500,
    );
    // Counted from the earliest of its sealed send time and the queue's.
    const heardAt = heard.state.lastHeardAt;
    expect(heardAt).toBeLessThanOrEqual(sentAt);
    expect(heardAt).toBeGreaterThan(sentAt - 60_000);
    // The same sealed bytes, sent again later by someone who can write to the queue (SendMessage, a new
    // deduplication id): twice at the same position, then once more after a valid round overtook it.
    for (const r of [{ name: 'at once' }, { name: 'again, later' }]) {
      const was = await stored();
      const before = Date.now();
      const { sqs } = clients();
      const out = await sqs.send(
        new SendMessageCommand({
          QueueUrl: m.output('PrimaryToSecondaryQueueUrl'),
          MessageBody: genuine,
          MessageGroupId: m.vmId,
          MessageDeduplicationId: randomBytes(16).toString('hex'),
        }),
      );
      await acknowledgedAsDuplicate(
        out.MessageId,
        `secondary-apply to acknowledge the replay (${r.name}) as a duplicate`,
      );
      // Sent after the genuine one: by the queue's clock it would be fresher.
      expect(before).toBeGreaterThan(sentAt);
      const now = await stored();
      expect(now.etag, r.name).toBe(was.etag);
      expect(now.bytes.equals(was.bytes), r.name).toBe(true);
      expect((await secondary()).state.lastHeardAt, r.name).toBe(heardAt);
    }
    await validRoundApplies('after the heartbeat replays');
    // Overtaken by the round: still only a duplicate, and lastHeardAt stays the round's.
    const was = await stored();
    const heardAfterRound = (await secondary()).state.lastHeardAt;
    const [id] = await primary.sendBodies([genuine]);
    await acknowledgedAsDuplicate(id, 'secondary-apply to acknowledge the overtaken replay as a duplicate');
    const now = await stored();
    expect(now.etag).toBe(was.etag);
    expect((await secondary()).state.lastHeardAt).toBe(heardAfterRound);
  });
});
