/**
 * The adaptive policy's controller (src/engine/policy/adaptive.ts): what it learns per region, the chance
 * it gives a page, the pages it picks, and — on the embedded runtime — that it never does worse than `none`
 * or `fixed` on simulated downtime on small versions of the grid's loads.
 */
import { describe, expect, it } from 'vitest';
import { DirtyBitmap } from '../../../src/engine/memory/dirty-bitmap.ts';
import { DEFAULT_PARAMS, type PolicyName } from '../../../src/engine/params.ts';
import {
  createRegionModel,
  MIN_SURVIVAL,
  planAdaptive,
  REGION_PAGES,
  sampleRegions,
  survival,
} from '../../../src/engine/policy/adaptive.ts';
import { createPrimary } from '../../../src/engine/primary/state.ts';
import type { WorkloadSpec } from '../../../src/engine/workload/spec.ts';
import { runEmbedded } from '../../../src/runtime/embedded/run.ts';

const PAGES = 16 * REGION_PAGES;

function touch(bitmap: DirtyBitmap, pages: Iterable<number>): void {
  for (const p of pages) bitmap.set(p);
}

const range = (from: number, count: number) => Array.from({ length: count }, (_, i) => from + i);

describe('region model', () => {
  it('learns a Poisson rate from the touched fraction and gives exp(−λt) as the chance', () => {
    const model = createRegionModel(PAGES);
    const touched = new DirtyBitmap(PAGES);
    touch(touched, range(0, 32)); // half of region 0 in 1 000 ms: λ = ln 2 / 1000 per ms
    expect(sampleRegions(model, touched, 1000)).toBe(true);
    expect(touched.count).toBe(0);
    const lambda = Math.log(2) / 1000;
    expect(survival(model, 0, 1000, 500)).toBeCloseTo(Math.exp(-lambda * 500), 3);
    // An untouched region is taken to stay as it is.
    expect(survival(model, 1, 1000, 60_000)).toBe(1);
  });

  it('ignores samples shorter than the minimum and keeps their pages for the next one', () => {
    const model = createRegionModel(PAGES);
    const touched = new DirtyBitmap(PAGES);
    touch(touched, [3]);
    expect(sampleRegions(model, touched, 10)).toBe(false);
    expect(touched.count).toBe(1);
  });

  it('times sweeps: a region rewritten whole every 5 s survives only past its next sweep', () => {
    const model = createRegionModel(PAGES);
    const touched = new DirtyBitmap(PAGES);
    for (const at of [1000, 6000, 11_000]) {
      touch(touched, range(2 * REGION_PAGES, REGION_PAGES));
      sampleRegions(model, touched, at);
      // Quiet samples in between do not break the pattern.
      sampleRegions(model, touched, at + 2000);
    }
    // Swept at 11 000 ms, next sweep expected near 16 000 ms.
    expect(survival(model, 2, 13_000, 2000)).toBe(1);
    expect(survival(model, 2, 13_000, 4000)).toBe(0);
  });
});

describe('planAdaptive', () => {
  it('sends cold pages early, holds hot ones, and sends hot ones too just before the checkpoint', () => {
    const pages = 128 * REGION_PAGES;
    const params = { ...DEFAULT_PARAMS, guestBytes: pages * 4096, policy: 'adaptive' as PolicyName };
    const state = createPrimary(params);
    state.phase = 'running';
    state.vmRunning = true;
    // Region 0 is hot (40 of its 64 pages written every second); regions 10..109 get 4 first touches each,
    // once, at the start (1.6 MiB: more than the smallest early round).
    const cold = Array.from({ length: 100 }, (_, i) => range((10 + i) * REGION_PAGES, 4)).flat();
    for (let t = 1000; t <= 11_000; t += 1000) {
      touch(state.touched, range(0, 40));
      if (t === 1000) touch(state.touched, cold);
      sampleRegions(state.regions, state.touched, t);
    }
    state.guestTime = 11_000;
    state.lastNow = 11_000;
    touch(state.dirty, range(0, 40));
    touch(state.dirty, cold);
    state.nextCheckpointAt = 13_000;
    const early = planAdaptive(state, params, 11_000, 100_000);
    expect(early.pages).toEqual(cold);
    expect(early.late).toBe(false);
    expect(early.nextCheckAt).toBeGreaterThan(11_000);
    // The hot pages' chance of staying clean for 2 s is far below the bar.
    expect(survival(state.regions, 0, 11_000, 2000)).toBeLessThan(MIN_SURVIVAL);
    // 1 ms before the checkpoint, the hot pages qualify as well.
    const late = planAdaptive(state, params, 12_999, 100_000);
    expect(late.late).toBe(true);
    expect(late.pages).toEqual([...range(0, 40), ...cold]);
  });
});

describe('adaptive on the embedded runtime', () => {
  const loads: [string, WorkloadSpec][] = [
    ['hot/cold', { kind: 'hotcold', hotPages: 1024, hotRate: 2000, coldRate: 1500 }],
    ['buffered-io', { kind: 'buffered-io', rate: 8000, hotPages: 4096, tail: 0.02 }],
    ['fio-like', { kind: 'sequential', rate: 6000, spanPages: 12_000 }],
  ];
  for (const [name, workload] of loads) {
    it(`${name}: simulated downtime p99 no worse than none or fixed, replicas verified`, () => {
      const p99 = (policy: PolicyName) => {
        const params = {
          ...DEFAULT_PARAMS,
          guestBytes: 128 * 1024 * 1024,
          payload: 'modelled' as const,
          workload,
          policy,
          checkpointDelayMs: 10_000,
          thresholdBytes: 16 * 1024 * 1024,
        };
        const r = runEmbedded({
          params,
          link: { bandwidthBytesPerSec: 125e6, latencyMs: 0.1 },
          durationMs: 120_000,
        });
        expect(r.rejections).toEqual([]);
        expect(r.final.committedEpoch).toBe(r.checkpoints.length);
        const d = r.checkpoints.map((c) => c.downtimeMs).sort((a, b) => a - b);
        return d[Math.ceil(0.99 * d.length) - 1] ?? Number.NaN;
      };
      const adaptive = p99('adaptive');
      expect(adaptive).toBeLessThanOrEqual(p99('none'));
      expect(adaptive).toBeLessThanOrEqual(p99('fixed') * 1.02);
    });
  }
});
