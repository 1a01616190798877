import { hash32, hash32Prefix, hash32Rest, unit } from '../rng.ts';
import type { WorkloadSpec } from './spec.ts';
import { ZipfPages } from './zipf-table.ts';

/** Calls `visit(page)` for every write the guest makes in guest time [t0, t1), ms. */
export type WriteGenerator = (t0: number, t1: number, visit: (page: number) => void) => void;

/**
 * Receives a batch of writes: the pages of `count` consecutive writes, in order, at `pages[0 … count − 1]`.
 * `pages` is the generator's reused buffer: read it before returning, never keep it.
 */
export type WriteBatchSink = (pages: Float64Array, count: number) => void;

/**
 * Gives every write the guest makes in guest time [t0, t1), ms, in batches of at most {@link WRITE_BATCH}
 * pages, in the same order as {@link WriteGenerator}. A sink must not run the same generator again.
 */
export type WriteBatchGenerator = (t0: number, t1: number, sink: WriteBatchSink) => void;

/** Writes per batch of a {@link WriteBatchGenerator} (its reused buffer: 8 bytes a write, 32 KiB). */
export const WRITE_BATCH = 4096;

/**
 * Writes number k of a stream with rate r happen at guest time k·1000/r ms. The count of writes
 * before time t is ceil(t·r/1000); using that one formula makes any split of an interval produce
 * exactly the same writes as the whole interval.
 */
function countBefore(t: number, rate: number): number {
  return Math.ceil((t * rate) / 1000);
}

/** An affine permutation of [0, n): k ↦ (a·k + b) mod n, with a coprime to n. */
function permutation(n: number, seed: number): (k: number) => number {
  if (n <= 1) return () => 0;
  let a = (hash32(seed, n, 0xa) % n) | 1;
  while (gcd(a, n) !== 1) a = (a + 2) % n || 1;
  const b = hash32(seed, n, 0xb) % n;
  // (a·k) may exceed 2^53 for huge n; do it in two halves to stay exact. A k already below n (a zipf rank)
  // with a·k exact needs one remainder, not three: the same value.
  return (k) => {
    if (k < n && a * k < Number.MAX_SAFE_INTEGER) {
      const m = modExact(a * k, n) + b;
      return m >= n ? m - n : m;
    }
    return modExact(mulMod(a, modExact(k, n), n) + b, n);
  };
}

function gcd(x: number, y: number): number {
  let a = x;
  let b = y;
  while (b) [a, b] = [b, a % b];
  return a;
}

function mulMod(a: number, k: number, n: number): number {
  if (a * k < Number.MAX_SAFE_INTEGER) return modExact(a * k, n);
  const hi = Math.floor(k / 65536);
  const lo = k % 65536;
  return modExact(modExact(a * hi, n) * 65536 + a * lo, n);
}

/**
 * `x % n` for integers 0 ≤ x < 2^53 and 0 < n ≤ 2^52, the same value, without the floating-point remainder
 * (a library call, ~4× slower; the permutation runs once per write). x / n rounds by less than one, so the
 * quotient's floor is off by at most one, which the sign of the remainder corrects; q·n ≤ x + n stays
 * exact while x ≤ 2^52 (above that, the remainder operator).
 */
function modExact(x: number, n: number): number {
  if (x > 2 ** 52) return x % n;
  const r = x - Math.floor(x / n) * n;
  return r < 0 ? r + n : r >= n ? r - n : r;
}

/**
 * Builds the write generator for a workload over a guest of `pageCount` pages, page by page: the writes of
 * {@link makeWorkloadBatches}, one `visit` call each.
 */
export function makeWorkload(spec: WorkloadSpec, pageCount: number, seed: number, salt = 0): WriteGenerator {
  const batches = makeWorkloadBatches(spec, pageCount, seed, salt);
  return (t0, t1, visit) =>
    batches(t0, t1, (pages, count) => {
      for (let i = 0; i < count; i++) visit(pages[i] as number);
    });
}

/**
 * Builds the batched write generator for a workload over a guest of `pageCount` pages.
 * `seed` selects the run; `salt` separates independent streams (the SVM's own writes use another salt).
 * Each kind's loop is written out and fills a reused typed array (no call per write): this is the engine's
 * hottest path.
 */
export function makeWorkloadBatches(
  spec: WorkloadSpec,
  pageCount: number,
  seed: number,
  salt = 0,
): WriteBatchGenerator {
  const s = (seed ^ salt) >>> 0;
  const n = pageCount;
  const buf = new Float64Array(WRITE_BATCH);
  switch (spec.kind) {
    case 'idle':
      return () => {};
    case 'uniform': {
      const rate = spec.rate;
      const uniformStream = hash32Prefix(s, 1);
      return (t0, t1, sink) => {
        if (rate <= 0 || t1 <= t0) return;
        const end = countBefore(t1, rate);
        for (let k0 = countBefore(t0, rate); k0 < end; k0 += WRITE_BATCH) {
          const count = Math.min(WRITE_BATCH, end - k0);
          for (let i = 0; i < count; i++) buf[i] = draw(uniformStream, k0 + i, n);
          sink(buf, count);
        }
      };
    }
    case 'sequential': {
      const start = hash32(s, 2) % n;
      const span = Math.max(1, Math.min(spec.spanPages ?? n, n));
      const rate = spec.rate;
      return (t0, t1, sink) => {
        if (rate <= 0 || t1 <= t0) return;
        const end = countBefore(t1, rate);
        for (let k0 = countBefore(t0, rate); k0 < end; k0 += WRITE_BATCH) {
          const count = Math.min(WRITE_BATCH, end - k0);
          // Page of write k: (start + k mod span) mod n, stepped (one remainder per batch, not two per write).
          let offset = k0 % span;
          let page = (start + offset) % n;
          for (let i = 0; i < count; i++) {
            buf[i] = page;
            if (++offset === span) {
              offset = 0;
              page = start;
            } else if (++page === n) page = 0;
          }
          sink(buf, count);
        }
      };
    }
    case 'hotcold': {
      const hot = Math.min(spec.hotPages, n);
      const cold = n - hot;
      const perm = permutation(cold, s ^ 3);
      const { hotRate, coldRate } = spec;
      const hotStream = hash32Prefix(s, 4);
      return (t0, t1, sink) => {
        if (t1 <= t0) return;
        if (hot > 0 && hotRate > 0) {
          const end = countBefore(t1, hotRate);
          for (let k0 = countBefore(t0, hotRate); k0 < end; k0 += WRITE_BATCH) {
            const count = Math.min(WRITE_BATCH, end - k0);
            for (let i = 0; i < count; i++) buf[i] = draw(hotStream, k0 + i, hot);
            sink(buf, count);
          }
        }
        if (cold > 0 && coldRate > 0) {
          const end = countBefore(t1, coldRate);
          for (let k0 = countBefore(t0, coldRate); k0 < end; k0 += WRITE_BATCH) {
            const count = Math.min(WRITE_BATCH, end - k0);
            for (let i = 0; i < count; i++) buf[i] = hot + perm(k0 + i);
            sink(buf, count);
          }
        }
      };
    }
    case 'zipf': {
      const perm = permutation(n, s ^ 5);
      const { inv, value } = zipfInverse(n, spec.exponent);
      const pages = new ZipfPages(value, (u) => perm(inv(u)));
      const rate = spec.rate;
      const zipfStream = hash32Prefix(s, 6);
      return (t0, t1, sink) => {
        if (rate <= 0 || t1 <= t0) return;
        const end = countBefore(t1, rate);
        for (let k0 = countBefore(t0, rate); k0 < end; k0 += WRITE_BATCH) {
          const count = Math.min(WRITE_BATCH, end - k0);
          // perm(inv(unitOf(zipfStream, k))), mostly from the table.
          for (let i = 0; i < count; i++) buf[i] = pages.page(hash32Rest(zipfStream, k0 + i, 0));
          sink(buf, count);
        }
      };
    }
    case 'buffered-io': {
      const hot = Math.max(1, Math.min(spec.hotPages, n));
      const { rate, tail } = spec;
      const tailStream = hash32Prefix(s, 7);
      const wideStream = hash32Prefix(s, 8);
      const hotStream = hash32Prefix(s, 9);
      return (t0, t1, sink) => {
        if (rate <= 0 || t1 <= t0) return;
        const end = countBefore(t1, rate);
        for (let k0 = countBefore(t0, rate); k0 < end; k0 += WRITE_BATCH) {
          const count = Math.min(WRITE_BATCH, end - k0);
          for (let i = 0; i < count; i++) {
            const k = k0 + i;
            buf[i] = unitOf(tailStream, k) < tail ? draw(wideStream, k, n) : draw(hotStream, k, hot);
          }
          sink(buf, count);
        }
      };
    }
  }
}

/**
 * Write k's page of a stream: `hash32(seed, streamId, k_lo, k_hi) % n`, from the stream's
 * {@link hash32Prefix} of (seed, streamId) — the same value for half the mixing.
 */
function draw(stream: number, k: number, n: number): number {
  return hash32Rest(stream, k >>> 0, Math.floor(k / 0x1_0000_0000)) % n;
}

/**
 * `unit(seed, streamId, k)` from the stream's {@link hash32Prefix}: a uniform float in [0, 1). As in
 * `unit`, only k's low 32 bits are hashed.
 */
function unitOf(stream: number, k: number): number {
  return hash32Rest(stream, k, 0) / 0x1_0000_0000;
}

/**
 * Inverse CDF of a continuous approximation of Zipf(s) over ranks [0, n): cheap and needs no table,
 * so it works for guests of millions of pages. `inv` gives the rank of u ∈ [0, 1); `value` the real number
 * `inv` floors (monotone in u) for {@link ZipfPages}.
 */
function zipfInverse(n: number, s: number): { inv: (u: number) => number; value: (u: number) => number } {
  if (Math.abs(s - 1) < 1e-9) {
    const logN = Math.log(n + 1);
    const value = (u: number) => Math.exp(u * logN) - 1;
    return { inv: (u) => Math.min(n - 1, Math.floor(value(u))), value };
  }
  const a = 1 - s;
  const top = (n + 1) ** a - 1;
  const exact = (u: number) => Math.min(n - 1, Math.max(0, Math.floor((u * top + 1) ** (1 / a) - 1)));
  const power = 1 / a;
  // exp(log) is ~40 % cheaper than `**` (a draw per write) and within ~1e-14 of it, relatively: its floor is
  // the same unless the value is that close to an integer, and then `exact` decides.
  const value = (u: number) => Math.exp(power * Math.log(u * top + 1)) - 1;
  const inv = (u: number) => {
    const v = value(u);
    const f = Math.floor(v);
    const margin = Math.max(1e-6, Math.abs(v) * 1e-12);
    if (!(v - f >= margin && f + 1 - v >= margin)) return exact(u);
    return Math.min(n - 1, Math.max(0, f));
  };
  return { inv, value };
}

/**
 * Output-divergence (miscompare) instants as a Poisson process over guest time: returns the guest time,
 * ms, of miscompare number `k` given the previous one at `prev` ms. `ratePerSec` ≤ 0 means never.
 */
export function nextMiscompareAt(seed: number, ratePerSec: number, k: number, prev: number): number {
  if (ratePerSec <= 0) return Number.POSITIVE_INFINITY;
  const u = unit(seed, 0x3c, k);
  return prev + (-Math.log(1 - u) / ratePerSec) * 1000;
}
