import { describe, expect, test } from 'vitest';
import { DEFAULT_CONTENT_MIX, isZeroPage, ZeroClassTable } from '../../../src/engine/memory/page-content.ts';

describe('ZeroClassTable (two bits a page)', () => {
  test('answers as isZeroPage for every page of guests whose page count is not a multiple of four', () => {
    for (const pages of [1, 2, 3, 5, 6, 7, 1001]) {
      const table = new ZeroClassTable(9, DEFAULT_CONTENT_MIX, pages);
      // Twice over: the first pass fills the table, the second reads what it memoised.
      for (const pass of [0, 1]) {
        const got = Array.from({ length: pages + 5 }, (_, p) => table.isZero(p, 3 + pass));
        const want = Array.from({ length: pages + 5 }, (_, p) =>
          isZeroPage(9, p, 3 + pass, DEFAULT_CONTENT_MIX),
        );
        expect(got).toEqual(want);
      }
      expect(table.isZero(pages - 1, 0)).toBe(true);
    }
  });

  test('neighbours in one byte keep their own classes whatever order they are asked in', () => {
    const mix = { zero: 0.5, compressible: 0.2 };
    const table = new ZeroClassTable(4, mix, 4096);
    const want = Array.from({ length: 4096 }, (_, p) => isZeroPage(4, p, 1, mix));
    // Both classes occur, so a bit of one page leaking into a neighbour would show.
    expect(want.filter(Boolean).length).toBeGreaterThan(1000);
    expect(want.filter((z) => !z).length).toBeGreaterThan(1000);
    const order = Array.from({ length: 4096 }, (_, i) => (i * 2503) % 4096);
    for (const p of order) table.isZero(p, 1);
    expect(Array.from({ length: 4096 }, (_, p) => table.isZero(p, 1))).toEqual(want);
  });

  test('indexes the last pages of a 1 TiB guest (2^28 pages: byte 2^26 − 1)', () => {
    const pages = 2 ** 28;
    const table = new ZeroClassTable(1, DEFAULT_CONTENT_MIX, pages);
    const last = [pages - 1, pages - 2, pages - 3, pages - 4, 2 ** 27 + 1, 0];
    for (const _pass of [0, 1])
      expect(last.map((p) => table.isZero(p, 7))).toEqual(
        last.map((p) => isZeroPage(1, p, 7, DEFAULT_CONTENT_MIX)),
      );
    // Past the table: answered from the hash, not stored.
    expect(table.isZero(pages + 4, 7)).toBe(isZeroPage(1, pages + 4, 7, DEFAULT_CONTENT_MIX));
  });
});
