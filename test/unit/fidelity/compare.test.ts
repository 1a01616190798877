import { describe, expect, it } from 'vitest';
import { calibrate, type SizePoint, sizePoints } from '../../../src/fidelity/calibrate.ts';
import type { SideCheckpoint, SideTrace } from '../../../src/fidelity/checkpoints.ts';
import { compareScenario } from '../../../src/fidelity/compare.ts';
import type { CheckpointFigures } from '../../../src/fidelity/figures.ts';
import { fitLine, mean, median, relDiff } from '../../../src/fidelity/fit.ts';
import { buildGuest, MAX_GUEST_PAGES } from '../../../src/fidelity/guest.ts';
import { findPattern, PATCH_PATTERN, patchQemu } from '../../../src/fidelity/qemu-patch.ts';

const P = ['send:checkpoint-request', 'recv:checkpoint-reply', 'stop', 'recv:vmstate-loaded', 'run'];
const S = ['recv:checkpoint-request', 'stop', 'send:checkpoint-reply', 'flush', 'run', 'send:vmstate-loaded'];

function side(steps: string[], n: number, change?: { index: number; steps: string[] }): SideTrace {
  const checkpoints: SideCheckpoint[] = [];
  for (let i = 0; i < n; i++) {
    const nan = Number.NaN;
    checkpoints.push({
      steps: change?.index === i ? change.steps : steps,
      requestAt: i,
      stopAt: nan,
      runAt: nan,
      replyAt: nan,
      receivedAt: nan,
      loadedAt: nan,
      flushBeginAt: nan,
      flushEndAt: nan,
      dirtyPages: nan,
      complete: true,
    });
  }
  return { startup: [], checkpoints, failover: [] };
}

const fig = (pages: number, bytes: number, pauseMs: number): CheckpointFigures => ({
  pages,
  bytes,
  pauseMs,
  sendMs: pauseMs / 2,
  flushMs: pauseMs / 10,
  replyMs: 4,
});

describe('compareScenario', () => {
  const base = { pages: 100, delayMs: 500, windowMs: 5000 };

  it('passes identical sequences, counts within ±1, bytes within 2 %, pause within 25 %', () => {
    const c = compareScenario({
      ...base,
      qemu: { primary: side(P, 10), secondary: side(S, 10), figures: [fig(100, 10_000, 100)] },
      engine: { primary: side(P, 11), secondary: side(S, 11), figures: [fig(100, 10_150, 124)] },
    });
    expect([c.sequencesOk, c.countOk, c.bytesOk, c.pauseOk]).toEqual([true, true, true, true]);
    expect(c.primary).toMatchObject({ compared: 10, identical: 10 });
  });

  it('fails each check just past its tolerance, and names the first mismatching checkpoint', () => {
    const swapped = { index: 3, steps: ['send:checkpoint-request', 'stop', 'recv:checkpoint-reply'] };
    const c = compareScenario({
      ...base,
      qemu: { primary: side(P, 10), secondary: side(S, 10), figures: [fig(100, 10_000, 100)] },
      engine: { primary: side(P, 12, swapped), secondary: side(S, 12), figures: [fig(100, 10_201, 126)] },
    });
    expect([c.sequencesOk, c.countOk, c.bytesOk, c.pauseOk]).toEqual([false, false, false, false]);
    expect(c.primary.identical).toBe(9);
    expect(c.primary.mismatch?.index).toBe(3);
    expect(c.secondary.identical).toBe(10);
  });

  it('uses only checkpoints at the scenario size when there are any (the first also carries boot pages)', () => {
    const c = compareScenario({
      ...base,
      qemu: {
        primary: side(P, 2),
        secondary: side(S, 2),
        figures: [fig(450, 99_999, 900), fig(100, 10_000, 100)],
      },
      engine: { primary: side(P, 2), secondary: side(S, 2), figures: [fig(100, 10_000, 100)] },
    });
    expect(c.qemuBytes).toBe(10_000);
    expect(c.qemuPauseMs).toBe(100);
  });
});

describe('fit', () => {
  it('recovers a line exactly and reports R² = 1', () => {
    const f = fitLine([0, 1000, 4000].map((x) => ({ x, y: 5 + 0.02 * x })));
    expect(f.slope).toBeCloseTo(0.02, 12);
    expect(f.intercept).toBeCloseTo(5, 9);
    expect(f.r2).toBeCloseTo(1, 12);
  });

  it('relative weighting favours the small values a least-squares fit would sacrifice', () => {
    const pts = [
      { x: 1000, y: 80 },
      { x: 2000, y: 110 },
      { x: 8000, y: 400 },
    ];
    const rel = (f: { slope: number; intercept: number }) =>
      Math.max(...pts.map((q) => Math.abs(f.intercept + f.slope * q.x - q.y) / q.y));
    expect(rel(fitLine(pts, true))).toBeLessThan(rel(fitLine(pts)));
    const exact = fitLine(
      [0, 1000, 4000].map((x) => ({ x, y: 5 + 0.02 * x })),
      true,
    );
    expect(exact.slope).toBeCloseTo(0.02, 12);
    expect(exact.intercept).toBeCloseTo(5, 9);
  });

  it('weights points by w', () => {
    const pts = [
      { x: 0, y: 0, w: 1 },
      { x: 1, y: 1, w: 1 },
      { x: 2, y: 5, w: 1 },
    ];
    const heavy = fitLine(pts.map((p) => (p.x === 2 ? { ...p, w: 100 } : p)));
    const plain = fitLine(pts);
    // The heavy point pulls the line onto itself.
    expect(Math.abs(heavy.intercept + 2 * heavy.slope - 5)).toBeLessThan(
      Math.abs(plain.intercept + 2 * plain.slope - 5),
    );
  });

  it('refuses a fit without two distinct x', () => {
    expect(() =>
      fitLine([
        { x: 1, y: 2 },
        { x: 1, y: 3 },
      ]),
    ).toThrow(/two distinct x/);
  });

  it('median and relative difference', () => {
    expect(median([3, 1, 2])).toBe(2);
    expect(median([4, 1, 2, 3])).toBe(2.5);
    expect(median([])).toBeNaN();
    expect(relDiff(102, 100)).toBeCloseTo(0.02, 12);
    expect(mean([1, 2, Number.NaN, 6])).toBe(3);
    expect(mean([])).toBeNaN();
  });
});

describe('calibrate', () => {
  // send = 10 + 0.03·pages, flush = 0.004·pages, median pause = send + flush + 40, reply 6 ms; the mean pause
  // 5 ms above the median (a tail of stalls).
  const pointAt = (pages: number, n = 10): SizePoint => ({
    pages,
    n,
    sendMs: 10 + 0.03 * pages,
    flushMs: 0.004 * pages,
    pauseMs: 55 + 0.034 * pages,
    replyMs: 6,
    restMs: 40,
    pauseMedianMs: 50 + 0.034 * pages,
  });
  const points = [1000, 4000, 8000].map((p) => pointAt(p));

  it('splits the pause line between link and flush, latency from the reply, the rest into prep and device load', () => {
    const c = calibrate(points, 0);
    expect(c.pause.slope).toBeCloseTo(0.034, 9);
    expect(c.link.latencyMs).toBe(3);
    expect(c.link.bandwidthBytesPerSec).toBeCloseTo((4112 * 1000) / 0.03, 3);
    expect(c.costs.flushBytesPerMs).toBeCloseTo(4096 / 0.004, 3);
    expect(c.costs.prepMs).toBeCloseTo(4, 9);
    expect(c.costs.deviceLoadMs).toBeCloseTo(40, 9);
    // The engine's pause for N pages, from the profile, is the fitted line.
    const n = 2500;
    const engine =
      c.costs.prepMs +
      c.costs.deviceLoadMs +
      2 * c.link.latencyMs +
      (n * 4112 * 1000) / c.link.bandwidthBytesPerSec +
      (n * 4096) / c.costs.flushBytesPerMs;
    expect(engine).toBeCloseTo(50 + 0.034 * n, 6);
  });

  it("reports the fitted pause against each point, by mean and by median: the line is the medians'", () => {
    const c = calibrate(points, 0);
    expect(c.residuals.map((r) => r.pages)).toEqual([1000, 4000, 8000]);
    for (const r of c.residuals) {
      expect(r.vsMedian).toBeCloseTo(0, 9);
      expect(r.vsMean).toBeCloseTo(-5 / (55 + 0.034 * r.pages), 9);
    }
  });

  it('fits the pause through each size alike, whatever its checkpoint count; the send by count', () => {
    // A size 20 % high moves the pause line as much with one checkpoint as with a hundred ...
    const off = (n: number) => [
      pointAt(1000, 100),
      pointAt(4000, 100),
      { ...pointAt(8000, n), pauseMedianMs: 1.2 * (50 + 0.034 * 8000), sendMs: 1.2 * (10 + 0.03 * 8000) },
    ];
    const at8000 = (n: number) => calibrate(off(n), 0).residuals[2]?.vsMedian ?? Number.NaN;
    expect(at8000(1)).toBeCloseTo(at8000(100), 9);
    expect(Math.abs(at8000(1))).toBeGreaterThan(0.01);
    // ... while the send's line, a mean of n checkpoints being n times as sure, follows the count.
    const send = (n: number) => calibrate(off(n), 0).send.slope;
    expect(send(100)).toBeGreaterThan(send(1));
  });

  it('reduces checkpoints to a point per size: means, and the median pause', () => {
    const f = (pages: number, pauseMs: number, replyMs: number): CheckpointFigures => ({
      pages,
      bytes: 0,
      pauseMs,
      sendMs: pauseMs / 2,
      flushMs: 1,
      replyMs,
    });
    const p = sizePoints([f(200, 100, 2), f(100, 60, 4), f(100, 60, 6), f(100, 180, 8)]);
    expect(p.map((x) => x.pages)).toEqual([100, 200]);
    expect(p[0]).toMatchObject({ n: 3, pauseMs: 100, pauseMedianMs: 60, replyMs: 6, sendMs: 50, restMs: 49 });
  });

  it("charges the device state's transfer to the fixed part", () => {
    const c = calibrate(points, 300_000);
    const devMs = (300_000 * 1000) / c.link.bandwidthBytesPerSec;
    expect(c.costs.prepMs + c.costs.deviceLoadMs).toBeCloseTo(44 - devMs, 6);
  });

  it('needs two dirty sizes', () => {
    expect(() => calibrate([pointAt(1000)], 0)).toThrow(/two distinct x/);
  });
});

describe('QEMU binary patch', () => {
  const site = [
    0x8b, 0x05, 1, 2, 3, 4, 0x85, 0xc0, 0x74, 0x06, 0xc3, 0x0f, 0x1f, 0x44, 0x00, 0x00, 0x48, 0x8b,
  ];
  const rest = [0x7f, 0xe8, 0x31, 0xd2, 0x48, 0x8d, 0x35, 9, 9, 9, 9, 0xe9];
  const body = [...site, ...rest];

  it('turns the one je of the pattern into a two-byte NOP and nothing else', () => {
    const bin = Uint8Array.from([0x8b, 0x05, 0x90, ...body, 0xcc]);
    expect(body).toHaveLength(PATCH_PATTERN.length);
    const out = patchQemu(bin);
    const diff = [...out.keys()].filter((i) => out[i] !== bin[i]);
    expect(diff).toEqual([3 + 8, 3 + 9]);
    expect([out[11], out[12]]).toEqual([0x66, 0x90]);
    expect(bin[11]).toBe(0x74); // the input is not touched
  });

  it('refuses a binary without the pattern, or with it twice', () => {
    expect(() => patchQemu(Uint8Array.from([1, 2, 3]))).toThrow(/occurs nowhere/);
    expect(() => patchQemu(Uint8Array.from([...body, ...body]))).toThrow(/more than once/);
    expect(findPattern(Uint8Array.from([...body, 0, ...body]), PATCH_PATTERN)).toEqual([0, body.length + 1]);
  });
});

describe('fidelity guest', () => {
  it('refuses a dirty size it cannot hold before assembling anything', () => {
    for (const bad of [-1, 1.5, MAX_GUEST_PAGES + 1, Number.NaN]) {
      expect(() => buildGuest(bad, '/nonexistent/never-created')).toThrow(
        /guest dirty pages must be an integer/,
      );
    }
  });
});
