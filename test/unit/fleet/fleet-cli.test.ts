/** `colo run --vms N`: a fleet report, its bounds, and the guest-size bound with its reason. */
import { describe, expect, it } from 'vitest';
import { cli } from '../cli/run-cli.ts';

const small = [
  '--guest',
  '32MiB',
  '--payload',
  'modelled',
  '--duration',
  '45s',
  '--workload',
  'hotcold:hotPages=256,hotRate=500,coldRate=100',
  '--threshold',
  '1MiB',
];

describe('colo run --vms', () => {
  it('runs a fleet and reports fleet-wide and per-VM figures', async () => {
    const r = await cli([
      'run',
      ...small,
      '--vms',
      '5',
      '--vm-stagger',
      '10s',
      '--policy',
      'fixed',
      '--json',
      '-',
    ]);
    expect(r.code).toBe(0);
    const report = JSON.parse(r.out);
    expect(report.scenario.fleet).toEqual({ vms: 5, staggerMs: 10_000 });
    const run = report.runs[0];
    expect(run.fleet.vms).toBe(5);
    expect(run.fleet.outcomes).toEqual({ replicating: 5 });
    expect(run.summary.checkpoints).toBeGreaterThanOrEqual(5);
    expect(run.verification.checkpointsVerified).toBe(run.summary.checkpoints);
    expect(run.fleet.perVmDowntimeP99Ms.max).toBeGreaterThanOrEqual(run.fleet.perVmDowntimeP99Ms.p50);
    expect(r.err).toMatch(/fleet: 5 VMs/);
    expect(r.err).toMatch(/per-VM downtime p99: worst VM/);
  });

  it('one VM is the plain run (no fleet section)', async () => {
    const r = await cli(['run', ...small, '--vms', '1', '--policy', 'none', '--json', '-']);
    expect(r.code).toBe(0);
    const report = JSON.parse(r.out);
    expect(report.scenario.fleet).toBeUndefined();
    expect(report.runs[0].fleet).toBeUndefined();
  });

  it('refuses a fleet out of bounds, and on LocalStack, with one line', async () => {
    for (const [v, why] of [
      ['0', /--vms: must be at least 1/],
      ['10001', /--vms: must be at most 10000: the largest fleet measured/],
      ['2.5', /--vms/],
    ] as const) {
      const r = await cli(['run', '--vms', v]);
      expect(r.code, v).toBe(1);
      expect(r.err, v).toMatch(why);
    }
    const ls = await cli(['run', '--backend', 'localstack', '--vms', '3']);
    expect(ls.code).toBe(1);
    expect(ls.err).toMatch(/--vms cannot be used with --backend localstack/);
  });

  it('--dry-run warns when the fleet needs more of the shared link than it has', async () => {
    const many = await cli(['run', '--guest', '32MiB', '--vms', '5000', '--dry-run']);
    expect(many.code).toBe(0);
    expect(many.out + many.err).toMatch(/the shared link is too slow for this fleet: 5000 VMs/);
    const few = await cli(['run', '--guest', '32MiB', '--vms', '2', '--dry-run']);
    expect(few.out + few.err).not.toMatch(/shared link is too slow/);
  });

  it('says why a guest above 1 TiB is refused', async () => {
    const r = await cli(['run', '--guest', '2TiB']);
    expect(r.code).toBe(1);
    expect(r.err).toMatch(/--guest: must be at most 1TiB: the largest guest measured to run/);
    expect(r.err.trim().split('\n')).toHaveLength(1);
  });
});

describe('experiment cells of a fleet', () => {
  it('cells that differ only in vms or vmStagger have different keys; one VM keeps its old key', async () => {
    const { cellKey } = await import('../../../src/experiment/grid.ts');
    const { resolveScenario } = await import('../../../src/cli/scenario.ts');
    const one = resolveScenario({ vms: 1 });
    const keys = [one, resolveScenario({ vms: 10 }), resolveScenario({ vms: 10, vmStagger: '5s' })].map((s) =>
      cellKey(s, 'none'),
    );
    expect(new Set(keys).size).toBe(3);
    expect(cellKey(one, 'none')).toBe(cellKey(resolveScenario({}), 'none'));
  });
});
