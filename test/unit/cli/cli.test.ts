import { describe, expect, it } from 'vitest';
import { flagsToScenario } from '../../../src/cli/flags.ts';
import { renderTable } from '../../../src/cli/report.ts';
import { runScenario } from '../../../src/cli/run-command.ts';
import { resolveScenario, ScenarioError } from '../../../src/cli/scenario.ts';
import {
  formatBandwidth,
  parseBandwidth,
  parseBytes,
  parseDuration,
  UnitError,
} from '../../../src/parameters/units.ts';

describe('units', () => {
  it('parses sizes, bandwidths and durations', () => {
    expect(parseBytes('1GiB')).toBe(1024 ** 3);
    expect(parseBytes('64MiB')).toBe(64 * 1024 ** 2);
    expect(parseBytes('1.5GB')).toBe(1.5e9);
    expect(parseBytes('4096B')).toBe(4096);
    expect(parseBandwidth('10Gbit')).toBe(1.25e9);
    expect(parseBandwidth('1Gbit/s')).toBe(1.25e8);
    expect(parseBandwidth('100MiB/s')).toBe(100 * 1024 ** 2);
    expect(parseDuration('20s')).toBe(20_000);
    expect(parseDuration('250ms')).toBe(250);
    expect(parseDuration('2m')).toBe(120_000);
  });
  it('rejects nonsense with a message naming the value and an example', () => {
    expect(() => parseBytes('lots')).toThrow(/"lots" is not a size.*e\.g\. 64MiB/);
    expect(() => parseBytes('5XB')).toThrow(UnitError);
    expect(() => parseBandwidth('10Gbyte')).toThrow(/is a size, not a rate/);
    expect(() => parseDuration('-1s')).toThrow(/negative/);
  });
});

describe('formatBandwidth', () => {
  it('shows a link below a kilobit in bit/s, not as 0 kbit/s', () => {
    expect(formatBandwidth(parseBandwidth('1Gbit'))).toBe('1 Gbit/s');
    expect(formatBandwidth(parseBandwidth('2kbit'))).toBe('2 kbit/s');
    expect(formatBandwidth(parseBandwidth('100bit'))).toBe('100 bit/s');
    expect(formatBandwidth(parseBandwidth('0.5bit'))).toBe('0.5 bit/s');
  });
});

describe('scenario', () => {
  it('resolves the default scenario with the seed defaults as parameters', () => {
    const s = resolveScenario();
    expect(s.params.checkpointDelayMs).toBe(20_000);
    expect(s.params.pendingCheckIntervalMs).toBe(1000);
    expect(s.params.thresholdBytes).toBe(100 * 1024 * 1024);
    expect(s.policies).toEqual(['none', 'fixed']);
  });
  it('lets flags override a file, and validates both', () => {
    const s = resolveScenario(
      { guest: '64MiB', workload: { kind: 'uniform', rate: 10 } },
      flagsToScenario({ workload: 'zipf:rate=100,exponent=1.2', threshold: '8MiB', policy: 'fixed' }),
    );
    expect(s.params.guestBytes).toBe(64 * 1024 * 1024);
    expect(s.params.workload).toEqual({ kind: 'zipf', rate: 100, exponent: 1.2 });
    expect(s.params.thresholdBytes).toBe(8 * 1024 * 1024);
    expect(s.policies).toEqual(['fixed']);
  });
  it('names every problem in a bad scenario', () => {
    const bad = () =>
      resolveScenario({
        guest: '1000',
        policies: ['fast'],
        workload: { kind: 'uniform', rate: -1 },
        extra: 1,
      });
    expect(bad).toThrow(ScenarioError);
    try {
      bad();
    } catch (e) {
      const msg = (e as Error).message;
      expect(msg).toMatch(/guest/);
      expect(msg).toMatch(/policies/);
      expect(msg).toMatch(/workload/);
      expect(msg).toMatch(/extra/);
    }
    expect(() => resolveScenario([1])).toThrow(/JSON object/);
    expect(() => flagsToScenario({ seed: 'x' })).toThrow(/--seed: "x" is not a number/);
    expect(() => flagsToScenario({ workload: 'hotcold:hotPages' })).toThrow(/key=value/);
  });
});

describe('colo run', () => {
  it('on a cold-dominated scenario, fixed moves fewer MiB at checkpoints than none, both verified', () => {
    const s = resolveScenario({
      guest: '128MiB',
      duration: '45s',
      threshold: '16MiB',
      workload: { kind: 'hotcold', hotPages: 512, hotRate: 500, coldRate: 1000 },
    });
    const report = runScenario(s);
    const [none, fixed] = report.runs;
    expect(none?.policy).toBe('none');
    expect(fixed?.policy).toBe('fixed');
    expect(fixed?.summary.checkpointMiB).toBeLessThan(none?.summary.checkpointMiB ?? 0);
    expect(fixed?.summary.rounds).toBeGreaterThan(0);
    expect(none?.summary.backgroundMiB).toBe(0);
    expect(
      report.runs.every((r) => r.verification.consistent && r.verification.checkpointsVerified === 2),
    ).toBe(true);
    const table = renderTable(report);
    expect(table).toMatch(/MiB at checkpoints/);
    expect(table).toMatch(/verification\s+ok \(2\)\s+ok \(2\)/);
  });

  it('modelled and materialised payloads give the same protocol trace and metrics', () => {
    const base = {
      guest: '32MiB',
      duration: '30s',
      threshold: '4MiB',
      policies: ['fixed'] as const,
      workload: { kind: 'hotcold' as const, hotPages: 256, hotRate: 300, coldRate: 400 },
    };
    const a = runScenario(resolveScenario({ ...base, policies: ['fixed'], payload: 'materialised' })).runs[0];
    const b = runScenario(resolveScenario({ ...base, policies: ['fixed'], payload: 'modelled' })).runs[0];
    expect(b?.summary).toEqual(a?.summary);
    expect(b?.messages).toBe(a?.messages);
    expect(b?.final).toEqual(a?.final);
  });
});
