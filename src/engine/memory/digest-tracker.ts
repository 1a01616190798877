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
 * Two ways to know the pages written since the last settle, chosen by the image's size:
 * - up to {@link SHADOW_MAX_PAGES} pages, a **shadow** copy of the versions as of the last settle: writes
 *   cost nothing, and the settle compares the image with its shadow in one sequential pass. On a 1 GiB guest
 *   that pass (~0.1 ms) is far cheaper than a bit test and a random read per write (uniform writes at
 *   20 000 pages/s: 7 % of the whole engine's time went to {@link DigestTracker.noteWrites});
 * - above it (a 1 TiB guest: a 1 GiB shadow, a 268 M-page pass per settle), a **stale list**: the first write
 *   since the last settle records the page and its version before the write.
 * Either way the settle hashes each changed page once for both its old and its current term (the digest is
 * a sum of per-page terms, so when they are taken out and put back does not change it), and the sums are the
 * same.
 */
import { addPageTermChanges, imageSums, laneKeys } from './page-hash.ts';

/** Pages a fresh stale list holds before it grows (it doubles). */
const INITIAL_STALE = 1024;

/**
 * Largest image, pages, tracked by a shadow copy instead of a stale list: 2^22 pages (a 16 GiB guest; a
 * 16 MiB shadow, as much as the image, and a settle pass of ~2 ms).
 */
export const SHADOW_MAX_PAGES = 2 ** 22;

/** Pages a shadow settle compares before it hashes the changed ones (the stale list's arrays, reused). */
const SETTLE_BLOCK = 4096;

/** How a tracker finds the pages written since its last settle (see the module's comment). */
export type DigestTrackingMode = 'shadow' | 'stale-list';

function defaultMode(pages: number): DigestTrackingMode {
  return pages <= SHADOW_MAX_PAGES ? 'shadow' : 'stale-list';
}

/** The digest sum of one registered page-version array. */
export class DigestTracker {
  /** Seed the lanes are keyed with. */
  readonly seed: number;
  readonly #keys: Int32Array;
  /** Lane sums as of the last settle (the stale pages at their recorded old versions). */
  readonly #sums: Int32Array;
  /** The versions as of the last settle (shadow mode), or undefined (stale-list mode). */
  readonly #shadow: Uint32Array | undefined;
  /** One bit per page: written since the last settle (stale-list mode; empty in shadow mode). */
  readonly #stale: Uint8Array;
  /** The stale pages, in order of first write, and their versions at that write ([0, #staleCount)). */
  #stalePages: Float64Array = new Float64Array(INITIAL_STALE);
  #staleOld: Uint32Array = new Uint32Array(INITIAL_STALE);
  /** Scratch for the settle: the stale pages' current versions. */
  #staleNew: Uint32Array = new Uint32Array(INITIAL_STALE);
  #staleCount = 0;

  /**
   * Tracks `versions` as it is now (O(pages) once; nothing for an all-zero image beyond the scan), in `mode`
   * (by default by its size, {@link SHADOW_MAX_PAGES}).
   */
  constructor(seed: number, versions: Uint32Array, mode: DigestTrackingMode = defaultMode(versions.length)) {
    this.seed = seed;
    this.#keys = laneKeys(seed);
    this.#sums = imageSums(this.#keys, versions);
    const shadow = mode === 'shadow';
    this.#shadow = shadow ? versions.slice() : undefined;
    this.#stale = new Uint8Array(shadow ? 0 : Math.ceil(versions.length / 8));
  }

  /** True when writes must be announced ({@link noteWrite}); a shadow-tracked image finds them itself. */
  get tracksWrites(): boolean {
    return this.#shadow === undefined;
  }

  /**
   * Call before writing page `page` (whose version is `old` until the write). The first write since the last
   * settle records the page and `old`; later ones cost a bit test.
   */
  noteWrite(page: number, old: number): void {
    if (this.#shadow !== undefined) return;
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
    if (this.#shadow !== undefined) return;
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
    this.#staleNew = new Uint32Array(length);
  }

  /** Swaps the stale pages' old terms for their current ones and returns the lane sums of `versions`. */
  settle(versions: Uint32Array): Int32Array {
    if (this.#shadow !== undefined) return this.#settleShadow(versions, this.#shadow);
    const count = this.#staleCount;
    const pages = this.#stalePages;
    // The current versions, gathered in the order of the list (a random read each on a large guest).
    const news = this.#staleNew;
    for (let i = 0; i < count; i++) news[i] = versions[pages[i] as number] as number;
    addPageTermChanges(this.#sums, this.#keys, pages, this.#staleOld, news, count);
    const stale = this.#stale;
    // Only stale pages' bits are set: once they are as many as the bitmap's bytes / 8, clearing it whole is
    // cheaper than a random write per page (a cache miss each on a large guest).
    if (count * 8 >= stale.length) stale.fill(0);
    else for (let i = 0; i < count; i++) stale[(pages[i] as number) >>> 3] = 0;
    this.#staleCount = 0;
    return this.#sums;
  }

  /**
   * Shadow mode's settle: the pages whose version differs from the shadow, hashed, and the shadow updated —
   * block by block, branch-free (every page is written to the block and kept only if it changed: on a busy
   * guest about half of them did, and a branch per page mispredicted enough to double the pass).
   */
  #settleShadow(versions: Uint32Array, shadow: Uint32Array): Int32Array {
    this.#reserve(SETTLE_BLOCK);
    const pages = this.#stalePages;
    const olds = this.#staleOld;
    const news = this.#staleNew;
    const length = Math.min(versions.length, shadow.length);
    for (let from = 0; from < length; from += SETTLE_BLOCK) {
      const to = Math.min(length, from + SETTLE_BLOCK);
      let n = 0;
      for (let p = from; p < to; p++) {
        const old = shadow[p] as number;
        const v = versions[p] as number;
        pages[n] = p;
        olds[n] = old;
        news[n] = v;
        shadow[p] = v;
        n += +(v !== old);
      }
      if (n > 0) addPageTermChanges(this.#sums, this.#keys, pages, olds, news, n);
    }
    return this.#sums;
  }
}

const trackers = new WeakMap<Uint32Array, DigestTracker>();

/**
 * Registers `versions` for incremental digests under `seed` (idempotent for the same seed), in `mode` (by
 * default by its size; tests choose).
 */
export function trackDigest(seed: number, versions: Uint32Array, mode?: DigestTrackingMode): DigestTracker {
  const known = trackers.get(versions);
  if (known && known.seed === seed) return known;
  const tracker = new DigestTracker(seed, versions, mode);
  trackers.set(versions, tracker);
  return tracker;
}

/** The tracker of `versions`, if it is registered. Writers look it up once per batch of writes. */
export function digestTrackerOf(versions: Uint32Array): DigestTracker | undefined {
  return trackers.get(versions);
}
