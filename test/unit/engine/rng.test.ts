import { describe, expect, test } from 'vitest';
import { hash32, hash32Prefix, hash32Rest } from '../../../src/engine/rng.ts';

describe('hash32Prefix / hash32Rest', () => {
  test('compose to hash32 for any words, including values past 2^31 and 2^32', () => {
    const words = [0, 1, 2, 7, 0x7fff_ffff, 0x8000_0000, 0xffff_ffff, 2 ** 32 + 5, 123_456_789];
    let checked = 0;
    for (const a of words)
      for (const b of words)
        for (const c of words)
          for (const d of [0, 1, 0xffff_ffff]) {
            expect(hash32Rest(hash32Prefix(a, b), c, d)).toBe(hash32(a, b, c, d));
            checked++;
          }
    expect(checked).toBe(words.length ** 3 * 3);
  });
});
