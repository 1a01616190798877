import { describe, expect, test } from 'vitest';
import { hash32, unit } from '../../../src/engine/rng.ts';
import { makeWorkload, makeWorkloadBatches, WRITE_BATCH } from '../../../src/engine/workload/workload.ts';

/**
 * The generators' pages against their defining formulas written out plainly (the generators hash a
 * stream's prefix once and skip `**` for zipf; the pages must be the same), over intervals that include
 * write numbers past 2^32.
 */
describe('workload generators keep their defining formulas', () => {
  const seed = 3;
  const draw = (stream: number, k: number, n: number) =>
    hash32(seed, stream, k >>> 0, Math.floor(k / 0x1_0000_0000)) % n;
  const rate = 20_000;
  // Write k happens at k·1000/rate ms: these windows start at write 0, mid-run and just before 2^32.
  const windows = [0, 987_654.3, (2 ** 32 / rate) * 1000 - 30];

  function pages(
    spec: Parameters<typeof makeWorkload>[0],
    n: number,
    t0: number,
  ): { k0: number; got: number[] } {
    const got: number[] = [];
    makeWorkload(spec, n, seed)(t0, t0 + 60, (p) => got.push(p));
    return { k0: Math.ceil((t0 * rate) / 1000), got };
  }

  test('uniform and buffered-io', () => {
    let checked = 0;
    for (const t0 of windows) {
      const u = pages({ kind: 'uniform', rate }, 262_143, t0);
      u.got.forEach((p, i) => {
        expect(p).toBe(draw(1, u.k0 + i, 262_143));
      });
      const b = pages({ kind: 'buffered-io', rate, hotPages: 1000, tail: 0.3 }, 50_000, t0);
      b.got.forEach((p, i) => {
        const k = b.k0 + i;
        expect(p).toBe(unit(seed, 7, k) < 0.3 ? draw(8, k, 50_000) : draw(9, k, 1000));
      });
      checked += u.got.length + b.got.length;
    }
    expect(checked).toBe(windows.length * 2 * 1200);
  });

  test('zipf (s ≠ 1) through its permutation', () => {
    const n = 100_003;
    const s = 1.1;
    const a = 1 - s;
    const top = (n + 1) ** a - 1;
    const inv = (u: number) => Math.min(n - 1, Math.max(0, Math.floor((u * top + 1) ** (1 / a) - 1)));
    // The permutation is the generator's own (checked elsewhere by the recorded runs); compare the ranks'
    // images: equal ranks must give equal pages, and the rank sequence must match the formula's.
    const byRank = new Map<number, number>();
    let checked = 0;
    for (const t0 of windows) {
      const z = pages({ kind: 'zipf', rate, exponent: s }, n, t0);
      z.got.forEach((p, i) => {
        const rank = inv(unit(seed, 6, z.k0 + i));
        const seen = byRank.get(rank);
        if (seen === undefined) byRank.set(rank, p);
        else expect(p).toBe(seen);
        checked++;
      });
    }
    expect(checked).toBe(windows.length * 1200);
    // Pages are a bijection of ranks: distinct ranks never share a page.
    expect(new Set(byRank.values()).size).toBe(byRank.size);
  });
});

describe('batched write generators', () => {
  const seed = 11;
  const rate = 20_000;
  /** Every page of [t0, t1) from the batched generator, and the batch sizes it used. */
  function batched(spec: Parameters<typeof makeWorkload>[0], n: number, t0: number, t1: number) {
    const got: number[] = [];
    const sizes: number[] = [];
    makeWorkloadBatches(spec, n, seed)(t0, t1, (pages, count) => {
      sizes.push(count);
      for (let i = 0; i < count; i++) got.push(pages[i] as number);
    });
    return { got, sizes };
  }

  test('sequential steps through its span and wraps at the guest, across batch boundaries', () => {
    // A span that wraps past the guest's end (start + span > n) and the whole guest; windows of 2.5 batches.
    const n = 10_007;
    const start = hash32(seed, 2) % n;
    let checked = 0;
    for (const span of [n - 5, n, 333]) {
      for (const t0 of [0, 123_456.7]) {
        const t1 = t0 + (2.5 * WRITE_BATCH * 1000) / rate;
        const { got, sizes } = batched({ kind: 'sequential', rate, spanPages: span }, n, t0, t1);
        const k0 = Math.ceil((t0 * rate) / 1000);
        expect(sizes.length).toBe(3);
        got.forEach((p, i) => {
          expect(p).toBe((start + ((k0 + i) % span)) % n);
        });
        checked += got.length;
      }
    }
    expect(checked).toBeGreaterThan(6 * 2 * WRITE_BATCH);
  });

  test('any split of an interval gives the same writes in the same order as the whole, in every kind', () => {
    const specs: Parameters<typeof makeWorkload>[0][] = [
      { kind: 'uniform', rate },
      { kind: 'sequential', rate, spanPages: 4000 },
      { kind: 'hotcold', hotPages: 100, hotRate: 5000, coldRate: 3000 },
      { kind: 'zipf', rate, exponent: 1.1 },
      { kind: 'buffered-io', rate, hotPages: 500, tail: 0.1 },
    ];
    let compared = 0;
    for (const spec of specs) {
      const whole = batched(spec, 65_536, 1000, 1500).got;
      const pieces: number[] = [];
      for (let t = 1000; t < 1500; t += 7.3)
        pieces.push(...batched(spec, 65_536, t, Math.min(1500, t + 7.3)).got);
      // hot/cold gives an interval's hot writes before its cold ones: a split interleaves them differently.
      const order = (xs: number[]) => (spec.kind === 'hotcold' ? [...xs].sort((a, b) => a - b) : xs);
      expect(order(pieces)).toEqual(order(whole));
      // The page-by-page generator gives the same writes too.
      const visited: number[] = [];
      makeWorkload(spec, 65_536, seed)(1000, 1500, (p) => visited.push(p));
      expect(visited).toEqual(whole);
      compared += whole.length;
    }
    expect(compared).toBeGreaterThan(4 * WRITE_BATCH);
  });
});
