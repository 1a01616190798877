/**
 * A map from guest page to page version in typed arrays: the colo cache of the secondary. It reads like a
 * `Map<number, number>` (insertion order, `size`, `get`, `has`, `set`, `clear`, iteration) but a `set` is a
 * few array stores instead of a hash-table insert: a background round stages tens of thousands of pages,
 * and a `Map` insert into a table of that size costs ~0.3 µs.
 *
 * Memory: 4 bytes per page of the largest page seen (allocated on first use, grown by doubling) plus one
 * bit per page and 4 bytes per entry. `clear` costs O(entries), never O(guest).
 */
export class PageVersionMap {
  // True private fields: equality in tests (iteration plus own enumerable properties) sees the entries only.
  /** Pages in insertion order (the first `count` are valid). */
  #order = new Uint32Array(0);
  /** Version of each page present (stale where absent). */
  #versions = new Uint32Array(0);
  /** Presence bit per page. */
  #present = new Uint8Array(0);
  #count = 0;
  readonly #pagesHint: number;

  /** An empty map sized for `pagesHint` pages once used (it grows past that if a larger page is set). */
  constructor(pagesHint = 0) {
    this.#pagesHint = pagesHint;
  }

  /** A map holding `entries` in their order. */
  static from(entries: Iterable<readonly [number, number]>, pagesHint = 0): PageVersionMap {
    const m = new PageVersionMap(pagesHint);
    for (const [page, version] of entries) m.set(page, version);
    return m;
  }

  /** Number of pages held. */
  get size(): number {
    return this.#count;
  }

  /** True when `page` is held. */
  has(page: number): boolean {
    return ((this.#present[page >>> 3] ?? 0) & (1 << (page & 7))) !== 0;
  }

  /** The version held for `page`, or undefined. */
  get(page: number): number | undefined {
    return this.has(page) ? this.#versions[page] : undefined;
  }

  /**
   * Holds `version` (a u32) for `page` (a u32); a page already held keeps its place in the order.
   * @throws RangeError when either is not a u32.
   */
  set(page: number, version: number): this {
    if (!(page >>> 0 === page && version >>> 0 === version)) notU32(page, version);
    if (page >= this.#versions.length) this.#grow(page);
    const byte = page >>> 3;
    const mask = 1 << (page & 7);
    const bits = this.#present[byte] as number;
    this.#versions[page] = version;
    if (bits & mask) return this;
    this.#present[byte] = bits | mask;
    if (this.#count === this.#order.length) {
      const next = new Uint32Array(Math.max(1024, this.#order.length * 2));
      next.set(this.#order);
      this.#order = next;
    }
    this.#order[this.#count++] = page;
    return this;
  }

  /** Removes every page (O(size)). */
  clear(): void {
    const order = this.#order;
    const present = this.#present;
    for (let i = 0; i < this.#count; i++) present[(order[i] as number) >>> 3] = 0;
    this.#count = 0;
  }

  /** The page at position `i` of the insertion order (0 ≤ i < size). */
  pageAt(i: number): number {
    return this.#order[i] as number;
  }

  /** The version held for a page known to be held (no presence check). */
  versionOf(page: number): number {
    return this.#versions[page] as number;
  }

  /** Pages in insertion order. */
  *keys(): IterableIterator<number> {
    for (let i = 0; i < this.#count; i++) yield this.#order[i] as number;
  }

  /** Versions in insertion order. */
  *values(): IterableIterator<number> {
    for (let i = 0; i < this.#count; i++) yield this.#versions[this.#order[i] as number] as number;
  }

  /** `[page, version]` pairs in insertion order. */
  *entries(): IterableIterator<[number, number]> {
    for (let i = 0; i < this.#count; i++) {
      const page = this.#order[i] as number;
      yield [page, this.#versions[page] as number];
    }
  }

  /** `[page, version]` pairs in insertion order. */
  [Symbol.iterator](): IterableIterator<[number, number]> {
    return this.entries();
  }

  #grow(page: number): void {
    const size = Math.max(page + 1, this.#pagesHint, Math.min(2 ** 32, this.#versions.length * 2));
    const versions = new Uint32Array(size);
    versions.set(this.#versions);
    const present = new Uint8Array(Math.ceil(size / 8));
    present.set(this.#present);
    this.#versions = versions;
    this.#present = present;
  }
}

/** Thrown out of line: a `throw` with a template inside a hot method slows its callers' loops. */
function notU32(page: number, version: number): never {
  throw new RangeError(`page ${page} → version ${version}: both must be u32`);
}
