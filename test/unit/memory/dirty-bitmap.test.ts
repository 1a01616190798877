// DirtyBitmap's per-span counts (src/engine/memory/dirty-bitmap.ts): kept as bits are set and cleared, they
// equal a recount of the bits after any mix of set, clear, clearBytes and reset, and after construction
// from bits.
import { describe, expect, it } from 'vitest';
import { DirtyBitmap, SPAN_PAGES } from '../../../src/engine/memory/dirty-bitmap.ts';

/** Set pages of span `s`, counted from the bits. */
function recount(m: DirtyBitmap, s: number): number {
  let n = 0;
  for (let p = s * SPAN_PAGES; p < Math.min(m.size, (s + 1) * SPAN_PAGES); p++) if (m.has(p)) n++;
  return n;
}

describe('DirtyBitmap span counts', () => {
  it('match a recount after random sets, clears, byte clears and resets', () => {
    const size = 1000; // not a multiple of 64: the last span is partial
    const m = new DirtyBitmap(size);
    const spans = Math.ceil(size / SPAN_PAGES);
    let x = 12345;
    const next = () => {
      x = (Math.imul(x, 1103515245) + 12345) >>> 0;
      // The high bits: an LCG's low bits cycle with short periods.
      return x >>> 8;
    };
    const ops = { set: 0, clear: 0, clearBytes: 0, reset: 0 };
    for (let step = 0; step < 5000; step++) {
      const r = next() % 100;
      if (r < 60) {
        m.set(next() % size);
        ops.set++;
      } else if (r < 90) {
        m.clear(next() % size);
        ops.clear++;
      } else if (r < 99) {
        const from = next() % m.bits.length;
        m.clearBytes(from, from + (next() % 40));
        ops.clearBytes++;
      } else {
        m.reset();
        ops.reset++;
      }
      if (step % 97 === 0) {
        let total = 0;
        for (let s = 0; s < spans; s++) {
          expect(m.spanCount(s), `span ${s} at step ${step}`).toBe(recount(m, s));
          total += m.spanCount(s);
        }
        expect(total).toBe(m.count);
      }
    }
    // The mix exercised every operation.
    for (const [op, n] of Object.entries(ops)) expect(n, op).toBeGreaterThan(0);
  });

  it('counts the spans of bits it is built from, and of a clone', () => {
    const bits = new Uint8Array(24);
    bits[0] = 0xff;
    bits[7] = 0x01;
    bits[8] = 0x03;
    bits[23] = 0x80;
    const m = new DirtyBitmap(190, bits);
    expect([m.spanCount(0), m.spanCount(1), m.spanCount(2)]).toEqual([9, 2, 1]);
    expect(m.clone().spanCount(0)).toBe(9);
    expect(m.spanCount(99)).toBe(0);
  });
});
