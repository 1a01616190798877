import { SendMessageBatchCommand, SQSClient } from '@aws-sdk/client-sqs';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import {
  ChannelOrderError,
  ChannelSendError,
  deduplicationId,
  MAX_ID_LENGTH,
  messageGroupId,
  SqsChannel,
} from '../../../lambda/adapters/sqs-channel.ts';
import type { ColoMessage } from '../../../src/engine/protocol/messages.ts';

// The SDK warns once per process that releases from 2027 need Node 22; the project runs on Node 20 by design.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';

const QUEUE = 'https://sqs.example.invalid/000000000000/p2s.fifo';
const sqs = mockClient(SQSClient);

function heartbeat(seq: number, vmId = 'vm-0'): ColoMessage {
  return { v: 1, vmId, epoch: 3, seq, type: 'heartbeat', beat: seq, sentAt: 0 };
}

type Entries = NonNullable<SendMessageBatchCommand['input']['Entries']>;

function sentBatches(): Entries[] {
  return sqs.commandCalls(SendMessageBatchCommand).map((call) => call.args[0].input.Entries ?? []);
}

function allOk(entries: Entries) {
  return { Successful: entries.map((e) => ({ Id: e.Id, MessageId: `id-${e.Id}`, MD5OfMessageBody: 'x' })) };
}

const noSleep = async (): Promise<void> => {};

beforeEach(() => {
  sqs.reset();
});

describe('deduplicationId / messageGroupId', () => {
  it('with the body: a hash of it, so another body of the same envelope (a forgery) gets another id', () => {
    const m = { vmId: 'vm-0', epoch: 1, seq: 2, type: 'heartbeat', beat: 0, sentAt: 0 };
    expect(deduplicationId(m, 'a')).toBe(deduplicationId(m, 'a'));
    expect(deduplicationId(m, 'a')).not.toBe(deduplicationId(m, 'b'));
    expect(deduplicationId(m, 'a')).toMatch(/^vm-0-1-2-hb-0-[0-9a-f]{16}$/);
    expect(deduplicationId({ ...m, vmId: 'v'.repeat(200) }, 'a').length).toBeLessThanOrEqual(128);
  });

  it("with the sender's incarnation: a VM started afresh under the same id never shares an id with the old one", () => {
    const m = { vmId: 'vm-5', epoch: 0, seq: 0, type: 'checkpoint-ready' };
    const body = '{"same":"bytes"}';
    // A resend by the same sender (its document's creation time): the same id, dropped by SQS.
    expect(deduplicationId(m, body, 1_000)).toBe(deduplicationId(m, body, 1_000));
    // The same first message of a VM created again later: another id, delivered.
    expect(deduplicationId(m, body, 1_000)).not.toBe(deduplicationId(m, body, 2_000));
    expect(deduplicationId(m, body, 1_000)).not.toBe(deduplicationId(m, body));
    expect(deduplicationId(m, body, 2_000)).toMatch(/^vm-5-0-0-checkpoint-ready-[0-9a-f]{16}$/);
  });

  it('of a heartbeat: its own number, so heartbeats sharing a seq (they consume none) never share an id', () => {
    const a = {
      v: 1 as const,
      vmId: 'vm-0',
      epoch: 1,
      seq: 7,
      type: 'heartbeat' as const,
      beat: 11,
      sentAt: 0,
    };
    const b = { ...a, beat: 12 };
    const next = { v: 1 as const, vmId: 'vm-0', epoch: 1, seq: 7, type: 'checkpoint-request' as const };
    expect(deduplicationId(a)).toBe('vm-0-1-7-hb-11');
    const ids = [a, b, next].map((m) => deduplicationId(m, JSON.stringify(m)));
    expect(new Set(ids).size).toBe(3);
  });

  it('is vmId-epoch-seq-type', () => {
    expect(deduplicationId({ vmId: 'vm-0', epoch: 12, seq: 345, type: 'vmstate-size' })).toBe(
      'vm-0-12-345-vmstate-size',
    );
  });

  it('replaces characters SQS does not allow and keeps punctuation', () => {
    expect(deduplicationId({ vmId: 'vm é 1', epoch: 0, seq: 1, type: 'delta' })).toBe('vm___1-0-1-delta');
    expect(messageGroupId('a.b:c/d')).toBe('a.b:c/d');
    expect(messageGroupId('ü')).toBe('_');
  });

  it('stays within 128 characters, keeps epoch/seq/type, and stays unique for long vm ids', () => {
    const a = deduplicationId({
      vmId: 'x'.repeat(200),
      epoch: 9_999_999_999,
      seq: 1,
      type: 'migrate-ram-background',
    });
    const b = deduplicationId({
      vmId: `${'x'.repeat(199)}y`,
      epoch: 9_999_999_999,
      seq: 1,
      type: 'migrate-ram-background',
    });
    expect(a.length).toBeLessThanOrEqual(MAX_ID_LENGTH);
    expect(a.endsWith('-9999999999-1-migrate-ram-background')).toBe(true);
    expect(a).not.toBe(b);
    expect(messageGroupId('g'.repeat(300)).length).toBe(MAX_ID_LENGTH);
  });
});

describe('SqsChannel.send', () => {
  it('sends FIFO entries in order, in batches of at most 10, with group and dedup ids', async () => {
    sqs
      .on(SendMessageBatchCommand)
      .callsFake((input: SendMessageBatchCommand['input']) => allOk(input.Entries ?? []));
    const channel = new SqsChannel({ queueUrl: QUEUE, client: new SQSClient({}), sleep: noSleep });
    const messages = Array.from({ length: 23 }, (_, i) => heartbeat(i));
    await channel.send(messages);

    const batches = sentBatches();
    expect(batches.map((b) => b.length)).toEqual([10, 10, 3]);
    const flat = batches.flat();
    expect(flat.map((e) => JSON.parse(e.MessageBody ?? '').seq)).toEqual(messages.map((m) => m.seq));
    expect(flat.every((e) => e.MessageGroupId === 'vm-0')).toBe(true);
    expect(flat[4]?.MessageDeduplicationId).toMatch(/^vm-0-3-4-hb-4-[0-9a-f]{16}$/);
    expect(flat[0]?.MessageBody).toBe(JSON.stringify(messages[0]));
    expect(sqs.commandCalls(SendMessageBatchCommand)[0]?.args[0].input.QueueUrl).toBe(QUEUE);
  });

  it("puts the sender's incarnation into the dedup id: the same message from a VM created again is another id", async () => {
    sqs
      .on(SendMessageBatchCommand)
      .callsFake((input: SendMessageBatchCommand['input']) => allOk(input.Entries ?? []));
    const channel = new SqsChannel({ queueUrl: QUEUE, client: new SQSClient({}), sleep: noSleep });
    const m = heartbeat(0);
    await channel.send([m], { senderCreatedAt: 1_000 });
    await channel.send([m], { senderCreatedAt: 1_000 });
    await channel.send([m], { senderCreatedAt: 9_000 });
    const ids = sentBatches()
      .flat()
      .map((e) => e.MessageDeduplicationId);
    expect(ids).toEqual([ids[0], ids[0], expect.not.stringMatching(ids[0] ?? '')]);
    expect(ids[0]).toBe(deduplicationId(m, JSON.stringify(m), 1_000));
  });

  it('uses the serialize seam when given', async () => {
    sqs
      .on(SendMessageBatchCommand)
      .callsFake((input: SendMessageBatchCommand['input']) => allOk(input.Entries ?? []));
    const channel = new SqsChannel({
      queueUrl: QUEUE,
      client: new SQSClient({}),
      serialize: (m) => `<${m.type}>`,
    });
    await channel.send([heartbeat(0)]);
    expect(sentBatches()[0]?.[0]?.MessageBody).toBe('<heartbeat>');
  });

  it('splits a batch that would pass the byte cap', async () => {
    sqs
      .on(SendMessageBatchCommand)
      .callsFake((input: SendMessageBatchCommand['input']) => allOk(input.Entries ?? []));
    const one = JSON.stringify(heartbeat(0)).length;
    const channel = new SqsChannel({
      queueUrl: QUEUE,
      client: new SQSClient({}),
      maxBatchBytes: one * 3 + 5,
    });
    await channel.send(Array.from({ length: 7 }, (_, i) => heartbeat(i)));
    expect(sentBatches().map((b) => b.length)).toEqual([3, 3, 1]);
  });

  it('sends nothing for an empty list', async () => {
    const channel = new SqsChannel({ queueUrl: QUEUE, client: new SQSClient({}) });
    await channel.send([]);
    expect(sentBatches()).toEqual([]);
  });

  it('resends a rejected suffix ahead of the remaining messages, preserving order', async () => {
    let call = 0;
    sqs.on(SendMessageBatchCommand).callsFake((input: SendMessageBatchCommand['input']) => {
      const entries = input.Entries ?? [];
      call += 1;
      if (call === 1) {
        // entries m7..m9 rejected (throttled), the first seven accepted
        return {
          Successful: entries.slice(0, 7).map((e) => ({ Id: e.Id, MessageId: 'x', MD5OfMessageBody: 'x' })),
          Failed: entries
            .slice(7)
            .map((e) => ({ Id: e.Id, Code: 'ThrottlingException', SenderFault: false })),
        };
      }
      return allOk(entries);
    });
    const sleeps: number[] = [];
    const channel = new SqsChannel({
      queueUrl: QUEUE,
      client: new SQSClient({}),
      sleep: async (ms) => {
        sleeps.push(ms);
      },
    });
    await channel.send(Array.from({ length: 12 }, (_, i) => heartbeat(i)));

    const batches = sentBatches();
    const seqs = batches.map((b) => b.map((e) => JSON.parse(e.MessageBody ?? '').seq));
    expect(seqs).toEqual([
      [0, 1, 2, 3, 4, 5, 6, 7, 8, 9],
      [7, 8, 9, 10, 11],
    ]);
    expect(sleeps).toEqual([50]);
  });

  it('throws ChannelSendError after maxAttempts when entries keep failing', async () => {
    sqs.on(SendMessageBatchCommand).callsFake((input: SendMessageBatchCommand['input']) => ({
      Failed: (input.Entries ?? []).map((e) => ({ Id: e.Id, Code: 'InternalError', SenderFault: false })),
    }));
    const channel = new SqsChannel({
      queueUrl: QUEUE,
      client: new SQSClient({}),
      maxAttempts: 3,
      sleep: noSleep,
    });
    const error = await channel.send([heartbeat(0), heartbeat(1)]).catch((e: unknown) => e);
    expect(error).toBeInstanceOf(ChannelSendError);
    expect((error as ChannelSendError).failures.map((f) => f.deduplicationId.slice(0, -17))).toEqual([
      'vm-0-3-0-hb-0',
      'vm-0-3-1-hb-1',
    ]);
    expect(sentBatches()).toHaveLength(3);
  });

  it('does not retry a sender fault', async () => {
    sqs.on(SendMessageBatchCommand).callsFake((input: SendMessageBatchCommand['input']) => ({
      Failed: (input.Entries ?? []).map((e) => ({
        Id: e.Id,
        Code: 'InvalidParameterValue',
        SenderFault: true,
      })),
    }));
    const channel = new SqsChannel({ queueUrl: QUEUE, client: new SQSClient({}), sleep: noSleep });
    await expect(channel.send([heartbeat(0)])).rejects.toThrow(/sender's fault.*InvalidParameterValue/);
    expect(sentBatches()).toHaveLength(1);
  });

  it('refuses to continue when SQS accepted a message after rejecting an earlier one of the same group', async () => {
    sqs.on(SendMessageBatchCommand).callsFake((input: SendMessageBatchCommand['input']) => {
      const [first, ...rest] = input.Entries ?? [];
      return {
        Failed: [{ Id: first?.Id, Code: 'InternalError', SenderFault: false }],
        Successful: rest.map((e) => ({ Id: e.Id, MessageId: 'x', MD5OfMessageBody: 'x' })),
      };
    });
    const channel = new SqsChannel({ queueUrl: QUEUE, client: new SQSClient({}), sleep: noSleep });
    await expect(channel.send([heartbeat(0), heartbeat(1)])).rejects.toBeInstanceOf(ChannelOrderError);
  });

  it('retries only the failed group when another group succeeded after it', async () => {
    let call = 0;
    sqs.on(SendMessageBatchCommand).callsFake((input: SendMessageBatchCommand['input']) => {
      const entries = input.Entries ?? [];
      call += 1;
      if (call === 1) {
        return {
          Failed: [{ Id: entries[0]?.Id, Code: 'InternalError', SenderFault: false }],
          Successful: entries.slice(1).map((e) => ({ Id: e.Id, MessageId: 'x', MD5OfMessageBody: 'x' })),
        };
      }
      return allOk(entries);
    });
    const channel = new SqsChannel({ queueUrl: QUEUE, client: new SQSClient({}), sleep: noSleep });
    await channel.send([heartbeat(0, 'vm-a'), heartbeat(0, 'vm-b')]);
    expect(sentBatches().map((b) => b.map((e) => e.MessageGroupId))).toEqual([['vm-a', 'vm-b'], ['vm-a']]);
  });
});
