/**
 * A map from guest page to page version in typed arrays: the colo cache of the secondary. It reads like a
 * `Map<number, number>` (insertion order, `size`, `get`, `has`, `set`, `clear`, iteration) but a `set` is a
 * hash and a few array stores instead of a `Map` insert: a background round stages tens of thousands of
 * pages, and a `Map` insert into a table of that size costs ~0.3 µs.
 *
 * Memory grows with the entries, never with the guest: an open-addressing table (linear probing, at most
 * half full) of entry numbers beside the entries in insertion order — 16 to 32 bytes per entry of the
 * largest epoch seen, 0 bytes per guest page. `clear` costs O(entries), never O(guest).
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

  /** A map holding `entries` in their order. */
  static from(entries: Iterable<readonly [number, number]>): PageVersionMap {
    const m = new PageVersionMap();
    for (const [page, version] of entries) m.set(page, version);
    return m;
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
    const slots = this.#slots;
    this.#count = 0;
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

  /** Doubles the entry capacity and rehashes in insertion order (which keeps `clear`'s newest-first walk sound). */
  #grow(): void {
    const capacity = Math.max(MIN_CAPACITY, this.#order.length * 2);
    const order = new Uint32Array(capacity);
    order.set(this.#order);
    const versions = new Uint32Array(capacity);
    versions.set(this.#versions);
    const slots = new Uint32Array(capacity * 2);
    const shift = 32 - Math.log2(slots.length);
    const mask = slots.length - 1;
    for (let i = 0; i < this.#count; i++) {
      let s = Math.imul(order[i] as number, FIBONACCI) >>> shift;
      while (slots[s] !== 0) s = (s + 1) & mask;
      slots[s] = i + 1;
    }
    this.#order = order;
    this.#versions = versions;
    this.#slots = slots;
    this.#shift = shift;
  }
}

/** 2^32 / φ: multiplying by it spreads consecutive pages over the table (Fibonacci hashing). */
const FIBONACCI = 0x9e37_79b9;
/** Entries allocated on first use. */
const MIN_CAPACITY = 1024;

/** Thrown out of line: a `throw` with a template inside a hot method slows its callers' loops. */
function notU32(page: number, version: number): never {
  throw new RangeError(`page ${page} → version ${version}: both must be u32`);
}
