/**
 * A plain reference for the adaptive plan (src/engine/policy/adaptive.ts), written from its documentation:
 * one loop per step, a full sort where the engine draws from a heap, fresh arrays everywhere. The engine's
 * plan must give exactly what this gives (test/unit/engine/adaptive-plan.test.ts). Its late-phase sums add
 * the same terms in the same region order as the engine, so they agree to the last bit.
 */

import type { ColoParams } from '../../../src/engine/params.ts';
import { PAGE_HEADER_WIRE_BYTES } from '../../../src/engine/params.ts';
import {
  type AdaptivePlan,
  BEHIND_FACTOR,
  BEHIND_MIN_SURVIVAL,
  DRAIN_MIN_SURVIVAL,
  LATE_CHECK_MAX_MS,
  LATE_CHECK_MIN_MS,
  LATE_CHECK_MS,
  LATE_CHECK_SHARE,
  LATE_ROUND_BYTES,
  LEAD_FACTOR,
  LEAD_MARGIN_MS,
  lostChance,
  MAX_DRAIN_SHARE,
  MAX_REDIRTY_SHARE,
  MIN_EARLY_ROUND_BYTES,
  MIN_PACE_WAIT_MS,
  MIN_SURVIVAL,
  OVERDUE_SURVIVAL,
  PROBE_PAGES,
  REGION_PAGES,
  SAMPLE_PERIOD_MS,
  STAGE_AHEAD_MS,
  STAGED_BEHIND_FACTOR,
  SWEEP_MARGIN,
  SWEEP_SLACK_MS,
  SWEEP_STALE,
  stagedByEstimate,
} from '../../../src/engine/policy/adaptive.ts';
import type { PrimaryState } from '../../../src/engine/primary/state.ts';
import { PAGE_SIZE } from '../../../src/engine/protocol/delta.ts';

/** Stored rates are µHz: writes per 10^6 s, so a per-ms rate is the stored one ÷ 10^9. */
const MICRO_HZ_PER_PER_MS = 1e9;

/** The reference plan, and which of its branches it took (for the test's coverage). */
export interface ReferencePlan {
  plan: AdaptivePlan;
  /** The late phase was behind: the bar was BEHIND_MIN_SURVIVAL (or DRAIN_MIN_SURVIVAL, draining). */
  behind: boolean;
  /** The dirty pages alone were behind: the bar was DRAIN_MIN_SURVIVAL. */
  draining: boolean;
  /** The probe round was sent. */
  probed: boolean;
  /** A late round took overdue sweeps' regions held back under the bar. */
  tookHeld: boolean;
  /** The round was drawn likeliest first (more qualified than it carries). */
  cut: boolean;
  /** The link was measured faster than the staging: the margin was STAGED_BEHIND_FACTOR. */
  stagingBound: boolean;
  /** A late round waited for the staging (paced). */
  paced: boolean;
}

/** The plan of `planAdaptive(state, params, now, rateBytesPerMs, probe)`, computed plainly. */
export function referencePlan(
  state: PrimaryState,
  params: ColoParams,
  now: number,
  rateBytesPerMs: number,
  probe: boolean,
): ReferencePlan {
  const model = state.regions;
  const regions = model.rate.length;
  const remaining = Math.max(0, state.nextCheckpointAt - now);
  const pageBytes = PAGE_SIZE + PAGE_HEADER_WIRE_BYTES;
  const g = state.guestTime;
  const xPerRate = (remaining / MICRO_HZ_PER_PER_MS) * model.rateScale;
  const lnMin = Math.log(MIN_SURVIVAL);
  const lnBehind = Math.log(BEHIND_MIN_SURVIVAL);
  const ln = new Float64Array(regions);
  const overdue = new Uint8Array(regions);
  const dirtyRegions: number[] = [];
  let latePages = 0;
  let cleanRate = 0;
  let dirtyRate = 0;
  let dirtyLatePages = 0;
  for (let r = 0; r < regions; r++) {
    const dirty = state.dirty.spanCount(r);
    const rr = model.rate[r] ?? 0;
    const last = model.sweepAt[r] ?? 0;
    const gap = model.sweepGap[r] ?? 0;
    let chance = 0;
    let lost = 0;
    if (gap !== 0 && last !== 0 && g - last < SWEEP_STALE * gap) {
      const next = last + gap + SWEEP_MARGIN * gap + SWEEP_SLACK_MS;
      if (next <= g + remaining) {
        overdue[r] = g > next ? 1 : 0;
        chance = overdue[r] ? Math.log(OVERDUE_SURVIVAL) : Number.NEGATIVE_INFINITY;
        lost = overdue[r] ? 1 - OVERDUE_SURVIVAL : 1;
      }
    } else if (gap === 0 && last !== 0) {
      // Swept once: stays as it is.
    } else if (rr !== 0) {
      const x = rr * xPerRate;
      chance = -x;
      lost = lostChance(x);
      if (gap === 0) cleanRate += ((REGION_PAGES - dirty) / REGION_PAGES) * rr;
      if (gap === 0 && dirty > 0) dirtyRate += (dirty / REGION_PAGES) * rr;
    }
    latePages += (REGION_PAGES - dirty) * lost;
    if (dirty === 0) continue;
    ln[r] = chance;
    dirtyRegions.push(r);
    if (chance < lnMin) {
      latePages += dirty;
      dirtyLatePages += dirty;
    }
  }
  const lateBytes = latePages * pageBytes;
  const writeBytesPerMs = ((cleanRate * REGION_PAGES * model.rateScale) / MICRO_HZ_PER_PER_MS) * pageBytes;
  const gain = Math.max(rateBytesPerMs * (1 - MAX_REDIRTY_SHARE), rateBytesPerMs - writeBytesPerMs);
  // Draining: the dirty pages not clearing MIN_SURVIVAL, sent at `gain` while each one sent is written again
  // at its region's rate, take (D / c) · −ln(1 − y) / y, y = their rewrite rate ÷ gain (capped).
  const redirty = ((dirtyRate * REGION_PAGES * model.rateScale) / MICRO_HZ_PER_PER_MS) * pageBytes;
  const y = Math.min(MAX_DRAIN_SHARE, Math.max(0, redirty / gain));
  const factor = y > 0 ? -Math.log1p(-y) / y : 1;
  // The staging, not the link, sets the rate when the link is measured faster: the smaller margin.
  const link = state.estimates.bandwidth;
  const stagingBound = link > params.costs.applyBytesPerMs;
  const margin = stagingBound ? STAGED_BEHIND_FACTOR : BEHIND_FACTOR;
  const draining = remaining < ((dirtyLatePages * pageBytes) / gain) * factor * margin;
  const behind = draining || !(remaining >= (lateBytes / gain) * margin);
  const lnLower = draining ? Math.log(DRAIN_MIN_SURVIVAL) : lnBehind;
  const bar = behind ? lnLower : lnMin;
  const clears = dirtyRegions.filter((r) => (ln[r] as number) >= bar);
  const held = dirtyRegions.filter((r) => (ln[r] as number) < bar && overdue[r] === 1);
  const under = dirtyRegions.filter((r) => (ln[r] as number) < bar);
  const pagesOf = (rs: number[]) => rs.reduce((a, r) => a + state.dirty.spanCount(r), 0);
  const qualifyingPages = pagesOf(clears);
  const result = (plan: AdaptivePlan, more: Partial<ReferencePlan> = {}): ReferencePlan => ({
    plan,
    behind,
    draining,
    probed: false,
    tookHeld: false,
    cut: false,
    stagingBound,
    paced: false,
    ...more,
  });
  if (probe && qualifyingPages === 0 && state.dirty.count > 0) {
    const best = state.dirty
      .indices()
      .sort((a, b) => (ln[b >> 6] as number) - (ln[a >> 6] as number) || a - b)
      .slice(0, PROBE_PAGES)
      .sort((a, b) => a - b);
    const plan = {
      pages: best,
      bytes: best.length * pageBytes,
      late: false,
      more: false,
      nextCheckAt: now + params.pendingCheckIntervalMs,
    };
    return result(plan, { probed: true });
  }
  const backlog = Math.max(0, stagedByEstimate(state, params) - now);
  const qualifying = qualifyingPages * pageBytes;
  const lead = ((lateBytes + qualifying) / gain) * LEAD_FACTOR + LEAD_MARGIN_MS + backlog;
  const lateFrom = state.nextCheckpointAt - lead;
  const late = now >= lateFrom;
  // The wait until the likeliest region under the bar could clear the lower bar.
  let wait = Number.POSITIVE_INFINITY;
  if (under.length > 0) {
    const finite = under.map((r) => ln[r] as number).filter((c) => c !== Number.NEGATIVE_INFINITY);
    wait = finite.length < under.length ? 0 : Math.max(0, remaining * (1 - lnLower / Math.max(...finite)));
  }
  const idle = qualifyingPages === 0 && held.length === 0;
  const busyGap = Math.max(LATE_CHECK_MS, Math.min(LATE_CHECK_MAX_MS, remaining * LATE_CHECK_SHARE));
  const lateGap = idle ? Math.max(busyGap, Math.min(SAMPLE_PERIOD_MS, wait)) : busyGap;
  const period = params.pendingCheckIntervalMs;
  const nextCheckAt = late
    ? now + Math.min(period, lateGap, Math.max(LATE_CHECK_MIN_MS, remaining / 2))
    : Math.min(now + Math.min(period, SAMPLE_PERIOD_MS), lateFrom);
  if (!late && qualifying < MIN_EARLY_ROUND_BYTES) {
    return result({ pages: [], bytes: 0, late, more: false, nextCheckAt });
  }
  const candidates = late ? [...clears, ...held].sort((a, b) => a - b) : clears;
  const tookHeld = late && held.length > 0;
  const lateRound = Math.max(LATE_ROUND_BYTES, rateBytesPerMs * remaining * LATE_CHECK_SHARE);
  const most = late ? Math.max(1, Math.floor(lateRound / pageBytes)) : Number.POSITIVE_INFINITY;
  // Paced (staging-bound links only): a late round with pages waits while the secondary has more to stage
  // than the round takes to cross the link plus STAGE_AHEAD_MS, if that wait is at least MIN_PACE_WAIT_MS.
  const total = pagesOf(candidates);
  if (late && stagingBound && total > 0) {
    const wait = backlog - ((Math.min(total, most) * pageBytes) / link + STAGE_AHEAD_MS);
    if (wait >= MIN_PACE_WAIT_MS) {
      const plan = { pages: [], bytes: 0, late, more: false, nextCheckAt: Math.min(nextCheckAt, now + wait) };
      return result(plan, { paced: true });
    }
  }
  const pagesIn = (r: number) => state.dirty.indices().filter((p) => Math.floor(p / REGION_PAGES) === r);
  if (total <= most) {
    const pages = candidates.flatMap(pagesIn);
    return result({ pages, bytes: pages.length * pageBytes, late, more: false, nextCheckAt }, { tookHeld });
  }
  // Likeliest first (highest ln-chance, then lowest region) until the round is full.
  const order = [...candidates].sort((a, b) => (ln[b] as number) - (ln[a] as number) || a - b);
  const taken: { r: number; n: number }[] = [];
  let room = most;
  for (const r of order) {
    if (room <= 0) break;
    const d = state.dirty.spanCount(r);
    taken.push({ r, n: Math.min(d, room) });
    room -= Math.min(d, room);
  }
  const pages = taken.sort((a, b) => a.r - b.r).flatMap(({ r, n }) => pagesIn(r).slice(0, n));
  return result(
    { pages, bytes: pages.length * pageBytes, late, more: true, nextCheckAt },
    { tookHeld, cut: true },
  );
}
