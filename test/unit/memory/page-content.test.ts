import { describe, expect, test } from 'vitest';
import {
  DEFAULT_CONTENT_MIX,
  fillPage,
  fillPages,
  isRandomPage,
  pageClass,
  pageMatches,
  pagePairMatches,
} from '../../../src/engine/memory/page-content.ts';
import { PAGE_SIZE } from '../../../src/engine/protocol/delta.ts';

/** (page, version, author) cases covering every content class; version 0 is a zero page. */
function cases(): { page: number; version: number; author: 'pvm' | 'svm' }[] {
  const out: { page: number; version: number; author: 'pvm' | 'svm' }[] = [];
  for (let page = 0; page < 60; page++) {
    for (const version of [0, 1, 7, 0x7fff_ffff])
      out.push({ page, version, author: page % 5 === 0 ? 'svm' : 'pvm' });
  }
  return out;
}

describe('pageMatches', () => {
  const seed = 42;
  const all = cases();

  test('the cases cover zero, compressible and random pages', () => {
    const classes = new Set(
      all.map((c) => (c.version === 0 ? 'zero' : pageClass(seed, c.page, DEFAULT_CONTENT_MIX))),
    );
    expect([...classes].sort()).toEqual(['compressible', 'random', 'zero']);
  });

  // Offset 0 is 4-byte aligned (read in place); 7 is what a decoded page usually is (read from an aligned copy).
  for (const offset of [0, 7]) {
    test(`accepts exactly fillPage's bytes, and refuses any one changed byte (offset ${offset})`, () => {
      const buffer = new Uint8Array(PAGE_SIZE + 8);
      const got = buffer.subarray(offset, offset + PAGE_SIZE);
      let refused = 0;
      for (const { page, version, author } of all) {
        fillPage(got, seed, page, version, DEFAULT_CONTENT_MIX, author);
        expect(pageMatches(got, seed, page, version, DEFAULT_CONTENT_MIX, author)).toBe(true);
        // Another version, author or seed is other bytes (zero pages excepted: they are all zeros).
        if (version !== 0 && pageClass(seed, page, DEFAULT_CONTENT_MIX) !== 'zero') {
          expect(pageMatches(got, seed, page, version + 1, DEFAULT_CONTENT_MIX, author)).toBe(false);
          expect(pageMatches(got, seed + 1, page, version, DEFAULT_CONTENT_MIX, author)).toBe(false);
          expect(
            pageMatches(got, seed, page, version, DEFAULT_CONTENT_MIX, author === 'pvm' ? 'svm' : 'pvm'),
          ).toBe(false);
        }
        for (const at of [0, 63, 64, 65, 1000, PAGE_SIZE - 1]) {
          got[at] = (got[at] as number) ^ 0x10;
          expect(pageMatches(got, seed, page, version, DEFAULT_CONTENT_MIX, author), `byte ${at}`).toBe(
            false,
          );
          got[at] = (got[at] as number) ^ 0x10;
          refused++;
        }
      }
      expect(refused).toBe(all.length * 6);
      expect(pageMatches(got.subarray(0, PAGE_SIZE - 1), seed, 1, 1, DEFAULT_CONTENT_MIX)).toBe(false);
    });
  }
});

describe('fillPages and pagePairMatches (two random pages at a time)', () => {
  const seed = 42;
  const all = cases();

  for (const offset of [0, 5]) {
    test(`fillPages writes the bytes fillPage writes, page after page (offset ${offset})`, () => {
      for (const author of ['pvm', 'svm'] as const) {
        const pages = all.map((c) => c.page);
        const versions = all.map((c) => c.version);
        const buffer = new Uint8Array(all.length * PAGE_SIZE + 8).fill(0xaa);
        const out = buffer.subarray(offset, offset + all.length * PAGE_SIZE);
        fillPages(out, seed, pages, versions, DEFAULT_CONTENT_MIX, author);
        const one = new Uint8Array(PAGE_SIZE);
        for (let k = 0; k < all.length; k++) {
          fillPage(one, seed, pages[k] as number, versions[k] as number, DEFAULT_CONTENT_MIX, author);
          expect(Buffer.from(out.subarray(k * PAGE_SIZE, (k + 1) * PAGE_SIZE)).equals(one), `page ${k}`).toBe(
            true,
          );
        }
        // Nothing is written past the pages.
        expect(buffer.subarray(offset + all.length * PAGE_SIZE).every((b) => b === 0xaa)).toBe(true);
      }
    });
  }

  test('pagePairMatches accepts two right pages and refuses a changed byte in either', () => {
    const bytes = (page: number, version: number, offset: number) => {
      const buffer = new Uint8Array(PAGE_SIZE + 8);
      const got = buffer.subarray(offset, offset + PAGE_SIZE);
      fillPage(got, seed, page, version, DEFAULT_CONTENT_MIX);
      return got;
    };
    const nonZero = all.filter(
      (c) => c.version !== 0 && pageClass(seed, c.page, DEFAULT_CONTENT_MIX) !== 'zero',
    );
    let randomPairs = 0;
    for (let i = 0; i + 1 < nonZero.length; i += 2) {
      const a = nonZero[i] as (typeof all)[number];
      const b = nonZero[i + 1] as (typeof all)[number];
      const gotA = bytes(a.page, a.version, i % 3);
      const gotB = bytes(b.page, b.version, 0);
      const check = () =>
        pagePairMatches(gotA, a.page, a.version, gotB, b.page, b.version, seed, DEFAULT_CONTENT_MIX);
      expect(check()).toBe(true);
      if (
        isRandomPage(seed, a.page, a.version, DEFAULT_CONTENT_MIX) &&
        isRandomPage(seed, b.page, b.version, DEFAULT_CONTENT_MIX)
      )
        randomPairs++;
      for (const got of [gotA, gotB]) {
        for (const at of [0, 64, 2049, PAGE_SIZE - 1]) {
          got[at] = (got[at] as number) ^ 0x01;
          expect(check(), `byte ${at}`).toBe(false);
          got[at] = (got[at] as number) ^ 0x01;
        }
      }
    }
    expect(randomPairs).toBeGreaterThan(3);
  });
});
