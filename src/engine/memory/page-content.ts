import { PAGE_SIZE } from '../protocol/delta.ts';
import { hash32, unit } from '../rng.ts';

/**
 * Page bytes are a pure function of (seed, page, version, author), so a receiver can rebuild and
 * verify every page it gets, and a guest of many GiB needs only its page versions as bookkeeping.
 */

/** Fractions of guest pages by content class; the rest of the pages are random. */
export interface ContentMix {
  /** Fraction of pages that hold zeros (sent as a flag, no payload), 0..1. */
  zero: number;
  /** Fraction of pages with low-entropy content (compressible), 0..1. */
  compressible: number;
}

/** Default mix: a tenth zero pages, a third compressible, the rest random. */
export const DEFAULT_CONTENT_MIX: ContentMix = { zero: 0.1, compressible: 0.3 };

/** Content class of a page. */
export type PageClass = 'zero' | 'compressible' | 'random';

/** Who wrote a version: the primary VM, or the secondary VM running on its own between checkpoints. */
export type Author = 'pvm' | 'svm';

const SVM_SALT = 0x5f3759df;

/** The class a page has for its whole life, drawn from (seed, page). Version 0 is always a zero page. */
export function pageClass(seed: number, page: number, mix: ContentMix): PageClass {
  const u = unit(seed, page, 0xc1a55);
  if (u < mix.zero) return 'zero';
  if (u < mix.zero + mix.compressible) return 'compressible';
  return 'random';
}

/**
 * Memoised page classes of one guest, two bits a page: 0 = not computed yet, 1 = a zero page, 2 = any other
 * class. A class is fixed for a page's life, so each is hashed once per (seed, mix) instead of once per page
 * sent, staged and verified. A quarter of a byte per page, filled lazily (a cloud invocation touches few pages).
 */
export class ZeroClassTable {
  private readonly table: Uint8Array;

  /** A table for `pages` pages of the guest of `seed` with content mix `mix`. */
  constructor(
    private readonly seed: number,
    private readonly mix: ContentMix,
    pages: number,
  ) {
    this.table = new Uint8Array(Math.ceil(pages / 4));
  }

  /** True when `page` at `version` is all zeros (version 0 always is); same answer as {@link isZeroPage}. */
  isZero(page: number, version: number): boolean {
    if (version === 0) return true;
    const byte = this.table[page >>> 2];
    if (byte === undefined) return isZeroPage(this.seed, page, version, this.mix);
    const shift = (page & 3) << 1;
    let c = (byte >>> shift) & 3;
    if (c === 0) {
      c = pageClass(this.seed, page, this.mix) === 'zero' ? 1 : 2;
      this.table[page >>> 2] = byte | (c << shift);
    }
    return c === 1;
  }
}

const zeroTables = new WeakMap<object, ZeroClassTable>();

/**
 * The {@link ZeroClassTable} of a parameter set (one per parameter object, made on first use). `params`
 * must not change seed, mix or size while in use — the engine's parameters never do.
 */
export function zeroClasses(params: {
  seed: number;
  contentMix: ContentMix;
  guestBytes: number;
}): ZeroClassTable {
  let t = zeroTables.get(params);
  if (!t) {
    t = new ZeroClassTable(params.seed, params.contentMix, Math.floor(params.guestBytes / PAGE_SIZE));
    zeroTables.set(params, t);
  }
  return t;
}

/** True when the page at this version is all zeros (costs no payload on the wire). */
export function isZeroPage(seed: number, page: number, version: number, mix: ContentMix): boolean {
  return version === 0 || pageClass(seed, page, mix) === 'zero';
}

/**
 * Writes the bytes of (page, version) into `out` (at least {@link PAGE_SIZE} bytes long).
 * Random pages use xorshift32 seeded from the hash; compressible pages repeat a short pattern.
 */
export function fillPage(
  out: Uint8Array,
  seed: number,
  page: number,
  version: number,
  mix: ContentMix,
  author: Author = 'pvm',
): void {
  if (isZeroPage(seed, page, version, mix)) {
    out.fill(0, 0, PAGE_SIZE);
    return;
  }
  if (out.byteOffset % 4 !== 0) {
    // Uint32Array views need 4-byte alignment; build aside and copy.
    const aligned = new Uint8Array(PAGE_SIZE);
    fillPage(aligned, seed, page, version, mix, author);
    out.set(aligned);
    return;
  }
  const salt = author === 'svm' ? SVM_SALT : 0;
  let x = hash32(seed ^ salt, page, version, 0x9a9e) | 1;
  // Native byte order: little-endian on every platform this runs on (x86-64, arm64 Lambda).
  const view = new Uint32Array(out.buffer, out.byteOffset, PAGE_SIZE / 4);
  if (pageClass(seed, page, mix) === 'compressible') {
    // A 64-byte motif repeated: deflate shrinks it to a few percent.
    for (let i = 0; i < 16; i++) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      view[i] = x >>> 0;
    }
    for (let i = 16; i < PAGE_SIZE / 4; i++) view[i] = view[i - 16] ?? 0;
    return;
  }
  for (let i = 0; i < PAGE_SIZE / 4; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    view[i] = x >>> 0;
  }
}

/** Scratch for {@link pageMatches} of a zero page. */
const EXPECTED = new Uint8Array(PAGE_SIZE);

/**
 * True when `got` holds exactly the bytes {@link fillPage} writes for (page, version, author): the same
 * generator, compared word by word as it runs — nothing is written, and a wrong page stops at its first
 * differing word. Used by the secondary to verify every page it receives.
 */
export function pageMatches(
  got: Uint8Array,
  seed: number,
  page: number,
  version: number,
  mix: ContentMix,
  author: Author = 'pvm',
): boolean {
  if (got.byteLength !== PAGE_SIZE) return false;
  if (isZeroPage(seed, page, version, mix)) {
    fillPage(EXPECTED, seed, page, version, mix, author);
    return Buffer.from(EXPECTED.buffer, 0, PAGE_SIZE).equals(got);
  }
  const salt = author === 'svm' ? SVM_SALT : 0;
  const x0 = hash32(seed ^ salt, page, version, 0x9a9e) | 1;
  const compressible = pageClass(seed, page, mix) === 'compressible';
  // A decoded page is a view into its object, usually not 4-byte aligned: read it through a DataView.
  if (got.byteOffset % 4 !== 0) return matchesUnaligned(got, x0, compressible);
  let x = x0;
  // Int32 words: the generator's state is an int32, so no conversion per word.
  const view = new Int32Array(got.buffer, got.byteOffset, PAGE_SIZE / 4);
  if (compressible) {
    for (let i = 0; i < 16; i++) {
      x ^= x << 13;
      x ^= x >>> 17;
      x ^= x << 5;
      if (view[i] !== x) return false;
    }
    for (let i = 16; i < PAGE_SIZE / 4; i++) if (view[i] !== view[i - 16]) return false;
    return true;
  }
  for (let i = 0; i < PAGE_SIZE / 4; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    if (view[i] !== x) return false;
  }
  return true;
}

/** {@link pageMatches} of a non-zero page whose bytes are not 4-byte aligned (little-endian words). */
function matchesUnaligned(got: Uint8Array, x0: number, compressible: boolean): boolean {
  const view = new DataView(got.buffer, got.byteOffset, PAGE_SIZE);
  let x = x0;
  const words = compressible ? 16 : PAGE_SIZE / 4;
  for (let i = 0; i < words; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    if (view.getInt32(i * 4, true) !== x) return false;
  }
  for (let i = 64; compressible && i < PAGE_SIZE; i += 4) {
    if (view.getInt32(i, true) !== view.getInt32(i - 64, true)) return false;
  }
  return true;
}

/** Returns a fresh page buffer with the bytes of (page, version), or `null` for a zero page. */
export function pageBytes(
  seed: number,
  page: number,
  version: number,
  mix: ContentMix,
  author: Author = 'pvm',
): Uint8Array | null {
  if (isZeroPage(seed, page, version, mix)) return null;
  const out = new Uint8Array(PAGE_SIZE);
  fillPage(out, seed, page, version, mix, author);
  return out;
}
