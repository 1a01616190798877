import { ChangeMessageVisibilityBatchCommand, GetQueueUrlCommand, SQSClient } from '@aws-sdk/client-sqs';
import type { SQSRecord } from 'aws-lambda';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { queueOfArn, SqsRedelivery } from '../../../lambda/adapters/sqs-redelivery.ts';
import { arrival, redeliverSoon } from '../../../lambda/handlers/common/channel-consumer.ts';
import type { NodeHandlerDeps } from '../../../lambda/handlers/common/deps.ts';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';

const sqs = mockClient(SQSClient);
const ARN = 'arn:aws:sqs:us-east-1:000000000000:p2s.fifo';

function record(i: number, extra: Partial<SQSRecord> = {}): SQSRecord {
  return {
    messageId: `m${i}`,
    receiptHandle: `rh${i}`,
    body: '{}',
    attributes: {} as SQSRecord['attributes'],
    messageAttributes: {},
    md5OfBody: '',
    eventSource: 'aws:sqs',
    eventSourceARN: ARN,
    awsRegion: 'us-east-1',
    ...extra,
  };
}

beforeEach(() => {
  sqs.reset();
  sqs.on(GetQueueUrlCommand).resolves({ QueueUrl: 'https://sqs.example.invalid/000000000000/p2s.fifo' });
  sqs.on(ChangeMessageVisibilityBatchCommand).callsFake((input: { Entries: { Id: string }[] }) => ({
    Successful: input.Entries.map((e) => ({ Id: e.Id })),
  }));
});

describe('fast redelivery', () => {
  it('parses queue ARNs and refuses anything else', () => {
    expect(queueOfArn(ARN)).toEqual({ name: 'p2s.fifo', account: '000000000000' });
    expect(queueOfArn('arn:aws:sns:us-east-1:0:topic')).toBeUndefined();
    expect(queueOfArn('p2s.fifo')).toBeUndefined();
  });

  it('sets failed records visible again in 1 s, in batches of 10, looking the queue URL up once', async () => {
    const r = new SqsRedelivery(new SQSClient({ region: 'us-east-1' }));
    const records = Array.from({ length: 12 }, (_, i) => record(i));
    expect(await r.soon(records, 1)).toBe(12);
    expect(await r.soon([record(99)], 1)).toBe(1);
    const calls = sqs.commandCalls(ChangeMessageVisibilityBatchCommand).map((c) => c.args[0].input);
    expect(calls.map((c) => c.Entries?.length)).toEqual([10, 2, 1]);
    expect(calls[0]?.Entries?.[0]).toMatchObject({ ReceiptHandle: 'rh0', VisibilityTimeout: 1 });
    expect(sqs.commandCalls(GetQueueUrlCommand)).toHaveLength(1);
  });

  it('a failure to change visibility is logged, never thrown (the queue timeout still brings records back)', async () => {
    const warnings: string[] = [];
    const deps = {
      redelivery: { soon: async () => Promise.reject(new Error('throttled')) },
      obs: {
        logger: { warn: (m: string) => warnings.push(m) },
        metrics: { addMetric: () => undefined },
      },
    } as unknown as NodeHandlerDeps;
    await expect(redeliverSoon(deps, [record(1)])).resolves.toBeUndefined();
    expect(warnings).toHaveLength(1);
  });

  it('a record carries its first arrival (first receive, else sent), never later than now', () => {
    const at = (attributes: Record<string, string>) =>
      arrival(record(1, { attributes: attributes as unknown as SQSRecord['attributes'] }), 5000).arrivedAt;
    expect(at({ ApproximateFirstReceiveTimestamp: '4000', SentTimestamp: '3000' })).toBe(4000);
    expect(at({ SentTimestamp: '3000' })).toBe(3000);
    expect(at({ ApproximateFirstReceiveTimestamp: '9000' })).toBe(5000);
    expect(at({})).toBeUndefined();
  });
});
