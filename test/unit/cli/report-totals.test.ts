/**
 * A `colo run` report reads running totals of a run's rounds and messages instead of keeping every record
 * (memory flat in simulated time): its figures must be exactly those the records give, summed the way the
 * report summed them when it kept them.
 */
import { describe, expect, it } from 'vitest';
import { runScenario } from '../../../src/cli/run-command.ts';
import { resolveScenario, type Scenario } from '../../../src/cli/scenario.ts';
import type { CheckpointRecord, RoundRecord } from '../../../src/engine/metrics/records.ts';
import { roundTotalsOf, summarise } from '../../../src/engine/metrics/summary.ts';
import type { PolicyName } from '../../../src/engine/params.ts';
import { runFleet } from '../../../src/runtime/embedded/fleet.ts';
import { type EmbeddedResult, runEmbedded, TOTALS_ONLY } from '../../../src/runtime/embedded/run.ts';

const MiB = 1024 * 1024;

/** The summary as the report built it from every record before the totals (a reference, written out). */
function summaryFromRecords(checkpoints: readonly CheckpointRecord[], rounds: readonly RoundRecord[]) {
  const s = summarise(checkpoints, []);
  return {
    ...s,
    backgroundMiB: rounds.reduce((a, r) => a + (r.ok ? r.bytes : 0), 0) / MiB,
    rounds: rounds.filter((r) => r.ok).length,
  };
}

// Uniform writes under `adaptive` on a slow link: many rounds and pending checks a second. The faults make
// some rounds fail (a delta that could not be stored), so `ok: false` records are among them.
const scenario: Scenario = resolveScenario({
  guest: '32MiB',
  duration: '30s',
  checkpointDelay: '5s',
  threshold: '4MiB',
  bandwidth: '1Gbit',
  workload: { kind: 'uniform', rate: 1000 },
  policies: ['none', 'fixed', 'adaptive'],
  faults: 'lose=1%,duplicate=1%,put-fail=3%',
});

/** The run `colo run` makes of `policy`, keeping every record (the default). */
function fullRun(s: Scenario, policy: PolicyName): EmbeddedResult {
  return runEmbedded({
    params: { ...s.params, policy },
    link: s.link,
    durationMs: s.durationMs,
    ...(s.faults ? { faults: { model: s.faults } } : {}),
  });
}

describe('running totals of rounds and messages', () => {
  it('a run that keeps no lists is the same run, and its totals are those of the records', () => {
    for (const policy of ['fixed', 'adaptive'] as const) {
      const options = {
        params: { ...scenario.params, policy },
        link: scenario.link,
        durationMs: scenario.durationMs,
        faults: { model: scenario.faults ?? {} },
      };
      const full = runEmbedded(options);
      const lean = runEmbedded({ ...options, keep: TOTALS_ONLY });
      expect(full.rounds.some((r) => !r.ok)).toBe(true);
      expect(full.pendingChecks.length).toBeGreaterThan(0);
      expect(full.roundTotals).toEqual(roundTotalsOf(full.rounds));
      expect(full.roundTotals.count).toBe(full.rounds.length);
      expect(full.messagesSent).toBe(full.messages.length);
      // Nothing kept but the totals; everything else is the same run.
      expect(lean).toEqual({ ...full, rounds: [], pendingChecks: [], messages: [] });
      expect(summarise(lean.checkpoints, lean.roundTotals)).toEqual(
        summaryFromRecords(full.checkpoints, full.rounds),
      );
    }
  });

  it('keeps each list it is asked to keep, over the lean default', () => {
    const options = { params: { ...scenario.params, policy: 'adaptive' as const }, link: scenario.link };
    const full = runEmbedded({ ...options, durationMs: 15_000 });
    const some = runEmbedded({ ...options, durationMs: 15_000, lean: true, keep: { messages: true } });
    expect(some.messages).toEqual(full.messages);
    expect(some.rounds).toEqual(full.rounds);
    expect(some.pendingChecks).toEqual([]);
  });

  it("colo run's report has the figures its records give", () => {
    const report = runScenario(scenario);
    for (const run of report.runs) {
      const full = fullRun(scenario, run.policy);
      expect(run.summary).toEqual(summaryFromRecords(full.checkpoints, full.rounds));
      expect(run.messages).toBe(full.messages.length);
      expect(run.rejections).toBe(full.rejections.length);
      expect(run.final).toEqual(full.final);
      if (run.policy !== 'none') expect(run.summary.rounds).toBeGreaterThan(0);
    }
  });

  it("a fleet report's summary is the one of every VM's records together", () => {
    const fleet = resolveScenario({
      guest: '32MiB',
      duration: '30s',
      checkpointDelay: '5s',
      threshold: '4MiB',
      bandwidth: '1Gbit',
      workload: { kind: 'uniform', rate: 1500 },
      policies: ['adaptive'],
      faults: 'put-fail=3%',
      vms: 3,
      vmStagger: '3s',
    });
    const [run] = runScenario(fleet).runs;
    const full = runFleet({
      params: { ...fleet.params, policy: 'adaptive' },
      link: fleet.link,
      durationMs: fleet.durationMs,
      vms: 3,
      staggerMs: 3000,
      ...(fleet.faults ? { faultModel: fleet.faults } : {}),
      full: true,
    });
    const checkpoints = full.vms.flatMap((v) => v.result.checkpoints);
    const rounds = full.vms.flatMap((v) => v.result.rounds);
    expect(rounds.some((r) => !r.ok)).toBe(true);
    expect(run?.summary).toEqual(summaryFromRecords(checkpoints, rounds));
    expect(run?.messages).toBe(full.vms.reduce((a, v) => a + v.result.messages.length, 0));
  });
});
