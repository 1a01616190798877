/**
 * The clairvoyant floor (bench/floor.ts) on hand-built traces, and against the engine: no policy's
 * checkpoint may ever come in under its floor.
 */
import { describe, expect, it } from 'vitest';
import {
  epochFloor,
  type FloorCosts,
  lastWrites,
  onlineHotSetBound,
  pageWireBytes,
  residualBytes,
  runFloors,
  TRACE_SLICE_MS,
} from '../../../bench/floor.ts';
import { DEFAULT_PARAMS, type PolicyName } from '../../../src/engine/params.ts';
import { PAGE_SIZE } from '../../../src/engine/protocol/delta.ts';
import type { WorkloadSpec } from '../../../src/engine/workload/spec.ts';
import { makeWorkload } from '../../../src/engine/workload/workload.ts';
import { runEmbedded } from '../../../src/runtime/embedded/run.ts';

/** 1 000 bytes per ms on the link, staging and flush fast enough not to matter unless a test says so. */
const COSTS: FloorCosts = {
  prepMs: 2,
  deviceStateBytes: 0,
  latencyMs: 0.1,
  bandwidthBytesPerMs: 1000,
  applyBytesPerMs: 1e12,
  flushBytesPerMs: PAGE_SIZE, // one ms per flushed page
  deviceLoadMs: 5,
};
const PAGE = 4112;
/** What every checkpoint pays even with nothing left to send: prep, latency both ways, device load. */
const FIXED = COSTS.prepMs + 2 * COSTS.latencyMs + COSTS.deviceLoadMs;

describe('clairvoyant floor on hand-built traces', () => {
  it('a page written once long ago costs nothing but its flush', () => {
    const { releases, pages } = lastWrites([{ page: 7, at: 0 }], 0, 20_000, () => PAGE);
    const f = epochFloor(releases, pages, 20_000, COSTS);
    expect(f.residualLinkBytes).toBe(0);
    expect(f.pages).toBe(1);
    expect(f.floorMs).toBeCloseTo(FIXED + 1, 9);
  });

  it('a page rewritten at the stop costs its bytes', () => {
    const writes = [0, 10_000, 20_000].map((at) => ({ page: 3, at }));
    const { releases, pages } = lastWrites(writes, 0, 20_000, () => PAGE);
    const f = epochFloor(releases, pages, 20_000, COSTS);
    expect(f.residualLinkBytes).toBe(PAGE);
    expect(f.floorMs).toBeCloseTo(FIXED + PAGE / 1000 + 1, 9);
  });

  it('a zero page rewritten at the stop costs its header only', () => {
    const { releases, pages } = lastWrites([{ page: 1, at: 5 }], 0, 5, () => 16);
    expect(epochFloor(releases, pages, 5, COSTS).residualLinkBytes).toBe(16);
  });

  it('a hot set rewritten faster than the link can send costs all of it', () => {
    // 100 pages rewritten round-robin, the whole set every 10 ms: 41 120 bytes released per 10 ms, the link
    // carries 10 000. All but what the link carries during the last cycle is left at the stop.
    const writes: { page: number; at: number }[] = [];
    for (let k = 0; k < 200_000; k++) writes.push({ page: k % 100, at: k * 0.1 });
    const stop = 199_999 * 0.1;
    const { releases, pages } = lastWrites(writes, 0, stop, () => PAGE);
    const f = epochFloor(releases, pages, stop, COSTS);
    const all = 100 * PAGE;
    expect(f.residualLinkBytes).toBeCloseTo(all - 1000 * 99 * 0.1, 6);
    expect(f.residualLinkBytes / all).toBeGreaterThan(0.97);
    // Rewritten all at once at the stop, it costs exactly all of it.
    const burst = lastWrites(
      Array.from({ length: 100 }, (_, page) => ({ page, at: stop })),
      0,
      stop,
      () => PAGE,
    );
    expect(residualBytes(burst.releases, stop, 1000)).toBe(all);
  });

  it('a cold region written slower than the link drains: only the tail is left', () => {
    // One new page every 10 ms (411 bytes/ms < 1000): the link keeps up, nothing but the last page's
    // unsent part remains.
    const writes = Array.from({ length: 2000 }, (_, k) => ({ page: k, at: k * 10 }));
    const { releases } = lastWrites(writes, 0, 19_990, () => PAGE);
    expect(residualBytes(releases, 19_990, 1000)).toBe(PAGE);
  });

  it('staging slower than the link is charged after the stop', () => {
    const costs = { ...COSTS, applyBytesPerMs: 100 };
    const { releases, pages } = lastWrites([{ page: 3, at: 20_000 }], 0, 20_000, () => PAGE);
    const f = epochFloor(releases, pages, 20_000, costs);
    // prep + latency, then the page staged at 100 bytes/ms; then flush, device load, latency back.
    expect(f.floorMs).toBeCloseTo(2 + 0.1 + PAGE / 100 + 1 + 5 + 0.1, 9);
  });
});

describe('the replayed trace', () => {
  it('matches a brute-force replay of the same writes, within one trace slice of the link', () => {
    const params = {
      ...DEFAULT_PARAMS,
      guestBytes: 4096 * PAGE_SIZE,
      workload: { kind: 'sequential', rate: 2000, spanPages: 1500 } as WorkloadSpec,
    };
    const link = { bandwidthBytesPerSec: 4e6, latencyMs: 0.1 };
    const stops = [3000.3, 6100.7, 9000];
    const floors = runFloors(params, link, stops);
    const generate = makeWorkload(params.workload, 4096, params.seed);
    let from = 0;
    for (const [i, stop] of stops.entries()) {
      // Write k of a stream of rate r is at k·1000/r ms: replay each millisecond's writes at their instants.
      const writes: { page: number; at: number }[] = [];
      let k = Math.ceil((from * 2000) / 1000);
      generate(from, stop, (page) => {
        writes.push({ page, at: (k++ * 1000) / 2000 });
      });
      const exact = lastWrites(writes, from, stop, (page) => pageWireBytes(params, page));
      const want = residualBytes(exact.releases, stop, link.bandwidthBytesPerSec / 1000);
      const got = floors[i];
      expect(got?.pages).toBe(exact.pages);
      expect(got?.residualLinkBytes).toBeLessThanOrEqual(want + 1e-6);
      expect(got?.residualLinkBytes).toBeGreaterThanOrEqual(
        want - (TRACE_SLICE_MS * link.bandwidthBytesPerSec) / 1000 - 1e-6,
      );
      from = stop;
    }
  });
});

describe('no policy beats the floor', () => {
  const workloads: WorkloadSpec[] = [
    { kind: 'hotcold', hotPages: 512, hotRate: 3000, coldRate: 1500 },
    { kind: 'buffered-io', rate: 5000, hotPages: 2048, tail: 0.05 },
    { kind: 'sequential', rate: 3000, spanPages: 4096 },
  ];
  for (const workload of workloads) {
    for (const policy of ['none', 'fixed', 'adaptive'] as PolicyName[]) {
      it(`${workload.kind}, ${policy}: every checkpoint's downtime is at least its floor`, () => {
        const params = {
          ...DEFAULT_PARAMS,
          guestBytes: 64 * 1024 * 1024,
          payload: 'modelled' as const,
          workload,
          policy,
          checkpointDelayMs: 5000,
          thresholdBytes: 4 * 1024 * 1024,
        };
        const link = { bandwidthBytesPerSec: 40e6, latencyMs: 0.1 };
        const stops = new Map<number, number>();
        const result = runEmbedded({
          params,
          link,
          durationMs: 40_000,
          observe: (_at, p) => {
            if (p.txn && !Number.isNaN(p.txn.stopAt) && !stops.has(p.epoch)) stops.set(p.epoch, p.guestTime);
          },
        });
        const floors = runFloors(
          params,
          link,
          result.checkpoints.map((c) => stops.get(c.epoch) ?? Number.NaN),
        );
        expect(result.checkpoints.length).toBeGreaterThanOrEqual(6);
        for (const [i, c] of result.checkpoints.entries()) {
          expect(c.downtimeMs).toBeGreaterThanOrEqual(floors[i]?.floorMs ?? Number.POSITIVE_INFINITY);
        }
        // The floor is not vacuous: it includes the flush of every page the epoch wrote.
        expect(floors.every((f) => f.pages > 0)).toBe(true);
      });
    }
  }
});

describe('onlineHotSetBound', () => {
  // 1 000 pages, each written once per 10 s on average; 10 pages leave per ms.
  const bound = onlineHotSetBound(1000, 1e-4, 10);

  it('leaves every page dirty when no copy may be wasted, and fewer as the budget grows', () => {
    expect(bound.residualFor(0)).toBe(1000);
    const some = bound.residualFor(5);
    const more = bound.residualFor(50);
    expect(some).toBeLessThan(1000);
    expect(more).toBeLessThan(some);
    // The 1 000 last sends, 0.1 ms apart: about λ·Σk/c = 1e-4 · 500 500 / 10 ≈ 5 copies wasted.
    expect(bound.wasteFor(bound.residualFor(5))).toBeLessThanOrEqual(5);
    expect(bound.wasteFor(bound.residualFor(5))).toBeGreaterThan(4);
  });

  it('inverts: the waste for a residual gets that residual back', () => {
    const w = bound.wasteFor(10);
    expect(bound.residualFor(w)).toBeLessThanOrEqual(10);
    expect(bound.residualFor(w * 0.9)).toBeGreaterThan(10);
  });

  it('cannot clean a hot set rewritten faster than the link can send it, at any waste', () => {
    // 1 000 pages each written every 10 ms: 100 writes per ms against 10 sends per ms.
    const hot = onlineHotSetBound(1000, 0.1, 10);
    expect(hot.wasteFor(0)).toBe(Number.POSITIVE_INFINITY);
    expect(hot.residualFor(1e9)).toBeGreaterThan(800);
  });
});
