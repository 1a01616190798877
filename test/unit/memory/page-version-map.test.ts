import { describe, expect, test } from 'vitest';
import { DENSE_MAX_PAGES, PageVersionMap } from '../../../src/engine/memory/page-version-map.ts';
import { hash32 } from '../../../src/engine/rng.ts';

describe('PageVersionMap', () => {
  // Hashed; indexed directly for a guest of 4000 pages that every page fits (a quarter of it is below the
  // first capacity, so from the first set); and indexed directly for a guest of 1000 pages until a page beyond
  // it turns the map hashed part-way.
  test.each([
    { guest: 0, huge: true, span: 5000 },
    { guest: 4000, huge: false, span: 4000 },
    { guest: 1000, huge: true, span: 5000 },
  ])(
    'behaves like a Map<number, number> over random sets and clears (guest pages $guest)',
    ({ guest, huge, span }) => {
      const m = new PageVersionMap(guest);
      const ref = new Map<number, number>();
      let k = 0;
      const next = () => hash32(7, k++);
      let clears = 0;
      let direct = 0;
      for (let i = 0; i < 20_000; i++) {
        const r = next() % 100;
        if (r === 0) {
          m.clear();
          ref.clear();
          clears++;
        } else {
          // Pages anywhere in the u32 range now and then; versions span the whole u32 range.
          const page = r < 3 ? (huge ? next() : next() % span) : next() % (r < 5 ? span : 1000);
          const version = next();
          expect(m.set(page, version)).toBe(m);
          ref.set(page, version);
        }
        if (i % 997 === 0) {
          expect([...m]).toEqual([...ref]);
          expect([...m.keys()]).toEqual([...ref.keys()]);
          expect([...m.values()]).toEqual([...ref.values()]);
        }
        expect(m.size).toBe(ref.size);
        if (m.direct) direct++;
        const probe = next() % 5001;
        expect(m.has(probe)).toBe(ref.has(probe));
        expect(m.get(probe)).toBe(ref.get(probe));
      }
      expect(clears).toBeGreaterThan(100);
      // Each way of indexing was exercised where the case is meant to: direct throughout, hashed throughout, or both.
      if (guest === 0) expect(direct).toBe(0);
      else if (huge) expect([direct > 0, direct < 20_000]).toEqual([true, true]);
      else expect(direct).toBe(20_000);
      expect([...m.entries()]).toEqual([...ref.entries()]);
      for (let i = 0; i < m.size; i++) expect(m.versionOf(m.pageAt(i))).toBe(ref.get(m.pageAt(i)));
    },
  );

  test('equal contents compare equal; other contents or order do not', () => {
    const a = PageVersionMap.from([
      [3, 1],
      [9, 2],
    ]);
    const b = new PageVersionMap().set(3, 1).set(9, 2);
    expect(a).toEqual(b);
    expect(a).not.toEqual(new PageVersionMap().set(3, 1).set(9, 3));
    expect(a).not.toEqual(new PageVersionMap().set(9, 2).set(3, 1));
  });

  test('refuses a page or version that is not a u32, and changes nothing', () => {
    const m = new PageVersionMap().set(1, 1);
    for (const [page, version] of [
      [-1, 1],
      [1.5, 1],
      [2 ** 32, 1],
      [2, -1],
      [2, 2 ** 32],
      [2, Number.NaN],
    ] as const) {
      expect(() => m.set(page, version)).toThrow(RangeError);
    }
    expect([...m]).toEqual([[1, 1]]);
  });

  test.each([0, 2 ** 21])(
    'grows through many capacities and clears both ways (entry by entry, and all at once) without losing a page (guest pages %i)',
    (guest) => {
      const m = new PageVersionMap(guest);
      const ref = new Map<number, number>();
      let k = 0;
      // Epochs of very different sizes: a large one leaves a large table that small ones then clear slot by slot.
      for (const n of [5, 3000, 40_000, 7, 1, 100, 70_000, 2, 0, 9000]) {
        for (let i = 0; i < n; i++) {
          // Pages spaced 2^21 apart share low bits: the hash must spread them over the table anyway.
          const page = i % 3 === 0 ? (i * 2 ** 21) >>> 0 : hash32(11, k++);
          m.set(page, i);
          ref.set(page, i);
        }
        expect(m.size).toBe(ref.size);
        const looked = [...ref.keys()].map((page) => m.get(page));
        expect(looked).toEqual([...ref.values()]);
        const positional = Array.from({ length: m.size }, (_, i) => [m.pageAt(i), m.versionAt(i)]);
        expect(positional).toEqual([...ref]);
        m.clear();
        ref.clear();
        expect(m.size).toBe(0);
        expect([...m]).toEqual([]);
        // A cleared map answers for none of the pages it held.
        const held = Array.from({ length: Math.min(n, 50) }, (_, i) => m.has(hash32(11, k - 1 - i)));
        expect(held.filter(Boolean)).toEqual([]);
      }
    },
  );

  test('holds pages beyond 2^31 and at 2^32 − 1 with memory for its entries only (a 1 TiB guest has 2^28 pages)', () => {
    const before = process.memoryUsage().arrayBuffers;
    const m = new PageVersionMap();
    const pages = [2 ** 32 - 1, 2 ** 31, 2 ** 31 - 1, 2 ** 28 - 1, 0];
    for (const [i, page] of pages.entries()) m.set(page, i + 1);
    // A guest-sized array up to page 2^32 − 1 would be 16 GiB; the map holds a table of 1024 entries (16 KiB).
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(64 * 1024);
    expect([...m]).toEqual(pages.map((p, i) => [p, i + 1]));
    expect(m.get(2 ** 32 - 1)).toBe(1);
    expect(m.has(2 ** 32)).toBe(false);
    expect(m.get(-1)).toBeUndefined();
    expect(m.versionOf(12345)).toBe(0);
  });

  test('a map for a guest indexes its pages directly until a page beyond the guest, then hashes them all', () => {
    const guest = 8192;
    const m = new PageVersionMap(guest);
    const ref = new Map<number, number>();
    // A round's pages ascending (hashed until the entries outgrow a quarter of the guest), then rewrites in
    // another order, then a page past the guest's end.
    for (let p = 0; p < guest; p += 3) {
      m.set(p, p + 1);
      ref.set(p, p + 1);
      if (p === 0) expect(m.direct).toBe(false);
    }
    expect(m.direct).toBe(true);
    for (let p = guest - 1; p >= 0; p -= 5) {
      m.set(p, 7);
      ref.set(p, 7);
    }
    expect([...m]).toEqual([...ref]);
    const before = process.memoryUsage().arrayBuffers;
    m.set(2 ** 32 - 1, 9);
    ref.set(2 ** 32 - 1, 9);
    expect(m.direct).toBe(false);
    // Hashed now: the table for its entries (a few KiB), no guest-sized index up to page 2^32 − 1.
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(1024 * 1024);
    expect([...m]).toEqual([...ref]);
    for (let p = 0; p < guest + 2; p++) expect(m.get(p)).toBe(ref.get(p));
    m.clear();
    expect(m.size).toBe(0);
    expect(m.has(0)).toBe(false);
    m.set(guest + 1, 1);
    expect([...m]).toEqual([[guest + 1, 1]]);
  });

  test('hashes pages for a guest above DENSE_MAX_PAGES (no guest-sized index) and equals a hashed map', () => {
    const before = process.memoryUsage().arrayBuffers;
    const m = new PageVersionMap(DENSE_MAX_PAGES + 1);
    for (let p = 0; p < 5000; p++) m.set(p, 1);
    expect(m.direct).toBe(false);
    m.clear();
    m.set(5, 1).set(DENSE_MAX_PAGES, 2);
    expect(process.memoryUsage().arrayBuffers - before).toBeLessThan(1024 * 1024);
    expect(m).toEqual(new PageVersionMap().set(5, 1).set(DENSE_MAX_PAGES, 2));
    expect(new PageVersionMap(64).set(5, 1)).toEqual(new PageVersionMap().set(5, 1));
  });
});
