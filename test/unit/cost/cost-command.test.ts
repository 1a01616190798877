import { mkdtempSync, readFileSync, writeFileSync } from 'node:fs';
import { tmpdir } from 'node:os';
import { join } from 'node:path';
import { describe, expect, it } from 'vitest';
import { SINGLE_VM_STACK } from '../../../src/cost/model.ts';
import { CURRENT_PRICES } from '../../../src/cost/prices.ts';
import { costSection } from '../../../src/cost/section.ts';
import { type AwsUsage, emptyUsage } from '../../../src/cost/usage.ts';
import {
  absorbLogLine,
  emptyLoggedUsage,
  type LoggedUsage,
} from '../../../src/runtime/localstack/usage-logs.ts';
import { cli } from '../cli/run-cli.ts';

const params = {
  checkpointDelayMs: 20_000,
  pendingCheckIntervalMs: 1000,
  heartbeatIntervalMs: 1000,
  heartbeatChainMs: 2000,
  memoryMb: 1024,
};

function tickUsage(invocations: number): AwsUsage {
  return {
    ...emptyUsage(),
    invocations,
    billedMs: invocations * 1000,
    gbSeconds: invocations,
    requests: {
      's3:PutObject': { requests: invocations, billed: invocations, bytesOut: 0, bytesIn: 0, errors: 0 },
    },
    esmBatches: { sqs: invocations, 'sqs-fifo': 0 },
  };
}

/** A report as `colo run --backend localstack --json` writes it (only what `colo cost` reads). */
function reportFile(
  byFunction: Record<string, AwsUsage> = { 'pending-check-timer': tickUsage(100) },
  storedBytesPerVm = 0,
): string {
  const dir = mkdtempSync(join(tmpdir(), 'colo-cost-'));
  const cost = costSection(
    {
      byFunction,
      windowMs: 100_000,
      vms: 1,
      prices: CURRENT_PRICES,
      // 20 metric series without a VM dimension, as the stack emits them.
      deployment: { ...SINGLE_VM_STACK, sharedMetrics: 20 },
      storedBytesPerVm,
    },
    params,
  );
  const path = join(dir, 'report.json');
  writeFileSync(path, JSON.stringify({ version: 1, backend: 'localstack', cost }));
  return path;
}

describe('colo cost', () => {
  it('prices a report again, with an assumed duration, and shares fixed costs among VMs', async () => {
    const path = reportFile();
    const base = await cli(['cost', path, '--json']);
    expect(base.code).toBe(0);
    const a = JSON.parse(base.out);
    // 100 ticks in 100 s at 1 GB-s each: 2 628 000 GB-s a month.
    expect(a.breakdown.lines.find((l: { id: string }) => l.id === 'lambda-duration').quantity).toBeCloseTo(
      2_628_000,
      3,
    );
    const short = JSON.parse((await cli(['cost', path, '--json', '--ms-per-invocation', '50'])).out);
    expect(
      short.breakdown.lines.find((l: { id: string }) => l.id === 'lambda-duration').quantity,
    ).toBeCloseTo(131_400, 3);
    const fleet = JSON.parse((await cli(['cost', path, '--json', '--vms-per-deployment', '10'])).out);
    expect(fleet.breakdown.lines.find((l: { id: string }) => l.id === 'secrets').usd).toBeCloseTo(0.04, 9);
    // Series without a VM dimension are shared too: 20 series over 10 VMs.
    expect(a.breakdown.lines.find((l: { id: string }) => l.id === 'metrics').quantity).toBeCloseTo(20, 9);
    expect(fleet.breakdown.lines.find((l: { id: string }) => l.id === 'metrics').quantity).toBeCloseTo(2, 9);
    const table = await cli(['cost', path]);
    expect(table.out).toMatch(
      /^cost per protected VM-month \(730 h\) at us-east-1 list prices of 2026-11-30/,
    );
    expect(table.out).toContain('pendingCheckIntervalMs');
    // The printout says whose duration it priced.
    expect(table.out).toMatch(/Lambda duration as the functions' records billed it/);
    expect((await cli(['cost', path, '--ms-per-invocation', '50'])).out).toMatch(
      /Lambda duration modelled at 50 ms per invocation/,
    );
  });

  it('prints, beside a one-VM figure, the same usage at the shape the target is set for (100 VMs, 50 ms)', async () => {
    // A stack chain (its share shrinks with the VMs) and a per-VM chain, at 1 GB-s per invocation.
    const path = reportFile({ 'pending-check-timer': tickUsage(100), 'checkpoint-timer': tickUsage(5) });
    const one = JSON.parse((await cli(['cost', path, '--json'])).out);
    const asked = JSON.parse(
      (await cli(['cost', path, '--json', '--vms-per-deployment', '100', '--ms-per-invocation', '50'])).out,
    );
    expect(one.yardstick).toMatchObject({ vmsPerDeployment: 100, msPerInvocation: 50 });
    // The yardstick is what the flags ask for, and well below the one-VM figure.
    expect(one.yardstick.perVmMonthUsd).toBeCloseTo(asked.breakdown.perVmMonthUsd, 9);
    expect(one.yardstick.perVmMonthUsd).toBeLessThan(one.breakdown.perVmMonthUsd / 2);
    const table = (await cli(['cost', path])).out;
    expect(table).toContain(
      `the same usage on a stack shared by 100 VMs, 50 ms per invocation (the shape the ≤ $20 target is set for): $${one.yardstick.perVmMonthUsd.toFixed(2)} per VM-month`,
    );
  });

  it("keeps the report's caution beside the total when it prices it again (review E: it was dropped)", async () => {
    const path = reportFile();
    const report = JSON.parse(readFileSync(path, 'utf8'));
    report.cost.caution = 'the run completed no checkpoint: the checkpoint path is missing';
    writeFileSync(path, JSON.stringify(report));
    const lines = (
      await cli(['cost', path, '--vms-per-deployment', '100', '--ms-per-invocation', '50'])
    ).out.split('\n');
    const total = lines.findIndex((l) => /^\s+total\s/.test(l));
    expect(lines[total + 2]).toBe(
      '  caution: the run completed no checkpoint: the checkpoint path is missing',
    );
    expect(JSON.parse((await cli(['cost', path, '--json'])).out).caution).toMatch(/no checkpoint/);
  });

  it("keeps the report's storage when it prices it again", async () => {
    const path = reportFile(undefined, 4 * 2 ** 30);
    const again = JSON.parse((await cli(['cost', path, '--json', '--vms-per-deployment', '100'])).out);
    const line = again.breakdown.lines.find((l: { id: string }) => l.id === 's3-storage');
    expect(line.quantity).toBeCloseTo(4, 9);
    expect(line.usd).toBeCloseTo(4 * 0.023, 9);
  });

  it('an assumed duration bills each function at the memory its records show (256 MB monitor)', async () => {
    // heartbeat-monitor at 256 MB: 0.25 GB-s per billed second in its records.
    const monitor = { ...tickUsage(50), gbSeconds: 50 * 0.25 };
    const path = reportFile({ 'pending-check-timer': tickUsage(100), 'heartbeat-monitor': monitor });
    const short = JSON.parse((await cli(['cost', path, '--json', '--ms-per-invocation', '50'])).out);
    // pending-check: 100 ticks per 100 s × 50 ms × 1 GB; heartbeat: one tick per 2 s (nominal: 50 per 100 s)
    // × 50 ms × 0.25 GB; a month is 2 628 000 s.
    const expected = (100 * 0.05 * 1 + 50 * 0.05 * 0.25) * (2_628_000 / 100);
    expect(
      short.breakdown.lines.find((l: { id: string }) => l.id === 'lambda-duration').quantity,
    ).toBeCloseTo(expected, 3);
  });

  it('refuses a missing file, a report without a cost section and a bad flag in one line, exit 1', async () => {
    const missing = await cli(['cost', '/nonexistent/report.json']);
    expect(missing).toMatchObject({ code: 1, err: 'colo: report /nonexistent/report.json: no such file\n' });
    const dir = mkdtempSync(join(tmpdir(), 'colo-cost-'));
    const embedded = join(dir, 'embedded.json');
    writeFileSync(embedded, JSON.stringify({ version: 1, backend: 'embedded', runs: [] }));
    expect((await cli(['cost', embedded])).err).toMatch(/^colo: report .* has no cost section/);
    const bad = await cli(['cost', reportFile(), '--vms-per-deployment', '0']);
    expect(bad).toMatchObject({
      code: 1,
      err: 'colo: --vms-per-deployment must be a whole number in [1, 1000000], got 0\n',
    });
    // A figure no run can have would print Infinity and NaN: refused.
    const huge = await cli(['cost', reportFile(), '--ms-per-invocation', '1e308']);
    expect(huge.code).toBe(1);
    expect(huge.err).toMatch(/^colo: --ms-per-invocation must be a number of ms in \[1, 900000\]/);
    // A cost section with its keys but nothing in them is refused, not an internal error.
    const hollow = join(dir, 'hollow.json');
    writeFileSync(hollow, JSON.stringify({ version: 1, cost: { usage: {}, params: {}, breakdown: {} } }));
    const h = await cli(['cost', hollow]);
    expect(h).toMatchObject({ code: 1 });
    expect(h.err).toMatch(
      /^colo: report .*hollow\.json: cost section: params\.checkpointDelayMs is not a number > 0/,
    );
    // A hand-broken usage or parameter is named by its path before any arithmetic (was an internal error).
    const good = JSON.parse(readFileSync(reportFile(), 'utf8'));
    type Fn = Record<string, unknown> & { requests: Record<string, { billed?: number }> };
    type Cost = {
      usage: Record<string, Fn | string>;
      params: Record<string, unknown>;
      breakdown: Record<string, unknown>;
    };
    const fn = (c: Cost) => c.usage['pending-check-timer'] as Fn;
    const broken: [string, (c: Cost) => void, RegExp][] = [
      [
        'usage-string',
        (c) => {
          c.usage = { 'pending-check-timer': 'x' };
        },
        /usage\.pending-check-timer is not an object/,
      ],
      [
        'no-esm',
        (c) => {
          delete fn(c).esmBatches;
        },
        /esmBatches needs counts/,
      ],
      [
        'neg-tally',
        (c) => {
          (fn(c).requests['s3:PutObject'] ?? {}).billed = -1;
        },
        /s3:PutObject\.billed is not a count/,
      ],
      [
        'bad-op',
        (c) => {
          fn(c).requests['s3 Put'] = {};
        },
        /"s3 Put" is not <service>:<Operation>/,
      ],
      [
        'nan-billed',
        (c) => {
          fn(c).billedMs = 'NaN';
        },
        /billedMs is not a count/,
      ],
      [
        'param',
        (c) => {
          c.params.checkpointDelayMs = 'x';
        },
        /params\.checkpointDelayMs is not a number > 0/,
      ],
    ];
    broken.push(
      [
        'windowMs',
        (c) => {
          c.breakdown.windowMs = -5;
        },
        /breakdown\.windowMs is not a number of ms in \[1, 31622400000\] \(-5\)/,
      ],
      [
        'windowMs-tiny',
        (c) => {
          c.breakdown.windowMs = 1e-300;
        },
        /breakdown\.windowMs is not a number of ms in/,
      ],
      [
        'windowMs-text',
        (c) => {
          c.breakdown.windowMs = 'x';
        },
        /breakdown\.windowMs is not a number of ms in \[1, 31622400000\] \("x"\)/,
      ],
      [
        'vms',
        (c) => {
          c.breakdown.vms = -2;
        },
        /breakdown\.vms is not a whole number ≥ 1 \(-2\)/,
      ],
      [
        'storage',
        (c) => {
          c.breakdown.lines = [{ id: 's3-storage', quantity: -5 }];
        },
        /s3-storage: quantity/,
      ],
    );
    for (const [name, breakIt, why] of broken) {
      const copy = structuredClone(good);
      breakIt(copy.cost);
      const file = join(dir, `${name}.json`);
      writeFileSync(file, JSON.stringify(copy));
      const r = await cli(['cost', file]);
      expect(r.code, name).toBe(1);
      expect(r.err, name).toMatch(why);
      expect(r.err, name).not.toMatch(/internal error/);
    }
    expect((await cli(['cost', reportFile()])).code).toBe(0);
    // A report of another version is not priced (its fields may mean something else).
    const future = structuredClone(good);
    future.version = 99;
    writeFileSync(join(dir, 'v99.json'), JSON.stringify(future));
    expect(await cli(['cost', join(dir, 'v99.json')])).toMatchObject({
      code: 1,
      err: `colo: report ${join(dir, 'v99.json')}: version 99, this colo reads version 1\n`,
    });
    const prices = join(dir, 'prices.json');
    writeFileSync(prices, JSON.stringify({ date: 'soon' }));
    expect((await cli(['cost', reportFile(), '--prices', prices])).err).toMatch(/^colo: .*prices\.json: /);
  });
});

describe('absorbLogLine', () => {
  it('sums usage records per function and counts EMF series, those with a vmId dimension apart', () => {
    const into: LoggedUsage = emptyLoggedUsage();
    const series = new Set<string>();
    const vm = new Set<string>();
    const record = { message: 'aws usage', function: 'primary', vmId: 'vm-1', usage: tickUsage(1) };
    absorbLogLine(into, series, vm, record);
    absorbLogLine(into, series, vm, record);
    const emf = (dims: string[][], vmId: string) => ({
      service: 'primary',
      vmId,
      _aws: {
        CloudWatchMetrics: [
          {
            Namespace: 'ColoServerless',
            Dimensions: dims,
            Metrics: [{ Name: 'Commits' }, { Name: 'Checkpoints' }],
          },
        ],
      },
    });
    absorbLogLine(into, series, vm, emf([['service', 'vmId']], 'vm-1'));
    absorbLogLine(into, series, vm, emf([['service', 'vmId']], 'vm-1'));
    absorbLogLine(into, series, vm, emf([['service']], 'vm-1'));
    absorbLogLine(into, series, vm, { message: 'something else' });
    expect(into.records).toBe(2);
    expect(into.byFunction.primary?.invocations).toBe(2);
    expect(into.byFunction.primary?.requests['s3:PutObject']?.requests).toBe(2);
    expect(into.metricSeries).toEqual({ total: 4, perVm: 2 });
  });
});
