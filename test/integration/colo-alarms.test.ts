// The stack's alarms on LocalStack's CloudWatch (ColoItManual: every timer hourly, so its dead-letter queues
// stay quiet unless a test writes to them). A letter waiting in the P → S dead-letter queue turns the
// stack's `DeadLetters-p2s` alarm to ALARM, read from SQS's own metric as CloudWatch publishes it; an empty
// queue turns it back to OK. What LocalStack cannot show is said in docs/cloud.md ("Alarms and dashboard").
//
// Needs LocalStack (npm run localstack:up); the stacks are deployed by the first file that needs them.
// Run: npx vitest run --project integration test/integration/colo-alarms.test.ts

import { randomUUID } from 'node:crypto';
import { CloudWatchClient, DescribeAlarmsCommand, type MetricAlarm } from '@aws-sdk/client-cloudwatch';
import { DeleteMessageCommand, ReceiveMessageCommand, SendMessageCommand } from '@aws-sdk/client-sqs';
import { beforeAll, describe, expect, inject, it } from 'vitest';
import { clients, ENDPOINT, since, waitFor } from './helpers/aws.ts';
import { type ColoTestStack, ensureColoStacks } from './helpers/colo-stacks.ts';

let m: ColoTestStack;
const cloudwatch = new CloudWatchClient({
  endpoint: ENDPOINT,
  region: process.env.AWS_REGION ?? 'us-east-1',
});

/** Every metric alarm of the account, all pages. */
async function allAlarms(): Promise<MetricAlarm[]> {
  const out: MetricAlarm[] = [];
  let NextToken: string | undefined;
  do {
    const page = await cloudwatch.send(new DescribeAlarmsCommand({ NextToken, AlarmTypes: ['MetricAlarm'] }));
    out.push(...(page.MetricAlarms ?? []));
    NextToken = page.NextToken;
  } while (NextToken);
  return out;
}

/** The alarm that watches the visible messages of queue `queueName` (a dead-letter alarm). */
async function depthAlarm(queueName: string): Promise<MetricAlarm> {
  const found = (await allAlarms()).filter(
    (a) =>
      a.Namespace === 'AWS/SQS' &&
      a.MetricName === 'ApproximateNumberOfMessagesVisible' &&
      a.Dimensions?.some((d) => d.Name === 'QueueName' && d.Value === queueName),
  );
  expect(found, `alarms on ${queueName}`).toHaveLength(1);
  return found[0] as MetricAlarm;
}

/** Receives and deletes every message of `queueUrl` (the test's own dead-letter queue). */
async function drain(queueUrl: string): Promise<number> {
  const { sqs } = clients();
  let deleted = 0;
  for (;;) {
    const r = await sqs.send(
      new ReceiveMessageCommand({ QueueUrl: queueUrl, MaxNumberOfMessages: 10, WaitTimeSeconds: 1 }),
    );
    const got = r.Messages ?? [];
    if (got.length === 0) return deleted;
    for (const x of got) {
      await sqs.send(new DeleteMessageCommand({ QueueUrl: queueUrl, ReceiptHandle: x.ReceiptHandle }));
      deleted++;
    }
  }
}

/** Waits until the alarm named `name` is in `state` (CloudWatch evaluates once a period: a minute). */
function alarmState(name: string, state: 'OK' | 'ALARM'): Promise<MetricAlarm> {
  return waitFor(
    `alarm ${name} to be ${state}`,
    async (note) => {
      const a = (await cloudwatch.send(new DescribeAlarmsCommand({ AlarmNames: [name] }))).MetricAlarms?.[0];
      note({ state: a?.StateValue, reason: a?.StateReason });
      return a?.StateValue === state ? a : undefined;
    },
    // SQS publishes its queue metrics once a minute, the alarm is evaluated once a minute: generous.
    300_000,
    2000,
  );
}

beforeAll(async () => {
  ({ manual: m } = await ensureColoStacks(inject('coloItRunId')));
}, 600_000);

describe('the stack alarms on LocalStack CloudWatch', () => {
  it('a letter waiting in the P → S dead-letter queue turns DeadLetters-p2s to ALARM; an empty queue turns it back to OK', async () => {
    const dlqUrl = m.output('PrimaryToSecondaryDlqUrl');
    const queueName = dlqUrl.split('/').at(-1) ?? '';
    expect(queueName).toMatch(/\.fifo$/);
    const alarm = await depthAlarm(queueName);
    const name = alarm.AlarmName ?? '';
    // As deployed: one letter is enough, and no data (no messages) is not a breach.
    expect([alarm.Threshold, alarm.ComparisonOperator, alarm.TreatMissingData]).toEqual([
      1,
      'GreaterThanOrEqualToThreshold',
      'notBreaching',
    ]);
    // Letters other test files left here (refusals they provoked) are not this test's.
    await drain(dlqUrl);
    const t0 = Date.now();
    await alarmState(name, 'OK');
    console.log(`[colo-alarms] ${name}: OK with the queue empty after ${since(t0)} ms`);

    const { sqs } = clients();
    const t1 = Date.now();
    await sqs.send(
      new SendMessageCommand({
        QueueUrl: dlqUrl,
        MessageBody: JSON.stringify({ test: 'colo-alarms', at: t1 }),
        MessageGroupId: m.vmId,
        MessageDeduplicationId: randomUUID(),
      }),
    );
    const fired = await alarmState(name, 'ALARM');
    expect(fired.StateReason).toMatch(/threshold/i);
    console.log(`[colo-alarms] ${name}: ALARM ${since(t1)} ms after a letter arrived`);

    expect(await drain(dlqUrl)).toBe(1);
    const t2 = Date.now();
    await alarmState(name, 'OK');
    console.log(`[colo-alarms] ${name}: OK again ${since(t2)} ms after the letter was taken`);
  });
});
