/**
 * A lookup for the zipf workload's page per write. A write's page is a function of its 32-bit hash h:
 * perm(inv(h / 2^32)), where inv costs a logarithm and an exponential (~50 ns) and perm a division. Most draws
 * land on the few likeliest ranks, and every h of a bucket of 2^16 consecutive hashes then lands on one page:
 * that page is kept per bucket, so such a write costs one table read. The table gives the same page as the
 * formula for every h (see {@link ZipfPages.bucketPage}); buckets that span ranks go to the formula.
 */

/** Low bits of a hash that a bucket spans (a bucket is h >>> BUCKET_SHIFT). */
const BUCKET_SHIFT = 16;
/** Entry of a bucket not looked at yet. */
const UNKNOWN = 0;
/** Entry of a bucket whose hashes land on more than one page (or a page too large to store). */
const MIXED = -1;

/** Pages of zipf draws by hash bucket, filled on first use (a run touches few buckets beyond the hot ones). */
export class ZipfPages {
  /** Per bucket: {@link UNKNOWN}, {@link MIXED}, or the page + 1. 256 KiB. */
  private readonly table = new Int32Array(2 ** (32 - BUCKET_SHIFT));

  /**
   * @param value the inverse CDF before its floor: a rank's real value at u ∈ [0, 1), monotone in u, computed
   *   within 1e-12 relative of the exact value (its floor is the rank unless it is that close to an integer)
   * @param pageOfUnit the page of a draw at u (perm of the clamped rank): what {@link page} must equal
   */
  constructor(
    private readonly value: (u: number) => number,
    private readonly pageOfUnit: (u: number) => number,
  ) {}

  /** The page of the draw whose hash is `h` (an unsigned 32-bit integer): pageOfUnit(h / 2^32). */
  page(h: number): number {
    const b = h >>> BUCKET_SHIFT;
    let e = this.table[b] as number;
    if (e === UNKNOWN) {
      e = this.bucketPage(b);
      this.table[b] = e;
    }
    return e > 0 ? e - 1 : this.pageOfUnit(h / 0x1_0000_0000);
  }

  /**
   * A bucket's entry. It holds one page only when the value at both ends of the bucket lies in one integer
   * interval, at least twice the formula's own margin (1e-6, or 1e-12 relative) from either integer: the exact
   * inverse CDF is monotone, and every computed value lies within far less than that margin of it, so every
   * hash between the ends has the same floor, passes the formula's margin test, and gives the same page.
   */
  private bucketPage(b: number): number {
    const lo = (b * 2 ** BUCKET_SHIFT) / 0x1_0000_0000;
    const hi = (b * 2 ** BUCKET_SHIFT + (2 ** BUCKET_SHIFT - 1)) / 0x1_0000_0000;
    const vLo = this.value(lo);
    const vHi = this.value(hi);
    const f = Math.floor(vLo);
    if (!Number.isFinite(vLo) || Math.floor(vHi) !== f) return MIXED;
    for (const v of [vLo, vHi]) {
      const margin = 2 * Math.max(1e-6, Math.abs(v) * 1e-12);
      if (!(v - f >= margin && f + 1 - v >= margin)) return MIXED;
    }
    const page = this.pageOfUnit(lo);
    return page + 1 <= 0x7fff_ffff ? page + 1 : MIXED;
  }
}
