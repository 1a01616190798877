/**
 * Incremental memory digests: a page-version array registered here keeps its digest sum (page-hash.ts) up to
 * date as the engine writes it, so `memoryDigest` costs O(pages written since the last digest) instead of
 * O(guest pages) — what lets the embedded runtime digest a 1 TiB guest at every checkpoint stop and commit.
 *
 * Registration is opt-in and per array (the embedded runtime registers its VMs' images): an array that is
 * not registered is digested from scratch, so code that writes page versions without telling the tracker
 * (tests, decoded cloud state documents) still gets the right digest. Every engine write to a registered
 * array goes through {@link DigestTracker.noteWrite} first.
 */
import { DirtyBitmap } from './dirty-bitmap.ts';
import { addPageHash, imageSums, laneKeys } from './page-hash.ts';

/** The digest sum of one registered page-version array. */
export class DigestTracker {
  /** Seed the lanes are keyed with. */
  readonly seed: number;
  readonly #keys: Int32Array;
  /** Lane sums with the terms of the stale pages taken out. */
  readonly #sums: Int32Array;
  /** Pages written since the last settle (their terms are out of the sums). */
  readonly #stale: DirtyBitmap;
  readonly #staleList: number[] = [];

  /** Tracks `versions` as it is now (O(pages) once; nothing for an all-zero image beyond the scan). */
  constructor(seed: number, versions: Uint32Array) {
    this.seed = seed;
    this.#keys = laneKeys(seed);
    this.#sums = imageSums(this.#keys, versions);
    this.#stale = new DirtyBitmap(versions.length);
  }

  /**
   * Call before writing page `page` (whose version is `old` until the write). The first write since the last
   * settle takes the page's term out; later ones cost a bit test.
   */
  noteWrite(page: number, old: number): void {
    if (!this.#stale.set(page)) return;
    addPageHash(this.#sums, this.#keys, page, old, -1);
    this.#staleList.push(page);
  }

  /** Puts the stale pages' current terms back and returns the lane sums of `versions`, O(stale pages). */
  settle(versions: Uint32Array): Int32Array {
    const list = this.#staleList;
    for (let i = 0; i < list.length; i++) {
      const page = list[i] as number;
      addPageHash(this.#sums, this.#keys, page, versions[page] as number, 1);
      this.#stale.clear(page);
    }
    list.length = 0;
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
