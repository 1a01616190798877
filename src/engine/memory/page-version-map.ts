/**
 * A map from guest page to page version in typed arrays: the colo cache of the secondary. It reads like a
 * `Map<number, number>` (insertion order, `size`, `get`, `has`, `set`, `clear`, iteration) but a `set` is a
 * lookup and a few array stores instead of a `Map` insert: a background round stages tens of thousands of
 * pages, and a `Map` insert into a table of that size costs ~0.3 µs.
 *
 * Two ways to find an entry. By default an open-addressing table (linear probing, at most half full) of entry
 * numbers, whose memory grows with the entries, never with the guest: 16 to 32 bytes per entry of the largest
 * epoch seen. A map made for a guest of at most {@link DENSE_MAX_PAGES} pages switches to indexing entries by
 * page directly (4 bytes per guest page) once its entries outgrow a quarter of the guest's pages — where that
 * index costs at most about as much as the table it replaces: a round's pages arrive ascending, so their
 * lookups then walk the index in order instead of landing at random in a table of that size (a cache miss
 * per page, most of what staging cost on a 1 GiB guest). It stays indexed (cleared entry by entry) unless a
 * page beyond the guest is set, which turns it back to hashing. Both keep the entries in insertion order
 * beside the index; `clear` costs O(entries), never O(guest).
 */
export class PageVersionMap {
  // True private fields: equality in tests (iteration plus own enumerable properties) sees the entries only.
  /** Pages in insertion order (the first `count` are valid). */
  #order = new Uint32Array(0);
  /** Version of each entry, by position in the insertion order. */
  #versions = new Uint32Array(0);
  /** Hash slots: entry position + 1, 0 = empty. Twice the entry capacity, a power of two. */
  #slots = new Uint32Array(0);
  /** 32 − log2(slots): a page's home slot is the top bits of its Fibonacci hash. */
  #shift = 32;
  #count = 0;
  /** Guest pages of the direct index (0: never indexed directly); the index is made by {@link #grow}. */
  #densePages: number;
  /** Direct index, page → entry position + 1 (0 = absent), when the map indexes pages directly. */
  #dense: Uint32Array | undefined;

  /**
   * An empty map. `guestPages` (a guest's page count) lets it index pages directly once it holds many of
   * them, when that is at most {@link DENSE_MAX_PAGES}; without it (or above it) pages are always hashed.
   * Either way the map holds any u32 page.
   */
  constructor(guestPages = 0) {
    this.#densePages = guestPages > 0 && guestPages <= DENSE_MAX_PAGES ? Math.ceil(guestPages) : 0;
  }

  /** A map holding `entries` in their order. */
  static from(entries: Iterable<readonly [number, number]>): PageVersionMap {
    const m = new PageVersionMap();
    for (const [page, version] of entries) m.set(page, version);
    return m;
  }

  /** True while entries are indexed by page directly (see the class comment), false while they are hashed. */
  get direct(): boolean {
    return this.#dense !== undefined;
  }

  /** Number of pages held. */
  get size(): number {
    return this.#count;
  }

  /** True when `page` is held. */
  has(page: number): boolean {
    return this.#find(page) >= 0;
  }

  /** The version held for `page`, or undefined. */
  get(page: number): number | undefined {
    const e = this.#find(page);
    return e >= 0 ? this.#versions[e] : undefined;
  }

  /**
   * Holds `version` (a u32) for `page` (a u32); a page already held keeps its place in the order.
   * @throws RangeError when either is not a u32.
   */
  set(page: number, version: number): this {
    if (!(page >>> 0 === page && version >>> 0 === version)) notU32(page, version);
    if (this.#count === this.#order.length) this.#grow();
    const dense = this.#dense;
    if (dense !== undefined && page < dense.length) {
      const e = dense[page] as number;
      if (e !== 0) {
        this.#versions[e - 1] = version;
        return this;
      }
      const n = this.#count++;
      this.#order[n] = page;
      this.#versions[n] = version;
      dense[page] = n + 1;
      return this;
    }
    if (dense !== undefined) this.#toHashed();
    const slots = this.#slots;
    const order = this.#order;
    const mask = slots.length - 1;
    let s = Math.imul(page, FIBONACCI) >>> this.#shift;
    for (;;) {
      const e = slots[s] as number;
      if (e === 0) break;
      if (order[e - 1] === page) {
        this.#versions[e - 1] = version;
        return this;
      }
      s = (s + 1) & mask;
    }
    const n = this.#count++;
    order[n] = page;
    this.#versions[n] = version;
    slots[s] = n + 1;
    return this;
  }

  /** Removes every page, O(size): the slots are emptied entry by entry, or all at once when that is cheaper. */
  clear(): void {
    const n = this.#count;
    this.#count = 0;
    const dense = this.#dense;
    if (dense !== undefined) {
      const order = this.#order;
      if (n * 8 >= dense.length) dense.fill(0);
      else for (let i = 0; i < n; i++) dense[order[i] as number] = 0;
      return;
    }
    const slots = this.#slots;
    if (n * 8 >= slots.length) {
      slots.fill(0);
      return;
    }
    // Newest first: every slot on an entry's probe path was taken by an older entry, so it is still taken.
    const order = this.#order;
    const mask = slots.length - 1;
    for (let i = n - 1; i >= 0; i--) {
      let s = Math.imul(order[i] as number, FIBONACCI) >>> this.#shift;
      while (slots[s] !== i + 1) s = (s + 1) & mask;
      slots[s] = 0;
    }
  }

  /** The page at position `i` of the insertion order (0 ≤ i < size). */
  pageAt(i: number): number {
    return this.#order[i] as number;
  }

  /** The version of the entry at position `i` of the insertion order (0 ≤ i < size): no lookup. */
  versionAt(i: number): number {
    return this.#versions[i] as number;
  }

  /** The version held for a page known to be held (0 when it is not). */
  versionOf(page: number): number {
    const e = this.#find(page);
    return e >= 0 ? (this.#versions[e] as number) : 0;
  }

  /** Pages in insertion order. */
  *keys(): IterableIterator<number> {
    for (let i = 0; i < this.#count; i++) yield this.#order[i] as number;
  }

  /** Versions in insertion order. */
  *values(): IterableIterator<number> {
    for (let i = 0; i < this.#count; i++) yield this.#versions[i] as number;
  }

  /** `[page, version]` pairs in insertion order. */
  *entries(): IterableIterator<[number, number]> {
    for (let i = 0; i < this.#count; i++) yield [this.#order[i] as number, this.#versions[i] as number];
  }

  /** `[page, version]` pairs in insertion order. */
  [Symbol.iterator](): IterableIterator<[number, number]> {
    return this.entries();
  }

  /** Position of `page` in the insertion order, or −1. */
  #find(page: number): number {
    const dense = this.#dense;
    if (dense !== undefined)
      return page >>> 0 === page && page < dense.length ? (dense[page] as number) - 1 : -1;
    const slots = this.#slots;
    if (slots.length === 0 || page >>> 0 !== page) return -1;
    const order = this.#order;
    const mask = slots.length - 1;
    let s = Math.imul(page, FIBONACCI) >>> this.#shift;
    for (;;) {
      const e = slots[s] as number;
      if (e === 0) return -1;
      if (order[e - 1] === page) return e - 1;
      s = (s + 1) & mask;
    }
  }

  /**
   * Doubles the entry capacity. A hashed map rehashes in insertion order (which keeps `clear`'s newest-first
   * walk sound), or turns to a direct index once the capacity reaches a quarter of the guest's pages.
   */
  #grow(): void {
    const capacity = Math.max(MIN_CAPACITY, this.#order.length * 2);
    const order = new Uint32Array(capacity);
    order.set(this.#order);
    const versions = new Uint32Array(capacity);
    versions.set(this.#versions);
    this.#order = order;
    this.#versions = versions;
    if (this.#dense !== undefined) return;
    if (this.#densePages > 0 && capacity * 4 >= this.#densePages && this.#toDense()) return;
    this.#rehash(capacity * 2);
  }

  /** Indexes the entries by page directly; false (and never again) when one lies beyond the guest. */
  #toDense(): boolean {
    const pages = this.#densePages;
    const order = this.#order;
    const dense = new Uint32Array(pages);
    for (let i = 0; i < this.#count; i++) {
      const page = order[i] as number;
      if (page >= pages) {
        this.#densePages = 0;
        return false;
      }
      dense[page] = i + 1;
    }
    this.#dense = dense;
    this.#slots = new Uint32Array(0);
    return true;
  }

  /** Leaves the direct index for hashing (a page beyond the guest's size was set), for good. */
  #toHashed(): void {
    this.#dense = undefined;
    this.#densePages = 0;
    this.#rehash(this.#order.length * 2);
  }

  /** Rebuilds the hash slots, `size` of them (a power of two), from the entries in insertion order. */
  #rehash(size: number): void {
    const order = this.#order;
    const slots = new Uint32Array(size);
    const shift = 32 - Math.log2(size);
    const mask = size - 1;
    for (let i = 0; i < this.#count; i++) {
      let s = Math.imul(order[i] as number, FIBONACCI) >>> shift;
      while (slots[s] !== 0) s = (s + 1) & mask;
      slots[s] = i + 1;
    }
    this.#slots = slots;
    this.#shift = shift;
  }
}

/** 2^32 / φ: multiplying by it spreads consecutive pages over the table (Fibonacci hashing). */
const FIBONACCI = 0x9e37_79b9;
/** Entries allocated on first use. */
const MIN_CAPACITY = 1024;
/**
 * Largest guest, pages, whose colo cache may index pages directly: 2^22 pages (a 16 GiB guest, a 16 MiB
 * index — as much as one of the secondary's page-version images of that guest). Larger guests hash.
 */
export const DENSE_MAX_PAGES = 2 ** 22;

/** Thrown out of line: a `throw` with a template inside a hot method slows its callers' loops. */
function notU32(page: number, version: number): never {
  throw new RangeError(`page ${page} → version ${version}: both must be u32`);
}
