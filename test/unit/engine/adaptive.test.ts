/**
 * The adaptive policy's controller (src/engine/policy/adaptive.ts): what it learns per region, the chance
 * it gives a page, the pages it picks, and — on the embedded runtime — that it never does worse than `none`
 * or `fixed` on simulated downtime on small versions of the grid's loads.
 */
import { describe, expect, it } from 'vitest';
import { DirtyBitmap } from '../../../src/engine/memory/dirty-bitmap.ts';
import { DEFAULT_PARAMS, type PolicyName } from '../../../src/engine/params.ts';
import {
  BEHIND_FACTOR,
  BEHIND_MIN_SURVIVAL,
  checkAdaptive,
  createRegionModel,
  DRAIN_MIN_SURVIVAL,
  drainFactor,
  LATE_CHECK_MAX_MS,
  LATE_CHECK_MIN_MS,
  LATE_CHECK_MS,
  LATE_CHECK_SHARE,
  LATE_ROUND_BYTES,
  lostChance,
  MAX_DRAIN_SHARE,
  MIN_SURVIVAL,
  OVERDUE_SURVIVAL,
  planAdaptive,
  REGION_PAGES,
  SAMPLE_PERIOD_MS,
  STAGE_AHEAD_MS,
  STAGED_BEHIND_FACTOR,
  SWEEP_MARGIN,
  SWEEP_SLACK_MS,
  sampleRegions,
  stagedByEstimate,
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
    expect(sampleRegions(model, touched, 1)).toBe(false);
    expect(touched.count).toBe(1);
  });

  it('times sweeps: a region rewritten whole every 5 s survives only past its next sweep', () => {
    const model = createRegionModel(PAGES);
    const touched = new DirtyBitmap(PAGES);
    for (const at of [1000, 6000, 11_000]) {
      // Quiet samples in between do not break the pattern; a sweep is timed to the middle of its sample.
      sampleRegions(model, touched, at - 10);
      touch(touched, range(2 * REGION_PAGES, REGION_PAGES));
      sampleRegions(model, touched, at + 10);
    }
    expect(model.sweepAt[2]).toBe(11_000);
    expect(model.sweepGap[2]).toBe(5000);
    // Swept at 11 000 ms, next sweep expected near 16 000 ms.
    expect(survival(model, 2, 13_000, 2000)).toBe(1);
    expect(survival(model, 2, 13_000, 4000)).toBe(0);
  });
});

describe('sweeps', () => {
  /** A model that saw region 2 swept whole at each of `times` (ms), with quiet samples in between. */
  function swept(times: number[]) {
    const model = createRegionModel(PAGES);
    const touched = new DirtyBitmap(PAGES);
    for (const at of times) {
      sampleRegions(model, touched, at - 1);
      touch(touched, range(2 * REGION_PAGES, REGION_PAGES));
      sampleRegions(model, touched, at + 1);
    }
    return { model, touched };
  }

  it('sees a sweep that straddles two samples whole, at the second one', () => {
    const { model, touched } = swept([1000, 6000]);
    // The writer is a third of the way through region 2 at 11 000 ms and done 3 ms later.
    touch(touched, range(2 * REGION_PAGES, 20));
    sampleRegions(model, touched, 11_000);
    expect(model.sweepAt[2]).toBe(6000);
    expect(touched.count).toBe(20);
    touch(touched, range(2 * REGION_PAGES + 20, REGION_PAGES - 20));
    sampleRegions(model, touched, 11_004);
    expect(model.sweepAt[2]).toBe(11_002);
    expect(touched.count).toBe(0);
  });

  // A sample clears the touched pages of every region but a held one: region by region when few regions
  // were touched, byte range by byte range otherwise — the same bits either way.
  for (const others of [
    [5, 9],
    [0, 4, 5, 9, 12, 15],
  ]) {
    it(`clears every touched region but the held sweep (${others.length} other regions touched)`, () => {
      const { model, touched } = swept([1000, 6000]);
      touch(touched, range(2 * REGION_PAGES, 20));
      for (const r of others) touch(touched, [r * REGION_PAGES + 3, r * REGION_PAGES + 60]);
      sampleRegions(model, touched, 11_000);
      expect(touched.indices()).toEqual(range(2 * REGION_PAGES, 20));
      expect(touched.count).toBe(20);
      for (let r = 0; r < PAGES / REGION_PAGES; r++) expect(touched.spanCount(r)).toBe(r === 2 ? 20 : 0);
    });
  }

  it('does not hold scattered writes: they are a rate sample', () => {
    const { model, touched } = swept([1000, 6000]);
    touch(touched, [2 * REGION_PAGES + 1, 2 * REGION_PAGES + 9, 2 * REGION_PAGES + 40]);
    sampleRegions(model, touched, 8000);
    expect(touched.count).toBe(0);
    expect(model.sweepAt[2]).toBe(6000);
    expect(model.rate[2]).toBeGreaterThan(0);
  });

  it('predicts the next sweep on the late side and gives an overdue one an even chance', () => {
    const { model } = swept([1000, 6000, 11_000]);
    const next = 16_000 + SWEEP_MARGIN * 5000 + SWEEP_SLACK_MS;
    // From 13 000 ms: a checkpoint just before the predicted sweep keeps the pages, one after loses them.
    expect(survival(model, 2, 13_000, next - 13_000 - 1)).toBe(1);
    expect(survival(model, 2, 13_000, next - 13_000 + 1)).toBe(0);
    // The sweep did not come when predicted: the interval was learned too short.
    expect(survival(model, 2, next + 10, 1000)).toBe(OVERDUE_SURVIVAL);
  });
});

describe('lostChance', () => {
  it('is 1 − e^(−x) within 3.1e-5 from 0 to past the end of its table, and 0 and 1 at the ends', () => {
    let worst = 0;
    let beyond = 0;
    for (let i = 0; i <= 20_000; i++) {
      const x = i / 1000; // 0 … 20 in steps of 0.001: every table cell, and past its end (16)
      if (x >= 16) beyond++;
      worst = Math.max(worst, Math.abs(lostChance(x) - (1 - Math.exp(-x))));
    }
    expect(beyond).toBeGreaterThan(1000);
    expect(worst).toBeLessThan(3.1e-5);
    expect(lostChance(0)).toBe(0);
    expect(lostChance(Number.POSITIVE_INFINITY)).toBe(1);
  });
});

describe('checkAdaptive', () => {
  it('plans what sampleRegions then planAdaptive plan, with the same rates after', () => {
    const pages = 256 * REGION_PAGES;
    const params = { ...DEFAULT_PARAMS, guestBytes: pages * 4096, policy: 'adaptive' as PolicyName };
    const build = () => {
      const state = createPrimary(params);
      state.phase = 'running';
      state.vmRunning = true;
      // Regions 0..99 hot (a quarter of their pages each sample), 100..199 touched once, the rest idle.
      for (let t = 250; t <= 5000; t += 250) {
        for (let r = 0; r < 100; r++) touch(state.touched, range(r * REGION_PAGES + (t % 4) * 16, 16));
        if (t === 250) for (let r = 100; r < 200; r++) touch(state.touched, range(r * REGION_PAGES, 8));
        sampleRegions(state.regions, state.touched, t);
      }
      for (let r = 0; r < 200; r++) touch(state.dirty, range(r * REGION_PAGES, 8));
      for (let r = 0; r < 50; r++) touch(state.touched, range(r * REGION_PAGES, 20));
      state.guestTime = 5100;
      state.lastNow = 5100;
      state.nextCheckpointAt = 5150;
      return state;
    };
    const a = build();
    sampleRegions(a.regions, a.touched, a.guestTime);
    const planned = planAdaptive(a, params, 5100, 100_000);
    const b = build();
    const checked = checkAdaptive(b, params, 5100, 100_000);
    expect(checked.pages).toEqual(planned.pages);
    expect(checked.late).toBe(planned.late);
    expect(checked.nextCheckAt).toBeCloseTo(planned.nextCheckAt, 6);
    expect(planned.pages.length).toBeGreaterThan(0);
    // Rates agree within the rounding of the deferred decay (a unit in the last place of µHz).
    for (let r = 0; r < 256; r++) {
      expect(Math.abs((b.regions.rate[r] ?? 0) - (a.regions.rate[r] ?? 0))).toBeLessThanOrEqual(1);
    }
    expect(b.regions.sampledAt).toBe(a.regions.sampledAt);
    expect(b.touched.count).toBe(0);
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

describe('drainFactor', () => {
  /** Time to clean `d` pages sent at `c` a ms when each sent page is written again at `lambda` a ms (Euler). */
  function simulatedDrainMs(d: number, c: number, lambda: number): number {
    const dt = 0.01;
    let cleaned = 0;
    let t = 0;
    while (cleaned < d) {
      cleaned += (c - lambda * cleaned) * dt;
      t += dt;
    }
    return t;
  }

  it('is how much longer than D ÷ c a set takes when what is sent is written again', () => {
    expect(drainFactor(0)).toBe(1);
    for (const y of [0.05, 0.3, 0.65, 0.9]) {
      const d = 10_000;
      const c = 30;
      const lambda = (y * c) / d;
      const want = simulatedDrainMs(d, c, lambda) / (d / c);
      expect(drainFactor(y)).toBeGreaterThan(1);
      expect(Math.abs(drainFactor(y) - want) / want).toBeLessThan(0.002);
    }
    // At y ≥ 1 the set never drains: the factor stays finite at the cap.
    expect(drainFactor(1.5)).toBe(drainFactor(MAX_DRAIN_SHARE));
    expect(Number.isFinite(drainFactor(1.5))).toBe(true);
  });
});

describe('planAdaptive, draining a hot set', () => {
  const pages = 4096 * REGION_PAGES;
  const params = { ...DEFAULT_PARAMS, guestBytes: pages * 4096, policy: 'adaptive' as PolicyName };
  const hotRegions = 512; // 32 768 pages: the buffered-IO page cache
  const pageBytes = 4096 + 16;

  /** A primary at 10 s whose hot set (29 of each region's 64 pages written a second) is dirty whole. */
  function hotSetPrimary() {
    const state = createPrimary(params);
    state.phase = 'running';
    state.vmRunning = true;
    for (let t = 1000; t <= 10_000; t += 1000) {
      for (let r = 0; r < hotRegions; r++) touch(state.touched, range(r * REGION_PAGES, 29));
      sampleRegions(state.regions, state.touched, t);
    }
    state.guestTime = 10_000;
    state.lastNow = 10_000;
    touch(state.dirty, range(0, hotRegions * REGION_PAGES));
    return state;
  }

  it('starts sending the set while its pages are below the behind bar when it would not drain in time', () => {
    const state = hotSetPrimary();
    const lambda = -Math.log(survival(state.regions, 0, 10_000, 1000)) / 1000; // writes per page per ms
    // T where a hot page's chance is 0.45: under BEHIND_MIN_SURVIVAL, over DRAIN_MIN_SURVIVAL.
    const remaining = Math.round(Math.log(1 / 0.45) / lambda);
    state.nextCheckpointAt = 10_000 + remaining;
    const chance = survival(state.regions, 0, 10_000, remaining);
    expect(chance).toBeLessThan(BEHIND_MIN_SURVIVAL);
    expect(chance).toBeGreaterThan(DRAIN_MIN_SURVIVAL);
    // A link the set's rewrites take 65 % of: D/c alone (the behind test) fits the time left, the drain not.
    const dirty = hotRegions * REGION_PAGES;
    const link = ((lambda * dirty) / 0.65) * pageBytes;
    expect((dirty * pageBytes) / link).toBeLessThan(remaining / 1.2);
    expect(((dirty * pageBytes) / link) * drainFactor(0.65)).toBeGreaterThan(remaining / 1.2);
    const draining = planAdaptive(state, params, 10_000, link);
    expect(draining.late).toBe(true);
    expect(draining.pages.length).toBeGreaterThan(0);
    expect(draining.pages.every((p) => p < dirty)).toBe(true);
    // Ten times the link: the set drains in time, and its pages wait for their chance to clear the bar.
    expect(planAdaptive(state, params, 10_000, link * 10).pages).toEqual([]);
  });

  it('drains with the smaller margin when the staging, not the link, sets the rate', () => {
    const state = hotSetPrimary();
    const lambda = -Math.log(survival(state.regions, 0, 10_000, 1000)) / 1000;
    const apply = params.costs.applyBytesPerMs;
    const dirty = hotRegions * REGION_PAGES;
    // The set's drain time at the staging rate, and a checkpoint 1.15 times that away: within the margin of
    // BEHIND_FACTOR (draining), outside that of STAGED_BEHIND_FACTOR (on schedule).
    const drainMs = ((dirty * pageBytes) / apply) * drainFactor((lambda * dirty * pageBytes) / apply);
    const remaining = Math.round(drainMs * 1.15);
    expect(remaining).toBeLessThan(drainMs * BEHIND_FACTOR);
    expect(remaining).toBeGreaterThan(drainMs * STAGED_BEHIND_FACTOR);
    // A hot page's chance over that time is under MIN_SURVIVAL: on schedule, the set waits.
    expect(survival(state.regions, 0, 10_000, remaining)).toBeLessThan(MIN_SURVIVAL);
    state.nextCheckpointAt = 10_000 + remaining;
    // The link measured no faster than the staging: the rate is the link's, and the set starts draining.
    state.estimates.bandwidth = apply;
    const linkBound = planAdaptive(state, params, 10_000, apply);
    expect(linkBound.late).toBe(true);
    expect(linkBound.pages.length).toBeGreaterThan(0);
    // Three times faster: the staging sets the rate, and the set is on schedule.
    state.estimates.bandwidth = 3 * apply;
    const stagingBound = planAdaptive(state, params, 10_000, apply);
    expect(stagingBound.late).toBe(true);
    expect(stagingBound.pages).toEqual([]);
  });
});

describe('planAdaptive, late phase', () => {
  const pages = 4096 * REGION_PAGES;
  const params = { ...DEFAULT_PARAMS, guestBytes: pages * 4096, policy: 'adaptive' as PolicyName };

  /** A running primary at 10 s with every page of the first `dirtyRegions` regions dirty and never sampled. */
  function primaryWithDirty(dirtyRegions: number) {
    const state = createPrimary(params);
    state.phase = 'running';
    state.vmRunning = true;
    state.guestTime = 10_000;
    state.lastNow = 10_000;
    touch(state.dirty, range(0, dirtyRegions * REGION_PAGES));
    return state;
  }

  it('sends at most LATE_ROUND_BYTES a round near the checkpoint, and checks again at half the time left', () => {
    const state = primaryWithDirty(1024); // 256 MiB dirty, taken to stay as it is (no writes seen)
    state.nextCheckpointAt = 10_030;
    const plan = planAdaptive(state, params, 10_000, 1024 * 1024);
    expect(plan.late).toBe(true);
    expect(plan.bytes).toBeLessThanOrEqual(LATE_ROUND_BYTES);
    expect(plan.bytes).toBeGreaterThan(LATE_ROUND_BYTES - (4096 + 16));
    expect(plan.nextCheckAt).toBe(10_000 + Math.min(LATE_CHECK_MS, 15));
    // The round was cut: more qualifying pages wait, so the next check runs as soon as it has left.
    expect(plan.more).toBe(true);
    state.nextCheckpointAt = 10_001;
    expect(planAdaptive(state, params, 10_000, 1024 * 1024).nextCheckAt).toBe(10_000 + LATE_CHECK_MIN_MS);
  });

  it('far from the checkpoint, a late check waits its share of the time left and its round carries what the link moves meanwhile', () => {
    const state = primaryWithDirty(1024); // 256 MiB dirty, more than the late phase can send
    state.nextCheckpointAt = 13_000; // 3 s left
    const rate = 64 * 1024; // bytes per ms: the 256 MiB need 4 s
    const plan = planAdaptive(state, params, 10_000, rate);
    expect(plan.late).toBe(true);
    const gap = Math.min(LATE_CHECK_MAX_MS, 3000 * LATE_CHECK_SHARE);
    expect(gap).toBeGreaterThan(LATE_CHECK_MS);
    expect(plan.nextCheckAt).toBe(10_000 + gap);
    const round = rate * 3000 * LATE_CHECK_SHARE;
    expect(round).toBeGreaterThan(LATE_ROUND_BYTES);
    expect(plan.bytes).toBeLessThanOrEqual(round);
    expect(plan.bytes).toBeGreaterThan(round - (4096 + 16));
    expect(plan.more).toBe(true);
  });

  it('sends a small early round only once it is worth a round, and starts the late phase in time', () => {
    const state = primaryWithDirty(4); // 1 MiB
    state.nextCheckpointAt = 20_000;
    const early = planAdaptive(state, params, 10_000, 1024);
    expect(early.late).toBe(false);
    expect(early.pages).toHaveLength(4 * REGION_PAGES);
    expect(early.more).toBe(false);
    // 1 KiB per ms: the 1 MiB needs ~1 s, so the late phase starts more than 1 s before the checkpoint.
    expect(early.nextCheckAt).toBeLessThan(20_000 - 1000);
  });

  it('waits until the likeliest dirty page could qualify when a late check has nothing to send', () => {
    const state = primaryWithDirty(0);
    // Region 0 hot: 40 of its 64 pages written every second for 10 s (about one write a page a second).
    for (let t = 1000; t <= 10_000; t += 1000) {
      touch(state.touched, range(0, 40));
      sampleRegions(state.regions, state.touched, t);
    }
    touch(state.dirty, range(0, 40));
    state.nextCheckpointAt = 15_000;
    // 10 bytes per ms: far too slow for what the guest writes, so the late phase has begun; nothing qualifies.
    const idle = planAdaptive(state, params, 10_000, 10);
    expect(idle.late).toBe(true);
    expect(idle.pages).toEqual([]);
    expect(idle.nextCheckAt).toBe(10_000 + SAMPLE_PERIOD_MS);
    // Near the checkpoint the wait is capped by half the time left, as every late gap is.
    state.nextCheckpointAt = 10_100;
    const near = planAdaptive(state, params, 10_000, 10);
    expect(near.nextCheckAt).toBeLessThanOrEqual(10_000 + 50);
  });

  it('paces late rounds to the staging on a link faster than it, and only there', () => {
    const mib = 1024 * 1024;
    const apply = params.costs.applyBytesPerMs;
    const withBacklog = (bandwidth: number) => {
      const state = primaryWithDirty(1024); // 256 MiB dirty, taken to stay as it is (all qualify)
      state.nextCheckpointAt = 10_030;
      state.estimates.bandwidth = bandwidth;
      // A 16 MiB round that left at 9 990 ms: the secondary stages it until well after now.
      state.rounds.push({
        round: 1,
        pages: [],
        sendId: 1,
        pendingBytes: 0,
        startedAt: 9_990,
        bytes: 16 * mib,
        done: true,
      });
      return state;
    };
    // Three times the staging rate: 16 MiB arrive at 9 995.3 ms and are staged at 10 011.3 ms. The next round
    // (4 MiB) crosses in 1.3 ms, so it waits until the staging has that plus STAGE_AHEAD_MS left.
    const fast = withBacklog(3 * apply);
    const backlog = stagedByEstimate(fast, params) - 10_000;
    expect(backlog).toBeCloseTo(16 / 3 + 16 - 10, 6);
    const roundBytes = Math.floor(LATE_ROUND_BYTES / (4096 + 16)) * (4096 + 16);
    const paced = planAdaptive(fast, params, 10_000, apply);
    expect(paced.late).toBe(true);
    expect(paced.pages).toEqual([]);
    expect(paced.nextCheckAt).toBeCloseTo(10_000 + backlog - (roundBytes / (3 * apply) + STAGE_AHEAD_MS), 6);
    // Then it goes: the round arrives while the staging still has STAGE_AHEAD_MS of work.
    const then = planAdaptive(fast, params, paced.nextCheckAt, apply);
    expect(then.bytes).toBe(roundBytes);
    // On a link slower than the staging the link must not idle: the round goes at once.
    const slow = withBacklog(apply / 2);
    expect(stagedByEstimate(slow, params) - 10_000).toBeGreaterThan(10);
    expect(planAdaptive(slow, params, 10_000, apply / 2).bytes).toBeGreaterThan(0);
  });

  it('estimates when the secondary has staged the rounds: link, then staging of each whole object', () => {
    const state = primaryWithDirty(0);
    state.estimates.bandwidth = 2 * 1024 * 1024; // the link is twice as fast as staging
    const mib = 1024 * 1024;
    const round = (startedAt: number, bytes: number) => ({
      round: state.rounds.length + 1,
      pages: [],
      sendId: 1,
      pendingBytes: 0,
      startedAt,
      bytes,
      done: true,
    });
    state.rounds.push(round(0, 8 * mib));
    // Arrives at 4 ms, staged 4 + 8 = 12 ms.
    expect(stagedByEstimate(state, params)).toBeCloseTo(12, 6);
    state.rounds.push(round(5, 2 * mib));
    // Leaves at 5..6 ms, staged after the first: 12 + 2 = 14 ms.
    expect(stagedByEstimate(state, params)).toBeCloseTo(14, 6);
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

describe('DirtyBitmap.clearBytes', () => {
  it('clears whole bytes of pages and keeps the count', () => {
    const b = new DirtyBitmap(64);
    touch(b, [0, 7, 8, 15, 16, 63]);
    b.clearBytes(1, 2);
    expect(b.indices()).toEqual([0, 7, 16, 63]);
    expect(b.count).toBe(4);
    b.clearBytes(0, 100);
    expect(b.count).toBe(0);
  });
});
