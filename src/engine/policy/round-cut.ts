/**
 * Where a late round that cannot take every candidate region is cut. Regions go likeliest first — highest
 * chance, then lowest index — until the round's pages are used up; the round is then listed in ascending
 * order. Only the region where the pages run out matters for that: every region before it in that order
 * goes whole, it goes in part, none after it goes. So the cut region is found by a weighted selection
 * (partitions around a pivot, linear on average), and the round by one ascending pass — instead of
 * ordering the taken regions (a heap, popped once per region taken) and sorting them back by index.
 */

/** The region a round is cut at, and how many of its pages the round takes. */
export interface RoundCut {
  /** The region at which the pages run out. */
  region: number;
  /** Pages of `region` that still fit (1 to all of its dirty pages). */
  pages: number;
}

/** True when region `a` goes before region `b`: higher chance, then lower index. */
export function likelierFirst(chance: Float64Array, a: number, b: number): boolean {
  const ca = chance[a] as number;
  const cb = chance[b] as number;
  return ca > cb || (ca === cb && a < b);
}

/**
 * The region at which `room` pages run out when the first `count` of `regions` (each with `dirty[r]` pages,
 * each chance finite) are taken likeliest first, or undefined when all of them fit in `room`. `work` is
 * scratch of at least `count` entries (it is reordered; `regions` is not touched).
 */
export function roundCut(
  regions: Int32Array,
  count: number,
  chance: Float64Array,
  dirty: Uint8Array,
  room: number,
  work: Int32Array,
): RoundCut | undefined {
  for (let i = 0; i < count; i++) work[i] = regions[i] as number;
  let lo = 0;
  let hi = count;
  let need = room;
  while (lo < hi) {
    // Pivot: the middle entry (the input is ascending by index, often by chance too: the middle splits it).
    const mid = (lo + hi) >>> 1;
    const pivot = work[mid] as number;
    work[mid] = work[hi - 1] as number;
    work[hi - 1] = pivot;
    // Regions that go before the pivot to the front of [lo, hi), adding up their pages.
    let store = lo;
    let before = 0;
    for (let i = lo; i < hi - 1; i++) {
      const r = work[i] as number;
      if (likelierFirst(chance, r, pivot)) {
        work[i] = work[store] as number;
        work[store++] = r;
        before += dirty[r] as number;
      }
    }
    work[hi - 1] = work[store] as number;
    work[store] = pivot;
    if (before >= need) {
      hi = store;
      continue;
    }
    const own = dirty[pivot] as number;
    if (before + own >= need) return { region: pivot, pages: need - before };
    need -= before + own;
    lo = store + 1;
  }
  return undefined;
}
