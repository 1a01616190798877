/**
 * The adaptive plan's one pass over the regions (see adaptive.ts): the two late-phase sums, and each dirty
 * region's ln-chance and what it is under both bars the plan may pick. The bar (ln of `MIN_SURVIVAL`, or
 * ln of `BEHIND_MIN_SURVIVAL` when the late phase is behind) depends on one of those sums, so the pass sorts
 * the dirty regions under both at once: the plan then reads its bar's pages, waits and candidate regions
 * from the pass without walking the dirty regions again (before, two more passes did: qualify, then the
 * round's candidates).
 */
import { SPAN_PAGES } from '../memory/dirty-bitmap.ts';
import type { RegionModel } from './adaptive.ts';

/** Steps per unit of x, and the end, of the table of 1 − e^(−x) (beyond it the value is 1 within 1.2e-7). */
const LOST_STEPS = 64;
const LOST_END = 16;
const LOST_TABLE = Float64Array.from(
  { length: LOST_STEPS * LOST_END + 2 },
  (_, i) => 1 - Math.exp(-i / LOST_STEPS),
);

/**
 * 1 − e^(−x) for x ≥ 0 (the chance that a page with x expected writes is written at least once), from a
 * table, interpolated linearly: within 3.1e-5 of the exact value, and cheaper than an exponential per
 * region at every check. Only the late-phase byte estimate uses it; decisions compare ln-chances exactly.
 */
export function lostChance(x: number): number {
  if (!(x < LOST_END)) return 1;
  const f = x * LOST_STEPS;
  const i = f | 0;
  const a = LOST_TABLE[i] as number;
  return a + ((LOST_TABLE[i + 1] as number) - a) * (f - i);
}

/** The controller's sweep knobs and bars as the pass reads them (ln-chances: no exponential per region). */
export interface ScanKnobs {
  /** A sweep pattern older than this many intervals is forgotten. */
  sweepStale: number;
  /** Late side of a predicted sweep: this fraction of its interval… */
  sweepMargin: number;
  /** …plus this, ms of guest time. */
  sweepSlackMs: number;
  /** ln of the chance of an overdue sweep's pages. */
  lnOverdue: number;
  /** Chance that an overdue sweep's pages are written by T (1 − its survival). */
  overdueLost: number;
  /** ln of the bar when the late phase is on schedule (the "min" bar). */
  lnMin: number;
  /** ln of the bar when it is behind (the "behind" bar; lower). */
  lnBehind: number;
}

/** What the dirty regions are under one bar. */
export interface BarScan {
  /** Dirty regions whose ln-chance clears the bar, ascending (the first `count`). */
  regions: Int32Array;
  count: number;
  /** Their dirty pages. */
  pages: number;
  /** Dirty regions under the bar whose sweep is overdue (sent only in the late phase), ascending. */
  held: Int32Array;
  heldCount: number;
  /** Their dirty pages. */
  heldPages: number;
  /** True when some dirty region is under the bar. */
  waiting: boolean;
  /** Highest finite ln-chance under the bar (−∞ when none). */
  likeliest: number;
}

/** One pass's results, reused from check to check (a pass overwrites every entry a plan reads). */
export interface RegionScan {
  /** ln-chance of each dirty region's pages surviving until T (entries of clean regions are stale). */
  logChance: Float64Array;
  /** Under the "min" bar ({@link ScanKnobs.lnMin}). */
  min: BarScan;
  /** Under the "behind" bar ({@link ScanKnobs.lnBehind}). */
  behind: BarScan;
  /** True when a dirty region's sweep is due before T (its ln-chance is −∞: it may change any sample). */
  sweepDue: boolean;
  /**
   * Pages the late phase must move, in pages: dirty pages under the min bar, plus each region's clean pages
   * times their chance of a write by T.
   */
  latePages: number;
  /**
   * The rate clean random-write pages dirty again, in stored rate units × whole regions (× pages per
   * region × rate scale ÷ µHz per per-ms gives pages per ms).
   */
  cleanRate: number;
  /** The same for the dirty pages of rate regions: the rate they would dirty again once sent. */
  dirtyRate: number;
  /** The dirty pages of {@link latePages} (those not under the "min" bar). */
  dirtyLatePages: number;
  /** Dirty regions seen. */
  dirtyRegions: number;
}

function barScan(regions: number): BarScan {
  return {
    regions: new Int32Array(regions),
    count: 0,
    pages: 0,
    held: new Int32Array(regions),
    heldCount: 0,
    heldPages: 0,
    waiting: false,
    likeliest: Number.NEGATIVE_INFINITY,
  };
}

const scans = new WeakMap<RegionModel, RegionScan>();

/** The scan arrays for plans over `model` (allocating them per check cost as much as a tenth of a plan). */
export function regionScanOf(model: RegionModel): RegionScan {
  const regions = model.rate.length;
  let s = scans.get(model);
  if (!s || s.logChance.length !== regions) {
    s = {
      logChance: new Float64Array(regions),
      min: barScan(regions),
      behind: barScan(regions),
      sweepDue: false,
      latePages: 0,
      cleanRate: 0,
      dirtyRate: 0,
      dirtyLatePages: 0,
      dirtyRegions: 0,
    };
    scans.set(model, s);
  }
  return s;
}

/**
 * One pass over the regions at guest time `g` for the checkpoint `remaining` ms away, into `out`.
 * `xPerRate` is the expected writes per page by T per stored rate unit; `spans` the dirty pages per region.
 *
 * A region with no sweep history (most of a guest) is a rate region: it adds (its clean pages) × its chance
 * of a write by T to the late pages and its clean share of its rate to the clean rate — for a clean region
 * that is all, as no plan reads a clean region's entries. A dirty region also gets its ln-chance and goes to
 * each bar's list it clears (or its held list, if its sweep is overdue). The sums add the same terms in the
 * same (region) order as the passes this replaces, so the plan's figures are the same to the last bit.
 */
export function scanRegions(
  model: RegionModel,
  spans: Uint8Array,
  g: number,
  remaining: number,
  xPerRate: number,
  knobs: ScanKnobs,
  out: RegionScan,
): void {
  const { rate, sweepAt, sweepGap } = model;
  const { sweepStale, sweepMargin, sweepSlackMs, lnOverdue, overdueLost, lnMin, lnBehind } = knobs;
  const { logChance, min, behind } = out;
  const minRegions = min.regions;
  const behindRegions = behind.regions;
  const horizon = g + remaining;
  const table = LOST_TABLE;
  let latePages = 0;
  let cleanRate = 0;
  let dirtyRate = 0;
  let dirtyLatePages = 0;
  let dirtyRegions = 0;
  let minCount = 0;
  let minPages = 0;
  let minLikeliest = Number.NEGATIVE_INFINITY;
  let minWaiting = false;
  let behindCount = 0;
  let behindPages = 0;
  let behindLikeliest = Number.NEGATIVE_INFINITY;
  let behindWaiting = false;
  let sweepDue = false;
  min.heldCount = 0;
  min.heldPages = 0;
  behind.heldCount = 0;
  behind.heldPages = 0;
  const regions = rate.length;
  for (let r = 0; r < regions; r++) {
    const dirty = spans[r] as number;
    const rr = rate[r] as number;
    const last = sweepAt[r] as number;
    const gap = sweepGap[r] as number;
    const clean = SPAN_PAGES - dirty;
    let ln = 0;
    let overdue = false;
    if ((last | gap) === 0) {
      // A rate region (a zero rate adds zeros: the same sums as skipping it). `lostChance`, inlined.
      const x = rr * xPerRate;
      let lost = 1;
      if (x < LOST_END) {
        const f = x * LOST_STEPS;
        const i = f | 0;
        const a = table[i] as number;
        lost = a + ((table[i + 1] as number) - a) * (f - i);
      }
      latePages += clean * lost;
      cleanRate += (clean / SPAN_PAGES) * rr;
      if (dirty === 0) continue;
      dirtyRate += (dirty / SPAN_PAGES) * rr;
      if (rr !== 0) ln = -x;
    } else {
      let lost = 0;
      if (gap !== 0 && last !== 0 && g - last < sweepStale * gap) {
        // A live sweep pattern, as in `survival`: its pages go with its next sweep if that comes by T.
        const next = last + gap + sweepMargin * gap + sweepSlackMs;
        if (next <= horizon) {
          overdue = g > next;
          ln = overdue ? lnOverdue : Number.NEGATIVE_INFINITY;
          lost = overdue ? overdueLost : 1;
        }
      } else if (gap !== 0 && rr !== 0) {
        // A forgotten sweep pattern: judged by its rate (its clean pages are not a random writer's).
        const x = rr * xPerRate;
        ln = -x;
        lost = lostChance(x);
      }
      // Swept once (no interval yet): taken to stay as it is (ln 0, nothing lost).
      latePages += clean * lost;
      if (dirty === 0) continue;
    }
    dirtyRegions++;
    logChance[r] = ln;
    if (ln >= lnMin) {
      minRegions[minCount++] = r;
      minPages += dirty;
      behindRegions[behindCount++] = r;
      behindPages += dirty;
      continue;
    }
    latePages += dirty;
    dirtyLatePages += dirty;
    minWaiting = true;
    if (ln === Number.NEGATIVE_INFINITY) {
      sweepDue = true;
      behindWaiting = true;
      continue;
    }
    if (ln > minLikeliest) minLikeliest = ln;
    if (overdue) hold(min, r, dirty);
    if (ln >= lnBehind) {
      behindRegions[behindCount++] = r;
      behindPages += dirty;
    } else {
      behindWaiting = true;
      if (ln > behindLikeliest) behindLikeliest = ln;
      if (overdue) hold(behind, r, dirty);
    }
  }
  out.latePages = latePages;
  out.cleanRate = cleanRate;
  out.dirtyRate = dirtyRate;
  out.dirtyLatePages = dirtyLatePages;
  out.dirtyRegions = dirtyRegions;
  out.sweepDue = sweepDue;
  min.count = minCount;
  min.pages = minPages;
  min.likeliest = minLikeliest;
  min.waiting = minWaiting;
  behind.count = behindCount;
  behind.pages = behindPages;
  behind.likeliest = behindLikeliest;
  behind.waiting = behindWaiting;
}

/** Adds dirty region `r` (its sweep overdue, under the bar) to the bar's held regions. */
function hold(bar: BarScan, r: number, dirty: number): void {
  bar.held[bar.heldCount++] = r;
  bar.heldPages += dirty;
}

/**
 * The regions a round draws from under `bar`, ascending: those that clear it, and in the late phase also
 * its held ones (an overdue sweep's pages surely cross at the stop if held back). Returns the bar's own list
 * when that is all, else the merge in `into`: `count` + `heldCount` regions in the late phase, else `count`.
 */
export function candidateRegions(bar: BarScan, late: boolean, into: Int32Array): Int32Array {
  if (!late || bar.heldCount === 0) return bar.regions;
  const { regions, count, held, heldCount } = bar;
  let i = 0;
  let j = 0;
  let n = 0;
  while (i < count || j < heldCount) {
    const a = i < count ? (regions[i] as number) : Number.POSITIVE_INFINITY;
    const b = j < heldCount ? (held[j] as number) : Number.POSITIVE_INFINITY;
    if (a < b) {
      into[n++] = a;
      i++;
    } else {
      into[n++] = b;
      j++;
    }
  }
  return into;
}
