import { describe, expect, test } from 'vitest';
import { PageVersionMap } from '../../../src/engine/memory/page-version-map.ts';
import { hash32 } from '../../../src/engine/rng.ts';

describe('PageVersionMap', () => {
  test('behaves like a Map<number, number> over a random sequence of sets and clears', () => {
    const m = new PageVersionMap(1000);
    const ref = new Map<number, number>();
    let k = 0;
    const next = () => hash32(7, k++);
    let clears = 0;
    for (let i = 0; i < 20_000; i++) {
      const r = next() % 100;
      if (r === 0) {
        m.clear();
        ref.clear();
        clears++;
      } else {
        // Pages past the size hint make it grow; versions span the whole u32 range.
        const page = next() % (r < 5 ? 5000 : 1000);
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
      const probe = next() % 5001;
      expect(m.has(probe)).toBe(ref.has(probe));
      expect(m.get(probe)).toBe(ref.get(probe));
    }
    expect(clears).toBeGreaterThan(100);
    expect([...m.entries()]).toEqual([...ref.entries()]);
    for (let i = 0; i < m.size; i++) expect(m.versionOf(m.pageAt(i))).toBe(ref.get(m.pageAt(i)));
  });

  test('equal contents compare equal; other contents or order do not', () => {
    const a = PageVersionMap.from([
      [3, 1],
      [9, 2],
    ]);
    const b = new PageVersionMap(100).set(3, 1).set(9, 2);
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
});
