import { spawnSync } from 'node:child_process';
import { describe, expect, it } from 'vitest';
import {
  FAULT_EXAMPLE,
  FaultSpecError,
  formatFaultSpec,
  parseFaultSpec,
} from '../../../src/cli/fault-spec.ts';
import { flagsToScenario } from '../../../src/cli/flags.ts';
import { renderTable } from '../../../src/cli/report.ts';
import { runScenario } from '../../../src/cli/run-command.ts';
import { resolveScenario, ScenarioError } from '../../../src/cli/scenario.ts';

describe('--faults syntax', () => {
  it('parses every key, percentages and fractions, ranges and repeated outages', () => {
    const m = parseFaultSpec(
      'lose=1%,duplicate=0.005,delay=2%:0-300ms,put-fail=0.1%,put-stall=1%:1-2s,delete-fail=2%,redelivery=1s,' +
        'max-receives=5,outage=primary@30s+5s,outage=secondary@2m+500ms,window=10s-60s,claim=20ms,seed=7',
    );
    expect(m).toEqual({
      lose: 0.01,
      duplicate: 0.005,
      delay: 0.02,
      delayMs: [0, 300],
      putFail: 0.001,
      putStall: 0.01,
      putStallMs: [1000, 2000],
      deleteFail: 0.02,
      redeliveryMs: 1000,
      maxReceives: 5,
      outages: [
        { node: 'primary', from: 30_000, until: 35_000 },
        { node: 'secondary', from: 120_000, until: 120_500 },
      ],
      from: 10_000,
      until: 60_000,
      claimMs: 20,
      seed: 7,
    });
    expect(parseFaultSpec('none')).toEqual({});
    expect(parseFaultSpec('window=10s-')).toEqual({ from: 10_000 });
    expect(parseFaultSpec(formatFaultSpec(m))).toEqual(m);
    expect(() => parseFaultSpec(FAULT_EXAMPLE)).not.toThrow();
  });

  it('rejects bad values naming the key and what it allows', () => {
    const cases: [string, RegExp][] = [
      ['lose=150%', /lose: "150%" is not a probability: it must be between 0% and 100%/],
      ['lose=lots', /lose: "lots" is not a probability: use a percentage \(1%\) or a fraction/],
      ['duplicate=-1%', /duplicate: "-1%" is not a probability/],
      ['delay=2%:300-0ms', /delay: "300-0ms" is not a range: its start is after its end/],
      ['delay=2%:300ms', /delay: "300ms" is not a range: use A-B/],
      ['put-stall=1%:0-2parsecs', /put-stall: "2parsecs" is not a duration/],
      ['max-receives=0', /max-receives: "0" must be a whole number from 1 to 100/],
      ['max-receives=2.5', /max-receives/],
      ['outage=primary@30s', /outage: "primary@30s" is not an outage: use NODE@START\+LENGTH/],
      ['outage=tertiary@1s+1s', /outage: .* is not an outage/],
      ['outage=primary@1s+0s', /outage: .* has no length/],
      ['window=60s-10s', /window: "60s-10s" is not a range: its start is after its end/],
      ['redelivery=0', /redelivery: "0" must be above 0/],
      ['seed=-1', /seed: "-1" must be a whole number/],
      ['loose=1%', /unknown key "loose": use lose, duplicate, delay/],
      ['lose=1%,lose=2%', /lose is given twice/],
      ['lose', /"lose" should be key=value/],
    ];
    for (const [spec, message] of cases) {
      expect(() => parseFaultSpec(spec), spec).toThrow(FaultSpecError);
      expect(() => parseFaultSpec(spec), spec).toThrow(message);
    }
    expect(() => flagsToScenario({ faults: 'lose=2' })).toThrow(ScenarioError);
    expect(() => flagsToScenario({ faults: 'lose=2' })).toThrow(/^--faults: lose: "2"/);
  });

  it('is a scenario key: the same string, or an object of the same keys', () => {
    const a = resolveScenario({ faults: 'lose=1%,outage=primary@30s+5s' });
    const b = resolveScenario({ faults: { lose: '1%', outage: ['primary@30s+5s'] } });
    expect(a.faults).toEqual({ lose: 0.01, outages: [{ node: 'primary', from: 30_000, until: 35_000 }] });
    expect(b.faults).toEqual(a.faults);
    expect(resolveScenario({ faults: 'none' }).faults).toBeUndefined();
    expect(resolveScenario().faults).toBeUndefined();
    expect(() => resolveScenario({ faults: { lose: '2' } })).toThrow(
      /faults[\s\S]*lose: "2"|lose: "2"[\s\S]*faults/,
    );
    expect(() => resolveScenario({ faults: { lose: true } })).toThrow(/lose: expected a string or a number/);
    expect(() => resolveScenario({ faults: 7 })).toThrow(ScenarioError);
  });
});

describe('colo run with faults', () => {
  const base = {
    guest: '16MiB',
    duration: '40s',
    checkpointDelay: '5s',
    threshold: '1MiB',
    payload: 'modelled' as const,
    workload: { kind: 'hotcold' as const, hotPages: 256, hotRate: 200, coldRate: 100 },
  };

  it('a failover caused by faults is an outcome, not a verification failure', () => {
    const report = runScenario(
      resolveScenario({
        ...base,
        policies: ['none', 'fixed'],
        faults: 'outage=primary@12s+15s,duplicate=5%',
      }),
    );
    for (const r of report.runs) {
      expect(r.verification.problems).toEqual([]);
      expect(r.verification.consistent).toBe(true);
      expect(r.outcome?.state).toBe('secondary-took-over');
      expect(r.outcome?.reason).toMatch(/no message from the primary/);
      expect(r.outcome?.primaryPhase).toBe('fenced');
      expect(r.faultStats?.deferred).toBeGreaterThan(0);
    }
    const table = renderTable(report);
    expect(table).toMatch(/outcome\s+SVM took over\s+SVM took over/);
    expect(table).toMatch(/faults: outage-deferred/);
    expect(table).toMatch(/none: replication ended at 2\d\.\d s: secondary took over \(primary fenced\)/);
    expect(table).toMatch(/^faults: duplicate=5%,outage=primary@12s\+15s$/m);
  });

  it('a clean run reports "replicating" and no fault counts', () => {
    const report = runScenario(resolveScenario({ ...base, policies: ['fixed'] }));
    expect(report.runs[0]?.outcome?.state).toBe('replicating');
    expect(report.runs[0]?.faultStats).toBeUndefined();
    expect(renderTable(report)).not.toMatch(/faults:/);
  });

  it('the CLI exits 1 on a bad --faults before running, 3 after a fenced failover', () => {
    const cli = (...args: string[]) =>
      spawnSync(process.execPath, ['--import', 'tsx', 'bin/colo.ts', 'run', '--quiet', ...args], {
        encoding: 'utf8',
      });
    const bad = cli('--faults', 'put-stall=1%:0-2 s,lose=x');
    expect(bad.status).toBe(1);
    expect(bad.stderr).toMatch(/^colo: --faults: /);
    expect(bad.stdout).toBe('');
    const ok = cli(
      ...['--guest', '16MiB', '--duration', '30s', '--checkpoint-delay', '5s', '--payload', 'modelled'],
      ...['--policy', 'none', '--faults', 'outage=primary@12s+15s'],
    );
    expect(ok.stderr).toBe('');
    expect(ok.status).toBe(3);
    expect(ok.stdout).toMatch(/secondary took over \(primary fenced\)/);
    expect(ok.stdout).toMatch(
      /why: the secondary heard nothing from the primary for 12\.5 s .*: the primary was down \(injected outage/,
    );
  }, 60_000);
});

describe('crash faults', () => {
  it('a spec with only crash (and its visibility) is a fault model, in the report too', () => {
    const m = parseFaultSpec('crash=100%,visibility=1s');
    expect(m).toEqual({ crash: 1, visibilityMs: 1000 });
    expect(formatFaultSpec(m)).toBe('crash=100%,visibility=1s');
    const sc = resolveScenario({ faults: 'crash=100%,visibility=1s' });
    expect(sc.faults).toEqual({ crash: 1, visibilityMs: 1000 });
  });
});
