/**
 * A hand-driven primary for the `manual` test stack: puts page-delta objects into the stack's bucket and
 * announces them on the P → S FIFO channel with the same adapters the real primary uses (the sealed S3
 * delta store, SqsChannel with the sealing serializer, both with the VM's key read from the stack's
 * secret), so the deployed `secondary-apply` sees exactly what a primary — or a faulty one — would send.
 * Objects are built with the engine's own builders. It can also play someone *without* the key: the same
 * object and messages, sealed with another key or not at all ({@link Forgery}).
 */
import { randomBytes } from 'node:crypto';
import {
  DeleteMessageBatchCommand,
  type Message,
  ReceiveMessageCommand,
  SendMessageBatchCommand,
} from '@aws-sdk/client-sqs';
import { SqsChannel } from '../../../lambda/adapters/sqs-channel.ts';
import type { ClaimCheck, ColoMessage } from '../../../src/engine/protocol/messages.ts';
import {
  type BuiltDelta,
  buildDeviceState,
  buildRamDelta,
} from '../../../src/engine/transfer/build-delta.ts';
import type { SecondaryDocument } from '../../../src/runtime/cloud/index.ts';
import { type Keyring, SealedDeltaStore, sealingSerializer } from '../../../src/runtime/cloud/index.ts';
import { sha256Hex } from '../../../src/wire/delta-codec.ts';
import { serializeMessage } from '../../../src/wire/message-schema.ts';
import { deriveVmKey } from '../../../src/wire/replication-key.ts';
import { type SealedHeader, sealMessage, sealMessageBody } from '../../../src/wire/sealed-message.ts';
import { objectContextOfKey, sealObject } from '../../../src/wire/sealed-object.ts';
import { clients, waitFor } from './aws.ts';
import type { ColoTestStack } from './colo-stacks.ts';

/**
 * Starts replication on the `manual` stack as an operator would (the minute rule does the same within a
 * minute): the watchdog arms the chains, the first heartbeat tick starts the secondary (checkpoint-ready),
 * the primary starts. Harmless when the session already runs.
 */
export async function startManualSession(m: ColoTestStack): Promise<void> {
  const t0 = Date.now();
  await m.invoke('TickArmFunctionName', { source: 'colo.test', vmId: m.vmId });
  await waitFor(
    'the secondary to start and the primary to run',
    async (note) => {
      const [s, p] = [await m.secondaryDoc(), await m.primaryDoc()];
      note({ secondary: s?.state.phase, primary: p?.state.phase });
      return s && s.state.phase !== 'starting' && p?.state.phase === 'running' ? true : undefined;
    },
    90_000,
  );
  console.log(`[${m.vmId}] session started in ${Date.now() - t0} ms`);
}

/** Where the secondary's input stream stands. */
export interface StreamPosition {
  /** Sequence number the next message must carry to be taken as new. */
  seq: number;
  /** Epoch the secondary is receiving. */
  epoch: number;
}

/**
 * The next sequence number the secondary takes: `inSeq`, or — while it waits for a background round's data
 * (`bg-loading`) — the one after the data slot (that message abandons the round and is handled as new).
 */
export function position(doc: SecondaryDocument): StreamPosition {
  const s = doc.state;
  return { seq: s.phase === 'bg-loading' ? s.inSeq + 1 : s.inSeq, epoch: s.epoch };
}

/** An object to put under a claim's key, and the claim the `delta` message carries. */
export interface Announced {
  key: string;
  bytes: Uint8Array;
  claim: ClaimCheck;
}

function materialised(d: BuiltDelta): Announced {
  const bytes = d.payload.bytes;
  if (!bytes) throw new Error('expected a materialised payload');
  return { key: d.payload.key, bytes, claim: d.claim };
}

/** The test's primary on one stack. */
export class ManualPrimary {
  readonly channel: SqsChannel;

  constructor(readonly stack: ColoTestStack) {
    this.channel = new SqsChannel({
      queueUrl: stack.output('PrimaryToSecondaryQueueUrl'),
      client: clients().sqs,
      serialize: sealingSerializer(stack.keys),
    });
  }

  /** A valid background-ram object for `pages` (page → version) at message `seq`. */
  ramDelta(epoch: number, seq: number, pages: ReadonlyMap<number, number>): Announced {
    const n = Math.floor(this.stack.params.guestBytes / 4096);
    const versions = new Uint32Array(n);
    for (const [p, v] of pages) versions[p] = v;
    const sorted = [...pages.keys()].sort((a, b) => a - b);
    return materialised(buildRamDelta(this.stack.params, versions, sorted, 'background-ram', epoch, seq));
  }

  /** A valid object truncated by `cut` bytes, with a claim that matches the truncated bytes (a malformed delta). */
  truncated(valid: Announced, cut: number): Announced {
    const bytes = valid.bytes.slice(0, valid.bytes.byteLength - cut);
    return {
      key: valid.key,
      bytes,
      claim: { key: valid.key, size: bytes.byteLength, sha256: sha256Hex(bytes) },
    };
  }

  /** Device state of `epoch`, stored under the background-ram key of message `seq` (a device-carrying delta). */
  deviceStateAsRam(epoch: number, seq: number): Announced {
    const dev = materialised(buildDeviceState(this.stack.params, epoch, seq));
    const key = this.ramDelta(epoch, seq, new Map()).key;
    return { key, bytes: dev.bytes, claim: { ...dev.claim, key } };
  }

  /**
   * A background round as the seed sends it: the object is put into the delta store, then
   * `migrate-ram-background` (seq) and its `delta` (seq + 1) go out in one ordered batch.
   *
   * @returns The body of the `delta` message as sent.
   */
  async sendRound(at: StreamPosition, round: number, object: Announced, keys?: Keyring): Promise<string> {
    // With `keys`: sealed with those (e.g. a key a rotation has just replaced) instead of the stack's own.
    const deltas = keys ? new SealedDeltaStore(this.stack.deltas, keys) : this.stack.sealedDeltas;
    const channel = keys
      ? new SqsChannel({
          queueUrl: this.stack.output('PrimaryToSecondaryQueueUrl'),
          client: clients().sqs,
          serialize: sealingSerializer(keys),
        })
      : this.channel;
    await deltas.put(object.key, object.bytes);
    const [announce, delta] = roundMessages(this.stack.params.vmId, at, round, object);
    await channel.send([announce, delta]);
    return serializeMessage(delta);
  }

  /** `text` sealed with the stack's key under `header` (any body: valid, malformed, hostile). */
  async seal(header: Omit<SealedHeader, 'keyId'>, text: string): Promise<string> {
    return sealMessageBody((await this.stack.keys.keys()).signing, header, text);
  }

  /** `message` (any object) as JSON, sealed with the stack's key under the header its own fields state. */
  async sealJson(message: object): Promise<string> {
    const h = message as unknown as Omit<SealedHeader, 'keyId'>;
    return this.seal({ vmId: h.vmId, epoch: h.epoch, seq: h.seq, type: h.type }, JSON.stringify(message));
  }

  /**
   * Puts bodies as they are on the P → S channel, in order, in the VM's FIFO group (batches of ten, each
   * with a fresh deduplication id).
   */
  async sendBodies(bodies: readonly string[]): Promise<string[]> {
    const { sqs } = clients();
    const QueueUrl = this.stack.output('PrimaryToSecondaryQueueUrl');
    const ids: string[] = [];
    for (let i = 0; i < bodies.length; i += 10) {
      const out = await sqs.send(
        new SendMessageBatchCommand({
          QueueUrl,
          Entries: bodies.slice(i, i + 10).map((MessageBody, j) => ({
            Id: String(j),
            MessageBody,
            MessageGroupId: this.stack.params.vmId,
            MessageDeduplicationId: randomBytes(16).toString('hex'),
          })),
        }),
      );
      if ((out.Failed ?? []).length > 0) throw new Error(`send failed: ${JSON.stringify(out.Failed)}`);
      const byId = new Map((out.Successful ?? []).map((x) => [x.Id, x.MessageId ?? '']));
      for (let j = 0; j < Math.min(10, bodies.length - i); j++) ids.push(byId.get(String(j)) ?? '');
    }
    return ids;
  }

  /** Announces background round `round` (`migrate-ram-background` at `at.seq`) and nothing else. */
  async announce(at: StreamPosition, round: number): Promise<void> {
    const [announce] = roundMessages(this.stack.params.vmId, at, round, {
      key: '',
      bytes: new Uint8Array(0),
      claim: { key: '', size: 0, sha256: '' },
    });
    await this.channel.send([announce]);
  }

  /**
   * The `delta` (at `at.seq + 1`) of round `round`, announcing `claim`, sealed with the stack's key; when
   * `object` is given it is put (sealed) under `object.key` first.
   *
   * @returns The sealed body as sent.
   */
  async sendDelta(at: StreamPosition, round: number, claim: ClaimCheck, object?: Announced): Promise<string> {
    if (object) await this.stack.sealedDeltas.put(object.key, object.bytes);
    const body = await this.sealJson(
      roundMessages(this.stack.params.vmId, at, round, { ...object, claim } as Announced)[1],
    );
    await this.sendBodies([body]);
    return body;
  }

  /**
   * The same round as {@link sendRound}, crafted by someone with access to the bucket and the queue but
   * without the key: the object stored raw (`object: 'unsealed'`) or sealed with another key, the two
   * messages sent as bare JSON (`messages: 'unsealed'`) or sealed with another key.
   *
   * @returns The bodies as sent (what the DLQ must hold).
   */
  async forgeRound(
    at: StreamPosition,
    round: number,
    object: Announced,
    forgery: Forgery,
  ): Promise<string[]> {
    const wrong = deriveVmKey('an attacker-made key, not the deployment secret', this.stack.params.vmId);
    const ctx = objectContextOfKey(object.key);
    if (!ctx) throw new Error(`not a delta key: ${object.key}`);
    await this.stack.deltas.put(
      object.key,
      forgery.object === 'unsealed' ? object.bytes : sealObject(wrong, ctx, object.bytes),
    );
    const messages = roundMessages(this.stack.params.vmId, at, round, object);
    const bodies = messages.map((m) =>
      forgery.messages === 'unsealed' ? serializeMessage(m) : sealMessage(wrong, m),
    );
    const forger = new SqsChannel({
      queueUrl: this.stack.output('PrimaryToSecondaryQueueUrl'),
      client: clients().sqs,
      serialize: (m) => bodies[messages.indexOf(m as (typeof messages)[number])] as string,
    });
    await forger.send(messages);
    return bodies;
  }
}

/** How a forged round is made: each part sealed with a key that is not the VM's, or not sealed at all. */
export interface Forgery {
  object: 'unsealed' | 'other-key';
  messages: 'unsealed' | 'other-key';
}

/** `migrate-ram-background` (seq) and its `delta` (seq + 1) announcing `object`. */
function roundMessages(
  vmId: string,
  at: StreamPosition,
  round: number,
  object: Announced,
): [ColoMessage, ColoMessage & { type: 'delta' }] {
  return [
    { v: 1, vmId, epoch: at.epoch, seq: at.seq, type: 'migrate-ram-background', round },
    {
      v: 1,
      vmId,
      epoch: at.epoch,
      seq: at.seq + 1,
      type: 'delta',
      kind: 'background-ram',
      round,
      claim: object.claim,
    },
  ];
}

/** Messages {@link receiveUntil} read (and deleted) without a match, by queue: a later call finds them. */
const unclaimed = new Map<string, Message[]>();

/**
 * Reads a FIFO queue until `match` accepts a message, or the time is up. Every message read is deleted from
 * the queue; those that did not match are kept here, in order, and offered to later calls first (dead
 * letters forwarded in one batch arrive together).
 *
 * @returns The matching message.
 */
export async function receiveUntil(
  queueUrl: string,
  match: (m: Message) => boolean,
  timeoutMs: number,
): Promise<Message> {
  const kept = unclaimed.get(queueUrl) ?? [];
  unclaimed.set(queueUrl, kept);
  const earlier = kept.findIndex(match);
  if (earlier >= 0) return kept.splice(earlier, 1)[0] as Message;
  const { sqs } = clients();
  const end = Date.now() + timeoutMs;
  while (Date.now() < end) {
    const r = await sqs.send(
      new ReceiveMessageCommand({
        QueueUrl: queueUrl,
        MaxNumberOfMessages: 10,
        WaitTimeSeconds: 1,
        MessageAttributeNames: ['All'],
        MessageSystemAttributeNames: ['All'],
      }),
    );
    const got = r.Messages ?? [];
    if (got.length > 0) {
      await sqs.send(
        new DeleteMessageBatchCommand({
          QueueUrl: queueUrl,
          Entries: got.map((m, i) => ({ Id: String(i), ReceiptHandle: m.ReceiptHandle })),
        }),
      );
    }
    const hit = got.findIndex(match);
    kept.push(...got.filter((_, i) => i !== hit));
    if (hit >= 0) return got[hit] as Message;
  }
  const seen = kept.map((m) => (m.Body ?? '').slice(0, 120));
  throw new Error(`no matching message on ${queueUrl} within ${timeoutMs} ms; read: ${JSON.stringify(seen)}`);
}
