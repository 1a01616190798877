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
 * Memoised page classes of one guest: 0 = not computed yet, 1 = a zero page, 2 = any other class. A
 * class is fixed for a page's life, so each is hashed once per (seed, mix) instead of once per page sent,
 * staged and verified. One byte per page, filled lazily (a cloud invocation touches few pages).
 */
export class ZeroClassTable {
  private readonly table: Uint8Array;

  /** A table for `pages` pages of the guest of `seed` with content mix `mix`. */
  constructor(
    private readonly seed: number,
    private readonly mix: ContentMix,
    pages: number,
  ) {
    this.table = new Uint8Array(pages);
  }

  /** True when `page` at `version` is all zeros (version 0 always is); same answer as {@link isZeroPage}. */
  isZero(page: number, version: number): boolean {
    if (version === 0) return true;
    let c = this.table[page];
    if (c === undefined) return isZeroPage(this.seed, page, version, this.mix);
    if (c === 0) {
      c = pageClass(this.seed, page, this.mix) === 'zero' ? 1 : 2;
      this.table[page] = c;
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
    // Repeated by doubling copies (memmove each), not word by word: the same bytes.
    for (let have = 16; have < PAGE_SIZE / 4; have *= 2) view.copyWithin(have, 0, have);
    return;
  }
  for (let i = 0; i < PAGE_SIZE / 4; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    view[i] = x >>> 0;
  }
}

/** Length of a compressible page's repeated motif, bytes. */
const MOTIF_BYTES = 64;

/** Scratch for {@link pageMatches} of a zero page. */
const EXPECTED = new Uint8Array(PAGE_SIZE);
/** Aligned scratch for {@link pageMatches} of a page whose bytes are not 4-byte aligned. */
const ALIGNED = new Int32Array(PAGE_SIZE / 4);
const ALIGNED_BYTES = new Uint8Array(ALIGNED.buffer);

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
  // Int32 words: the generator's state is an int32, so no conversion per word. A decoded page is a view
  // into its object, usually not 4-byte aligned: its words are then read from an aligned copy (one memcpy
  // costs less than a DataView read per word).
  const words = compressible ? MOTIF_BYTES / 4 : PAGE_SIZE / 4;
  let view: Int32Array = ALIGNED;
  if (got.byteOffset % 4 === 0) view = new Int32Array(got.buffer, got.byteOffset, words);
  else ALIGNED_BYTES.set(compressible ? got.subarray(0, MOTIF_BYTES) : got);
  let x = x0;
  for (let i = 0; i < words; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    if (view[i] !== x) return false;
  }
  return !compressible || repeatsMotif(got);
}

/**
 * True when every byte of a page equals the byte {@link MOTIF_BYTES} before it (the page is its first 64
 * bytes repeated): one native comparison of the page against itself shifted, instead of a loop of words.
 */
function repeatsMotif(got: Uint8Array): boolean {
  return Buffer.compare(got.subarray(MOTIF_BYTES), got.subarray(0, PAGE_SIZE - MOTIF_BYTES)) === 0;
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
