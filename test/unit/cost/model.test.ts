import { describe, expect, it } from 'vitest';
import { atNominalRates, leverEffects } from '../../../src/cost/levers.ts';
import { costPerVmMonth, type DeploymentShape, SINGLE_VM_STACK } from '../../../src/cost/model.ts';
import { CURRENT_PRICES } from '../../../src/cost/prices.ts';
import { type AwsUsage, addRequest, emptyUsage, scaleUsage } from '../../../src/cost/usage.ts';
import { chainPeriodMs } from '../../../src/parameters/tick-chains.ts';

/** A deployment with no fixed costs, so every line is traffic. */
const NOTHING_FIXED: DeploymentShape = {
  vmsPerDeployment: 1,
  polledQueues: { sqs: 0, 'sqs-fifo': 0 },
  idlePollsPerQueuePerMinute: 0,
  ruleInvocationsPerMonth: 0,
  secrets: 0,
  alarms: 0,
  dashboards: 0,
  sharedMetrics: 0,
  metricsPerVm: 0,
};

function tally(requests: number, billed = requests) {
  return { requests, billed, bytesOut: 0, bytesIn: 0, errors: 0 };
}

/** One hour of one VM, round numbers. */
function hour(): AwsUsage {
  return {
    ...emptyUsage(),
    invocations: 7200,
    gbSeconds: 360,
    billedMs: 360_000,
    requests: {
      's3:PutObject': tally(3600),
      's3:GetObject': tally(7200),
      's3:DeleteObject': tally(100),
      'sqs:SendMessage': tally(3600),
      'sqs-fifo:SendMessageBatch': tally(100, 150),
      'secretsmanager:GetSecretValue': tally(10),
    },
    esmBatches: { sqs: 3600, 'sqs-fifo': 100 },
  };
}

const usd = (r: ReturnType<typeof costPerVmMonth>, id: string) => r.lines.find((l) => l.id === id)?.usd;

describe('costPerVmMonth', () => {
  it('prices one measured hour per VM-month, line by line (hand-computed, 730 h)', () => {
    const r = costPerVmMonth({
      usage: hour(),
      windowMs: 3_600_000,
      vms: 1,
      deployment: NOTHING_FIXED,
      prices: CURRENT_PRICES,
    });
    // 7 200 × 730 = 5 256 000 invocations × $0.20/M
    expect(usd(r, 'lambda-requests')).toBeCloseTo(1.0512, 6);
    // 360 × 730 = 262 800 GB-s × $0.0000166667
    expect(usd(r, 'lambda-duration')).toBeCloseTo(4.38000876, 6);
    // 3 600 × 730 = 2 628 000 PUTs × $0.005/1 000
    expect(usd(r, 's3-put')).toBeCloseTo(13.14, 6);
    // 7 200 × 730 GETs × $0.0004/1 000; DELETE is free
    expect(usd(r, 's3-get')).toBeCloseTo(2.1024, 6);
    // (3 600 sends + 2 × 3 600 poller requests) × 730 × $0.40/M
    expect(usd(r, 'sqs-standard')).toBeCloseTo(3.1536, 6);
    // (150 billed chunks + 2 × 100 poller requests) × 730 × $0.50/M
    expect(usd(r, 'sqs-fifo')).toBeCloseTo(0.12775, 6);
    // platform lines only: 300 B × 7 200 × 730 / 2^30 GB × $0.50
    expect(usd(r, 'logs-ingestion')).toBeCloseTo((300 * 7200 * 730 * 0.5) / 2 ** 30, 6);
    // 10 × 730 calls × $0.05/10 000
    expect(usd(r, 'secrets-api')).toBeCloseTo(0.0365, 6);
    expect(r.perVmMonthUsd).toBeCloseTo(24.725718, 4);
    expect(r.lines[0]?.id).toBe('s3-put');
    expect(r.lines.every((l) => !l.fixed || l.usd === 0)).toBe(true);
  });

  it('divides by VMs and scales by the window: two VMs over two hours cost what one VM-hour costs', () => {
    const one = costPerVmMonth({
      usage: hour(),
      windowMs: 3_600_000,
      vms: 1,
      deployment: NOTHING_FIXED,
      prices: CURRENT_PRICES,
    });
    const four = costPerVmMonth({
      usage: scaleUsage(hour(), 4),
      windowMs: 7_200_000,
      vms: 2,
      deployment: NOTHING_FIXED,
      prices: CURRENT_PRICES,
    });
    expect(four.perVmMonthUsd).toBeCloseTo(one.perVmMonthUsd, 9);
  });

  it('shares the fixed costs of a deployment among its VMs (hand-computed)', () => {
    const solo = costPerVmMonth({ usage: emptyUsage(), windowMs: 1000, vms: 1, prices: CURRENT_PRICES });
    // idle polls: 15/min × 60 × 730 = 657 000 per queue; 2 FIFO × $0.50/M + 3 standard × $0.40/M
    expect(usd(solo, 'sqs-idle-fifo')).toBeCloseTo(0.657, 6);
    expect(usd(solo, 'sqs-idle-standard')).toBeCloseTo(0.7884, 6);
    expect(usd(solo, 'secrets')).toBeCloseTo(0.4, 6);
    expect(usd(solo, 'eventbridge')).toBeCloseTo(0.0438, 6);
    // 22 standard alarms × $0.10 and one dashboard at $3.00.
    expect(usd(solo, 'alarms')).toBeCloseTo(2.2, 6);
    expect(usd(solo, 'dashboards')).toBeCloseTo(3, 6);
    expect(solo.perVmMonthUsd).toBeCloseTo(7.0892, 6);
    const fleet = costPerVmMonth({
      usage: emptyUsage(),
      windowMs: 1000,
      vms: 1,
      deployment: { ...SINGLE_VM_STACK, vmsPerDeployment: 10 },
      prices: CURRENT_PRICES,
    });
    expect(fleet.perVmMonthUsd).toBeCloseTo(0.70892, 6);
  });

  it('prices arm64 duration lower, metrics per VM and storage', () => {
    const r = costPerVmMonth({
      usage: hour(),
      windowMs: 3_600_000,
      vms: 1,
      architecture: 'arm64',
      deployment: { ...NOTHING_FIXED, metricsPerVm: 10 },
      storedBytesPerVm: 2 * 2 ** 30,
      prices: CURRENT_PRICES,
    });
    expect(usd(r, 'lambda-duration')).toBeCloseTo(262_800 * 0.0000133334, 6);
    expect(usd(r, 'metrics')).toBeCloseTo(3, 9);
    expect(usd(r, 's3-storage')).toBeCloseTo(0.046, 9);
  });

  it('refuses an empty window or no VMs', () => {
    expect(() => costPerVmMonth({ usage: hour(), windowMs: 0, vms: 1, prices: CURRENT_PRICES })).toThrow(
      /windowMs/,
    );
    expect(() => costPerVmMonth({ usage: hour(), windowMs: 1, vms: 0, prices: CURRENT_PRICES })).toThrow(
      /vms/,
    );
  });
});

describe('addRequest', () => {
  it('bills SQS per started 64 KiB chunk and everything else per request', () => {
    const u = emptyUsage();
    addRequest(u, 'sqs-fifo', 'SendMessageBatch', 64 * 1024, 100, false);
    addRequest(u, 'sqs-fifo', 'SendMessageBatch', 64 * 1024 + 1, 100, false);
    addRequest(u, 'sqs', 'ReceiveMessage', 50, 200 * 1024, false);
    addRequest(u, 's3', 'PutObject', 10 * 2 ** 20, 0, true);
    expect(u.requests['sqs-fifo:SendMessageBatch']).toEqual({
      requests: 2,
      billed: 3,
      bytesOut: 128 * 1024 + 1,
      bytesIn: 200,
      errors: 0,
    });
    expect(u.requests['sqs:ReceiveMessage']?.billed).toBe(4);
    expect(u.requests['s3:PutObject']).toMatchObject({ requests: 1, billed: 1, errors: 1 });
  });
});

describe('leverEffects', () => {
  const byFunction = {
    'pending-check-timer': scaleUsage(hour(), 0.5),
    'checkpoint-timer': scaleUsage(hour(), 0.1),
    'heartbeat-monitor': scaleUsage(hour(), 0.3),
    'secondary-apply': scaleUsage(hour(), 0.1),
  };
  const base = { byFunction, windowMs: 3_600_000, vms: 1, deployment: NOTHING_FIXED, prices: CURRENT_PRICES };
  const params = {
    checkpointDelayMs: 20_000,
    pendingCheckIntervalMs: 1000,
    heartbeatIntervalMs: 1000,
    memoryMb: 1024,
  };
  const full = costPerVmMonth({ ...base, usage: hour() }).perVmMonthUsd;
  const effects = leverEffects(base, params);
  const of = (id: string) => effects.find((e) => e.id === id);

  it('doubling a timer period halves its chain: cost is linear in the counts', () => {
    expect(of('pending-check')?.deltaUsd).toBeCloseTo(-0.5 * 0.5 * full, 6);
    expect(of('checkpoint')?.deltaUsd).toBeCloseTo(-0.5 * 0.1 * full, 6);
    expect(of('heartbeat')?.deltaUsd).toBeCloseTo(-0.5 * (0.3 + 0.1) * full, 6);
    // The heartbeat chain of today ticks every 2 s at a 1 s or a 2 s interval (its longest gap): only the
    // heartbeat messages (secondary-apply) halve.
    const today = leverEffects(base, { ...params, heartbeatChainMs: chainPeriodMs('heartbeat', 1000) });
    expect(today.find((e) => e.id === 'heartbeat')?.deltaUsd).toBeCloseTo(-0.5 * 0.1 * full, 6);
    // A stack with a pulse and a monitor, heartbeats in the primary's document: nothing moves, and says so.
    const stack = leverEffects(base, {
      ...params,
      heartbeatChainMs: chainPeriodMs('heartbeat', 1000),
      heartbeatMessages: false,
      stackChains: true,
    }).find((e) => e.id === 'heartbeat');
    expect(stack?.deltaUsd).toBeCloseTo(0, 9);
    expect(stack?.caveat).toMatch(/moves nothing/);
    expect(of('pending-check')?.change).toBe('1 s → 2 s');
    expect(of('pending-check')?.lines[0]).toMatch(/^s3-put −\$/);
  });

  it('halving memory halves the duration line only', () => {
    const duration =
      costPerVmMonth({ ...base, usage: hour() }).lines.find((l) => l.id === 'lambda-duration')?.usd ?? 0;
    expect(of('memory')?.deltaUsd).toBeCloseTo(-duration / 2, 6);
    expect(of('memory')?.lines).toHaveLength(1);
  });

  it('state I/O at one PUT and one GET per tick replaces the tick consumers’ S3 lines', () => {
    // Tick consumers: 0.9 of the hour's 7 200 invocations → 6 480 PUTs and 6 480 GETs instead of 3 240 and 6 480.
    const lean = of('state-io');
    const puts = 6480 * 730 * 0.000005 + 0.1 * 3600 * 730 * 0.000005;
    const gets = 6480 * 730 * 0.0000004 + 0.1 * 7200 * 730 * 0.0000004;
    const measuredS3 = 13.14 + 2.1024;
    expect(lean?.deltaUsd).toBeCloseTo(puts + gets - measuredS3, 6);
  });
});

describe('atNominalRates', () => {
  it('scales each chain to window / period ticks at its measured cost per tick', () => {
    const params = {
      checkpointDelayMs: 20_000,
      pendingCheckIntervalMs: 1000,
      heartbeatIntervalMs: 1000,
      memoryMb: 1024,
    };
    const perTick = hour();
    const byFunction = {
      // 100 s measured: the emulator delivered 60 pending-check ticks (nominal 100), 5 checkpoint ticks (nominal 5).
      'pending-check-timer': { ...scaleUsage(perTick, 1 / 7200), invocations: 60 },
      'checkpoint-timer': { ...scaleUsage(perTick, 1 / 7200), invocations: 5 },
      'secondary-apply': { ...scaleUsage(perTick, 1 / 7200), invocations: 30 },
      primary: { ...scaleUsage(perTick, 1 / 7200), invocations: 3 },
    };
    const { byFunction: nominal, factors } = atNominalRates(byFunction, params, 100_000);
    expect(factors['pending-check-timer']).toBeCloseTo(100 / 60, 12);
    expect(factors['checkpoint-timer']).toBeCloseTo(1, 12);
    expect(factors['secondary-apply']).toBeCloseTo(100 / 60, 12);
    expect(factors.primary).toBeUndefined();
    expect(factors['heartbeat-monitor']).toBeUndefined();
    expect(nominal['pending-check-timer']?.invocations).toBeCloseTo(100, 9);
    expect(nominal['pending-check-timer']?.requests['s3:PutObject']?.requests).toBeCloseTo(
      (3600 / 7200) * (100 / 60),
      9,
    );
    expect(nominal.primary?.invocations).toBe(3);
  });

  it('scales the heartbeat chain to one tick per 2 s at a 1 s interval (it follows the secondary wake)', () => {
    const params = {
      checkpointDelayMs: 20_000,
      pendingCheckIntervalMs: 1000,
      heartbeatIntervalMs: 1000,
      memoryMb: 1024,
    };
    const tick = { ...scaleUsage(hour(), 1 / 7200), invocations: 40 };
    const at = (heartbeatIntervalMs: number, heartbeatChainMs?: number) =>
      atNominalRates(
        { 'heartbeat-monitor': tick },
        { ...params, heartbeatIntervalMs, ...(heartbeatChainMs ? { heartbeatChainMs } : {}) },
        100_000,
      ).factors['heartbeat-monitor'];
    expect(at(1000, chainPeriodMs('heartbeat', 1000))).toBeCloseTo(50 / 40, 12);
    expect(at(2000, chainPeriodMs('heartbeat', 2000))).toBeCloseTo(50 / 40, 12);
    expect(at(5000, chainPeriodMs('heartbeat', 5000))).toBeCloseTo(20 / 40, 12);
    // A report of code whose heartbeat chain ticked every interval (no heartbeatChainMs) keeps that rate.
    expect(at(1000)).toBeCloseTo(100 / 40, 12);
  });
});
