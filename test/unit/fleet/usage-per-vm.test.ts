import { describe, expect, it } from 'vitest';
import { vmIdsOfEvent } from '../../../lambda/handlers/common/usage-report.ts';
import { type AwsUsage, addRequest, emptyUsage } from '../../../src/cost/usage.ts';
import { pulseCadence } from '../../../src/runtime/localstack/fleet-report.ts';
import { fleetUsage } from '../../../src/runtime/localstack/fleet-usage.ts';
import { absorbLogLine, emptyLoggedUsage, vmsOfRecord } from '../../../src/runtime/localstack/usage-logs.ts';

/** One invocation's usage: `puts` S3 PUTs of 1 000 bytes, 100 ms at 1 GB. */
function usage(puts: number): AwsUsage {
  const u = emptyUsage();
  for (let i = 0; i < puts; i++) addRequest(u, 's3', 'PutObject', 1000, 0, false);
  u.invocations = 1;
  u.billedMs = 100;
  u.gbSeconds = 0.1;
  return u;
}

const fifo = (group: string) => ({
  eventSource: 'aws:sqs',
  eventSourceARN: 'arn:aws:sqs:us-east-1:1:p2s.fifo',
  body: 'sealed',
  attributes: { MessageGroupId: group },
});
const tick = (vmId: string) => ({ eventSource: 'aws:sqs', body: JSON.stringify({ vmId, seq: 3 }) });

describe('vmIdsOfEvent (usage records of a fleet name their VMs)', () => {
  it('names the FIFO groups and tick VMs of a batch, distinct, in order', () => {
    expect(vmIdsOfEvent({ Records: [fifo('vm-b'), fifo('vm-a'), fifo('vm-b')] })).toEqual(['vm-b', 'vm-a']);
    expect(vmIdsOfEvent({ Records: [tick('vm-1'), tick('vm-2'), tick('vm-1')] })).toEqual(['vm-1', 'vm-2']);
  });

  it('names the VM of a direct invocation and the VMs a watchdog call lists; none for the minute rule', () => {
    expect(vmIdsOfEvent({ source: 'colo.virtual-clock', vmId: 'vm-9', now: 1 })).toEqual(['vm-9']);
    expect(vmIdsOfEvent({ source: 'colo.watchdog', vmIds: ['vm-1', 'vm-2'] })).toEqual(['vm-1', 'vm-2']);
    expect(vmIdsOfEvent({ source: 'aws.events', 'detail-type': 'Scheduled Event' })).toEqual([]);
  });

  it('skips what names no VM: unreadable tick bodies, empty groups, non-objects', () => {
    expect(vmIdsOfEvent({ Records: [{ body: 'not json' }, fifo(''), null, 7] })).toEqual([]);
    expect(vmIdsOfEvent(null)).toEqual([]);
    expect(vmIdsOfEvent('text')).toEqual([]);
  });
});

describe('per-VM usage from the logs', () => {
  it('splits a record of k VMs evenly and counts one record for each; older records use their vmId', () => {
    const into = emptyLoggedUsage();
    const series = new Set<string>();
    const vm = new Set<string>();
    absorbLogLine(into, series, vm, {
      message: 'aws usage',
      function: 'checkpoint-timer',
      vmId: '',
      vmIds: ['a', 'b'],
      usage: usage(4),
    });
    absorbLogLine(into, series, vm, {
      message: 'aws usage',
      function: 'primary',
      vmId: 'a',
      usage: usage(1),
    });
    absorbLogLine(into, series, vm, {
      message: 'aws usage',
      function: 'tick-arm',
      vmId: '',
      usage: usage(3),
    });
    expect(into.byVm.a?.byFunction['checkpoint-timer']?.requests['s3:PutObject']?.requests).toBe(2);
    expect(into.byVm.b?.byFunction['checkpoint-timer']?.invocations).toBe(0.5);
    expect(into.byVm.a?.records).toEqual({ 'checkpoint-timer': 1, primary: 1 });
    expect(into.byVm.b?.records).toEqual({ 'checkpoint-timer': 1 });
    expect(into.unattributed.requests['s3:PutObject']?.requests).toBe(3);
    expect(into.byFunction['checkpoint-timer']?.invocations).toBe(1);
    expect(vmsOfRecord({ vmId: 'x', vmIds: [] })).toEqual([]);
    expect(vmsOfRecord({ vmId: 'x' })).toEqual(['x']);
  });

  it('per VM-hour figures, the unattributed share, the spread and the nominal tick scaling', () => {
    const into = emptyLoggedUsage();
    const series = new Set<string>();
    const vm = new Set<string>();
    // One hour: VM a got 2 of its 4 nominal checkpoint ticks (period 15 min), VM b all 4; a watchdog run
    // over 4 registered VMs did 8 PUTs.
    for (const [id, ticks] of [
      ['a', 2],
      ['b', 4],
    ] as const) {
      for (let i = 0; i < ticks; i++) {
        absorbLogLine(into, series, vm, {
          message: 'aws usage',
          function: 'checkpoint-timer',
          vmIds: [id],
          usage: usage(10),
        });
      }
    }
    absorbLogLine(into, series, vm, { message: 'aws usage', function: 'tick-arm', usage: usage(8) });
    const periods = {
      'checkpoint-timer': 900_000,
      'pending-check-timer': 60_000,
      'heartbeat-monitor': 60_000,
    };
    const u = fleetUsage(into, ['a', 'b'], 4, 3_600_000, periods);
    // 60 PUTs of the VMs + half of the watchdog's 8, over 2 VM-hours.
    expect(u.perVmHour.requests).toBe(32);
    expect(u.perVmHour.bytes).toBe(32_000);
    expect(u.byService.s3?.requests).toBe(32);
    expect(u.requestsSpread).toEqual({ p50: 20, p95: 40, min: 20, max: 40 });
    // 8 nominal VM-ticks, 6 delivered.
    expect(u.nominalFactors['checkpoint-timer']).toBeCloseTo(8 / 6, 12);
    expect(u.nominalFactors['pending-check-timer']).toBeUndefined();
    expect(u.nominal.requests['s3:PutObject']?.requests).toBeCloseTo(80 + 4, 9);
    // The pulse (a stack chain, period 1 s): 1 800 of its 3 600 ticks came in the hour, each 1 PUT, plus its
    // per-VM steps (`:vms`, 10 PUTs, not scaled). The measured VMs' share (2 of 4) of the stack's ticks
    // is scaled to the nominal rate: 900 PUTs measured, 1 800 nominal.
    for (let i = 0; i < 1800; i++) {
      absorbLogLine(into, series, vm, {
        message: 'aws usage',
        function: 'pending-check-timer',
        usage: usage(1),
      });
    }
    absorbLogLine(into, series, vm, {
      message: 'aws usage',
      function: 'pending-check-timer:vms',
      usage: usage(10),
    });
    const stack = { 'pending-check-timer': 1000, 'heartbeat-monitor': 2000 };
    const s = fleetUsage(into, ['a', 'b'], 4, 3_600_000, periods, stack);
    expect(s.nominalFactors['pending-check-timer (stack chain)']).toBeCloseTo(2, 12);
    expect(s.nominalFactors['heartbeat-monitor (stack chain)']).toBeUndefined();
    expect(s.total.requests['s3:PutObject']?.requests).toBeCloseTo(60 + 4 + 900 + 5, 9);
    expect(s.nominal.requests['s3:PutObject']?.requests).toBeCloseTo(80 + 4 + 1800 + 5, 9);
    expect(() => fleetUsage(into, ['a'], 1, 0, periods)).toThrow(/windowMs must be > 0/);
    expect(() => fleetUsage(into, [], 1, 1, periods)).toThrow(/no VM measured/);
  });
});

describe("the pulse's cadence from the stack chains' log lines", () => {
  it('takes each pulse start as its line time less its run time, and counts what the monitor saw', () => {
    const into = emptyLoggedUsage();
    const s = new Set<string>();
    const v = new Set<string>();
    // Pulses start at 1 000, 2 000, 3 000 (that one runs 20 s) and 23 500; read out of order.
    absorbLogLine(into, s, v, { message: 'pulse', elapsedMs: 20_000 }, 23_000);
    absorbLogLine(into, s, v, { message: 'pulse', elapsedMs: 100 }, 1_100);
    absorbLogLine(into, s, v, { message: 'pulse', elapsedMs: 500 }, 24_000);
    absorbLogLine(into, s, v, { message: 'pulse', elapsedMs: 300 }, 2_300);
    absorbLogLine(into, s, v, { message: 'monitor', pulseStale: true, failedOver: 1 }, 20_000);
    absorbLogLine(into, s, v, { message: 'monitor', pulseStale: false, failedOver: 0 }, 22_000);
    // Not a pulse: no time, or no run time.
    absorbLogLine(into, s, v, { message: 'pulse', elapsedMs: 10 }, 0);
    absorbLogLine(into, s, v, { message: 'pulse' }, 5_000);
    const c = pulseCadence(into.chains);
    expect(c.pulses).toBe(4);
    expect(c.gapMs).toEqual({ p50: 1_000, p90: 20_500, p99: 20_500, max: 20_500 });
    expect(c.elapsedMs).toEqual({ p50: 300, p90: 20_000, max: 20_000 });
    expect(c.monitorPulseStale).toBe(1);
    expect(c.monitorFailedOver).toBe(1);
  });

  it('reports no gap for fewer than two pulses', () => {
    const c = pulseCadence(emptyLoggedUsage().chains);
    expect(c.pulses).toBe(0);
    expect(Number.isNaN(c.gapMs.max)).toBe(true);
  });
});
