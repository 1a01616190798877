import { describe, expect, it } from 'vitest';
import { UsageMeter } from '../../../lambda/adapters/usage-meter.ts';
import {
  USAGE_RECORD_MESSAGE,
  type UsageRecord,
  withUsageReport,
} from '../../../lambda/handlers/common/usage-report.ts';
import { addRequest } from '../../../src/cost/usage.ts';

function fakeObs() {
  const logs: { message: string; extra: Record<string, unknown> }[] = [];
  const metrics: { name: string; value: number }[] = [];
  let published = 0;
  const log = (message: string, extra: Record<string, unknown>) => logs.push({ message, extra });
  return {
    logs,
    metrics,
    published: () => published,
    obs: {
      logger: { debug: log, info: log, warn: log, error: log },
      metrics: {
        addMetric: (name: string, _unit: unknown, value: number) => metrics.push({ name, value }),
        publishStoredMetrics: () => {
          published++;
        },
      },
    },
  };
}

const env = {
  POWERTOOLS_SERVICE_NAME: 'pending-check-timer',
  VM_ID: 'vm-7',
  AWS_LAMBDA_FUNCTION_MEMORY_SIZE: '1024',
};

describe('withUsageReport', () => {
  it('an invocation still running says what it waits on, until it ends', async () => {
    const meter = new UsageMeter();
    const f = fakeObs();
    let finish: () => void = () => {};
    const handler = withUsageReport(
      () =>
        new Promise<string>((resolve) => {
          finish = () => resolve('late');
        }),
      { meter, obs: f.obs, env, stillRunning: { firstMs: 20, everyMs: 20 } },
    );
    const running = handler({});
    const still = () => f.logs.filter((l) => l.message === 'invocation still running');
    await expect.poll(() => still().length, { timeout: 5000 }).toBeGreaterThanOrEqual(2);
    expect(still()[0]?.extra).toMatchObject({ awsCallsInFlight: 0, oldestCalls: [] });
    expect(Object.keys(still()[0]?.extra.activeResources as object).length).toBeGreaterThan(0);
    finish();
    await expect(running).resolves.toBe('late');
    const after = still().length;
    await new Promise((r) => setTimeout(r, 80));
    // Ended: no more of them.
    expect(still().length).toBe(after);
  });

  it('records each invocation: its requests, billed ms rounded up, GB-s, the FIFO batch, the VM as a property', async () => {
    const meter = new UsageMeter();
    const f = fakeObs();
    let now = 1000;
    const handler = withUsageReport(
      async (_event: unknown) => {
        addRequest(meter.usage, 's3', 'PutObject', 100, 0, false);
        now += 49.2;
        return 'done';
      },
      { meter, obs: f.obs, env, clock: () => now },
    );
    // Requests before the invocation belong to nobody's invocation.
    addRequest(meter.usage, 's3', 'GetObject', 1, 1, false);
    const event = { Records: [{ eventSource: 'aws:sqs', eventSourceARN: 'arn:aws:sqs:us-east-1:1:q.fifo' }] };
    await expect(handler(event)).resolves.toBe('done');
    const record = f.logs.find((l) => l.message === USAGE_RECORD_MESSAGE)?.extra as unknown as UsageRecord;
    expect(record.function).toBe('pending-check-timer');
    expect(record.vmId).toBe('vm-7');
    expect(record.usage.requests).toEqual({
      's3:PutObject': { requests: 1, billed: 1, bytesOut: 100, bytesIn: 0, errors: 0 },
    });
    expect(record.usage.billedMs).toBe(50);
    expect(record.usage.gbSeconds).toBeCloseTo(0.05, 12);
    expect(record.usage.esmBatches).toEqual({ sqs: 0, 'sqs-fifo': 1 });
    expect(record.usage.logBytes).toBeGreaterThan(200);
    expect(f.metrics.map((m) => m.name)).toEqual(['AwsRequests', 'AwsRequestBytes', 'BilledDuration']);
    expect(f.metrics[0]?.value).toBe(1);
    expect(f.published()).toBe(1);
  });

  it('records a failed invocation too and rethrows its error unchanged', async () => {
    const meter = new UsageMeter();
    const f = fakeObs();
    const boom = new Error('boom');
    const handler = withUsageReport(
      async () => {
        addRequest(meter.usage, 'sqs', 'SendMessage', 10, 10, true);
        throw boom;
      },
      { meter, obs: f.obs, env, clock: () => 0 },
    );
    await expect(handler({})).rejects.toBe(boom);
    const record = f.logs.find((l) => l.message === USAGE_RECORD_MESSAGE)?.extra as unknown as UsageRecord;
    expect(record.usage.requests['sqs:SendMessage']?.errors).toBe(1);
    expect(record.usage.billedMs).toBe(1);
    expect(record.usage.esmBatches).toEqual({ sqs: 0, 'sqs-fifo': 0 });
  });
});
