// LikeliestFirst (src/engine/policy/likeliest-first.ts): pops regions in exactly the order a stable sort by
// chance (descending), then index (ascending), gives — ties included.
import { describe, expect, it } from 'vitest';
import { LikeliestFirst } from '../../../src/engine/policy/likeliest-first.ts';

describe('LikeliestFirst', () => {
  it('pops in the order of a sort by chance, then index, for random sets with many ties', () => {
    let x = 99;
    const next = () => {
      x = (Math.imul(x, 1103515245) + 12345) >>> 0;
      // The high bits: an LCG's low bits cycle with short periods.
      return x >>> 8;
    };
    let ties = 0;
    for (let trial = 0; trial < 200; trial++) {
      const regions = 1 + (next() % 300);
      const chance = new Float64Array(regions);
      // Few distinct values, so that equal chances are common.
      for (let r = 0; r < regions; r++) chance[r] = (next() % 7) / 7;
      const candidates = Array.from({ length: regions }, (_, r) => r).filter(() => next() % 3 !== 0);
      const want = [...candidates].sort((a, b) => (chance[b] ?? 0) - (chance[a] ?? 0) || a - b);
      const heap = new LikeliestFirst(candidates, chance);
      const got: number[] = [];
      for (let r = heap.pop(); r >= 0; r = heap.pop()) got.push(r);
      expect(got).toEqual(want);
      for (let i = 1; i < want.length; i++)
        if (chance[want[i] as number] === chance[want[i - 1] as number]) ties++;
    }
    expect(ties).toBeGreaterThan(100);
    // The first `count` of a reused scratch array, the rest of which is stale.
    const chance = Float64Array.from([0.5, 0.9, 0.1, 0.9]);
    const scratch = Int32Array.from([3, 1, 0, 2]);
    const some = new LikeliestFirst(scratch, chance, 3);
    scratch.fill(-1);
    expect([some.pop(), some.pop(), some.pop(), some.pop()]).toEqual([1, 3, 0, -1]);
    expect(new LikeliestFirst([], new Float64Array(0)).pop()).toBe(-1);
  });
});
