// roundCut (src/engine/policy/round-cut.ts): the region where a round's pages run out, taking regions
// likeliest first (highest chance, then lowest index), is the one a full sort in that order gives — ties
// included — and a round that takes every region has no cut.
import { describe, expect, it } from 'vitest';
import { likelierFirst, roundCut } from '../../../src/engine/policy/round-cut.ts';

/** The cut by a full sort: regions in likeliest-first order, pages added until `room` is used up. */
function sortedCut(candidates: number[], chance: Float64Array, dirty: Uint8Array, room: number) {
  const order = [...candidates].sort((a, b) => (chance[b] as number) - (chance[a] as number) || a - b);
  let left = room;
  for (const r of order) {
    const d = dirty[r] as number;
    if (d >= left) return { region: r, pages: left };
    left -= d;
  }
  return undefined;
}

describe('roundCut', () => {
  it('cuts where a sort by chance, then index, runs out of room, for random sets with many ties', () => {
    let x = 99;
    const next = () => {
      x = (Math.imul(x, 1103515245) + 12345) >>> 0;
      // The high bits: an LCG's low bits cycle with short periods.
      return x >>> 8;
    };
    let ties = 0;
    let cuts = 0;
    let whole = 0;
    let exact = 0;
    for (let trial = 0; trial < 400; trial++) {
      const regions = 1 + (next() % 300);
      const chance = new Float64Array(regions);
      const dirty = new Uint8Array(regions);
      // Few distinct values, so that equal chances are common; some runs sorted, as a late phase's often are.
      for (let r = 0; r < regions; r++) chance[r] = trial % 5 === 0 ? -r / regions : -(next() % 7) / 7;
      for (let r = 0; r < regions; r++) dirty[r] = 1 + (next() % 64);
      const candidates = Array.from({ length: regions }, (_, r) => r).filter(() => next() % 3 !== 0);
      const total = candidates.reduce((a, r) => a + (dirty[r] as number), 0);
      const room = 1 + (next() % (Math.floor(total * 1.25) + 1));
      const work = new Int32Array(regions).fill(-1);
      const got = roundCut(Int32Array.from(candidates), candidates.length, chance, dirty, room, work);
      const want = sortedCut(candidates, chance, dirty, room);
      expect(got).toEqual(want);
      if (got === undefined) whole++;
      else {
        cuts++;
        if (got.pages === dirty[got.region]) exact++;
        // Every region before the cut fits whole, with room for at least one page of the cut region.
        const before = candidates.filter((r) => likelierFirst(chance, r, got.region));
        expect(before.reduce((a, r) => a + (dirty[r] as number), 0) + got.pages).toBe(room);
      }
      for (let i = 1; i < candidates.length; i++)
        if (chance[candidates[i] as number] === chance[candidates[i - 1] as number]) ties++;
    }
    expect(ties).toBeGreaterThan(1000);
    expect(cuts).toBeGreaterThan(100);
    expect(whole).toBeGreaterThan(10);
    expect(exact).toBeGreaterThan(0);
  });

  it('reads only the first `count` regions of a reused array, and leaves that array as it was', () => {
    const chance = Float64Array.from([-0.5, -0.1, -0.9, -0.1]);
    const dirty = Uint8Array.from([4, 4, 4, 4]);
    const regions = Int32Array.from([3, 1, 0, 2]);
    const work = new Int32Array(4);
    // Regions 3, 1, 0 (2 is stale): 1 and 3 tie at −0.1, 1 goes first; 6 pages run out in region 3.
    expect(roundCut(regions, 3, chance, dirty, 6, work)).toEqual({ region: 3, pages: 2 });
    expect([...regions]).toEqual([3, 1, 0, 2]);
    expect(roundCut(regions, 3, chance, dirty, 12, work)).toEqual({ region: 0, pages: 4 });
    expect(roundCut(regions, 3, chance, dirty, 13, work)).toBeUndefined();
    expect(roundCut(regions, 0, chance, dirty, 1, work)).toBeUndefined();
  });
});
