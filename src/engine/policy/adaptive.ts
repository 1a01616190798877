/**
 * The `adaptive` policy's controller. It learns, per region of guest RAM, how the guest rewrites it, and
 * sends a dirty page in the background only when that page is likely to stay clean until the checkpoint —
 * so that what is left at the stop is what a clairvoyant policy would leave, and little is sent twice.
 *
 * What it learns, at every check (at least every {@link SAMPLE_PERIOD_MS}, also while a round is in
 * flight), from the pages written since the previous sample (the `touched` bitmap), per region of
 * {@link REGION_PAGES} pages, in guest running time (the workload's clock):
 * - a **write rate** per page (Poisson): from the fraction f of the region's pages touched over the sample's
 *   Δ ms, λ = −ln(1 − f) / Δ, folded into an EWMA whose weight grows with Δ ({@link RATE_HORIZON_MS});
 * - **sweeps**: a sample that touched at least {@link SWEEP_FRACTION} of the region is a sweep (a sequential
 *   stream, a file's page cache rewritten front to back), timed to the middle of its sample; the region keeps
 *   the time of its last sweep and an EWMA ({@link SWEEP_GAP_WEIGHT}) of the interval between sweeps. A
 *   sweep caught part-way (the touched pages are one run at an edge of the region) is held for the next
 *   sample, which sees it whole.
 *
 * How it decides, for the checkpoint due at T (guest time), the chance that a dirty page survives — is not
 * written again — until T: a region swept recently (within {@link SWEEP_STALE} intervals) is rewritten at
 * its next sweep, expected its interval after the last plus {@link SWEEP_MARGIN} of it and
 * {@link SWEEP_SLACK_MS} (the late side: a page sent before a sweep costs bytes, one held back costs
 * downtime), so its pages survive (1) if that sweep falls after T and do not (0) otherwise; a sweep that is
 * overdue (its interval was learned short) gets {@link OVERDUE_SURVIVAL}, and its pages go in the late
 * phase. Any other region's pages survive with probability exp(−λ · (T − now)). A check sends the dirty
 * pages whose chance is at least {@link MIN_SURVIVAL}: far from T the cold pages only; near T, as the
 * remaining time shrinks, hot pages qualify too. When the late phase is behind schedule the bar drops to
 * {@link BEHIND_MIN_SURVIVAL}: sending a page that may be rewritten beats leaving it for the stop. When the
 * dirty pages alone are behind — a hot set whose rewrites take most of the link, so that each page sent is
 * likely dirty again before the set has gone once ({@link drainFactor}) — it drops to
 * {@link DRAIN_MIN_SURVIVAL}, so that the set starts draining about its drain time before T. Behind means
 * needing longer than the time left ÷ {@link BEHIND_FACTOR}, or ÷ {@link STAGED_BEHIND_FACTOR} when the
 * secondary's staging, not the link, sets the rate (the link is measured faster than the staging).
 *
 * When: outside the late phase a check sends only rounds of at least {@link MIN_EARLY_ROUND_BYTES}. The late
 * phase starts at T − lead, lead = (bytes still to send: qualifying now, dirty but held, and expected to be
 * written by T) ÷ (the slower of link and staging, less the rate clean random-write pages dirty again, at
 * least 1 − {@link MAX_REDIRTY_SHARE} of it) × {@link LEAD_FACTOR} + {@link LEAD_MARGIN_MS} + what the
 * secondary has yet to stage ({@link stagedByEstimate}). From then on rounds carry at most
 * {@link LATE_ROUND_BYTES} (the secondary stages an object only once it has arrived whole, so a big round
 * near T leaves its staging for the stop), a check runs at most {@link LATE_CHECK_MS} after the last,
 * halving the time left down to {@link LATE_CHECK_MIN_MS}, and right after a round only when that round was
 * cut and more qualifying pages wait ({@link AdaptivePlan.more}), so the last rounds carry what was written
 * during the previous gap, like pre-copy live migration, and end as T comes. On a link faster than the
 * staging a late round also waits while the secondary has more than it needs still to stage
 * ({@link STAGE_AHEAD_MS}): sent back to back, rounds would only queue there, their pages sent earlier than
 * the staging can take them. Rounds are never switched off wholesale: a page that qualifies is always sent
 * (on such a link, as soon as the staging has room), one that does not waits.
 *
 * Cost: a sample writes only the touched regions' rates: every rate decays at once through the model's
 * {@link RegionModel.rateScale}, folded into the stored rates (one pass) only every τ·ln 2 ≈ 3.5 s of guest
 * time. A plan makes one pass over the regions (region-scan.ts) that reads each region's counts, computes and
 * writes only for the dirty regions and those with a sweep history (a clean region adds to two sums), files
 * each dirty region under both bars at once (which applies depends on a sum of the same pass), and decides on
 * ln-chances (no exponential per region); a late round cut short finds its last region by a weighted
 * selection (round-cut.ts); see docs/architecture.md, "What a check costs".
 */
import { type DirtyBitmap, SPAN_PAGES } from '../memory/dirty-bitmap.ts';
import { type ColoParams, PAGE_HEADER_WIRE_BYTES } from '../params.ts';
import type { PrimaryState } from '../primary/state.ts';
import { PAGE_SIZE } from '../protocol/delta.ts';
import { type BarScan, candidateRegions, regionScanOf, type ScanKnobs, scanRegions } from './region-scan.ts';
import { likelierFirst, roundCut } from './round-cut.ts';

export { lostChance } from './region-scan.ts';

/** Pages per learning region (64 pages = 256 KiB: one 8-byte word of a dirty bitmap). */
export const REGION_PAGES = 64;
/** A page is sent in the background only if its chance of staying clean until the checkpoint is this. */
export const MIN_SURVIVAL = 0.95;
/**
 * The bar a page's chance must clear instead of {@link MIN_SURVIVAL} when the late phase is behind schedule:
 * the bytes still to move need longer than the time left ÷ {@link BEHIND_FACTOR}.
 */
export const BEHIND_MIN_SURVIVAL = 0.5;
/** Behind schedule: what is left to move would take longer than the time left ÷ this. */
export const BEHIND_FACTOR = 1.2;
/**
 * {@link BEHIND_FACTOR} when the secondary's staging, not the link, sets the rate rounds leave at (the link's
 * measured rate is above `costs.applyBytesPerMs`: 10 and 25 Gbit/s in the bench). Late rounds are then paced
 * to the staging ({@link STAGE_AHEAD_MS}) and the late phase's need is short (~130 ms for the buffered-IO hot
 * set): 20 % of it sends the set ~25 ms earlier than it has to go, and each ms earlier is ~20 more of its
 * pages written again before T. On that load (seeds 1–9) 1.1 sends at most 4.3 % more bytes than `none` at
 * 25 Gbit/s and 4.5 % at 10 Gbit/s, p99 within 1.01× and 1.04× the floor (1.2, paced: 4.8 % and 4.8 %, seeds
 * 1–3); 1.05 sends 3.8 % and 4.2 % within 1.03×, but 1.03 leaves 1.12× the floor on a 10 Gbit/s seed and 1.0
 * 1.10×: 1.1 keeps a margin from that edge. A slower link keeps {@link BEHIND_FACTOR} (its drains are long).
 */
export const STAGED_BEHIND_FACTOR = 1.1;
/**
 * The bar while **draining**: the dirty pages that do not clear {@link MIN_SURVIVAL} need longer than the time
 * left ÷ {@link BEHIND_FACTOR} (or {@link STAGED_BEHIND_FACTOR}) to leave, counting that each one sent may be written again at its region's rate
 * ({@link drainFactor}). A hot set whose rewrites take most of the link (a page cache rewritten at 2/3 of a
 * 1 Gbit/s link) converges only when it starts going about its drain time before T, when its pages' chances
 * are still below {@link BEHIND_MIN_SURVIVAL}. On that load 0.4 reaches 1.06× the floor with 54 % more bytes
 * than `none`, a margin below the edge (0.43: 47 %; 0.45 starts too late and leaves 1.6× the floor; 0.35: 58 %).
 */
export const DRAIN_MIN_SURVIVAL = 0.4;
/** Largest share of the send rate the drain's rewrites are taken to eat ({@link drainFactor} is finite). */
export const MAX_DRAIN_SHARE = 0.95;
/** Time constant of the write-rate EWMA, ms of guest time (a sample of Δ ms weighs 1 − e^(−Δ/τ)). */
export const RATE_HORIZON_MS = 5000;
/**
 * A sample shorter than this, ms of guest time, teaches nothing (its pages keep accumulating). Short samples
 * are otherwise fine: a rate sample of Δ ms weighs 1 − e^(−Δ/τ), and a sweep is timed to its sample.
 */
export const MIN_SAMPLE_MS = 2;
/** Weight of a new interval in a region's sweep-interval EWMA (small: sampling jitters each interval). */
export const SWEEP_GAP_WEIGHT = 0.25;
/** A sample touching at least this fraction of a region is a sweep. */
export const SWEEP_FRACTION = 0.9;
/**
 * A region's next sweep is expected its learned interval after its last one, plus this fraction of the
 * interval and {@link SWEEP_SLACK_MS}: the late side, because a learned interval is off by a sample or so
 * either way, and a page sent before a sweep that comes anyway costs bytes, while one held back by an
 * interval learned too short costs downtime.
 */
export const SWEEP_MARGIN = 0.01;
/** Fixed part of the late side of a predicted sweep, ms of guest time. */
export const SWEEP_SLACK_MS = 20;
/** Chance given to the pages of a region whose sweep is overdue (its learned interval was too short). */
export const OVERDUE_SURVIVAL = 0.5;
/** A sweep pattern older than this many sweep intervals is forgotten (the region is judged by its rate). */
export const SWEEP_STALE = 2;
/** Safety factor on the time the late phase needs. */
export const LEAD_FACTOR = 1.5;
/** Extra time the late phase starts early, ms (round trips, decisions between rounds). */
export const LEAD_MARGIN_MS = 20;
/**
 * Longest gap between checks outside the late phase, and in it while nothing qualifies, ms (at most the
 * seed's check period): a sweep is timed to the sample that sees it, so this bounds the error of a learned
 * sweep time.
 */
export const SAMPLE_PERIOD_MS = 250;
/** Gap between checks in the late phase, ms (a check also runs right after each late round). */
export const LATE_CHECK_MS = 20;
/**
 * Far from the checkpoint a late check waits this share of the time left instead of {@link LATE_CHECK_MS}
 * (up to {@link LATE_CHECK_MAX_MS}), and its round may carry what the link moves in that share: a page
 * qualifies there by its chance over all the time left, so checking more often only splits the same bytes
 * into more rounds (each costs a check over every region, a message and an object).
 */
export const LATE_CHECK_SHARE = 1 / 32;
/** Longest gap between late checks that still find pages to send, ms. */
export const LATE_CHECK_MAX_MS = 50;
/** Shortest gap between late checks, ms: they halve the time left, down to this, as the checkpoint nears. */
export const LATE_CHECK_MIN_MS = 2;
/** Largest late round, bytes (the secondary stages a round only once it has arrived whole). */
export const LATE_ROUND_BYTES = 4 * 1024 * 1024;
/**
 * A late round waits while the secondary has more than this, ms, plus the time the round takes to cross the
 * link, still to stage ({@link stagedByEstimate}): on a link faster than the staging, rounds sent back to back
 * only queue there, and their pages, sent earlier than the staging can take them, are more often written
 * again. Paced, a round arrives as the staging frees and the staging is as busy as before.
 */
export const STAGE_AHEAD_MS = 2;
/** A paced round waits only when it would wait at least this long, ms (shorter waits only add checks). */
export const MIN_PACE_WAIT_MS = 0.5;
/**
 * Most of the send rate the guest's rewrites of clean pages are taken to eat when the late phase is sized
 * (a guest dirtying faster than the link sends would otherwise make the late phase endless).
 */
export const MAX_REDIRTY_SHARE = 0.9;
/** Pages of the probe round that measures the link while the rate is unknown (1 024 pages = 4 MiB). */
export const PROBE_PAGES = 1024;
/** Outside the late phase, a round smaller than this waits for more, bytes. */
export const MIN_EARLY_ROUND_BYTES = 1024 * 1024;
/** Write rates are stored per page in micro-hertz of guest time (writes per 10^6 s). */
const MICRO_HZ_PER_PER_MS = 1e9;

/** What the adaptive policy learns per region; kept in the primary's state (serialisable). */
export interface RegionModel {
  /**
   * Per-page write rate of each region divided by {@link RegionModel.rateScale}: the rate is
   * `rate[r] × rateScale` writes per 10^6 s of guest time ({@link regionRate}).
   */
  rate: Uint32Array;
  /** Guest time of each region's last sweep, ms (0 = never). */
  sweepAt: Uint32Array;
  /** EWMA of the interval between a region's sweeps, ms of guest time (0 = unknown). */
  sweepGap: Uint32Array;
  /** Guest time of the last sample, ms. */
  sampledAt: number;
  /** Samples taken (the first one replaces the zero start). */
  samples: number;
  /**
   * What every stored rate is multiplied by: a sample decays every region's rate at once by scaling this,
   * not each rate, and folds it into the rates when it would fall below {@link MIN_RATE_SCALE}; so it is in
   * [{@link MIN_RATE_SCALE}, 1] after a sample (a loaded state may hold any value in (0, 1]).
   */
  rateScale: number;
}

/**
 * The lowest {@link RegionModel.rateScale} kept: below it the scale is folded into every stored rate (one
 * pass over the regions every τ·ln 2 ≈ 3.5 s of guest time instead of at every sample). A stored rate is
 * then at most twice the rate, so the µHz of a u32 still hold any rate a sample can give.
 */
export const MIN_RATE_SCALE = 0.5;

/** Region `r`'s per-page write rate, writes per 10^6 s of guest time (µHz). */
export function regionRate(model: RegionModel, r: number): number {
  return (model.rate[r] ?? 0) * model.rateScale;
}

/** A fresh model for a guest of `pages` pages. */
export function createRegionModel(pages: number): RegionModel {
  const regions = Math.ceil(pages / REGION_PAGES);
  return {
    rate: new Uint32Array(regions),
    sweepAt: new Uint32Array(regions),
    sweepGap: new Uint32Array(regions),
    sampledAt: 0,
    samples: 0,
    rateScale: 1,
  };
}

const REGION_BYTES = REGION_PAGES / 8;
// A region is one span of the dirty bitmaps, whose set pages they count as bits change.
if (REGION_PAGES !== SPAN_PAGES) throw new Error("adaptive regions must be the dirty bitmaps' spans");

/**
 * Writes the set pages of region `r` of a bitmap over `size` pages into `out` from index `at`, ascending;
 * returns the index after the last one written. `words` is the bitmap as 32-bit words (little-endian: bit k
 * of word w is page 32·w + k), or undefined when its bytes are not 4-byte aligned: a whole region inside
 * both the guest and the bitmap is then two words, not eight bytes (a round lists hundreds of regions per
 * check); any other goes byte by byte.
 */
function regionPages(
  bits: Uint8Array,
  words: Uint32Array | undefined,
  size: number,
  r: number,
  out: number[],
  at: number,
): number {
  let n = at;
  if (words !== undefined && (r + 1) * REGION_PAGES <= size && 2 * r + 2 <= words.length) {
    for (let w = 2 * r; w < 2 * r + 2; w++) {
      let x = words[w] as number;
      const base = w * 32;
      while (x !== 0) {
        const low = x & -x;
        out[n++] = base + (31 - Math.clz32(low));
        x ^= low;
      }
    }
    return n;
  }
  const end = Math.min(bits.length, (r + 1) * REGION_BYTES);
  for (let b = r * REGION_BYTES; b < end; b++) {
    let x = bits[b] ?? 0;
    while (x) {
      const low = x & -x;
      const p = b * 8 + (31 - Math.clz32(low));
      if (p < size) out[n++] = p;
      x ^= low;
    }
  }
  return n;
}

/** `bits` as 32-bit words over the same memory, or undefined when it is not 4-byte aligned. */
function wordsOf(bits: Uint8Array): Uint32Array | undefined {
  return bits.byteOffset % 4 === 0
    ? new Uint32Array(bits.buffer, bits.byteOffset, bits.byteLength >>> 2)
    : undefined;
}

/**
 * True when the `n` set pages of region `r` are one run at an edge of the region (its first or its last `n`
 * pages): a sequential writer part-way through the region when the sample was taken.
 */
function edgeRun(bits: Uint8Array, r: number, n: number): boolean {
  const base = r * REGION_BYTES;
  const full = n >> 3;
  const rem = n & 7;
  let prefix = true;
  let suffix = true;
  for (let i = 0; i < full; i++) {
    if (bits[base + i] !== 0xff) prefix = false;
    if (bits[base + REGION_BYTES - 1 - i] !== 0xff) suffix = false;
  }
  if (rem) {
    if (bits[base + full] !== (1 << rem) - 1) prefix = false;
    if (bits[base + REGION_BYTES - 1 - full] !== ((0xff << (8 - rem)) & 0xff)) suffix = false;
  }
  return prefix || suffix;
}

/**
 * Folds the pages written since the last sample into the model, if at least {@link MIN_SAMPLE_MS} of guest
 * time passed, and clears `touched`. A region with a sweep history whose touched pages are one run at an
 * edge is a sweep in progress: its pages stay in `touched` for the next sample, which sees the sweep whole
 * (samples come every few ms in the late phase, so a sweep often straddles two). Returns true if a sample
 * was taken. Every rate decays by the sample's factor through {@link RegionModel.rateScale}: only the
 * touched regions' stored rates are written, and all of them only when the scale is folded.
 */
export function sampleRegions(model: RegionModel, touched: DirtyBitmap, guestNow: number): boolean {
  const dt = guestNow - model.sampledAt;
  if (dt < MIN_SAMPLE_MS) return false;
  const first = model.samples === 0;
  const keep = first ? 0 : Math.exp(-dt / RATE_HORIZON_MS);
  const weight = 1 - keep;
  const { rate } = model;
  const spans = touched.spanCounts;
  const regions = rate.length;
  // Every rate decays by `keep` (an untouched region's sample is a rate of 0): the scale does it for all.
  const before = model.rateScale;
  let after = before * keep;
  if (!(after >= MIN_RATE_SCALE)) {
    // Fold the decayed scale into the untouched regions' rates; the touched ones are rewritten below from
    // their rate before this sample, in units of the new scale (1).
    for (let r = 0; r < regions; r++) {
      const u = rate[r] as number;
      if (u !== 0 && spans[r] === 0) rate[r] = storedRate(u * after);
    }
    after = 1;
  }
  model.rateScale = after;
  if (touched.count !== 0) foldTouched(model, touched, guestNow, dt, before, after, weight);
  model.sampledAt = guestNow;
  model.samples++;
  return true;
}

/**
 * The touched regions' part of a sample (see {@link sampleRegions}): each region's new rate, or its sweep,
 * stored in units of the scale `after` (`before` was the scale its stored rate was in); then `touched` is
 * cleared but for the sweeps held for the next sample.
 */
function foldTouched(
  model: RegionModel,
  touched: DirtyBitmap,
  guestNow: number,
  dt: number,
  before: number,
  after: number,
  weight: number,
): void {
  const { rate, sweepAt, sweepGap } = model;
  const bits = touched.bits;
  const spans = touched.spanCounts;
  const held: number[] = [];
  // A rate that stays as it is (a sweep, a held region) is its stored rate × `toAfter`; a sampled one is
  // the EWMA, its stored rate × `oldShare` plus the sample's part for its touched-page count.
  const toAfter = before / after;
  const oldShare = (before * (1 - weight)) / after;
  const samplePart = samplePartScratch;
  const perDt = (MICRO_HZ_PER_PER_MS / dt) * (weight / after);
  for (let n = 0; n < SWEEP_PAGES; n++) samplePart[n] = (TOUCHED_LOG[n] as number) * perDt;
  const seen = touchedScratch(rate.length);
  let seenCount = 0;
  const regions = rate.length;
  for (let r = 0; r < regions; r++) {
    const n = spans[r] as number;
    if (n === 0) continue;
    seen[seenCount++] = r;
    const old = rate[r] as number;
    if (n < SWEEP_PAGES) {
      if ((sweepAt[r] ?? 0) > 0 && edgeRun(bits, r, n)) {
        held.push(r);
        if (old !== 0 && toAfter !== 1) rate[r] = storedRate(old * toAfter);
        continue;
      }
      // The EWMA: the rate decayed by the sample, plus its weight times the sample's rate.
      rate[r] = storedRate(old * oldShare + (samplePart[n] as number));
    } else {
      // A sweep times the region's rewrites; it is not a sample of its random-write rate, which stays.
      if (old !== 0 && toAfter !== 1) rate[r] = storedRate(old * toAfter);
      // Timed to the middle of the sample: the sweep happened somewhere in it.
      const at = Math.max(1, Math.round((model.sampledAt + guestNow) / 2));
      const last = sweepAt[r] ?? 0;
      if (last > 0) {
        const gap = at - last;
        const g = sweepGap[r] ?? 0;
        sweepGap[r] = Math.max(1, Math.round(g === 0 ? gap : g + SWEEP_GAP_WEIGHT * (gap - g)));
      }
      sweepAt[r] = at;
    }
  }
  if (held.length === 0) {
    touched.reset();
  } else if (seenCount * REGION_BYTES * 4 < bits.length) {
    // Few regions touched (a sweep in progress is the common case of a held region): clear just those,
    // not every byte of the bitmap. The same bits end up clear either way.
    let h = 0;
    for (let i = 0; i < seenCount; i++) {
      const r = seen[i] as number;
      if (held[h] === r) {
        h++;
        continue;
      }
      touched.clearBytes(r * REGION_BYTES, (r + 1) * REGION_BYTES);
    }
  } else {
    let from = 0;
    for (const r of held) {
      touched.clearBytes(from, r * REGION_BYTES);
      from = (r + 1) * REGION_BYTES;
    }
    touched.clearBytes(from, bits.length);
  }
}

/**
 * −ln(1 − f) for a region with n of its {@link REGION_PAGES} pages touched, f = n / REGION_PAGES capped
 * below 1 (a region touched whole gives a large finite rate): the Poisson rate's numerator, by n.
 */
const TOUCHED_LOG = Float64Array.from(
  { length: REGION_PAGES + 1 },
  (_, n) => -Math.log(1 - Math.min(n / REGION_PAGES, 1 - 1 / (2 * REGION_PAGES))),
);

/** Touched pages from which a sample of a region is a sweep: the least n with n / REGION_PAGES ≥ SWEEP_FRACTION. */
const SWEEP_PAGES = (() => {
  let n = 0;
  while (n / REGION_PAGES < SWEEP_FRACTION) n++;
  return n;
})();

/**
 * A stored rate for `v` ≥ 0: rounded to a whole unit, at most the u32 maximum. The same as
 * `Math.min(0xffff_ffff, Math.round(v))`, several times cheaper where `Math.round` is not inlined as one
 * instruction (a sample rounds a rate per touched region).
 */
export function storedRate(v: number): number {
  return v >= 0xffff_ffff ? 0xffff_ffff : (v + 0.5) >>> 0;
}

/** Scratch: a sample's stored-rate part of the EWMA by touched-page count (refilled per sample). */
const samplePartScratch = new Float64Array(REGION_PAGES + 1);

let touchedRegions = new Int32Array(0);

/** Scratch for the regions one sample saw touched, at least `regions` long (reused from sample to sample). */
function touchedScratch(regions: number): Int32Array {
  if (touchedRegions.length < regions) touchedRegions = new Int32Array(regions);
  return touchedRegions;
}

/** When region `r`'s next sweep is expected, on the late side, ms of guest time (needs a learned interval). */
function nextSweep(model: RegionModel, r: number): number {
  const gap = model.sweepGap[r] ?? 0;
  return (model.sweepAt[r] ?? 0) + gap + SWEEP_MARGIN * gap + SWEEP_SLACK_MS;
}

/**
 * True when region `r` has a live sweep pattern whose next sweep is overdue at `guestNow` (ms of guest
 * time): its interval was learned too short.
 */
export function sweepOverdue(model: RegionModel, r: number, guestNow: number): boolean {
  const gap = model.sweepGap[r] ?? 0;
  const last = model.sweepAt[r] ?? 0;
  return gap > 0 && last > 0 && guestNow - last < SWEEP_STALE * gap && guestNow > nextSweep(model, r);
}

/** Chance that a page of region `r` is not written in the next `remaining` ms of guest time, 0..1. */
export function survival(model: RegionModel, r: number, guestNow: number, remaining: number): number {
  const gap = model.sweepGap[r] ?? 0;
  const last = model.sweepAt[r] ?? 0;
  if (gap > 0 && last > 0 && guestNow - last < SWEEP_STALE * gap) {
    const next = nextSweep(model, r);
    if (next > guestNow + remaining) return 1;
    // An overdue sweep (the learned interval was short) may come before the checkpoint or not.
    return guestNow > next ? OVERDUE_SURVIVAL : 0;
  }
  // Swept once and not yet again: its period is unknown, so its pages are taken to stay as they are.
  if (gap === 0 && last > 0) return 1;
  return Math.exp(-(regionRate(model, r) / MICRO_HZ_PER_PER_MS) * remaining);
}

/** The adaptive policy's plan at a check: pages to send now, and when to check next. */
export interface AdaptivePlan {
  /** Dirty pages to send now, ascending. */
  pages: number[];
  /** Their wire bytes, bytes. */
  bytes: number;
  /** In the late phase: check again soon ({@link LATE_CHECK_MS}, halving the time left). */
  late: boolean;
  /**
   * The round was cut to {@link LATE_ROUND_BYTES} and more qualifying pages wait: check again right after
   * it. A round that took every qualifying page leaves the next check to the late gap, so that the last
   * rounds carry what the guest wrote meanwhile instead of a few pages each.
   */
  more: boolean;
  /** When the next check should run at the latest, ms of runtime time. */
  nextCheckAt: number;
}

/**
 * How much longer than D ÷ c a set of D dirty pages takes to leave at c pages per ms when each page sent is
 * written again at λ per ms (so that it is dirty again and must go once more): the pages cleaned by time t are
 * (c/λ)(1 − e^(−λt)), which reach D at t = −ln(1 − y)/λ = (D/c) · (−ln(1 − y) / y), with y = λD/c the share
 * of the send rate the rewrites of the whole set would take. `y` is capped at {@link MAX_DRAIN_SHARE} (at
 * y ≥ 1 the set never drains); 1 at y = 0.
 */
export function drainFactor(y: number): number {
  const share = Math.min(MAX_DRAIN_SHARE, Math.max(0, y));
  return share > 0 ? -Math.log1p(-share) / share : 1;
}

/**
 * Plans a check at `now` (runtime ms) for the checkpoint due at `state.nextCheckpointAt`. The VM runs until
 * then, so the remaining guest time equals the remaining runtime. `rateBytesPerMs` is the rate the late phase
 * can move bytes at (the slower of link and staging); with `probe` (that rate is not measured yet) a check
 * that would send nothing sends the {@link PROBE_PAGES} likeliest survivors to measure it.
 */
export function planAdaptive(
  state: PrimaryState,
  params: ColoParams,
  now: number,
  rateBytesPerMs: number,
  probe = false,
): AdaptivePlan {
  return plan(state, params, now, rateBytesPerMs, probe);
}

/** A check: {@link sampleRegions} of `state.touched` at the guest's time, then {@link planAdaptive}. */
export function checkAdaptive(
  state: PrimaryState,
  params: ColoParams,
  now: number,
  rateBytesPerMs: number,
  probe = false,
): AdaptivePlan {
  sampleRegions(state.regions, state.touched, state.guestTime);
  return plan(state, params, now, rateBytesPerMs, probe);
}

/** The plan of {@link planAdaptive} and {@link checkAdaptive} (the sample, if any, already taken). */
function plan(
  state: PrimaryState,
  params: ColoParams,
  now: number,
  rateBytesPerMs: number,
  probe: boolean,
): AdaptivePlan {
  const model = state.regions;
  const remaining = Math.max(0, state.nextCheckpointAt - now);
  const pageBytes = PAGE_SIZE + PAGE_HEADER_WIRE_BYTES;
  const spans = state.dirty.spanCounts;
  const scan = regionScanOf(model);
  // Expected writes per page by T per stored rate unit.
  const xPerRate = (remaining / MICRO_HZ_PER_PER_MS) * model.rateScale;
  // The pass files dirty regions under the lower bar of the mode the last plan was in; the draining test
  // below does not depend on that bar, and a plan whose mode changed passes again (twice an epoch or so).
  const memo = scratchOf(model);
  scanRegions(model, spans, state.guestTime, remaining, xPerRate, knobsOf(memo.draining), scan);
  const { logChance } = scan;
  const lateBytes = scan.latePages * pageBytes;
  // cleanRate counts whole regions of stored rate units: × pages, × scale, ÷ µHz per per-ms.
  const writeBytesPerMs =
    ((scan.cleanRate * REGION_PAGES * model.rateScale) / MICRO_HZ_PER_PER_MS) * pageBytes;
  // What the late phase gains on the guest per ms: the send rate less the rate clean pages dirty again.
  const gainBytesPerMs = Math.max(rateBytesPerMs * (1 - MAX_REDIRTY_SHARE), rateBytesPerMs - writeBytesPerMs);
  // Behind schedule (the late bytes need longer than is left), the bar drops to BEHIND_MIN_SURVIVAL: a page
  // likely to be rewritten is still better sent than surely left for the stop.
  const need = lateBytes / gainBytesPerMs;
  // Draining: the dirty pages alone, each written again at its region's rate once sent, need longer than is
  // left (÷ BEHIND_FACTOR); the bar drops further, to DRAIN_MIN_SURVIVAL, so that they start going in time.
  const redirtyBytesPerMs =
    ((scan.dirtyRate * REGION_PAGES * model.rateScale) / MICRO_HZ_PER_PER_MS) * pageBytes;
  const drainNeed =
    ((scan.dirtyLatePages * pageBytes) / gainBytesPerMs) * drainFactor(redirtyBytesPerMs / gainBytesPerMs);
  // The staging, not the link, sets the rate (the link is measured faster): late rounds are paced to the
  // staging (below) and the margin is STAGED_BEHIND_FACTOR.
  const link = state.estimates.bandwidth;
  const stagingBound = link > params.costs.applyBytesPerMs;
  const behindFactor = stagingBound ? STAGED_BEHIND_FACTOR : BEHIND_FACTOR;
  const draining = remaining < drainNeed * behindFactor;
  if (draining !== memo.draining) {
    memo.draining = draining;
    scanRegions(model, spans, state.guestTime, remaining, xPerRate, knobsOf(draining), scan);
  }
  const bar = !draining && remaining >= need * behindFactor ? scan.min : scan.behind;
  const qualifyingPages = bar.pages;
  if (probe && qualifyingPages === 0 && state.dirty.count > 0) {
    // The rate rounds leave at is not measured yet: probe with the likeliest survivors.
    const dirty = state.dirty.indices();
    const best = dirty
      .map((p) => ({ p, c: logChance[Math.floor(p / REGION_PAGES)] ?? 0 }))
      .sort((a, b) => b.c - a.c || a.p - b.p)
      .slice(0, PROBE_PAGES)
      .map((x) => x.p)
      .sort((a, b) => a - b);
    return {
      pages: best,
      bytes: best.length * pageBytes,
      late: false,
      more: false,
      nextCheckAt: now + params.pendingCheckIntervalMs,
    };
  }
  const backlog = Math.max(0, stagedByEstimate(state, params) - now);
  // Time the late phase needs: the qualifying pages (sent now, or in small rounds once late), the pages
  // still to be written and sent, and what the secondary has not staged yet.
  const qualifying = qualifyingPages * pageBytes;
  const lead = ((lateBytes + qualifying) / gainBytesPerMs) * LEAD_FACTOR + LEAD_MARGIN_MS + backlog;
  const lateFrom = state.nextCheckpointAt - lead;
  const late = now >= lateFrom;
  const period = params.pendingCheckIntervalMs;
  // A late check that will send nothing (nothing qualifies, no overdue sweep) waits until the likeliest
  // dirty page could qualify, up to SAMPLE_PERIOD_MS: checks that only find nothing to do are most of a
  // busy guest's early late phase.
  const idle = qualifyingPages === 0 && bar.heldCount === 0;
  const busyGap = Math.max(LATE_CHECK_MS, Math.min(LATE_CHECK_MAX_MS, remaining * LATE_CHECK_SHARE));
  const lateGap = idle
    ? Math.max(
        busyGap,
        Math.min(SAMPLE_PERIOD_MS, qualifyWait(bar, scan.sweepDue, remaining, knobsOf(draining).lnBehind)),
      )
    : busyGap;
  const nextCheckAt = late
    ? now + Math.min(period, lateGap, Math.max(LATE_CHECK_MIN_MS, remaining / 2))
    : Math.min(now + Math.min(period, SAMPLE_PERIOD_MS), lateFrom);
  if (!late && qualifying < MIN_EARLY_ROUND_BYTES) {
    return { pages: [], bytes: 0, late, more: false, nextCheckAt };
  }
  // In the late phase an overdue sweep's pages go too: held back, they surely cross at the stop.
  const count = late ? bar.count + bar.heldCount : bar.count;
  const total = late ? bar.pages + bar.heldPages : bar.pages;
  // Late rounds are small: the secondary stages an object only once it has arrived whole, so a large round
  // near the checkpoint leaves its staging for the stop. The likeliest survivors go first, by region.
  const lateRound = Math.max(LATE_ROUND_BYTES, rateBytesPerMs * remaining * LATE_CHECK_SHARE);
  const most = late ? Math.max(1, Math.floor(lateRound / pageBytes)) : Number.POSITIVE_INFINITY;
  if (late && total > 0 && stagingBound) {
    // Paced to the staging: while the secondary has more to stage than this round takes to cross the link
    // (plus STAGE_AHEAD_MS), the round waits and its pages stay dirty (a rate region's chance only grows as T
    // nears). Only on a link faster than the staging: on a slower one the link is what must not idle.
    const wait = backlog - ((Math.min(total, most) * pageBytes) / link + STAGE_AHEAD_MS);
    if (wait >= MIN_PACE_WAIT_MS) {
      return { pages: [], bytes: 0, late, more: false, nextCheckAt: Math.min(nextCheckAt, now + wait) };
    }
  }
  const candidates = candidateRegions(bar, late, scratchOf(model).order);
  const { bits, size } = state.dirty;
  const words = wordsOf(bits);
  if (total <= most) {
    const pages = new Array<number>(total);
    let n = 0;
    for (let i = 0; i < count; i++) n = regionPages(bits, words, size, candidates[i] as number, pages, n);
    pages.length = n;
    return { pages, bytes: n * pageBytes, late, more: false, nextCheckAt };
  }
  // Only the regions likeliest to survive fit the round (highest chance, then lowest index): find the one
  // where its pages run out, then list the round in ascending order — every region before that one in
  // likeliest-first order whole, that one's lowest pages (round-cut.ts).
  const cut = roundCut(candidates, count, logChance, spans, most, scratchOf(model).work);
  const pages = new Array<number>(most);
  let n = 0;
  for (let i = 0; i < count; i++) {
    const r = candidates[i] as number;
    if (cut === undefined || likelierFirst(logChance, r, cut.region)) {
      n = regionPages(bits, words, size, r, pages, n);
    } else if (r === cut.region) {
      const from = n;
      n = regionPages(bits, words, size, r, pages, n);
      n = from + cut.pages;
    }
  }
  pages.length = n;
  return { pages, bytes: n * pageBytes, late, more: true, nextCheckAt };
}

/** ln {@link MIN_SURVIVAL}: a plan compares ln-chances, which need no exponential per region. */
const LN_MIN_SURVIVAL = Math.log(MIN_SURVIVAL);
/** ln {@link BEHIND_MIN_SURVIVAL}. */
const LN_BEHIND_MIN_SURVIVAL = Math.log(BEHIND_MIN_SURVIVAL);
/** ln {@link DRAIN_MIN_SURVIVAL}. */
const LN_DRAIN_MIN_SURVIVAL = Math.log(DRAIN_MIN_SURVIVAL);
/** ln {@link OVERDUE_SURVIVAL}. */
const LN_OVERDUE_SURVIVAL = Math.log(OVERDUE_SURVIVAL);

/** The controller's knobs as the pass over the regions reads them. */
const SCAN_KNOBS: ScanKnobs = {
  sweepStale: SWEEP_STALE,
  sweepMargin: SWEEP_MARGIN,
  sweepSlackMs: SWEEP_SLACK_MS,
  lnOverdue: LN_OVERDUE_SURVIVAL,
  overdueLost: 1 - OVERDUE_SURVIVAL,
  lnMin: LN_MIN_SURVIVAL,
  lnBehind: LN_BEHIND_MIN_SURVIVAL,
};
/** The knobs while draining: the lower bar is {@link DRAIN_MIN_SURVIVAL}. */
const DRAIN_KNOBS: ScanKnobs = { ...SCAN_KNOBS, lnBehind: LN_DRAIN_MIN_SURVIVAL };
/** The knobs of a plan in the draining mode or not. */
function knobsOf(draining: boolean): ScanKnobs {
  return draining ? DRAIN_KNOBS : SCAN_KNOBS;
}
// A region that clears the higher bar clears the lower one (the pass lists it under both at once).
if (!(LN_MIN_SURVIVAL > LN_BEHIND_MIN_SURVIVAL && LN_MIN_SURVIVAL > LN_DRAIN_MIN_SURVIVAL))
  throw new Error('MIN_SURVIVAL must be above BEHIND_MIN_SURVIVAL and DRAIN_MIN_SURVIVAL');

/**
 * How long, ms, until the likeliest dirty region under `bar` could clear even the lower bar `lnLower` (ln
 * {@link BEHIND_MIN_SURVIVAL}, or ln {@link DRAIN_MIN_SURVIVAL} while draining): 0 when a sweep is due before T (it may change any sample), infinite when no
 * dirty region is under the bar. A rate region's ln-chance is −λ·remaining: it reaches ln BEHIND_MIN_SURVIVAL
 * when the time left is remaining · lnLower / ln, so the likeliest region's ln gives the wait.
 */
function qualifyWait(bar: BarScan, sweepDue: boolean, remaining: number, lnLower: number): number {
  if (!bar.waiting) return Number.POSITIVE_INFINITY;
  if (sweepDue) return 0;
  return Math.max(0, remaining * (1 - lnLower / bar.likeliest));
}

/** Per-region scratch of a round: its merged candidate regions, and the cut's work array. */
interface RoundScratch {
  order: Int32Array;
  work: Int32Array;
  /** The last plan was draining (a hint for the next pass's bar: the plan does not depend on it). */
  draining: boolean;
}
const roundScratch = new WeakMap<RegionModel, RoundScratch>();

/** The round scratch for plans over `model` (reused from check to check). */
function scratchOf(model: RegionModel): RoundScratch {
  const regions = model.rate.length;
  let s = roundScratch.get(model);
  if (!s || s.order.length !== regions) {
    s = { order: new Int32Array(regions), work: new Int32Array(regions), draining: false };
    roundScratch.set(model, s);
  }
  return s;
}

/**
 * When the secondary will have staged every background round of this epoch, ms (runtime time): the rounds
 * replayed through the link (at the measured bandwidth, or the staging rate until one is measured) and then
 * the staging, which starts on an object once it has arrived whole.
 */
export function stagedByEstimate(state: PrimaryState, params: ColoParams): number {
  const apply = params.costs.applyBytesPerMs;
  const link = state.estimates.bandwidth > 0 ? state.estimates.bandwidth : apply;
  let linkFree = 0;
  let staged = 0;
  for (const r of state.rounds) {
    linkFree = Math.max(linkFree, r.startedAt) + r.bytes / link;
    staged = Math.max(staged, linkFree) + r.bytes / apply;
  }
  return staged;
}
