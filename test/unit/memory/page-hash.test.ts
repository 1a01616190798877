// The digest's per-page terms (src/engine/memory/page-hash.ts): the four lanes added at once equal each
// lane's own hash.
import { describe, expect, it } from 'vitest';
import { addPageHash, DIGEST_LANES, laneHash, laneKeys } from '../../../src/engine/memory/page-hash.ts';

describe('addPageHash', () => {
  it("adds and takes out exactly each lane's laneHash", () => {
    const keys = laneKeys(0x5eed);
    const sums = new Int32Array(DIGEST_LANES);
    const want = [0, 0, 0, 0];
    let x = 12345;
    for (let i = 0; i < 2000; i++) {
      x = (Math.imul(x, 1103515245) + 12345) | 0;
      const page = (x >>> 3) % 2 ** 28;
      const version = i % 7 === 0 ? 0x8000_0000 + i : (x >>> 11) & 0x7fff_ffff;
      const sign = i % 3 === 0 ? -1 : 1;
      addPageHash(sums, keys, page, version, sign);
      for (let k = 0; k < DIGEST_LANES; k++)
        want[k] = ((want[k] as number) + sign * laneHash(keys[k] as number, page, version)) | 0;
    }
    expect([...sums]).toEqual(want);
    expect(want.some((w) => w !== 0)).toBe(true);
  });
});
