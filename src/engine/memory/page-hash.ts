/**
 * The per-page terms of the memory digest (digest.ts): four 32-bit lanes of a seed-keyed murmur3-style hash
 * of (page index, page version), summed mod 2^32 lane by lane over the pages. A sum can be kept up to date
 * page by page, so a digest costs O(pages changed) instead of O(guest pages).
 *
 * For a fixed seed and page, each lane is a bijection of the version (every step — multiply by an odd
 * constant, rotate, xor with a constant, add — is invertible), so changing one page's version always changes
 * every lane. Not cryptographic: a consistency check between two replicas of one engine, not a defence
 * against anyone choosing versions.
 */

/** Lanes of a digest sum (4 × 32 bits = 128 bits). */
export const DIGEST_LANES = 4;

/** Salts that make the four lanes different functions. */
const LANE_SALTS = [0x9e37_79b9, 0x85eb_ca6b, 0xc2b2_ae35, 0x27d4_eb2f] as const;

/** Absorbs one 32-bit word into a murmur3 state. */
function absorb(h: number, word: number): number {
  let k = Math.imul(word, 0xcc9e_2d51);
  k = (k << 15) | (k >>> 17);
  k = Math.imul(k, 0x1b87_3593);
  h ^= k;
  h = (h << 13) | (h >>> 19);
  return (Math.imul(h, 5) + 0xe654_6b64) | 0;
}

/** murmur3's finaliser (a bijection on 32 bits). */
function finish(h: number): number {
  h ^= h >>> 16;
  h = Math.imul(h, 0x85eb_ca6b);
  h ^= h >>> 13;
  h = Math.imul(h, 0xc2b2_ae35);
  return h ^ (h >>> 16);
}

/** The lanes' keys for a seed: each lane's murmur3 state after its salt and the seed. */
export function laneKeys(seed: number): Int32Array {
  return Int32Array.from(LANE_SALTS, (salt) => absorb(salt | 0, seed | 0));
}

/** One lane's hash of (page, version) under its key. */
export function laneHash(key: number, page: number, version: number): number {
  return finish(absorb(absorb(key, page | 0), version | 0));
}

/**
 * Adds `sign` × the hash of (page, version) to each lane of `sums` (mod 2^32: an Int32Array wraps on store).
 * @param sign 1 to add a page's term, -1 to take it out.
 */
export function addPageHash(
  sums: Int32Array,
  keys: Int32Array,
  page: number,
  version: number,
  sign: 1 | -1,
): void {
  for (let k = 0; k < DIGEST_LANES; k++)
    sums[k] = ((sums[k] as number) + sign * laneHash(keys[k] as number, page, version)) | 0;
}

/**
 * The lane sums of a whole image, from scratch, O(pages). A page's term is hash(page, version) − hash(page, 0),
 * so a page at version 0 adds nothing: an all-zero image sums to 0 and a fresh image costs nothing to track.
 */
export function imageSums(keys: Int32Array, versions: Uint32Array): Int32Array {
  const sums = new Int32Array(DIGEST_LANES);
  for (let p = 0; p < versions.length; p++) {
    const v = versions[p] as number;
    if (v === 0) continue;
    addPageHash(sums, keys, p, v, 1);
    addPageHash(sums, keys, p, 0, -1);
  }
  return sums;
}

/**
 * For each k < `count`: takes the term of (pages[k], olds[k]) out of `sums` and puts that of
 * (pages[k], news[k]) in — the same sums as {@link addPageHash} with −1 then 1, with each lane's page prefix
 * hashed once for both terms. One pass over the pages for the four lanes, the hash written out in the loop
 * (no calls: this is the digest's whole cost; a helper per lane measured 1.7–2.3× slower): murmur3's
 * scrambling of a word does not depend on the lane's key, so page, version and old version are scrambled
 * once each. Each lane adds the same terms mod 2^32, so the sums are the same.
 */
export function addPageTermChanges(
  sums: Int32Array,
  keys: Int32Array,
  pages: Float64Array,
  olds: Uint32Array,
  news: Uint32Array,
  count: number,
): void {
  const key0 = keys[0] as number;
  const key1 = keys[1] as number;
  const key2 = keys[2] as number;
  const key3 = keys[3] as number;
  let sum0 = sums[0] as number;
  let sum1 = sums[1] as number;
  let sum2 = sums[2] as number;
  let sum3 = sums[3] as number;
  for (let i = 0; i < count; i++) {
    const page = pages[i] as number;
    // absorb's scrambling of the page, the current version and the old one (the same in every lane).
    let kp = Math.imul(page | 0, 0xcc9e_2d51);
    kp = Math.imul((kp << 15) | (kp >>> 17), 0x1b87_3593);
    let kv = Math.imul((news[i] as number) | 0, 0xcc9e_2d51);
    kv = Math.imul((kv << 15) | (kv >>> 17), 0x1b87_3593);
    let ko = Math.imul((olds[i] as number) | 0, 0xcc9e_2d51);
    ko = Math.imul((ko << 15) | (ko >>> 17), 0x1b87_3593);
    let h: number;
    let a: number;
    let b: number;
    // Each lane: absorb(key, page), then finish(absorb(·, version)) less finish(absorb(·, old)).
    h = key0 ^ kp;
    h = (Math.imul((h << 13) | (h >>> 19), 5) + 0xe654_6b64) | 0;
    a = h ^ kv;
    a = (Math.imul((a << 13) | (a >>> 19), 5) + 0xe654_6b64) | 0;
    a ^= a >>> 16;
    a = Math.imul(a, 0x85eb_ca6b);
    a ^= a >>> 13;
    a = Math.imul(a, 0xc2b2_ae35);
    a ^= a >>> 16;
    b = h ^ ko;
    b = (Math.imul((b << 13) | (b >>> 19), 5) + 0xe654_6b64) | 0;
    b ^= b >>> 16;
    b = Math.imul(b, 0x85eb_ca6b);
    b ^= b >>> 13;
    b = Math.imul(b, 0xc2b2_ae35);
    b ^= b >>> 16;
    sum0 = (sum0 + a - b) | 0;
    h = key1 ^ kp;
    h = (Math.imul((h << 13) | (h >>> 19), 5) + 0xe654_6b64) | 0;
    a = h ^ kv;
    a = (Math.imul((a << 13) | (a >>> 19), 5) + 0xe654_6b64) | 0;
    a ^= a >>> 16;
    a = Math.imul(a, 0x85eb_ca6b);
    a ^= a >>> 13;
    a = Math.imul(a, 0xc2b2_ae35);
    a ^= a >>> 16;
    b = h ^ ko;
    b = (Math.imul((b << 13) | (b >>> 19), 5) + 0xe654_6b64) | 0;
    b ^= b >>> 16;
    b = Math.imul(b, 0x85eb_ca6b);
    b ^= b >>> 13;
    b = Math.imul(b, 0xc2b2_ae35);
    b ^= b >>> 16;
    sum1 = (sum1 + a - b) | 0;
    h = key2 ^ kp;
    h = (Math.imul((h << 13) | (h >>> 19), 5) + 0xe654_6b64) | 0;
    a = h ^ kv;
    a = (Math.imul((a << 13) | (a >>> 19), 5) + 0xe654_6b64) | 0;
    a ^= a >>> 16;
    a = Math.imul(a, 0x85eb_ca6b);
    a ^= a >>> 13;
    a = Math.imul(a, 0xc2b2_ae35);
    a ^= a >>> 16;
    b = h ^ ko;
    b = (Math.imul((b << 13) | (b >>> 19), 5) + 0xe654_6b64) | 0;
    b ^= b >>> 16;
    b = Math.imul(b, 0x85eb_ca6b);
    b ^= b >>> 13;
    b = Math.imul(b, 0xc2b2_ae35);
    b ^= b >>> 16;
    sum2 = (sum2 + a - b) | 0;
    h = key3 ^ kp;
    h = (Math.imul((h << 13) | (h >>> 19), 5) + 0xe654_6b64) | 0;
    a = h ^ kv;
    a = (Math.imul((a << 13) | (a >>> 19), 5) + 0xe654_6b64) | 0;
    a ^= a >>> 16;
    a = Math.imul(a, 0x85eb_ca6b);
    a ^= a >>> 13;
    a = Math.imul(a, 0xc2b2_ae35);
    a ^= a >>> 16;
    b = h ^ ko;
    b = (Math.imul((b << 13) | (b >>> 19), 5) + 0xe654_6b64) | 0;
    b ^= b >>> 16;
    b = Math.imul(b, 0x85eb_ca6b);
    b ^= b >>> 13;
    b = Math.imul(b, 0xc2b2_ae35);
    b ^= b >>> 16;
    sum3 = (sum3 + a - b) | 0;
  }
  sums[0] = sum0;
  sums[1] = sum1;
  sums[2] = sum2;
  sums[3] = sum3;
}
