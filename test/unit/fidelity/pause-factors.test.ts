import { describe, expect, it } from 'vitest';
import { trace } from '../../../src/engine/trace.ts';
import type { SideCheckpoint, SideTrace } from '../../../src/fidelity/checkpoints.ts';
import type { LinkChunk } from '../../../src/fidelity/link-meter.ts';
import {
  bands,
  FIRST_BYTES,
  fitWithTerm,
  HOLD_MS,
  held,
  lineSlopes,
  pauseRows,
  termRange,
  withinSlope,
} from '../../../src/fidelity/pause-factors.ts';
import { sideCheckpoint } from './side-checkpoint.ts';

/** A secondary checkpoint with its request, `vmstate-received` and dirty count (ms, pages). */
function secondaryCheckpoint(requestAt: number, receivedAt: number, pages: number): SideCheckpoint {
  return {
    ...sideCheckpoint({
      requestAt,
      stopAt: requestAt,
      replyAt: requestAt,
      receivedAt,
      runAt: receivedAt + 5,
    }),
    dirtyPages: pages,
  };
}

const side = (checkpoints: SideCheckpoint[]): SideTrace => ({ startup: [], checkpoints, failover: [] });

describe('a checkpoint cut for the pause', () => {
  // Two checkpoints 100 ms apart: the second starts 0.5 ms after the first resumes (back-to-back) and its tail
  // waits 42 ms at the relay (the link's last read at 230, the secondary's vmstate-size at 272).
  const primary = side([
    sideCheckpoint({ requestAt: 100, stopAt: 101, replyAt: 101, receivedAt: 125, runAt: 170 }),
    sideCheckpoint({ requestAt: 170.5, stopAt: 172, replyAt: 172, receivedAt: 274, runAt: 320 }),
  ]);
  const secondary = side([secondaryCheckpoint(100.2, 124.5, 1024), secondaryCheckpoint(170.7, 273, 1024)]);
  const primaryEvents = [
    trace(118, 'colo_send_message', { msg: 'vmstate-size' }),
    trace(222, 'colo_send_message', { msg: 'vmstate-size' }),
  ];
  const secondaryEvents = [
    trace(124.4, 'colo_receive_message', { msg: 'vmstate-size' }),
    trace(272, 'colo_receive_message', { msg: 'vmstate-size' }),
  ];
  const link: LinkChunk[] = [
    { at: 102, dir: 'p2s', bytes: 65_536 },
    { at: 120, dir: 'p2s', bytes: 21_148 },
    { at: 124.6, dir: 's2p', bytes: 4 },
    { at: 175, dir: 'p2s', bytes: 65_536 },
    { at: 180, dir: 'p2s', bytes: FIRST_BYTES - 65_536 },
    { at: 230, dir: 'p2s', bytes: 21_148 },
  ];
  const rows = pauseRows(primary, secondary, primaryEvents, secondaryEvents, link);

  it('reads the gap, the flow, both holds and the rest off the traces and the link', () => {
    expect(rows).toHaveLength(2);
    const [a, b] = rows;
    expect(a?.gapMs).toBeNaN();
    expect(a?.firstBytesMs).toBeNaN();
    expect(a?.backToBack).toBe(false);
    expect(a).toMatchObject({ pages: 1024, index: 0, pauseMs: 69, flowMs: 19, restMs: 45 });
    expect(a?.primaryHoldMs).toBeCloseTo(2, 9);
    expect(a?.relayHoldMs).toBeCloseTo(4.4, 9);
    expect(b).toMatchObject({
      index: 1,
      gapMs: 2,
      backToBack: true,
      pauseMs: 148,
      flowMs: 58,
      firstBytesMs: 8,
    });
    expect(b?.primaryHoldMs).toBeCloseTo(8, 9);
    expect(b?.relayHoldMs).toBeCloseTo(42, 9);
    // The longest silence between the epoch's reads: 102 → 120, and 180 → 230.
    expect(a?.silenceMs).toBeCloseTo(18, 9);
    expect(b?.silenceMs).toBeCloseTo(50, 9);
  });

  it('marks a send held where either hop waited at least HOLD_MS', () => {
    expect(rows.map(held)).toEqual([false, true]);
    const row = rows[0];
    if (!row) throw new Error('no row');
    expect(held({ ...row, silenceMs: HOLD_MS })).toBe(true);
    expect(held({ ...row, relayHoldMs: HOLD_MS - 0.1 })).toBe(false);
    // A long vmstate-size → last read with the bytes flowing throughout (a large epoch) is no hold.
    expect(held({ ...row, primaryHoldMs: 3 * HOLD_MS, silenceMs: 1 })).toBe(false);
  });

  it('leaves out a checkpoint either side did not complete', () => {
    const cut = side([
      primary.checkpoints[0] as SideCheckpoint,
      { ...(primary.checkpoints[1] as SideCheckpoint), complete: false },
    ]);
    expect(pauseRows(cut, secondary, primaryEvents, secondaryEvents, link)).toHaveLength(1);
  });
});

describe('the within-window slope', () => {
  it("takes each window's own level off before the slope", () => {
    // Each window rises 0.5 ms per ms of gap, but the window with the long gaps sits 90 ms lower (another size,
    // another load): pooled, the slope would come out negative.
    const slow = [0, 10, 20, 30].map((x) => ({ x, y: 100 + 0.5 * x }));
    const quick = [400, 410, 420, 430].map((x) => ({ x, y: 10 + 0.5 * x - 200 }));
    const s = withinSlope([slow, quick]);
    expect(s.slope).toBeCloseTo(0.5, 12);
    expect(s.se).toBeCloseTo(0, 12);
    expect(s.n).toBe(8);
  });

  it("gives the slope's standard error from the residuals", () => {
    // y = x ± 1 alternately over x = 0..3: slope 0.6, residuals 0.4 / 1.2 apart.
    const s = withinSlope([[0, 1, 2, 3].map((x) => ({ x, y: x + (x % 2 === 0 ? 1 : -1) }))]);
    expect(s.slope).toBeCloseTo(0.6, 12);
    // Residuals 0.4, −1.2, 1.2, −0.4 around the line through the means: SSR 3.2, 4 − 1 − 1 degrees of freedom, Sxx 5.
    expect(s.se).toBeCloseTo(Math.sqrt(3.2 / 2 / 5), 12);
  });

  it('refuses windows whose gaps do not vary', () => {
    expect(() =>
      withinSlope([
        [
          { x: 1, y: 2 },
          { x: 1, y: 3 },
        ],
      ]),
    ).toThrow(/vary/);
  });
});

describe('the predictions that meet every run', () => {
  it("is the band within the tolerance of every run's median", () => {
    const b = bands([[{ pages: 1024, medianMs: 60 }], [{ pages: 1024, medianMs: 96 }]], 0.25);
    expect(b).toEqual([{ pages: 1024, lo: 72, hi: 75 }]);
    // ×1.7 apart: no prediction is within 25 % of both.
    const none = bands([[{ pages: 1024, medianMs: 60 }], [{ pages: 1024, medianMs: 102 }]], 0.25)[0];
    expect((none?.lo ?? 0) > (none?.hi ?? 0)).toBe(true);
  });

  it('finds the lines through bands on a line, and none through bands that bend', () => {
    const straight = [1024, 2048, 4096, 8192].map((pages) => ({
      pages,
      lo: 50 + 0.01 * pages - 1,
      hi: 50 + 0.01 * pages + 1,
    }));
    const s = lineSlopes(straight);
    expect(s.min).toBeLessThanOrEqual(0.01);
    expect(s.max).toBeGreaterThanOrEqual(0.01);
    // Flat from 1024 to 4096 pages, then steep: a line that reaches 8192's band overshoots 4096's.
    const bent = [
      { pages: 1024, lo: 70, hi: 74 },
      { pages: 4096, lo: 72, hi: 76 },
      { pages: 8192, lo: 140, hi: 150 },
    ];
    const b = lineSlopes(bent);
    expect(b.min).toBeGreaterThan(b.max);
  });

  it('finds the coefficient of a gap term where only the term lets a line through', () => {
    // Two runs, ±8 % around 50 ms + 0.01 ms/page + 0.03 ms per ms of the size's idle gap (the 100 ms scenario
    // has almost none): no line in the pages alone meets both, with the gap term every size does.
    const gap: Record<number, number> = { 1024: 440, 2048: 230, 4096: 10, 8192: 860 };
    const truth = (pages: number) => 50 + 0.01 * pages + 0.03 * (gap[pages] ?? 0);
    const runs = [0.92, 1.08].map((k) =>
      [1024, 2048, 4096, 8192].map((pages) => ({ pages, medianMs: k * truth(pages) })),
    );
    const bs = bands(runs, 0.1);
    const plain = lineSlopes(bs);
    expect(plain.min).toBeGreaterThan(plain.max);
    const c = termRange(bs, (p) => gap[p] ?? 0, -0.2, 0.2, 400);
    expect(c).toBeDefined();
    expect(c?.min).toBeLessThanOrEqual(0.03);
    expect(c?.max).toBeGreaterThanOrEqual(0.03);
    expect(c?.min).toBeGreaterThan(0);
    // A step where the gap passes 200 ms cannot make up for a term that grows with the gap.
    expect(termRange(bs, (p) => ((gap[p] ?? 0) > 200 ? 1 : 0), -100, 100, 400)).toBeUndefined();
  });
});

describe('a pause line plus a term', () => {
  it('recovers the coefficients of points on it', () => {
    const gap: Record<number, number> = { 1024: 440, 2048: 230, 4096: 10, 8192: 860 };
    const points = [1024, 2048, 4096, 8192].map((pages) => ({
      pages,
      term: gap[pages] ?? 0,
      medianMs: 45 + 0.012 * pages + 0.025 * (gap[pages] ?? 0),
    }));
    const f = fitWithTerm(points);
    expect(f.intercept).toBeCloseTo(45, 6);
    expect(f.slope).toBeCloseTo(0.012, 9);
    expect(f.c).toBeCloseTo(0.025, 9);
  });

  it('refuses a term the pages already fix', () => {
    const points = [1024, 2048, 4096].map((pages) => ({
      pages,
      term: 2 * pages,
      medianMs: 50 + 0.01 * pages,
    }));
    expect(() => fitWithTerm(points)).toThrow(/three coefficients/);
  });
});
