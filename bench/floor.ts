/**
 * The clairvoyant floor of a checkpoint's downtime: the least downtime any background policy could reach
 * with full knowledge of the guest's writes. It is computed from the write trace alone (the workload replayed
 * over the guest time of each epoch), never from the policy's own accounting, so a policy can be judged
 * against it.
 *
 * The argument. Every page written in an epoch must be in the colo cache at the commit, at the version of its
 * last write before the stop. A page can leave no earlier than that last write (its release time), and the
 * link carries at most `bandwidth` bytes per ms; whatever a work-conserving link cannot have sent by the stop
 * — `max over t of (bytes released in [t, stop]) − bandwidth × (stop − t)`, the same for every order of
 * sending — must cross after the stop. The same fluid bound at the secondary's staging rate gives the staging
 * left at the stop. So, from the stop:
 *
 *     arrived  = prep + (residualLink + deviceState) / bandwidth + latency
 *     staged   = max(residualStage / applyRate, prep + latency + residualLink / applyRate)
 *     floor    = max(arrived, staged) + flush(pages written in the epoch) + deviceLoad + latency
 *
 * Every term is a cost the engine also pays (it pays more: whole chunks, message headers, rounds decided at
 * checks), and dropping the small ones (control messages) keeps the floor a lower bound.
 */
import { pageClass } from '../src/engine/memory/page-content.ts';
import { type ColoParams, PAGE_HEADER_WIRE_BYTES, pageCount } from '../src/engine/params.ts';
import { PAGE_SIZE } from '../src/engine/protocol/delta.ts';
import { makeWorkload } from '../src/engine/workload/workload.ts';
import type { LinkParams } from '../src/runtime/embedded/link.ts';

/** The fixed costs and rates the floor charges; all times ms, rates bytes per ms, sizes bytes. */
export interface FloorCosts {
  /** Stop and device-state save, ms. */
  prepMs: number;
  /** Device state sent at every checkpoint, bytes. */
  deviceStateBytes: number;
  /** One-way link latency, ms. */
  latencyMs: number;
  /** Link bandwidth, bytes per ms. */
  bandwidthBytesPerMs: number;
  /** Secondary staging rate, bytes per ms (wire bytes). */
  applyBytesPerMs: number;
  /** Secondary colo-cache flush rate, bytes per ms (4 KiB per flushed page). */
  flushBytesPerMs: number;
  /** Secondary device-state load, ms. */
  deviceLoadMs: number;
}

/** The floor's costs for a parameter set on a link. */
export function floorCosts(params: ColoParams, link: LinkParams): FloorCosts {
  return {
    prepMs: params.costs.prepMs,
    deviceStateBytes: params.deviceStateBytes,
    latencyMs: link.latencyMs,
    bandwidthBytesPerMs: link.bandwidthBytesPerSec / 1000,
    applyBytesPerMs: params.costs.applyBytesPerMs,
    flushBytesPerMs: params.costs.flushBytesPerMs,
    deviceLoadMs: params.costs.deviceLoadMs,
  };
}

/** Bytes that become sendable at a time: the last write of one or more pages. */
export interface Release {
  /** Time of the last write before the stop, ms (any time base shared with the stop). */
  at: number;
  /** Wire bytes of those pages at their final versions, bytes. */
  bytes: number;
}

/**
 * Bytes a link of `bytesPerMs` cannot have carried by `stopAt` (ms) when each release may leave only after
 * its time: `max(0, max over t of released[t, stopAt] − bytesPerMs × (stopAt − t))`, bytes. Releases after
 * `stopAt` are ignored.
 */
export function residualBytes(releases: readonly Release[], stopAt: number, bytesPerMs: number): number {
  const sorted = releases.filter((r) => r.at <= stopAt).sort((a, b) => b.at - a.at);
  let released = 0;
  let residual = 0;
  for (const r of sorted) {
    released += r.bytes;
    residual = Math.max(residual, released - bytesPerMs * (stopAt - r.at));
  }
  return residual;
}

/** One checkpoint's floor and its parts. */
export interface EpochFloor {
  /** The least downtime any policy could reach, ms. */
  floorMs: number;
  /** Bytes that must cross the link after the stop, bytes. */
  residualLinkBytes: number;
  /** Bytes the secondary must still stage after the stop, bytes. */
  residualStageBytes: number;
  /** Distinct pages written in the epoch (all flushed at the commit), pages. */
  pages: number;
}

/**
 * The floor of one checkpoint from the epoch's releases (at most one per page: its last write), the number of
 * distinct pages written, and the stop time (same time base as the releases), ms.
 */
export function epochFloor(
  releases: readonly Release[],
  pages: number,
  stopAt: number,
  c: FloorCosts,
): EpochFloor {
  const residualLinkBytes = residualBytes(releases, stopAt, c.bandwidthBytesPerMs);
  const residualStageBytes = residualBytes(releases, stopAt, c.applyBytesPerMs);
  const arrived = c.prepMs + (residualLinkBytes + c.deviceStateBytes) / c.bandwidthBytesPerMs + c.latencyMs;
  const staged = Math.max(
    residualStageBytes / c.applyBytesPerMs,
    residualLinkBytes > 0 ? c.prepMs + c.latencyMs + residualLinkBytes / c.applyBytesPerMs : 0,
  );
  const flush = (pages * PAGE_SIZE) / c.flushBytesPerMs;
  return {
    floorMs: Math.max(arrived, staged) + flush + c.deviceLoadMs + c.latencyMs,
    residualLinkBytes,
    residualStageBytes,
    pages,
  };
}

/** Wire bytes of page `page` at any written version: a header, plus a payload unless it is a zero page. */
export function pageWireBytes(params: ColoParams, page: number): number {
  return pageClass(params.seed, page, params.contentMix) === 'zero'
    ? PAGE_HEADER_WIRE_BYTES
    : PAGE_HEADER_WIRE_BYTES + PAGE_SIZE;
}

/**
 * The releases of a hand-built trace: each page's last write at or before `stopAt` (and after `from`),
 * with `bytesOf(page)` bytes. Returns the releases and the number of distinct pages.
 */
export function lastWrites(
  writes: readonly { page: number; at: number }[],
  from: number,
  stopAt: number,
  bytesOf: (page: number) => number,
): { releases: Release[]; pages: number } {
  const last = new Map<number, number>();
  for (const w of writes) {
    if (w.at < from || w.at > stopAt) continue;
    last.set(w.page, Math.max(w.at, last.get(w.page) ?? Number.NEGATIVE_INFINITY));
  }
  return {
    releases: [...last].map(([page, at]) => ({ at, bytes: bytesOf(page) })),
    pages: last.size,
  };
}

/** Time resolution of the replayed trace, ms: a write is taken to happen at the start of its slice. */
export const TRACE_SLICE_MS = 0.25;

/**
 * The floor of every checkpoint of a run: replays the PVM's workload over guest time, epoch by epoch, and
 * records each page's last write before each stop. `guestStops` are the guest running times at the stops,
 * ms, ascending (the guest does not run while stopped, so an epoch is [previous stop, this stop) of guest
 * time). Writes are placed at the start of their {@link TRACE_SLICE_MS} slice, which only makes them earlier
 * and the floor lower.
 */
export function runFloors(params: ColoParams, link: LinkParams, guestStops: readonly number[]): EpochFloor[] {
  const n = pageCount(params);
  const costs = floorCosts(params, link);
  const generate = makeWorkload(params.workload, n, params.seed);
  const lastSlice = new Int32Array(n).fill(-1);
  const zero = new Uint8Array(n);
  for (let p = 0; p < n; p++) zero[p] = pageClass(params.seed, p, params.contentMix) === 'zero' ? 1 : 0;
  const out: EpochFloor[] = [];
  let from = 0;
  const touched: number[] = [];
  for (const stop of guestStops) {
    const slices = Math.max(1, Math.ceil((stop - from) / TRACE_SLICE_MS));
    let slice = 0;
    const visit = (p: number) => {
      if (lastSlice[p] === -1) touched.push(p);
      lastSlice[p] = slice;
    };
    for (; slice < slices; slice++) {
      const t0 = from + slice * TRACE_SLICE_MS;
      generate(t0, Math.min(stop, t0 + TRACE_SLICE_MS), visit);
    }
    const bytes = new Float64Array(slices);
    for (const p of touched) {
      const at = lastSlice[p] ?? 0;
      bytes[at] = (bytes[at] ?? 0) + (zero[p] ? PAGE_HEADER_WIRE_BYTES : PAGE_HEADER_WIRE_BYTES + PAGE_SIZE);
      lastSlice[p] = -1;
    }
    const releases: Release[] = [];
    for (let s = 0; s < slices; s++) {
      const b = bytes[s] ?? 0;
      if (b > 0) releases.push({ at: from + s * TRACE_SLICE_MS, bytes: b });
    }
    out.push(epochFloor(releases, touched.length, stop, costs));
    touched.length = 0;
    from = stop;
  }
  return out;
}

/**
 * What no **online** policy can beat on a hot set of `pages` pages, each written as an independent Poisson
 * process of `writesPerPageMs` (writes per ms; the buffered-IO hot set), when at most `sendPagesPerMs`
 * pages per ms can leave before the stop (the slower of link and staging).
 *
 * The argument. A policy decides at each send from the past alone, and a Poisson page's future writes do not
 * depend on its past: a dirty page sent s ms before the stop is written again (its copy wasted, the page
 * dirty at the stop) with probability 1 − e^(−λs), whichever page it is. The k-th last send leaves at least
 * k ÷ sendPagesPerMs before the stop. So M sends waste at least W(M) = Σ_{k≤M} (1 − e^(−λk/c)) pages in
 * expectation, and leave at least `pages` − (M − W(M)) pages dirty (a page is clean at the stop only through
 * a send that was not wasted). W is convex in M, so by Jensen the same holds for expectations over epochs.
 *
 * Returns, for a waste budget of `wastePages` a checkpoint, the least expected pages left dirty at the stop;
 * and for a target of at most `residualPages` left dirty, the least expected waste (Infinity if no number of
 * sends gets there).
 */
export function onlineHotSetBound(
  pages: number,
  writesPerPageMs: number,
  sendPagesPerMs: number,
): { residualFor(wastePages: number): number; wasteFor(residualPages: number): number } {
  const a = writesPerPageMs / sendPagesPerMs;
  // Clean pages (successful sends) and waste after the M latest sends, in closed form.
  const clean = (m: number) => (Math.exp(-a) * (1 - Math.exp(-a * m))) / (1 - Math.exp(-a));
  const waste = (m: number) => m - clean(m);
  const most = Math.ceil(100 / a); // beyond this clean(m) no longer grows (e^(−100))
  return {
    residualFor(wastePages) {
      let lo = 0;
      let hi = most;
      while (hi - lo > 1) {
        const mid = Math.floor((lo + hi) / 2);
        if (waste(mid) <= wastePages) lo = mid;
        else hi = mid;
      }
      return Math.max(0, pages - clean(lo));
    },
    wasteFor(residualPages) {
      if (pages - clean(most) > residualPages) return Number.POSITIVE_INFINITY;
      let lo = 0;
      let hi = most;
      while (hi - lo > 1) {
        const mid = Math.floor((lo + hi) / 2);
        if (pages - clean(mid) <= residualPages) hi = mid;
        else lo = mid;
      }
      return waste(hi);
    },
  };
}
