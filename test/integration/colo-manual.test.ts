// The deployed secondary (ColoItManual on LocalStack) fed by a hand-driven primary: the test puts page-delta
// objects into the stack's bucket and announces them on the real P → S FIFO queue; the SQS-triggered
// `secondary-apply` Lambda does the rest. On this stack every timer is hourly and the heartbeat watchdog is
// off, so after start the real primary stays silent and the test owns the channel. State is read back from
// S3 with the cloud runtime's decoders. No mocks.
//
// Needs LocalStack (npm run localstack:up); the stacks are deployed by the first file that needs them.
// Run: npx vitest run --project integration test/integration/colo-manual.test.ts

import { randomBytes } from 'node:crypto';
import { isDeepStrictEqual } from 'node:util';
import { GetFunctionConfigurationCommand, UpdateFunctionConfigurationCommand } from '@aws-sdk/client-lambda';
import { DeleteObjectCommand } from '@aws-sdk/client-s3';
import { PutSecretValueCommand } from '@aws-sdk/client-secrets-manager';
import { GetQueueAttributesCommand } from '@aws-sdk/client-sqs';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { DEAD_LETTER_ATTRIBUTES } from '../../lambda/adapters/sqs-dead-letters.ts';
import { FETCH_DELAY_ENV } from '../../lambda/handlers/common/test-hooks.ts';
import { ObjectMissingError } from '../../src/engine/ports.ts';
import { Keyring, nodeStateKey, type SecondaryDocument } from '../../src/runtime/cloud/index.ts';
import { unverifiedBody } from '../../src/wire/sealed-message.ts';
import { clients, since, waitFor } from './helpers/aws.ts';
import { type ColoTestStack, ensureColoStacks } from './helpers/colo-stacks.ts';
import {
  type Forgery,
  ManualPrimary,
  position,
  receiveUntil,
  startManualSession,
} from './helpers/manual-primary.ts';

let m: ColoTestStack;
let primary: ManualPrimary;
let round = 0;

/** True when both texts are JSON of the same value. */
function sameJson(a: string | undefined, b: string): boolean {
  try {
    return isDeepStrictEqual(JSON.parse(a ?? ''), JSON.parse(b));
  } catch {
    return false;
  }
}

async function secondary(): Promise<SecondaryDocument> {
  const d = await m.secondaryDoc();
  if (!d) throw new Error('no secondary document');
  return d;
}

/** Waits until the secondary has consumed (or skipped) every message below `seq`. */
function consumedBelow(seq: number): Promise<SecondaryDocument> {
  return waitFor(
    `the secondary to reach inSeq ≥ ${seq}`,
    async (note) => {
      const d = await secondary();
      note({ phase: d.state.phase, inSeq: d.state.inSeq });
      return d.state.inSeq >= seq ? d : undefined;
    },
    60_000,
  );
}

/** The parts of the secondary that hold page data: colo cache, committed and running images, epochs. */
function pageState(d: SecondaryDocument) {
  return {
    cache: [...d.state.cache.entries()].sort((a, b) => a[0] - b[0]),
    committed: Buffer.from(d.state.committed.buffer).toString('base64'),
    running: Buffer.from(d.state.running.buffer).toString('base64'),
    appliedRounds: [...d.state.appliedRounds],
    epoch: d.state.epoch,
    committedEpoch: d.state.committedEpoch,
  };
}

/** Messages in the P → S dead-letter queue (visible or in flight). */
async function dlqDepth(): Promise<number> {
  const a = await clients().sqs.send(
    new GetQueueAttributesCommand({
      QueueUrl: m.output('PrimaryToSecondaryDlqUrl'),
      AttributeNames: ['ApproximateNumberOfMessages', 'ApproximateNumberOfMessagesNotVisible'],
    }),
  );
  return (
    Number(a.Attributes?.ApproximateNumberOfMessages ?? 0) +
    Number(a.Attributes?.ApproximateNumberOfMessagesNotVisible ?? 0)
  );
}

/** Sets (or, with undefined, removes) the fetch-delay test hook on the deployed secondary-apply. */
async function setFetchDelay(ms: number | undefined): Promise<void> {
  const { lambda } = clients();
  const FunctionName = m.output('SecondaryApplyFunctionName');
  const conf = await lambda.send(new GetFunctionConfigurationCommand({ FunctionName }));
  const Variables = { ...(conf.Environment?.Variables ?? {}) };
  if (ms === undefined) delete Variables[FETCH_DELAY_ENV];
  else Variables[FETCH_DELAY_ENV] = String(ms);
  await lambda.send(new UpdateFunctionConfigurationCommand({ FunctionName, Environment: { Variables } }));
  await waitFor(
    'secondary-apply to finish its configuration update',
    async (note) => {
      const c = await lambda.send(new GetFunctionConfigurationCommand({ FunctionName }));
      note({ state: c.State, update: c.LastUpdateStatus, hook: c.Environment?.Variables?.[FETCH_DELAY_ENV] });
      const set = c.Environment?.Variables?.[FETCH_DELAY_ENV];
      const applied = ms === undefined ? set === undefined : set === String(ms);
      return c.State === 'Active' && c.LastUpdateStatus === 'Successful' && applied ? true : undefined;
    },
    60_000,
  );
}

beforeAll(async () => {
  ({ manual: m } = await ensureColoStacks(inject('coloItRunId')));
  primary = new ManualPrimary(m);
  await startManualSession(m);
  // Rounds must increase within an epoch: start above any round another test file applied here.
  round = (await secondary()).state.appliedRounds.at(-1) ?? 0;
}, 600_000);

describe('secondary-apply on LocalStack, fed by a hand-driven primary', () => {
  it('applies a background delta uploaded to S3 and announced on SQS to the colo cache, and nothing else', async () => {
    const t0 = Date.now();
    const dlqBefore = await dlqDepth();
    const before = await secondary();
    const at = position(before);
    const pages = new Map([
      [1, 3],
      [77, 1],
      [512, 2],
      [1023, 5],
    ]);
    const object = primary.ramDelta(at.epoch, at.seq + 1, pages);
    round++;
    await primary.sendRound(at, round, object);
    const after = await consumedBelow(at.seq + 2);

    expect(after.state.phase).toBe('idle');
    expect(after.state.appliedRounds).toEqual([...before.state.appliedRounds, round]);
    // Exactly the delta's pages, at the delta's versions, in the cache — committed memory untouched.
    expect(new Map(after.state.cache)).toEqual(new Map([...before.state.cache, ...pages]));
    expect(pageState(after).committed).toBe(pageState(before).committed);
    expect(pageState(after).running).toBe(pageState(before).running);
    expect(after.state.committedEpoch).toBe(before.state.committedEpoch);
    // The secondary saved past the delta, so it retires the object it consumed (after its save: wait for it).
    await waitFor(
      'the secondary to delete the delta object it applied',
      async (note) => {
        try {
          await m.sealedDeltas.get(object.claim.key);
          note('still in S3');
          return undefined;
        } catch (err) {
          if (err instanceof ObjectMissingError) return true;
          throw err;
        }
      },
      60_000,
    );
    // Nothing was refused: a refusal would have gone to the DLQ.
    expect(await dlqDepth()).toBe(dlqBefore);
    console.log(`[colo-manual] background delta applied in ${since(t0)} ms`);
  });

  it('refuses a malformed and a device-carrying background delta: both land in the DLQ and change nothing', async () => {
    const dlq = m.output('PrimaryToSecondaryDlqUrl');
    const cases = [
      {
        name: 'malformed (truncated object, matching claim)',
        build: (epoch: number, seq: number) =>
          primary.truncated(primary.ramDelta(epoch, seq, new Map([[5, 9]])), 40),
        code: 'invalid-delta',
      },
      {
        name: 'device state in a background transfer',
        build: (epoch: number, seq: number) => primary.deviceStateAsRam(epoch, seq),
        code: 'not-ram',
      },
    ];
    for (const c of cases) {
      const t0 = Date.now();
      const before = await secondary();
      const at = position(before);
      round++;
      const body = await primary.sendRound(at, round, c.build(at.epoch, at.seq + 1));
      // secondary-apply forwards the refused record to the DLQ before acknowledging it. (LocalStack's SQS
      // event source re-serialises JSON bodies on the way to the function, so compare them as JSON.)
      const letter = await receiveUntil(dlq, (x) => sameJson(unverifiedBody(x.Body ?? ''), body), 60_000);
      const attr = (name: string) => letter.MessageAttributes?.[name]?.StringValue;
      expect(attr(DEAD_LETTER_ATTRIBUTES.code), c.name).toBe(c.code);
      expect(attr(DEAD_LETTER_ATTRIBUTES.rejectedBy)).toBe('secondary-apply');
      expect(attr(DEAD_LETTER_ATTRIBUTES.detail)).toMatch(/\w/);
      expect(letter.Attributes?.MessageGroupId).toBe(m.vmId);

      const after = await secondary();
      // The announcement opened the round; the refused data changed nothing: the slot is still open…
      expect(after.state.phase).toBe('bg-loading');
      expect(after.state.loadingRound).toBe(round);
      expect(after.state.inSeq).toBe(at.seq + 1);
      // …and no page anywhere moved.
      expect(pageState(after), c.name).toEqual(pageState(before));
      console.log(`[colo-manual] ${c.name}: refused and dead-lettered in ${since(t0)} ms`);
    }
  });

  it('abandons a background apply that exceeds its timeout whole, and applies the same delta without the stall', async () => {
    const delayMs = m.params.applyTimeoutMs + 2000;
    const pages = new Map([
      [2, 7],
      [300, 4],
      [700, 6],
    ]);
    await setFetchDelay(delayMs);
    try {
      const t0 = Date.now();
      const dlqBefore = await dlqDepth();
      const before = await secondary();
      const at = position(before);
      round++;
      const stalled = round;
      await primary.sendRound(at, stalled, primary.ramDelta(at.epoch, at.seq + 1, pages));
      // The round's data slot is skipped (abandoned), not refused.
      const after = await consumedBelow(at.seq + 2);
      expect(since(t0)).toBeGreaterThanOrEqual(delayMs);
      expect(after.state.inSeq).toBe(at.seq + 2);
      expect(after.state.phase).toBe('idle');
      expect(after.state.appliedRounds).not.toContain(stalled);
      for (const p of pages.keys()) expect(after.state.cache.has(p), `page ${p}`).toBe(false);
      expect(pageState(after)).toEqual(pageState(before));
      expect(await dlqDepth()).toBe(dlqBefore);
      const logs = await m.functionLogs('SecondaryApplyFunctionName');
      expect(logs.some((l) => l.message === 'test hook active: every delta fetch is delayed')).toBe(true);
      console.log(`[colo-manual] stalled apply abandoned after ${since(t0)} ms`);
    } finally {
      await setFetchDelay(undefined);
    }
    // Warm secondary-apply with its new configuration before the control round (a cold start on a loaded
    // machine can take most of the 4 s apply timeout): one refused message, awaited in the DLQ.
    const warmUp = `warm-up ${Date.now()}: not a message`;
    await primary.sendBodies([warmUp]);
    await receiveUntil(m.output('PrimaryToSecondaryDlqUrl'), (x) => x.Body === warmUp, 60_000);

    // Control: the same pages without the stall reach the cache.
    const before = await secondary();
    const at = position(before);
    round++;
    await primary.sendRound(at, round, primary.ramDelta(at.epoch, at.seq + 1, pages));
    const after = await consumedBelow(at.seq + 2);
    expect(after.state.appliedRounds).toContain(round);
    for (const [p, v] of pages) expect(after.state.cache.get(p), `page ${p}`).toBe(v);
  });

  it('refuses a round crafted without the key — object and messages valid in every other respect — end to end, changing nothing; the same bytes sealed with the key are applied', async () => {
    const dlq = m.output('PrimaryToSecondaryDlqUrl');
    const stateKey = nodeStateKey(m.vmId, 'secondary');
    const pages = new Map([
      [9, 4],
      [401, 2],
      [900, 7],
    ]);
    const before = await secondary();
    const stored = await m.state.load(stateKey);
    const at = position(before);
    round++;
    const object = primary.ramDelta(at.epoch, at.seq + 1, pages);
    const forgeries: Forgery[] = [
      { object: 'other-key', messages: 'other-key' },
      { object: 'unsealed', messages: 'unsealed' },
    ];
    const objectKey = m.deltas.objectKey(object.key);
    const deleteObject = () =>
      clients().s3.send(new DeleteObjectCommand({ Bucket: m.output('BucketName'), Key: objectKey }));
    for (const forgery of forgeries) {
      const t0 = Date.now();
      const name = `object ${forgery.object}, messages ${forgery.messages}`;
      const bodies = await primary.forgeRound(at, round, object, forgery);
      // Both messages land in the DLQ as sent (a sealed body is not JSON, so LocalStack's event source
      // passes it on byte for byte; a bare JSON one it re-serialises), with the distinct code.
      for (const body of bodies) {
        const letter = await receiveUntil(dlq, (x) => x.Body === body || sameJson(x.Body, body), 60_000);
        const attr = (a: string) => letter.MessageAttributes?.[a]?.StringValue;
        expect(attr(DEAD_LETTER_ATTRIBUTES.code), name).toBe('unauthenticated');
        expect(attr(DEAD_LETTER_ATTRIBUTES.detail), name).toMatch(
          forgery.messages === 'unsealed' ? /not-sealed/ : /unknown-key/,
        );
        expect(attr(DEAD_LETTER_ATTRIBUTES.rejectedBy)).toBe('secondary-apply');
      }
      // Nothing of the secondary changed — its node document is the same object, byte for byte — and
      // nothing was refused through the engine (no rejected record: the messages never reached it).
      const now = await m.state.load(stateKey);
      expect(now?.etag, name).toBe(stored?.etag);
      expect(Buffer.from(now?.value ?? []).equals(Buffer.from(stored?.value ?? [])), name).toBe(true);
      await deleteObject();
      console.log(`[colo-manual] forged round (${name}) refused and dead-lettered in ${since(t0)} ms`);
    }
    // The function said so: an error line per refused message, and the metric.
    const logs = await m.functionLogs('SecondaryApplyFunctionName');
    // The last four such lines are this test's (the hostile-input suite refuses others on this stack).
    const lines = logs
      .filter((l) => l.message === 'message refused: authentication failed, nothing of it was read')
      .slice(-4);
    expect(lines.map((l) => l.failure)).toEqual(['unknown-key', 'unknown-key', 'not-sealed', 'not-sealed']);
    expect(lines.every((l) => l.level === 'ERROR')).toBe(true);
    expect(logs.some((l) => typeof l.InputsUnauthenticated === 'number')).toBe(true);

    // The same object and messages, sealed with the key, are applied.
    await primary.sendRound(at, round, object);
    const after = await consumedBelow(at.seq + 2);
    expect(after.state.appliedRounds).toContain(round);
    for (const [p, v] of pages) expect(after.state.cache.get(p), `page ${p}`).toBe(v);
  });

  it('a key rotation (PutSecretValue) loses nothing: a round sealed with the new key and one sealed with the previous key are both applied', async () => {
    const { secrets } = clients();
    const arn = m.output('ReplicationKeySecretArn');
    const previous = Keyring.fixed(await m.keys.keys());
    await secrets.send(
      new PutSecretValueCommand({
        SecretId: arn,
        SecretString: JSON.stringify({ key: randomBytes(32).toString('hex') }),
      }),
    );
    await new Promise((r) => setTimeout(r, 1100));
    expect(await m.keys.refresh()).toBe('changed');
    const rotated = await m.keys.keys();
    expect(rotated.accepted.map((k) => k.id)).toEqual([
      rotated.signing.id,
      (await previous.keys()).signing.id,
    ]);

    const t0 = Date.now();
    const dlqBefore = await dlqDepth();
    for (const [name, keys] of [
      ['the new key', undefined],
      ['the previous key', previous],
    ] as const) {
      const before = await secondary();
      const at = position(before);
      round++;
      const pages = new Map([[100 + round, round]]);
      await primary.sendRound(at, round, primary.ramDelta(at.epoch, at.seq + 1, pages), keys);
      const after = await consumedBelow(at.seq + 2);
      expect(after.state.appliedRounds, name).toContain(round);
      for (const [p, v] of pages) expect(after.state.cache.get(p), `${name}: page ${p}`).toBe(v);
      expect(await dlqDepth(), name).toBe(dlqBefore);
    }
    console.log(`[colo-manual] rounds sealed with the new and the previous key applied in ${since(t0)} ms`);
  });
});
