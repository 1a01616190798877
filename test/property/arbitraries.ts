import fc from 'fast-check';
import type { ColoParams } from '../../src/engine/params.ts';
import type { WorkloadSpec } from '../../src/engine/workload/spec.ts';
import type { LinkParams } from '../../src/runtime/embedded/link.ts';
import { testParams } from '../helpers/engine.ts';

/** Any workload, sized for a guest of `pages` pages. */
export function workloadArb(pages: number): fc.Arbitrary<WorkloadSpec> {
  const rate = fc.integer({ min: 1, max: 2000 });
  return fc.oneof(
    fc.constant<WorkloadSpec>({ kind: 'idle' }),
    rate.map((r): WorkloadSpec => ({ kind: 'uniform', rate: r })),
    fc
      .record({ hotPages: fc.integer({ min: 0, max: pages }), hotRate: rate, coldRate: rate })
      .map((w): WorkloadSpec => ({ kind: 'hotcold', ...w })),
    fc
      .record({ rate, exponent: fc.double({ min: 0.3, max: 2, noNaN: true }) })
      .map((w): WorkloadSpec => ({ kind: 'zipf', ...w })),
    rate.map((r): WorkloadSpec => ({ kind: 'sequential', rate: r })),
    fc
      .record({
        rate,
        hotPages: fc.integer({ min: 1, max: pages }),
        tail: fc.double({ min: 0, max: 0.5, noNaN: true }),
      })
      .map((w): WorkloadSpec => ({ kind: 'buffered-io', ...w })),
  );
}

/** A whole scenario: parameters, link and simulated duration. */
export interface ScenarioCase {
  params: ColoParams;
  link: LinkParams;
  durationMs: number;
}

/** Random small scenarios over workloads, parameters, policies and schedules. */
export const scenarioArb: fc.Arbitrary<ScenarioCase> = fc
  .integer({ min: 16, max: 512 })
  .chain((pages) =>
    fc.record({
      pages: fc.constant(pages),
      seed: fc.integer({ min: 0, max: 0xffff_ffff }),
      workload: workloadArb(pages),
      svmWorkload: workloadArb(pages),
      secondaryMode: fc.constantFrom('passive', 'running') as fc.Arbitrary<'passive' | 'running'>,
      policy: fc.constantFrom('none', 'fixed', 'adaptive') as fc.Arbitrary<'none' | 'fixed' | 'adaptive'>,
      payload: fc.constantFrom('materialised', 'modelled') as fc.Arbitrary<'materialised' | 'modelled'>,
      checkpointDelayMs: fc.integer({ min: 100, max: 1500 }),
      pendingCheckIntervalMs: fc.integer({ min: 20, max: 400 }),
      thresholdPages: fc.integer({ min: 1, max: pages }),
      miscompareRatePerSec: fc.constantFrom(0, 0, 0.5, 3),
      applyTimeoutMs: fc.integer({ min: 200, max: 2000 }),
      bandwidth: fc.integer({ min: 2_000_000, max: 1_000_000_000 }),
      latencyMs: fc.double({ min: 0, max: 5, noNaN: true }),
      durationMs: fc.integer({ min: 500, max: 5000 }),
      chunkPages: fc.integer({ min: 1, max: 600 }),
    }),
  )
  .map((r) => ({
    params: testParams({
      seed: r.seed,
      guestBytes: r.pages * 4096,
      workload: r.workload,
      secondaryWorkload: r.svmWorkload,
      secondaryMode: r.secondaryMode,
      policy: r.policy,
      payload: r.payload,
      checkpointDelayMs: r.checkpointDelayMs,
      pendingCheckIntervalMs: r.pendingCheckIntervalMs,
      thresholdBytes: r.thresholdPages * 4096,
      miscompareRatePerSec: r.miscompareRatePerSec,
      applyTimeoutMs: r.applyTimeoutMs,
      checkpointTimeoutMs: 10_000,
      heartbeatIntervalMs: 50,
      heartbeatTimeoutMs: 5000,
      maxDeltaBytes: r.chunkPages * 4096,
    }),
    link: { bandwidthBytesPerSec: r.bandwidth, latencyMs: r.latencyMs },
    durationMs: r.durationMs,
  }));
