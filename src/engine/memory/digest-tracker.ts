/**
 * Incremental memory digests: a page-version array registered here keeps its digest sum (page-hash.ts) up to
 * date as the engine writes it, so `memoryDigest` costs O(pages written since the last digest) instead of
 * O(guest pages) — what lets the embedded runtime digest a 1 TiB guest at every checkpoint stop and commit.
 *
 * Registration is opt-in and per array (the embedded runtime registers its VMs' images): an array that is
 * not registered is digested from scratch, so code that writes page versions without telling the tracker
 * (tests, decoded cloud state documents) still gets the right digest. Every engine write to a registered
 * array goes through {@link DigestTracker.noteWrite} (or {@link DigestTracker.noteWrites}) first.
 *
 * A write only records the page and its version before the first write since the last settle; the settle
 * hashes each such page once for both its old and its current term (the digest is a sum of per-page terms,
 * so when they are taken out and put back does not change it).
 */
import { addPageTermChanges, imageSums, laneKeys } from './page-hash.ts';

/** Pages a fresh stale list holds before it grows (it doubles). */
const INITIAL_STALE = 1024;

/** The digest sum of one registered page-version array. */
export class DigestTracker {
  /** Seed the lanes are keyed with. */
  readonly seed: number;
  readonly #keys: Int32Array;
  /** Lane sums as of the last settle (the stale pages at their recorded old versions). */
  readonly #sums: Int32Array;
  /** One bit per page: written since the last settle. */
  readonly #stale: Uint8Array;
  /** The stale pages, in order of first write, and their versions at that write ([0, #staleCount)). */
  #stalePages: Float64Array = new Float64Array(INITIAL_STALE);
  #staleOld: Uint32Array = new Uint32Array(INITIAL_STALE);
  #staleCount = 0;

  /** Tracks `versions` as it is now (O(pages) once; nothing for an all-zero image beyond the scan). */
  constructor(seed: number, versions: Uint32Array) {
    this.seed = seed;
    this.#keys = laneKeys(seed);
    this.#sums = imageSums(this.#keys, versions);
    this.#stale = new Uint8Array(Math.ceil(versions.length / 8));
  }

  /**
   * Call before writing page `page` (whose version is `old` until the write). The first write since the last
   * settle records the page and `old`; later ones cost a bit test.
   */
  noteWrite(page: number, old: number): void {
    const stale = this.#stale;
    const byte = stale[page >>> 3] as number;
    const mask = 1 << (page & 7);
    if (byte & mask) return;
    stale[page >>> 3] = byte | mask;
    this.#record(page, old);
  }

  /**
   * {@link noteWrite} for the pages of a batch of writes, `pages[0 … count − 1]`, before any of them is
   * applied to `versions` (a page's old version is read from it).
   */
  noteWrites(pages: Float64Array, count: number, versions: Uint32Array): void {
    this.#reserve(this.#staleCount + count);
    const stale = this.#stale;
    const stalePages = this.#stalePages;
    const staleOld = this.#staleOld;
    let n = this.#staleCount;
    for (let i = 0; i < count; i++) {
      const page = pages[i] as number;
      const byte = stale[page >>> 3] as number;
      const mask = 1 << (page & 7);
      if (byte & mask) continue;
      stale[page >>> 3] = byte | mask;
      stalePages[n] = page;
      staleOld[n] = versions[page] as number;
      n++;
    }
    this.#staleCount = n;
  }

  #record(page: number, old: number): void {
    const n = this.#staleCount;
    this.#reserve(n + 1);
    this.#stalePages[n] = page;
    this.#staleOld[n] = old;
    this.#staleCount = n + 1;
  }

  /** Grows the stale list (doubling) to hold at least `size` pages. */
  #reserve(size: number): void {
    let length = this.#stalePages.length;
    if (size <= length) return;
    while (length < size) length *= 2;
    const pages = new Float64Array(length);
    pages.set(this.#stalePages.subarray(0, this.#staleCount));
    this.#stalePages = pages;
    const olds = new Uint32Array(length);
    olds.set(this.#staleOld.subarray(0, this.#staleCount));
    this.#staleOld = olds;
  }

  /** Swaps the stale pages' old terms for their current ones and returns the lane sums of `versions`. */
  settle(versions: Uint32Array): Int32Array {
    const count = this.#staleCount;
    const pages = this.#stalePages;
    addPageTermChanges(this.#sums, this.#keys, pages, this.#staleOld, versions, count);
    const stale = this.#stale;
    // Only stale pages' bits are set: once they are as many as the bitmap's bytes / 8, clearing it whole is
    // cheaper than a random write per page (a cache miss each on a large guest).
    if (count * 8 >= stale.length) stale.fill(0);
    else for (let i = 0; i < count; i++) stale[(pages[i] as number) >>> 3] = 0;
    this.#staleCount = 0;
    return this.#sums;
  }
}

const trackers = new WeakMap<Uint32Array, DigestTracker>();

/** Registers `versions` for incremental digests under `seed` (idempotent for the same seed). */
export function trackDigest(seed: number, versions: Uint32Array): DigestTracker {
  const known = trackers.get(versions);
  if (known && known.seed === seed) return known;
  const tracker = new DigestTracker(seed, versions);
  trackers.set(versions, tracker);
  return tracker;
}

/** The tracker of `versions`, if it is registered. Writers look it up once per batch of writes. */
export function digestTrackerOf(versions: Uint32Array): DigestTracker | undefined {
  return trackers.get(versions);
}
