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
 * Memoised page classes of one guest, two bits a page: 0 = not computed yet, 1 = a zero page, 2 = a
 * compressible page, 3 = a random page. A class is fixed for a page's life, so each is hashed once per
 * (seed, mix) instead of once per page sent, staged and verified. A quarter of a byte per page, filled lazily
 * (a cloud invocation touches few pages).
 */
export class ZeroClassTable {
  private readonly table: Uint8Array;

  /** A table for `pages` pages of the guest of `seed` with content mix `mix`. */
  constructor(
    readonly seed: number,
    readonly mix: ContentMix,
    pages: number,
  ) {
    this.table = new Uint8Array(Math.ceil(pages / 4));
  }

  /** True when `page` at `version` is all zeros (version 0 always is); same answer as {@link isZeroPage}. */
  isZero(page: number, version: number): boolean {
    return version === 0 || this.code(page) === CLASS_ZERO;
  }

  /** True when `page` at `version` is a random page; same answer as {@link isRandomPage}. */
  isRandom(page: number, version: number): boolean {
    return version !== 0 && this.code(page) === CLASS_RANDOM;
  }

  /** True when `page` at `version` is a compressible page. */
  isCompressible(page: number, version: number): boolean {
    return version !== 0 && this.code(page) === CLASS_COMPRESSIBLE;
  }

  /** The class code of `page` (1 zero, 2 compressible, 3 random), computed on first use. */
  private code(page: number): number {
    const byte = this.table[page >>> 2];
    if (byte === undefined) return classCode(pageClass(this.seed, page, this.mix));
    const shift = (page & 3) << 1;
    let c = (byte >>> shift) & 3;
    if (c === 0) {
      c = classCode(pageClass(this.seed, page, this.mix));
      this.table[page >>> 2] = byte | (c << shift);
    }
    return c;
  }
}

const CLASS_ZERO = 1;
const CLASS_COMPRESSIBLE = 2;
const CLASS_RANDOM = 3;

function classCode(c: PageClass): number {
  return c === 'zero' ? CLASS_ZERO : c === 'compressible' ? CLASS_COMPRESSIBLE : CLASS_RANDOM;
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
  const x = generatorStart(seed, page, version, author);
  // Native byte order: little-endian on every platform this runs on (x86-64, arm64 Lambda).
  const words = new Int32Array(out.buffer, out.byteOffset, PAGE_WORDS);
  if (pageClass(seed, page, mix) === 'compressible') writeMotif(words, 0, x);
  else writeRandom(words, 0, x);
}

/**
 * Writes the bytes of (pages[k], versions[k]) at `out[k · 4096 …]` for every k: the same bytes as
 * {@link fillPage} page by page. Random pages are generated two at a time — two independent xorshift chains
 * in one loop keep the processor busy where one chain waits on its previous word.
 */
export function fillPages(
  out: Uint8Array,
  seed: number,
  pages: ArrayLike<number>,
  versions: ArrayLike<number>,
  mix: ContentMix,
  author: Author = 'pvm',
): void {
  const n = pages.length;
  if (out.byteOffset % 4 !== 0) {
    for (let k = 0; k < n; k++) {
      const slot = out.subarray(k * PAGE_SIZE, (k + 1) * PAGE_SIZE);
      fillPage(slot, seed, pages[k] as number, versions[k] as number, mix, author);
    }
    return;
  }
  const words = new Int32Array(out.buffer, out.byteOffset, n * PAGE_WORDS);
  let held = -1;
  let heldX = 0;
  for (let k = 0; k < n; k++) {
    const page = pages[k] as number;
    const version = versions[k] as number;
    if (isZeroPage(seed, page, version, mix)) {
      words.fill(0, k * PAGE_WORDS, (k + 1) * PAGE_WORDS);
      continue;
    }
    const x = generatorStart(seed, page, version, author);
    if (pageClass(seed, page, mix) === 'compressible') {
      writeMotif(words, k * PAGE_WORDS, x);
    } else if (held < 0) {
      held = k;
      heldX = x;
    } else {
      writeRandomPair(words, held * PAGE_WORDS, heldX, k * PAGE_WORDS, x);
      held = -1;
    }
  }
  if (held >= 0) writeRandom(words, held * PAGE_WORDS, heldX);
}

/** 32-bit words in a page. */
const PAGE_WORDS = PAGE_SIZE / 4;

/** The generator's state before the first word of (page, version, author). */
function generatorStart(seed: number, page: number, version: number, author: Author): number {
  const salt = author === 'svm' ? SVM_SALT : 0;
  return hash32(seed ^ salt, page, version, 0x9a9e) | 1;
}

/** `count` words of the xorshift32 generator started at `x0`, written at `words[at …]`. */
function writeXorshift(words: Int32Array, at: number, count: number, x0: number): void {
  let x = x0;
  for (let i = at; i < at + count; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    words[i] = x;
  }
}

/** A random page: every word from the xorshift32 generator started at `x`, written at `words[at …]`. */
function writeRandom(words: Int32Array, at: number, x0: number): void {
  writeXorshift(words, at, PAGE_WORDS, x0);
}

/** Two random pages at once ({@link writeRandom} of each), their chains interleaved. */
function writeRandomPair(words: Int32Array, a: number, xa0: number, b: number, xb0: number): void {
  let xa = xa0;
  let xb = xb0;
  for (let i = 0; i < PAGE_WORDS; i++) {
    xa ^= xa << 13;
    xb ^= xb << 13;
    xa ^= xa >>> 17;
    xb ^= xb >>> 17;
    xa ^= xa << 5;
    xb ^= xb << 5;
    words[a + i] = xa;
    words[b + i] = xb;
  }
}

/**
 * A compressible page: a 64-byte motif from the generator started at `x`, repeated (deflate shrinks it to a
 * few percent). Repeated by doubling copies (a memmove each), not word by word: the same bytes.
 */
function writeMotif(words: Int32Array, at: number, x0: number): void {
  writeXorshift(words, at, MOTIF_WORDS, x0);
  for (let have = MOTIF_WORDS; have < PAGE_WORDS; have *= 2) words.copyWithin(at + have, at, at + have);
}

/** Length of a compressible page's repeated motif, bytes. */
const MOTIF_BYTES = 64;
const MOTIF_WORDS = MOTIF_BYTES / 4;

/** Scratch for {@link pageMatches} of a zero page. */
const EXPECTED = new Uint8Array(PAGE_SIZE);
/** Aligned scratch for {@link pageMatches} of a page whose bytes are not 4-byte aligned. */
const ALIGNED = new Int32Array(PAGE_SIZE / 4);
const ALIGNED_BYTES = new Uint8Array(ALIGNED.buffer);
/** The second page's aligned scratch for {@link pagePairMatches}. */
const ALIGNED_B_BYTES = new Uint8Array(PAGE_SIZE);

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
  const x0 = generatorStart(seed, page, version, author);
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
 * {@link pageMatches} of two pages at once — true when both match — with the generators of two random pages
 * interleaved (as in {@link fillPages}); any other pair is checked page by page. Says nothing of which page
 * differs: a caller that needs to know asks {@link pageMatches} of each.
 */
export function pagePairMatches(
  gotA: Uint8Array,
  pageA: number,
  versionA: number,
  gotB: Uint8Array,
  pageB: number,
  versionB: number,
  seed: number,
  mix: ContentMix,
): boolean {
  if (
    gotA.byteLength !== PAGE_SIZE ||
    gotB.byteLength !== PAGE_SIZE ||
    !isRandomPage(seed, pageA, versionA, mix) ||
    !isRandomPage(seed, pageB, versionB, mix)
  ) {
    return pageMatches(gotA, seed, pageA, versionA, mix) && pageMatches(gotB, seed, pageB, versionB, mix);
  }
  const a = alignedWords(gotA, ALIGNED_BYTES);
  const b = alignedWords(gotB, ALIGNED_B_BYTES);
  let xa = generatorStart(seed, pageA, versionA, 'pvm');
  let xb = generatorStart(seed, pageB, versionB, 'pvm');
  for (let i = 0; i < PAGE_WORDS; i++) {
    xa ^= xa << 13;
    xb ^= xb << 13;
    xa ^= xa >>> 17;
    xb ^= xb >>> 17;
    xa ^= xa << 5;
    xb ^= xb << 5;
    if (a[i] !== xa || b[i] !== xb) return false;
  }
  return true;
}

/** True when (page, version) is a random page (neither zero nor compressible). */
export function isRandomPage(seed: number, page: number, version: number, mix: ContentMix): boolean {
  return version !== 0 && pageClass(seed, page, mix) === 'random';
}

/** The words of a page: in place when 4-byte aligned, else from a copy into `scratch` (a page long). */
function alignedWords(got: Uint8Array, scratch: Uint8Array): Int32Array {
  if (got.byteOffset % 4 === 0) return new Int32Array(got.buffer, got.byteOffset, PAGE_WORDS);
  scratch.set(got);
  return new Int32Array(scratch.buffer, scratch.byteOffset, PAGE_WORDS);
}

/**
 * True when every byte of a page equals the byte {@link MOTIF_BYTES} before it (the page is its first 64
 * bytes repeated): one native comparison of the page against itself shifted, instead of a loop of words.
 */
function repeatsMotif(got: Uint8Array): boolean {
  return Buffer.compare(got.subarray(MOTIF_BYTES), got.subarray(0, PAGE_SIZE - MOTIF_BYTES)) === 0;
}

/**
 * {@link pageMatches} of every non-zero page of a delta in columns, all at once: the pages k < `count` with
 * `zero[k] === 0` hold, back to back in `payload`, the bytes of (pages[k], versions[k]) as the PVM wrote
 * them. Returns the first k (in page order) whose bytes differ, or −1 when every page matches. `classes`
 * gives the guest's seed, mix and page classes; zero pages are not looked at (their class is the caller's
 * check). `payload` holds at least the pages before `count`.
 *
 * The same comparisons as page by page, without a view or a call per page: random pages are checked two at
 * a time (two generators interleaved, as {@link fillPages} writes them), words read in place when `payload`
 * is 4-byte aligned in its buffer.
 */
export function firstMismatchingPage(
  payload: Uint8Array,
  pages: Uint32Array,
  versions: Uint32Array,
  zero: Uint8Array,
  count: number,
  classes: ZeroClassTable,
): number {
  const { seed, mix } = classes;
  const aligned = payload.byteOffset % 4 === 0;
  const words = aligned ? new Int32Array(payload.buffer, payload.byteOffset, payload.byteLength >>> 2) : null;
  const bytes = Buffer.from(payload.buffer, payload.byteOffset, payload.byteLength);
  // A random page waiting for a second one: its index in the columns and its first word.
  let held = -1;
  let heldAt = 0;
  const slow = (k: number, at: number): boolean =>
    pageMatches(
      bytes.subarray(at * 4, at * 4 + PAGE_SIZE),
      seed,
      pages[k] as number,
      versions[k] as number,
      mix,
    );
  for (let k = 0, at = 0; k < count; k++) {
    if (zero[k] !== 0) continue;
    const page = pages[k] as number;
    const version = versions[k] as number;
    const here = at;
    at += PAGE_WORDS;
    if (words === null || !classes.isRandom(page, version)) {
      const ok =
        words !== null && classes.isCompressible(page, version)
          ? motifMatches(words, bytes, here, generatorStart(seed, page, version, 'pvm'))
          : slow(k, here);
      if (!ok) return held >= 0 && !slow(held, heldAt) ? held : k;
      continue;
    }
    if (held < 0) {
      held = k;
      heldAt = here;
      continue;
    }
    const xa = generatorStart(seed, pages[held] as number, versions[held] as number, 'pvm');
    if (!wordPairMatches(words, heldAt, xa, here, generatorStart(seed, page, version, 'pvm'))) {
      return slow(held, heldAt) ? k : held;
    }
    held = -1;
  }
  return held >= 0 && !slow(held, heldAt) ? held : -1;
}

/** Two random pages at `words[a …]` and `words[b …]` against their generators (started at `xa0`, `xb0`). */
function wordPairMatches(words: Int32Array, a: number, xa0: number, b: number, xb0: number): boolean {
  let xa = xa0;
  let xb = xb0;
  for (let i = 0; i < PAGE_WORDS; i++) {
    xa ^= xa << 13;
    xb ^= xb << 13;
    xa ^= xa >>> 17;
    xb ^= xb >>> 17;
    xa ^= xa << 5;
    xb ^= xb << 5;
    if (words[a + i] !== xa || words[b + i] !== xb) return false;
  }
  return true;
}

/**
 * A compressible page at `words[at …]` (the same memory as `bytes`) against its generator started at `x0`:
 * its first {@link MOTIF_BYTES} from the generator, and every later byte equal to the one a motif before it.
 */
function motifMatches(words: Int32Array, bytes: Buffer, at: number, x0: number): boolean {
  let x = x0;
  for (let i = at; i < at + MOTIF_WORDS; i++) {
    x ^= x << 13;
    x ^= x >>> 17;
    x ^= x << 5;
    if (words[i] !== x) return false;
  }
  const from = at * 4;
  return (
    bytes.compare(bytes, from, from + PAGE_SIZE - MOTIF_BYTES, from + MOTIF_BYTES, from + PAGE_SIZE) === 0
  );
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
