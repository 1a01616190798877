/**
 * The adaptive plan (src/engine/policy/adaptive.ts, its pass over the regions in region-scan.ts) against a
 * plain reference written from its documentation (adaptive-plan-reference.ts): on random region models and
 * dirty sets — rate regions, live, overdue, stale and once-swept sweeps, empty, partial and full regions —
 * the plan is exactly the reference's (pages, bytes, late, more, next check). The pass sorts the dirty
 * regions under both bars at once; this pins that the bar it then reads is the one the plan decides on.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DirtyBitmap } from '../../../src/engine/memory/dirty-bitmap.ts';
import { DEFAULT_PARAMS, type PolicyName } from '../../../src/engine/params.ts';
import {
  planAdaptive,
  REGION_PAGES,
  SWEEP_MARGIN,
  SWEEP_SLACK_MS,
} from '../../../src/engine/policy/adaptive.ts';
import { createPrimary } from '../../../src/engine/primary/state.ts';
import { referencePlan } from './adaptive-plan-reference.ts';

const REGIONS = 48;
const PAGES = REGIONS * REGION_PAGES;
const params = { ...DEFAULT_PARAMS, guestBytes: PAGES * 4096, policy: 'adaptive' as PolicyName };
/** Guest time of every case, ms (sweep times are drawn around it). */
const G = 200_000;

/** What one region is: its stored rate, its sweep history and its dirty pages. */
interface RegionCase {
  rate: number;
  sweep: 'none' | 'once' | 'live' | 'overdue' | 'stale' | 'gap-only';
  gap: number;
  /** Where in its interval the region is, 0..1 (live, overdue). */
  phase: number;
  dirty: 'clean' | 'full' | number[];
}

const regionCase: fc.Arbitrary<RegionCase> = fc.record({
  rate: fc.oneof(
    fc.constant(0),
    fc.integer({ min: 1, max: 100_000 }),
    fc.integer({ min: 100_000, max: 0xffff_ffff }),
  ),
  sweep: fc.oneof(
    { weight: 4, arbitrary: fc.constant('none' as const) },
    { weight: 1, arbitrary: fc.constantFrom('once', 'live', 'overdue', 'stale', 'gap-only') },
  ),
  gap: fc.integer({ min: 100, max: 40_000 }),
  phase: fc.double({ min: 0, max: 1, noNaN: true }),
  dirty: fc.oneof(
    fc.constant('clean' as const),
    fc.constant('full' as const),
    fc.uniqueArray(fc.integer({ min: 0, max: REGION_PAGES - 1 }), { minLength: 1, maxLength: REGION_PAGES }),
  ),
});

const planCase = fc.record({
  /** A hot guest (every region a fast random writer: nothing qualifies, the probe's case) or a mixed one. */
  hot: fc.oneof({ weight: 1, arbitrary: fc.constant(true) }, { weight: 4, arbitrary: fc.constant(false) }),
  regions: fc.array(regionCase, { minLength: REGIONS, maxLength: REGIONS }),
  rateScale: fc.double({ min: 0.5, max: 1, noNaN: true }),
  /** Checkpoint this far from now, ms (0: due). */
  remaining: fc.oneof(
    fc.constant(0),
    fc.integer({ min: 1, max: 20 }),
    fc.integer({ min: 1, max: 200 }),
    fc.integer({ min: 1, max: 20_000 }),
  ),
  /** The late phase's send rate, 10^rateExp bytes per ms (1 … 10^6, fast links drawn more often). */
  rateExp: fc.oneof(fc.double({ min: 0, max: 6, noNaN: true }), fc.double({ min: 4, max: 6, noNaN: true })),
  probe: fc.boolean(),
  /** A round of this many bytes still to stage (0: none). */
  backlogBytes: fc.oneof(fc.constant(0), fc.integer({ min: 1, max: 64 * 1024 * 1024 })),
  /**
   * The link's measured rate, 10^bandwidthExp bytes per ms (0: not measured yet); around the staging rate
   * (2^20 bytes per ms), so that both the link and the staging bound the rounds.
   */
  bandwidthExp: fc.oneof(fc.constant(Number.NEGATIVE_INFINITY), fc.double({ min: 5, max: 7, noNaN: true })),
});

type PlanCase = typeof planCase extends fc.Arbitrary<infer T> ? T : never;

/** A running primary at guest time {@link G} with the case's model, dirty pages and staging backlog. */
function stateOf(c: PlanCase) {
  const state = createPrimary(params);
  state.phase = 'running';
  state.vmRunning = true;
  state.guestTime = G;
  state.lastNow = G;
  state.nextCheckpointAt = G + c.remaining;
  state.estimates.bandwidth = 10 ** c.bandwidthExp;
  const model = state.regions;
  model.rateScale = c.rateScale;
  c.regions.forEach((mixed, r) => {
    const rc: RegionCase = c.hot ? { ...mixed, rate: 10_000_000 + mixed.rate, sweep: 'none' } : mixed;
    model.rate[r] = Math.min(0xffff_ffff, rc.rate);
    // A live sweep's next one is due (late side) after now, an overdue one's before now, within 2 intervals.
    const since = Math.floor(rc.phase * rc.gap);
    const slack = SWEEP_MARGIN * rc.gap + SWEEP_SLACK_MS;
    const overdueSince = Math.min(2 * rc.gap - 1, rc.gap + Math.ceil(slack) + 1 + since);
    switch (rc.sweep) {
      case 'none':
        break;
      case 'once':
        model.sweepAt[r] = G - since;
        break;
      case 'live':
        model.sweepAt[r] = G - since;
        model.sweepGap[r] = rc.gap;
        break;
      case 'overdue':
        model.sweepAt[r] = G - overdueSince;
        model.sweepGap[r] = rc.gap;
        break;
      case 'stale':
        model.sweepAt[r] = G - 2 * rc.gap - since;
        model.sweepGap[r] = rc.gap;
        break;
      case 'gap-only':
        model.sweepGap[r] = rc.gap;
        break;
    }
    const pages =
      rc.dirty === 'clean' ? [] : rc.dirty === 'full' ? [...Array(REGION_PAGES).keys()] : rc.dirty;
    for (const p of pages) state.dirty.set(r * REGION_PAGES + p);
  });
  if (c.backlogBytes > 0) {
    state.rounds.push({
      round: 1,
      pages: [],
      sendId: 1,
      pendingBytes: 0,
      startedAt: G - 1,
      bytes: c.backlogBytes,
      done: false,
    });
  }
  return state;
}

describe('adaptive plan against its plain reference', () => {
  it('plans exactly what the reference plans, on every branch', () => {
    const seen = {
      behind: 0,
      draining: 0,
      onSchedule: 0,
      late: 0,
      early: 0,
      probed: 0,
      tookHeld: 0,
      cut: 0,
      sent: 0,
      stagingBound: 0,
      linkBound: 0,
      paced: 0,
    };
    fc.assert(
      fc.property(planCase, (c) => {
        const state = stateOf(c);
        const rate = 10 ** c.rateExp;
        const now = G;
        const want = referencePlan(state, params, now, rate, c.probe);
        const got = planAdaptive(state, params, now, rate, c.probe);
        expect(got).toEqual(want.plan);
        seen[want.behind ? 'behind' : 'onSchedule']++;
        if (want.draining) seen.draining++;
        seen[want.plan.late ? 'late' : 'early']++;
        if (want.probed) seen.probed++;
        if (want.tookHeld) seen.tookHeld++;
        if (want.cut) seen.cut++;
        seen[want.stagingBound ? 'stagingBound' : 'linkBound']++;
        if (want.paced) seen.paced++;
        if (want.plan.pages.length > 0) seen.sent++;
      }),
      { numRuns: 1500, seed: 0x5eed_0021 },
    );
    // Every branch was taken (the cases reach all three bars, both phases, the probe, held sweeps, cut rounds,
    // both margins and paced rounds).
    for (const [branch, n] of Object.entries(seen)) expect(n, branch).toBeGreaterThan(10);
  });
});

describe('a round lists its regions page by page', () => {
  // Regions inside the guest are read as two 32-bit words of the dirty bitmap; the guest's last, partial
  // region and a bitmap whose bytes are not 4-byte aligned byte by byte. Either way: every dirty page of the
  // regions taken, ascending, none beyond the guest.
  const pages = 20 * REGION_PAGES + 37;
  const guest = { ...DEFAULT_PARAMS, guestBytes: pages * 4096, policy: 'adaptive' as PolicyName };
  const dirtyPages = Array.from({ length: pages }, (_, p) => p).filter((p) => p % 3 !== 1 || p >= pages - 30);

  it.each([
    ['aligned', 0],
    ['unaligned', 1],
  ])('%s bitmap', (_name, offset) => {
    const state = createPrimary(guest);
    const bytes = Math.ceil(pages / 8);
    state.dirty = new DirtyBitmap(pages, new Uint8Array(bytes + offset).subarray(offset));
    for (const p of dirtyPages) state.dirty.set(p);
    state.vmRunning = true;
    state.guestTime = G;
    state.lastNow = G;
    state.nextCheckpointAt = G + 20_000;
    // A fast link and a far checkpoint: not late, so every qualifying page (rate 0: all of them) goes at once.
    const plan = planAdaptive(state, guest, G, 1e6);
    expect(plan.late).toBe(false);
    expect(plan.pages).toEqual(dirtyPages);
  });
});
