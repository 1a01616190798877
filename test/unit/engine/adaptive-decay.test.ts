/**
 * The adaptive model's lazily decayed write rates (src/engine/policy/adaptive.ts): a sample scales one
 * number instead of decaying every region's rate, and folds that scale into the rates only when it falls
 * below MIN_RATE_SCALE. Pinned here against the eager model it replaced (every untouched rate decayed and
 * rounded to a µHz at every sample) and against the exact EWMA, over random touch sequences.
 */
import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import { DirtyBitmap } from '../../../src/engine/memory/dirty-bitmap.ts';
import {
  createRegionModel,
  MIN_RATE_SCALE,
  RATE_HORIZON_MS,
  REGION_PAGES,
  regionRate,
  SWEEP_FRACTION,
  sampleRegions,
  storedRate,
} from '../../../src/engine/policy/adaptive.ts';

const REGIONS = 6;
const PAGES = REGIONS * REGION_PAGES;

/** One sample: guest ms since the previous one, and the pages touched in it per region (scattered). */
interface Step {
  dt: number;
  touched: (readonly number[])[];
}

/**
 * Pages of a region a step touches: a random scatter of fewer than a sweep's share that is never a run
 * at an edge of the region (page 1 is never touched, and the last page always is when page 0 is), so no
 * region ever holds a sweep and each touched region's sample is a rate sample.
 */
const regionTouch = fc
  .uniqueArray(fc.integer({ min: 2, max: REGION_PAGES - 2 }), {
    maxLength: Math.floor(SWEEP_FRACTION * REGION_PAGES) - 2,
  })
  .map((pages) => (pages.length > 0 ? [0, ...pages, REGION_PAGES - 1] : pages));

/** A region is left alone (no touch) in most steps, so rates decay over many samples untouched. */
const step: fc.Arbitrary<Step> = fc.record({
  dt: fc.oneof(
    { weight: 6, arbitrary: fc.integer({ min: 2, max: 40 }) },
    { weight: 3, arbitrary: fc.integer({ min: 40, max: 600 }) },
    { weight: 1, arbitrary: fc.integer({ min: 3000, max: 9000 }) },
  ),
  touched: fc.array(
    fc.oneof({ weight: 4, arbitrary: fc.constant([]) }, { weight: 1, arbitrary: regionTouch }),
    {
      minLength: REGIONS,
      maxLength: REGIONS,
    },
  ),
});

/** −ln(1 − n/64), as the model takes it (a region touched whole is capped below 1). */
const touchedLog = (n: number) => -Math.log(1 - Math.min(n / REGION_PAGES, 1 - 1 / (2 * REGION_PAGES)));

describe('lazily decayed region rates', () => {
  it('stay within the rounding of the eager model, and of the exact EWMA, over random touch sequences', () => {
    let runs = 0;
    let longUntouched = 0;
    let foldsWhileUntouched = 0;
    let worstEager = 0;
    let worstExact = 0;
    fc.assert(
      fc.property(fc.array(step, { minLength: 30, maxLength: 120, size: 'max' }), (steps) => {
        runs++;
        const model = createRegionModel(PAGES);
        const touched = new DirtyBitmap(PAGES);
        // The eager model (every rate decayed and rounded at every sample) and the exact EWMA (no rounding).
        const eager = new Float64Array(REGIONS);
        const exact = new Float64Array(REGIONS);
        // Roundings each region's lazy rate went through (a set, a fold); samples since its last touch.
        const roundings = new Float64Array(REGIONS);
        const idle = new Float64Array(REGIONS);
        let now = 0;
        for (const [i, s] of steps.entries()) {
          now += s.dt;
          s.touched.forEach((pages, r) => {
            for (const p of pages) touched.set(r * REGION_PAGES + p);
          });
          const scaleBefore = model.rateScale;
          if (!sampleRegions(model, touched, now)) return false;
          const keep = i === 0 ? 0 : Math.exp(-s.dt / RATE_HORIZON_MS);
          const folded = !(scaleBefore * keep >= MIN_RATE_SCALE);
          if (!(model.rateScale >= MIN_RATE_SCALE && model.rateScale <= 1)) return false;
          for (let r = 0; r < REGIONS; r++) {
            const n = s.touched[r]?.length ?? 0;
            if (n === 0) {
              eager[r] = storedRate((eager[r] as number) * keep);
              exact[r] = (exact[r] as number) * keep;
              idle[r] = (idle[r] as number) + 1;
              if (folded) roundings[r] = (roundings[r] as number) + 1;
            } else {
              const sample = (touchedLog(n) * 1e9) / s.dt;
              eager[r] = storedRate((eager[r] as number) + (1 - keep) * (sample - (eager[r] as number)));
              exact[r] = (exact[r] as number) + (1 - keep) * (sample - (exact[r] as number));
              roundings[r] = (roundings[r] as number) + 1;
              idle[r] = 0;
            }
            const lazy = regionRate(model, r);
            // Each rounding is at most half a µHz (a stored unit is at most a µHz) and later samples only
            // shrink an earlier error (decays, EWMA weights ≤ 1): the lazy rate is within half a µHz per
            // rounding of the exact one, and the eager one within half a µHz per sample.
            const toExact = Math.abs(lazy - (exact[r] as number));
            const toEager = Math.abs(lazy - (eager[r] as number));
            if (toExact > 0.5 * (roundings[r] as number) + 1e-6) return false;
            if (toEager > 0.5 * (roundings[r] as number) + 0.5 * (i + 1) + 1e-6) return false;
            worstExact = Math.max(worstExact, toExact);
            worstEager = Math.max(worstEager, toEager);
            if (idle[r] === 20 && (exact[r] as number) > 1000) longUntouched++;
            if (folded && (idle[r] as number) >= 10 && (exact[r] as number) > 1000) foldsWhileUntouched++;
          }
          if (touched.count !== 0) return false;
        }
        return true;
      }),
      { numRuns: 200, seed: 0x1a2d },
    );
    // Coverage: many regions sat untouched with a real rate for 20 samples, and the scale was folded into
    // rates that had not been touched for 10 samples and more.
    expect(runs).toBe(200);
    expect(longUntouched).toBeGreaterThan(60);
    expect(foldsWhileUntouched).toBeGreaterThan(200);
    // The bounds are not vacuous: rounding shows, and stays small against the rates (10^3–10^9 µHz).
    expect(worstExact).toBeGreaterThan(0);
    expect(worstEager).toBeLessThan(50);
  });

  it('decays an untouched rate by the sample’s factor without touching the stored rate until a fold', () => {
    const model = createRegionModel(2 * REGION_PAGES);
    const touched = new DirtyBitmap(2 * REGION_PAGES);
    for (let p = 0; p < 16; p++) touched.set(p * 4);
    sampleRegions(model, touched, 1000);
    const stored = model.rate[0] as number;
    const first = regionRate(model, 0);
    expect(first).toBe(stored);
    // 1 s later: the rate is e^(−1000/τ) of what it was; the stored number is unchanged.
    sampleRegions(model, touched, 2000);
    expect(model.rate[0]).toBe(stored);
    expect(regionRate(model, 0)).toBeCloseTo(first * Math.exp(-1000 / RATE_HORIZON_MS), 6);
    // 3 s more take the scale below MIN_RATE_SCALE: it is folded into the stored rate and reset to 1.
    sampleRegions(model, touched, 5000);
    expect(model.rateScale).toBe(1);
    expect(model.rate[0]).toBe(storedRate(first * Math.exp(-4000 / RATE_HORIZON_MS)));
  });

  it('storedRate rounds like Math.round and caps at the u32 maximum', () => {
    for (const v of [0, 0.49, 0.5, 1.5, 2.5, 1234.5, 2 ** 31 + 0.5, 0xffff_fffe + 0.4, 0xffff_ffff, 1e12]) {
      expect(storedRate(v)).toBe(Math.min(0xffff_ffff, Math.round(v)));
    }
  });
});
