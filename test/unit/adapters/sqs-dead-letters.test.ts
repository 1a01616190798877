import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import {
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
  it('sends the body unchanged in the same group, deduplicated by the source message id, reason as attributes', async () => {
    sqs.on(SendMessageCommand).resolves({ MessageId: 'm' });
    await new SqsDeadLetterQueue({ queueUrl: QUEUE, client: new SQSClient({ region: 'us-east-1' }) }).forward(
      letter,
    );
    const calls = sqs.commandCalls(SendMessageCommand).map((c) => c.args[0].input);
    expect(calls).toEqual([
      {
        QueueUrl: QUEUE,
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
    ]);
  });

  it('propagates a send error (the caller keeps the evidence in its log)', async () => {
    sqs.on(SendMessageCommand).rejects(new Error('AccessDenied'));
    const dlq = new SqsDeadLetterQueue({ queueUrl: QUEUE, client: new SQSClient({ region: 'us-east-1' }) });
    await expect(dlq.forward(letter)).rejects.toThrow('AccessDenied');
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
