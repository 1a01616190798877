import { describe, expect, it } from 'vitest';
import { calibrate, type SizePoint } from '../../../src/fidelity/calibrate.ts';
import type { SideCheckpoint } from '../../../src/fidelity/checkpoints.ts';
import { runEngineScenario } from '../../../src/fidelity/engine-scenario.ts';
import { engineFigures } from '../../../src/fidelity/figures.ts';
import { KEPT_RUNS, keepRun, parseKeptRuns, poolRuns } from '../../../src/fidelity/pooled.ts';
import { countSpread, offsetsOf, replayCount, timerLateness } from '../../../src/fidelity/timer-replay.ts';

const same = (replyMs: number, receivedMs: number, loadedMs: number) => () => ({
  replyMs,
  receivedMs,
  loadedMs,
});

describe("timer replay: QEMU's checkpoint times through the engine's timer", () => {
  it('checkpoints shorter than the delay: one per tick', () => {
    expect(replayCount({ periodMs: 100, windowMs: 1000, offsets: same(5, 20, 30) })).toBe(10);
  });

  it('vmstate-received after the next tick: that tick is lost, the checkpoint after waits for a tick', () => {
    // Requests at 100, 300, 500, 700, 900: each loses the tick inside it.
    expect(replayCount({ periodMs: 100, windowMs: 1000, offsets: same(5, 150, 160) })).toBe(5);
  });

  it('a tick between vmstate-received and the resume starts the next checkpoint back-to-back', () => {
    // 100, 230 (b2b), 360 (b2b), tick 400 lost (received at 410), 500, 630, 760, tick 800 lost, 900.
    expect(replayCount({ periodMs: 100, windowMs: 1000, offsets: same(5, 50, 130) })).toBe(7);
  });

  it('resampling: no spread with one checkpoint time, a seeded spread with several', () => {
    const one = countSpread([{ replyMs: 5, receivedMs: 50, loadedMs: 130 }], 100, 2000, 10);
    expect(one).toMatchObject({ sd: 0, mean: one.inOrder, samples: 10 });
    const mixed = [
      { replyMs: 1, receivedMs: 30, loadedMs: 70 },
      { replyMs: 1, receivedMs: 120, loadedMs: 170 },
      { replyMs: 1, receivedMs: 60, loadedMs: 110 },
    ];
    const a = countSpread(mixed, 100, 2000, 20);
    expect(a.sd).toBeGreaterThan(0);
    expect(countSpread(mixed, 100, 2000, 20)).toEqual(a);
    expect(() => countSpread([], 100, 5000)).toThrow(/no complete checkpoint/);
  });

  it("offsets come from the primary's complete checkpoints", () => {
    const c = (requestAt: number, complete: boolean): SideCheckpoint => ({
      steps: [],
      requestAt,
      stopAt: requestAt + 2,
      runAt: requestAt + 90,
      replyAt: requestAt + 1,
      receivedAt: requestAt + 40,
      loadedAt: requestAt + 89,
      flushBeginAt: Number.NaN,
      flushEndAt: Number.NaN,
      dirtyPages: Number.NaN,
      complete,
    });
    expect(offsetsOf([c(0, true), c(100, false)])).toEqual([{ replyMs: 2, receivedMs: 40, loadedMs: 90 }]);
  });

  it('lateness: the mean request interval less the delay, never below zero', () => {
    expect(timerLateness([{ delayMs: 100, requests: [0, 104, 210] }])).toBe(5);
    expect(timerLateness([{ delayMs: 100, requests: [0, 99] }])).toBe(0);
    expect(timerLateness([])).toBe(0);
  });
});

describe('fidelity engine scenario', () => {
  it('every epoch carries the whole dirty set, even a back-to-back one (the guest rewrites it within 1 ms)', () => {
    // Checkpoints (~125 ms) outlast the 50 ms delay: the VM runs only a few ms between them.
    const e = runEngineScenario({
      pages: 256,
      delayMs: 50,
      durationMs: 2000,
      deviceStateBytes: 1000,
      link: { bandwidthBytesPerSec: 1e8, latencyMs: 1 },
      costs: { prepMs: 5, flushBytesPerMs: 1e5, deviceLoadMs: 100, applyBytesPerMs: 1e12 },
      failover: false,
    });
    const figs = engineFigures(e.checkpoints);
    expect(figs.length).toBeGreaterThan(10);
    expect(figs.every((f) => f.pages === 256)).toBe(true);
  });
});

describe('kept runs and the pooled fit', () => {
  const point = (pages: number, pauseMs: number): SizePoint => ({
    pages,
    n: 10,
    pauseMs,
    sendMs: pauseMs / 2,
    flushMs: pauseMs / 20,
    replyMs: 4,
    restMs: 40,
    pauseMedianMs: pauseMs,
  });
  const run = (ranAt: string, k: number) => ({
    ranAt,
    points: [point(1000, 60 * k), point(4000, 90 * k)],
    deviceStateBytes: 12_000,
    timerLateMs: 5 * k,
  });

  it('keeps the last runs only', () => {
    let kept = [run('a', 1)];
    for (let i = 0; i < KEPT_RUNS + 2; i++) kept = keepRun(kept, run(`r${i}`, 1));
    expect(kept).toHaveLength(KEPT_RUNS);
    expect(kept.at(-1)?.ranAt).toBe(`r${KEPT_RUNS + 1}`);
  });

  it('pools every run’s points into one fit; medians of device state and lateness', () => {
    const runs = [run('a', 1), run('b', 1.2), run('c', 0.9)];
    const p = poolRuns(runs);
    expect(p.calibration.pause).toEqual(
      calibrate(
        runs.flatMap((r) => r.points),
        12_000,
      ).pause,
    );
    expect(p.calibration.residuals).toHaveLength(6);
    expect(p.timerLateMs).toBe(5);
    expect(() => poolRuns([])).toThrow(/no kept run/);
  });

  it('refuses a malformed runs file in one line', () => {
    expect(parseKeptRuns(JSON.stringify([run('a', 1)]))).toHaveLength(1);
    expect(() => parseKeptRuns('{"ranAt": 1}')).toThrow(/not a list of kept runs/);
    expect(() => parseKeptRuns('[{"ranAt": "x", "points": []}]')).toThrow(/not a list of kept runs/);
  });
});

describe('timer replay with the loop wake-up', () => {
  it('a tick-driven request leaves wakeMs after its tick, so a checkpoint that fitted now loses the next tick', () => {
    // Without the wake-up vmstate-received lands at 190 (tick 200 held); with 15 ms it lands at 205 (lost).
    const offsets = same(5, 90, 110);
    expect(replayCount({ periodMs: 100, windowMs: 1000, offsets })).toBe(7);
    expect(replayCount({ periodMs: 100, windowMs: 1000, offsets, wakeMs: 15 })).toBe(5);
  });
});
