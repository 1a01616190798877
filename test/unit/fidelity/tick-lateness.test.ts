import { describe, expect, it } from 'vitest';
import type { SideCheckpoint } from '../../../src/fidelity/checkpoints.ts';
import { fitTickLateness } from '../../../src/fidelity/tick-lateness.ts';
import { sideCheckpoint } from './side-checkpoint.ts';

/** A complete primary checkpoint: request, vmstate-received and resume at the given times, ms. */
function ckpt(requestAt: number, receivedAt: number, runAt: number): SideCheckpoint {
  return sideCheckpoint({ requestAt, stopAt: requestAt + 1, replyAt: requestAt + 1, receivedAt, runAt });
}

const D = 100;

describe('fitTickLateness: QEMU timer callback lateness from the primary trace (hand-built chains)', () => {
  it('checkpoints shorter than the delay: each tick its own lateness (interval less the delay)', () => {
    // Callbacks 10, 0, 50 and 20 ms late: ticks at 110, 210, 360, 480 (checkpoint-ready at 0).
    const cs = [110, 210, 360, 480].map((t) => ckpt(t, t + 20, t + 30));
    expect(fitTickLateness(cs, 0, D)).toEqual([
      { atMs: 100, lateMs: 10, ticks: 1, wakeMs: 0 },
      { atMs: 210, lateMs: 0, ticks: 1, wakeMs: 0 },
      { atMs: 310, lateMs: 50, ticks: 1, wakeMs: 0 },
      { atMs: 460, lateMs: 20, ticks: 1, wakeMs: 0 },
    ]);
  });

  it('counts a lost tick and a back-to-back start into the chain (20 ms late: ticks every 120 ms)', () => {
    const cs = [
      ckpt(120, 250, 280), // the tick at 240 comes before vmstate-received: lost
      ckpt(360, 400, 490), // the tick at 480 comes after it: the next starts back-to-back
      ckpt(490, 520, 560),
      ckpt(600, 620, 640),
    ];
    const fit = fitTickLateness(cs, 0, D);
    expect(fit.map((s) => s.ticks)).toEqual([1, 2, 2]);
    for (const s of fit) expect(s.lateMs).toBeCloseTo(20, 9);
    expect(fit.map((s) => s.atMs)).toEqual([100, 220, 460]);
    // The requests as ticks meet every constraint, 10 ms and more from each edge: no wake-up is read in.
    expect(fit.map((s) => s.wakeMs)).toEqual([0, 0, 0]);
  });

  it('a waiting request that left a wake-up after its tick: the chain runs through the tick', () => {
    // Ticks 110, 215, 320, 425 (5 ms late); the last woke the waiting loop 20 ms later (request at 445).
    const cs = [
      ckpt(110, 150, 230), // the tick at 215 comes after vmstate-received: the next starts back-to-back
      ckpt(230, 330, 360), // the tick at 320 comes before it: lost
      ckpt(445, 470, 490),
      ckpt(540, 560, 580), // the next tick, 432.5 + 107.5
    ];
    const [, stretch, after] = fitTickLateness(cs, 0, D);
    // Through the requests (110 → 445 in 3 periods) the second tick would be 333.3, after 330's reset: the
    // next start back-to-back, which the trace contradicts. The least wake-up that keeps that tick 5 ms
    // (|EARLIEST_MS|) before the reset: 325 = 110 + 2 × (445 − 12.5 − 110) / 3.
    expect(stretch?.ticks).toBe(3);
    expect(stretch?.wakeMs).toBe(12.5);
    expect(stretch?.lateMs).toBeCloseTo(7.5, 9);
    // The chain goes on from the tick (432.5), not from the request.
    expect(after?.atMs).toBeCloseTo(532.5, 9);
  });

  it('a tick the requests put at an edge is moved |EARLIEST_MS| off it, no further', () => {
    // Through the requests the tick at 320 is 1.6 ms before the reset at 321.6: a checkpoint of the engine's
    // that ends 2 ms sooner would start the next back-to-back where QEMU's did not.
    const cs = [ckpt(110, 150, 230), ckpt(230, 321.6, 360), ckpt(425, 450, 470)];
    const stretch = fitTickLateness(cs, 0, D)[1];
    expect(stretch?.ticks).toBe(3);
    // 110 + 2 × (425 − w − 110) / 3 ≤ 316.6 → w ≥ 5.1: the next step of the search, 5.25 ms.
    expect(stretch?.wakeMs).toBe(5.25);
    expect(stretch?.lateMs).toBeCloseTo((425 - 5.25 - 110) / 3 - D, 9);
  });

  it('a startup stall: the first tick ran most of a second late, the chain goes on from it', () => {
    const cs = [1216, 1775, 2294].map((t) => ckpt(t, t + 40, t + 90));
    const fit = fitTickLateness(cs, 0, 500);
    expect(fit[0]).toEqual({ atMs: 500, lateMs: 716, ticks: 1, wakeMs: 0 });
    expect(fit[1]?.lateMs).toBeCloseTo(59, 9);
  });

  it('a request a little early against its chain (a shorter wake-up) keeps the chain through it', () => {
    const cs = [ckpt(110, 130, 140), ckpt(208, 230, 240)];
    expect(fitTickLateness(cs, 0, D)[1]?.lateMs).toBeCloseTo(-2, 9);
  });

  it('the request of an unfinished checkpoint that found the loop waiting still ends a stretch', () => {
    const done = [ckpt(110, 130, 140), ckpt(230, 330, 360)];
    const open = { ...ckpt(440, 470, 490), receivedAt: Number.NaN, runAt: Number.NaN, complete: false };
    const fit = fitTickLateness([...done, open], 0, D);
    // The third stretch runs from the second request (230) to the unfinished one (440): read, not dropped.
    expect(fit).toHaveLength(3);
    const third = fit[2] as { atMs: number; lateMs: number; ticks: number; wakeMs: number };
    expect(third.atMs).toBe(330);
    // Its chain ends at the request less its wake-up, and no tick of it falls after 330's reset.
    const end = 230 + third.ticks * (D + third.lateMs);
    expect(end + third.wakeMs).toBeCloseTo(440, 9);
    for (let k = 1; k < third.ticks; k++) expect(230 + k * (D + third.lateMs)).toBeLessThan(330);
    // An unfinished back-to-back start ends nothing.
    const b2b = { ...open, requestAt: 360 };
    expect(fitTickLateness([...done, b2b], 0, D)).toHaveLength(2);
  });

  it('no checkpoint: no stretch; only an unfinished first one: the first tick alone', () => {
    expect(fitTickLateness([], 0, D)).toEqual([]);
    expect(fitTickLateness([{ ...ckpt(110, 130, 140), complete: false }], 0, D)).toEqual([
      { atMs: 100, lateMs: 10, ticks: 1, wakeMs: 0 },
    ]);
  });

  it('the last stretch ends where the back-to-back starts after it put the chain, not at its request', () => {
    const head = [
      ckpt(110, 150, 230), // the next starts back-to-back: a tick in (150, 232)
      ckpt(230, 340, 400),
      ckpt(440, 470, 520), // the run's last waiting request
    ];
    // Alone, the requests as ticks (3 periods of 110 ms from 110: 220, 330, 440) meet every constraint, 10 ms
    // and more from each edge: no wake-up.
    const alone = fitTickLateness(head, 0, D).at(-1);
    expect(alone?.ticks).toBe(3);
    expect(alone?.wakeMs).toBe(0);
    // A back-to-back start at 520 puts a tick in (470, 522): going on from 440 the chain ticks at 550, so the
    // request left more than 21 ms after its tick (period (330 − w) / 3, next tick 550 − 4w / 3).
    const withTail = [...head, ckpt(520, 560, 600)];
    const last = fitTickLateness(withTail, 0, D).at(-1);
    expect(last?.ticks).toBe(3);
    expect(last?.wakeMs).toBe(21.25);
    const end = 440 - (last?.wakeMs ?? 0);
    const next = end + D + (last?.lateMs ?? 0);
    expect(next).toBeGreaterThan(470);
    expect(next).toBeLessThan(522);
  });
});
