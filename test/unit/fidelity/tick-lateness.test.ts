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
      { atMs: 100, lateMs: 10, ticks: 1 },
      { atMs: 210, lateMs: 0, ticks: 1 },
      { atMs: 310, lateMs: 50, ticks: 1 },
      { atMs: 460, lateMs: 20, ticks: 1 },
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
  });

  it('a startup stall: the first tick ran most of a second late, the chain goes on from it', () => {
    const cs = [1216, 1775, 2294].map((t) => ckpt(t, t + 40, t + 90));
    const fit = fitTickLateness(cs, 0, 500);
    expect(fit[0]).toEqual({ atMs: 500, lateMs: 716, ticks: 1 });
    expect(fit[1]?.lateMs).toBeCloseTo(59, 9);
  });

  it('a request a little early against its chain (a shorter wake-up) keeps the chain through it', () => {
    const cs = [ckpt(110, 130, 140), ckpt(208, 230, 240)];
    expect(fitTickLateness(cs, 0, D)[1]?.lateMs).toBeCloseTo(-2, 9);
  });

  it('no complete checkpoint: no stretch', () => {
    expect(fitTickLateness([{ ...ckpt(110, 130, 140), complete: false }], 0, D)).toEqual([]);
  });
});
