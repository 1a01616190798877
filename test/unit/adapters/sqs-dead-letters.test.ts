import { SendMessageBatchCommand, SQSClient } from '@aws-sdk/client-sqs';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import {
  batches,
  type DeadLetter,
  deadLetterAttributes,
  deadLetterDeduplicationId,
  MAX_DETAIL_CHARS,
  SqsDeadLetterQueue,
} from '../../../lambda/adapters/sqs-dead-letters.ts';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';

const QUEUE = 'https://sqs.example.invalid/000000000000/p2s-dlq.fifo';
const sqs = mockClient(SQSClient);

const letter: DeadLetter = {
  body: '{"v":1,"type":"delta"}',
  groupId: 'vm-0',
  messageId: '0f2b6c4e-8a1d-4b7e-9c3f-2d5e6f7a8b9c',
  code: 'not-ram',
  detail: 'background transfer object holds device-state; only RAM pages are accepted',
  rejectedBy: 'secondary-apply',
  at: 1_767_225_600_123,
};

beforeEach(() => {
  sqs.reset();
});

describe('SqsDeadLetterQueue', () => {
  const client = () => new SQSClient({ region: 'us-east-1' });

  it('sends the body unchanged in the same group, deduplicated by the source message id, reason as attributes', async () => {
    sqs.on(SendMessageBatchCommand).resolves({ Successful: [], Failed: [] });
    const failed = await new SqsDeadLetterQueue({ queueUrl: QUEUE, client: client() }).forward([letter]);
    expect(failed).toEqual([]);
    const calls = sqs.commandCalls(SendMessageBatchCommand).map((c) => c.args[0].input);
    expect(calls).toEqual([
      {
        QueueUrl: QUEUE,
        Entries: [
          {
            Id: '0',
            MessageBody: letter.body,
            MessageGroupId: 'vm-0',
            MessageDeduplicationId: `rejected-${letter.messageId}`,
            MessageAttributes: {
              ColoErrorCode: { DataType: 'String', StringValue: 'not-ram' },
              ColoErrorMessage: { DataType: 'String', StringValue: letter.detail },
              ColoSourceMessageId: { DataType: 'String', StringValue: letter.messageId },
              ColoRejectedBy: { DataType: 'String', StringValue: 'secondary-apply' },
              ColoRejectedAt: { DataType: 'Number', StringValue: '1767225600123' },
            },
          },
        ],
      },
    ]);
  });

  it('forwards a flood in requests of ten, in order', async () => {
    sqs.on(SendMessageBatchCommand).resolves({ Successful: [], Failed: [] });
    const many = Array.from({ length: 25 }, (_, i) => ({ ...letter, messageId: `m-${i}` }));
    expect(await new SqsDeadLetterQueue({ queueUrl: QUEUE, client: client() }).forward(many)).toEqual([]);
    const calls = sqs.commandCalls(SendMessageBatchCommand).map((c) => c.args[0].input.Entries ?? []);
    expect(calls.map((e) => e.length)).toEqual([10, 10, 5]);
    expect(calls.flat().map((e) => e.MessageDeduplicationId)).toEqual(
      many.map((l) => `rejected-${l.messageId}`),
    );
  });

  it('returns the entries SQS refused, and every entry of a request that failed (the caller logs them)', async () => {
    const two = [letter, { ...letter, messageId: 'second' }];
    sqs.on(SendMessageBatchCommand).resolves({
      Successful: [],
      Failed: [{ Id: '1', Code: 'InvalidMessageContents', SenderFault: true, Message: 'bad' }],
    });
    const dlq = new SqsDeadLetterQueue({ queueUrl: QUEUE, client: client() });
    const refused = await dlq.forward(two);
    expect(refused.map((f) => [f.letter.messageId, f.error])).toEqual([
      ['second', 'InvalidMessageContents: bad'],
    ]);
    sqs.reset();
    sqs.on(SendMessageBatchCommand).rejects(new Error('AccessDenied'));
    const failed = await dlq.forward(two);
    expect(failed.map((f) => f.letter.messageId)).toEqual([letter.messageId, 'second']);
    expect(failed[0]?.error).toMatch(/AccessDenied/);
  });

  it('splits batches by size: bodies over 256 KiB together go in separate requests', () => {
    const big = { ...letter, body: 'x'.repeat(150_000) };
    expect(batches([big, big, letter]).map((b) => b.length)).toEqual([1, 2]);
    expect(batches([]).length).toBe(0);
  });
});

describe('attributes and ids', () => {
  it('keeps ids within SQS limits and the error message bounded; empty strings become "-"', () => {
    expect(deadLetterDeduplicationId('x'.repeat(200))).toHaveLength(128);
    expect(deadLetterDeduplicationId('a b\u00e9')).toBe('rejected-a_b_');
    const a = deadLetterAttributes({ ...letter, detail: 'd'.repeat(5000), code: '' });
    expect(a.ColoErrorMessage?.StringValue).toHaveLength(MAX_DETAIL_CHARS);
    expect(a.ColoErrorCode?.StringValue).toBe('-');
  });
});
