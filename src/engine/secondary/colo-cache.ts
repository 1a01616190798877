import { digestTrackerOf } from '../memory/digest-tracker.ts';
import { zeroClasses } from '../memory/page-content.ts';
import { type ColoParams, PAGE_HEADER_WIRE_BYTES } from '../params.ts';
import type { PageDelta } from '../protocol/delta.ts';
import { PAGE_SIZE } from '../protocol/delta.ts';
import { pristineColumns } from '../protocol/page-columns.ts';
import type { SecondaryState } from './state.ts';

/**
 * Bytes the secondary stages for a RAM delta: the same accounting as the wire (a page header each, a
 * payload for every page that is not a zero page), bytes. The same in both payload modes: a zero page is
 * one whose (seed, page, version) says so, which the validation has checked against the data.
 */
export function stagingBytes(params: ColoParams, delta: PageDelta): number {
  const zero = zeroClasses(params);
  const columns = pristineColumns(delta);
  if (columns) {
    const { index, version, zeroPages } = columns;
    // Counted when the columns were built, with this same table: the same answer page by page.
    if (zeroPages?.classes === zero)
      return index.length * PAGE_HEADER_WIRE_BYTES + (index.length - zeroPages.count) * PAGE_SIZE;
    let payloads = 0;
    for (let i = 0; i < index.length; i++)
      if (!zero.isZero(index[i] as number, version[i] as number)) payloads++;
    return index.length * PAGE_HEADER_WIRE_BYTES + payloads * PAGE_SIZE;
  }
  const pages = delta.pages;
  let payloads = 0;
  for (let i = 0; i < pages.length; i++) {
    const page = pages[i] as (typeof pages)[number];
    if (!zero.isZero(page.index, page.version)) payloads++;
  }
  return pages.length * PAGE_HEADER_WIRE_BYTES + payloads * PAGE_SIZE;
}

/**
 * Schedules the staging of `bytes` received at `now` (ms) after whatever is still being staged; returns
 * when it would end, ms. Nothing is changed: the caller commits to it by setting `stagedAt`.
 */
export function stagingEnd(state: SecondaryState, params: ColoParams, now: number, bytes: number): number {
  return Math.max(now, state.stagedAt) + bytes / params.costs.applyBytesPerMs;
}

/** Stages a validated RAM delta in the colo cache; committed and running memory are not touched. */
export function stageInCache(state: SecondaryState, delta: PageDelta): void {
  const { cache } = state;
  const columns = pristineColumns(delta);
  if (columns) {
    const { index, version } = columns;
    for (let i = 0; i < index.length; i++) cache.set(index[i] as number, version[i] as number);
    return;
  }
  const pages = delta.pages;
  for (let i = 0; i < pages.length; i++) {
    const page = pages[i] as (typeof pages)[number];
    cache.set(page.index, page.version);
  }
}

/** Pages a commit will flush: the union of PVM-received (cache) and SVM-dirtied pages. */
export function flushSet(state: SecondaryState): number {
  let n = state.cache.size;
  if (state.svmDirty.count === 0) return n;
  for (const p of state.svmDirty.indices()) if (!state.cache.has(p)) n++;
  return n;
}

/** Modelled flush time of `pages` at the flush bandwidth, ms. */
export function flushMs(pages: number, bytesPerMs: number): number {
  return (pages * PAGE_SIZE) / bytesPerMs;
}

/**
 * `colo_flush_ram_cache`: copies the cache into the committed image, and makes the running memory equal to
 * it (overwriting the SVM's own writes), so the SVM becomes exactly the PVM image of this checkpoint.
 * Returns the number of pages flushed.
 */
export function flushCache(state: SecondaryState): number {
  const flushed = flushSet(state);
  const { cache, committed, running } = state;
  // Every write below stores a page's final value, so one pass over the cache sets both images.
  const n = cache.size;
  // Registered images keep their digests incrementally: each write is announced with the old version.
  const committedTracker = digestTrackerOf(committed);
  const runningTracker = digestTrackerOf(running);
  // A passive secondary's running memory is its committed image (one array): written once.
  const shared = running === committed;
  for (let i = 0; i < n; i++) {
    const page = cache.pageAt(i);
    const version = cache.versionAt(i);
    committedTracker?.noteWrite(page, committed[page] ?? 0);
    committed[page] = version;
    if (shared) continue;
    runningTracker?.noteWrite(page, running[page] ?? 0);
    running[page] = version;
  }
  if (!shared && state.svmDirty.count > 0)
    for (const p of state.svmDirty.indices()) {
      runningTracker?.noteWrite(p, running[p] ?? 0);
      running[p] = committed[p] ?? 0;
    }
  cache.clear();
  state.svmDirty.reset();
  return flushed;
}

/** Drops everything uncommitted from the cache (failover, or an abandoned epoch). */
export function discardCache(state: SecondaryState): number {
  const dropped = state.cache.size;
  state.cache.clear();
  state.appliedRounds = [];
  return dropped;
}
