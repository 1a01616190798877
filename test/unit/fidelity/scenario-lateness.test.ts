import { describe, expect, it } from 'vitest';
import type { SideCheckpoint } from '../../../src/fidelity/checkpoints.ts';
import { scenarioLateness, timerLateness } from '../../../src/fidelity/timer-replay.ts';

/** A complete primary checkpoint requested at `at`, `vmstate-received` and resume at the offsets, ms. */
function ckpt(at: number, receivedMs: number, runMs: number): SideCheckpoint {
  return {
    steps: [],
    requestAt: at,
    stopAt: at + 1,
    runAt: at + runMs,
    replyAt: at + 1,
    receivedAt: at + receivedMs,
    loadedAt: at + runMs,
    flushBeginAt: Number.NaN,
    flushEndAt: Number.NaN,
    dirtyPages: Number.NaN,
    complete: true,
  };
}

/**
 * QEMU's primary by hand: ticks every delay + late ms (from the late callback), a request `late` ms after a
 * tick that finds the loop waiting, ticks before `vmstate-received` lost, one after it a back-to-back start.
 */
function schedule(delayMs: number, late: number, durations: readonly [number, number][], windowMs: number) {
  const period = delayMs + late;
  const out: SideCheckpoint[] = [];
  let tick = period;
  let at = tick + late;
  for (let i = 0; at < windowMs; i++) {
    const [receivedMs, runMs] = durations[i % durations.length] as [number, number];
    out.push(ckpt(at, receivedMs, runMs));
    while (tick <= at + receivedMs) tick += period; // lost, and the one that started this checkpoint
    if (tick < at + runMs) {
      at += runMs; // back-to-back: the loop is awake
      tick += period;
    } else at = tick + late;
  }
  return out;
}

describe("a scenario's timer lateness, fitted to its own trace", () => {
  it('with no checkpoint longer than the delay: the mean interval less the delay', () => {
    const cs = schedule(500, 12, [[30, 80]], 10_000);
    expect(scenarioLateness(cs, 500)).toBeCloseTo(12, 6);
    expect(timerLateness([{ delayMs: 500, requests: cs.map((c) => c.requestAt) }])).toBeCloseTo(12, 6);
  });

  it('with a few checkpoints longer than the delay: their lost ticks counted, not taken for lateness', () => {
    // Two of every fourteen checkpoints hold the event past the next tick (lost) or end after it (back-to-back).
    const durations: [number, number][] = [...Array(12).fill([30, 80]), [540, 560], [480, 530]];
    const cs = schedule(500, 12, durations, 40_000);
    const gaps = cs.slice(1).map((c, i) => c.requestAt - (cs[i] as SideCheckpoint).runAt);
    expect(gaps.some((g) => g < 2)).toBe(true);
    expect(scenarioLateness(cs, 500)).toBeCloseTo(12, 6);
    // The mean request interval less the delay is not the lateness here.
    const naive = timerLateness([{ delayMs: 500, requests: cs.map((c) => c.requestAt) }]);
    expect(Math.abs(naive - 12)).toBeGreaterThan(20);
  });

  it('under a delay most checkpoints outlast, gives nothing (how many ticks a pair spans is in doubt)', () => {
    const durations: [number, number][] = [
      [60, 105],
      [130, 175],
      [40, 70],
      [95, 150],
    ];
    const cs = schedule(100, 17, durations, 8000);
    expect(scenarioLateness(cs, 100)).toBeUndefined();
  });

  it('gives nothing on too few waiting requests, and leaves out incomplete checkpoints', () => {
    const cs = schedule(500, 5, [[30, 80]], 2500);
    expect(scenarioLateness(cs.slice(0, 4), 500)).toBeUndefined();
    const open = { ...ckpt(99_999, 1, 2), complete: false };
    expect(scenarioLateness([...schedule(500, 5, [[30, 80]], 10_000), open], 500)).toBeCloseTo(5, 6);
  });
});
