import { SendMessageCommand, SQSClient } from '@aws-sdk/client-sqs';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import { nextDueAt, type TickMessage, tickDelaySeconds } from '../../../lambda/adapters/contract.ts';
import { parseTick, SqsTickQueue } from '../../../lambda/adapters/sqs-tick-queue.ts';

// The SDK warns once per process that releases from 2027 need Node 22; the project runs on Node 20 by design.
process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';

const sqs = mockClient(SQSClient);

beforeEach(() => {
  sqs.reset();
});

const tick: TickMessage = {
  v: 1,
  vmId: 'vm-0',
  timer: 'pending-check',
  generation: 2,
  seq: 5,
  dueAt: 10_500,
};

describe('tick timing', () => {
  it('rounds the delay up to whole seconds and clamps it to [0, 900]', () => {
    expect(tickDelaySeconds(10_500, 10_000)).toBe(1);
    expect(tickDelaySeconds(30_000, 10_000)).toBe(20);
    expect(tickDelaySeconds(5_000, 10_000)).toBe(0);
    expect(tickDelaySeconds(10_000 + 3_600_000, 10_000)).toBe(900);
  });

  it('schedules one period after the previous due time, realigning when far behind', () => {
    expect(nextDueAt(20_000, 1_000, 20_400)).toBe(21_000);
    expect(nextDueAt(20_000, 1_000, 21_900)).toBe(21_000);
    expect(nextDueAt(20_000, 1_000, 30_000)).toBe(31_000);
  });
});

describe('SqsTickQueue', () => {
  it('sends the tick as JSON with DelaySeconds', async () => {
    sqs.on(SendMessageCommand).resolves({ MessageId: 'm' });
    const queue = new SqsTickQueue({ queueUrl: 'https://q.invalid/ticks', client: new SQSClient({}) });
    expect(await queue.schedule(tick, 9_000)).toBe(2);
    const input = sqs.commandCalls(SendMessageCommand)[0]?.args[0].input;
    expect(input).toEqual({
      QueueUrl: 'https://q.invalid/ticks',
      MessageBody: JSON.stringify(tick),
      DelaySeconds: 2,
    });
  });

  it('parses a tick round trip and rejects malformed ones', () => {
    expect(parseTick(JSON.stringify(tick))).toEqual(tick);
    expect(() => parseTick('{"v":2}')).toThrow(/version/);
    expect(() => parseTick(JSON.stringify({ ...tick, timer: 'other' }))).toThrow(/timer/);
    expect(() => parseTick(JSON.stringify({ ...tick, seq: -1 }))).toThrow(/seq/);
    expect(() => parseTick(JSON.stringify({ ...tick, vmId: 'a/b' }))).toThrow(/vmId/);
  });
});
