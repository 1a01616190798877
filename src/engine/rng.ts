/**
 * Seeded, stateless hashing used everywhere the engine needs "randomness": every draw is a pure function
 * of its inputs, so a run is reproducible from its seed and any runtime can recompute any draw.
 */

/** Mixes a 32-bit value (the "lowbias32" finaliser). */
export function mix32(x: number): number {
  let h = x >>> 0;
  h ^= h >>> 16;
  h = Math.imul(h, 0x7feb352d);
  h ^= h >>> 15;
  h = Math.imul(h, 0x846ca68b);
  h ^= h >>> 16;
  return h >>> 0;
}

/** Hashes up to four 32-bit words into one 32-bit value. */
export function hash32(a: number, b = 0, c = 0, d = 0): number {
  let h = mix32(a ^ 0x9e3779b9);
  h = mix32(h ^ Math.imul(b >>> 0, 0x85ebca6b));
  h = mix32(h ^ Math.imul(c >>> 0, 0xc2b2ae35));
  h = mix32(h ^ Math.imul(d >>> 0, 0x27d4eb2f));
  return h;
}

/**
 * The state of {@link hash32} after its first two words: `hash32(a, b, c, d) === hash32Rest(hash32Prefix(a, b), c, d)`.
 * A stream that hashes (seed, stream id, k) for every k computes the prefix once and pays half the mixing.
 */
export function hash32Prefix(a: number, b = 0): number {
  const h = mix32(a ^ 0x9e3779b9);
  return mix32(h ^ Math.imul(b >>> 0, 0x85ebca6b));
}

/** {@link hash32} from a {@link hash32Prefix} and its last two words. */
export function hash32Rest(prefix: number, c = 0, d = 0): number {
  const h = mix32(prefix ^ Math.imul(c >>> 0, 0xc2b2ae35));
  return mix32(h ^ Math.imul(d >>> 0, 0x27d4eb2f));
}

/** A uniform float in [0, 1) from the hash of the inputs. */
export function unit(a: number, b = 0, c = 0, d = 0): number {
  return hash32(a, b, c, d) / 0x1_0000_0000;
}

/** Splits a non-negative integer below 2^53 into its low and high 32-bit words. */
export function words(n: number): [number, number] {
  return [n >>> 0, Math.floor(n / 0x1_0000_0000) >>> 0];
}
