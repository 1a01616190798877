import { describe, expect, test } from 'vitest';
import { hash32 } from '../../../src/engine/rng.ts';
import { ZipfPages } from '../../../src/engine/workload/zipf-table.ts';

/** Hashes to check: both ends of many buckets (where a rank can change) and hashes spread over 2^32. */
function hashes(): number[] {
  const out: number[] = [];
  for (let b = 0; b < 65_536; b += 37) out.push(b * 65_536, b * 65_536 + 65_535, b * 65_536 + 32_768);
  for (let i = 0; i < 50_000; i++) out.push(hash32(11, i));
  return out;
}

describe('ZipfPages gives the formula’s page for every hash', () => {
  test('the zipf inverse CDF (s = 1.1) through a permutation', () => {
    const n = 262_144;
    const a = 1 - 1.1;
    const top = (n + 1) ** a - 1;
    const value = (u: number) => Math.exp((1 / a) * Math.log(u * top + 1)) - 1;
    const rank = (u: number) => Math.min(n - 1, Math.max(0, Math.floor((u * top + 1) ** (1 / a) - 1)));
    const pageOfUnit = (u: number) => (rank(u) * 7919 + 5) % n;
    const table = new ZipfPages(value, pageOfUnit);
    let single = 0;
    let spanning = 0;
    for (const h of hashes()) {
      expect(table.page(h)).toBe(pageOfUnit(h / 2 ** 32));
      const b = h >>> 16;
      const same =
        Math.floor(value((b * 65_536) / 2 ** 32)) === Math.floor(value((b * 65_536 + 65_535) / 2 ** 32));
      if (same) single++;
      else spanning++;
    }
    // Both kinds of bucket were exercised: the table's pages and the formula's.
    expect(single).toBeGreaterThan(1000);
    expect(spanning).toBeGreaterThan(1000);
  });

  test('a bucket whose values cross an integer, or start on one, goes to the formula', () => {
    // value = h / 2^17 + 0.5: even buckets lie inside one integer interval, odd ones cross an integer.
    const value = (u: number) => u * 2 ** 15 + 0.5;
    const pageOfUnit = (u: number) => Math.floor(value(u));
    const table = new ZipfPages(value, pageOfUnit);
    for (const b of [0, 1, 2, 3, 1000, 1001, 65_534, 65_535]) {
      for (const low of [0, 1, 32_767, 32_768, 65_534, 65_535]) {
        const h = b * 65_536 + low;
        expect(table.page(h)).toBe(pageOfUnit(h / 2 ** 32));
      }
    }
    // value = h / 2^16: an integer at every bucket's first hash, within no margin of it: the formula again.
    const onInteger = new ZipfPages(
      (u) => u * 2 ** 16,
      (u) => Math.floor(u * 2 ** 16),
    );
    for (const h of [65_536 * 5, 65_536 * 5 + 65_535, 65_536 * 6])
      expect(onInteger.page(h)).toBe(Math.floor(h / 65_536));
  });
});
