/**
 * The soak's short version (npm run soak runs one simulated hour per run): two simulated minutes under random
 * faults, one seed, checked for the same guarantees — the committed image is exactly one checkpoint, never
 * both sides active, the run ends verified consistent or with exactly one side owning the VM and the other
 * fenced — and the fault counts recomputed from the messages match the runtime's.
 */
import { describe, expect, it } from 'vitest';
import { runSoakCase, SOAK_LINK, soakFigures, soakModel, soakParams } from '../../../src/cli/soak.ts';

const MINUTES_2 = 120_000;

describe('soak (short: 2 simulated minutes, one seed)', () => {
  it('keeps the guarantees under random faults, and a long primary outage ends in a fenced takeover', () => {
    const model = soakModel(0.03, 0, 5, MINUTES_2);
    const survived = runSoakCase({
      name: 'fixed seed 5',
      params: soakParams('fixed', 'modelled', 5),
      link: SOAK_LINK,
      durationMs: MINUTES_2,
      model,
    });
    expect(survived.violations).toEqual([]);
    expect(survived.events.length).toBeGreaterThan(10);
    expect(survived.checkpoints).toBeGreaterThan(5);

    const outage = runSoakCase({
      name: 'none seed 5 materialised, primary outage',
      params: soakParams('none', 'materialised', 5),
      link: SOAK_LINK,
      durationMs: MINUTES_2,
      model: { ...model, outages: [{ node: 'primary', from: 60_000, until: 75_000 }] },
    });
    expect(outage.violations).toEqual([]);
    expect(outage.outcome.state).toBe('secondary-took-over');
    expect(outage.outcome.primaryPhase).toBe('fenced');
    expect(outage.cause).toBe('primary outage');

    const clean = runSoakCase({
      name: 'fixed clean',
      params: soakParams('fixed', 'modelled', 5),
      link: SOAK_LINK,
      durationMs: MINUTES_2,
    });
    expect(clean.violations).toEqual([]);
    expect(clean.outcome.state).toBe('replicating');

    const f = soakFigures([survived, outage, clean]);
    expect(f.violations).toEqual([]);
    expect(f.faultyRuns).toBe(2);
    expect(f.failedOver).toBe(1);
    expect(f.byKind.outage.injected).toBe(1);
    expect(f.recoveryMs.n).toBeGreaterThan(0);
    expect(f.recoveryMs.max).toBeLessThanOrEqual(MINUTES_2);
    expect(f.downtime.fixed?.clean.n).toBe(clean.checkpoints);
  }, 20_000);
});
