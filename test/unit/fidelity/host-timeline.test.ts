import { describe, expect, it } from 'vitest';
import { cutCheckpoints, type SideCheckpoint } from '../../../src/fidelity/checkpoints.ts';
import {
  type EngineScenario,
  runEngineScenario,
  sendStall,
  timerSchedule,
  vmStartSchedule,
} from '../../../src/fidelity/engine-scenario.ts';
import {
  fitHostTimeline,
  gapsOf,
  type HostTimeline,
  medianGaps,
  stallAt,
} from '../../../src/fidelity/host-timeline.ts';
import { sideCheckpoint } from './side-checkpoint.ts';

/** A complete primary checkpoint requested at `at` with the given gaps, ms. */
function ckpt(at: number, replyMs: number, sendMs: number, restMs: number): SideCheckpoint {
  const replyAt = at + replyMs;
  const receivedAt = replyAt + sendMs;
  const runAt = receivedAt + restMs;
  return sideCheckpoint({ requestAt: at, stopAt: replyAt, replyAt, receivedAt, runAt });
}

/** A short scenario at a 500 ms delay whose own checkpoints take ~10 ms. */
const BASE: EngineScenario = {
  pages: 64,
  delayMs: 500,
  durationMs: 4200,
  deviceStateBytes: 1000,
  link: { bandwidthBytesPerSec: 1e9, latencyMs: 0.1 },
  costs: { prepMs: 2, flushBytesPerMs: 1e6, deviceLoadMs: 5, applyBytesPerMs: 1e12 },
  failover: false,
};

/** The engine's checkpoints in `s` with `timeline` (none when absent). */
function run(timeline?: HostTimeline): SideCheckpoint[] {
  const own = runEngineScenario(BASE);
  const s = timeline ? { ...BASE, host: { timeline, readyAt: own.readyAt } } : BASE;
  return cutCheckpoints(runEngineScenario(s).primary, 'primary').checkpoints;
}

/** One stall at ~1 s into the run (the engine's second checkpoint), none elsewhere. */
function oneStall(stall: { replyMs?: number; sendMs?: number; restMs?: number }): HostTimeline {
  return {
    stalls: [0, 500, 1000, 1500, 2000].map((atMs) => ({
      atMs,
      replyMs: 0,
      sendMs: 0,
      restMs: 0,
      ...(atMs === 1000 ? stall : {}),
    })),
  };
}

describe('host timeline: fit, lookup, and the engine meeting it', () => {
  it('fits each checkpoint’s gaps beyond the engine’s own, never below zero, at its offset from ready', () => {
    const qemu = [ckpt(1100, 3, 40, 45), ckpt(1600, 1, 20, 45), ckpt(2100, 120, 90, 50)];
    const t = fitHostTimeline(qemu, 1000, { replyMs: 2, sendMs: 30, restMs: 45 });
    expect(t.stalls).toEqual([
      { atMs: 100, replyMs: 1, sendMs: 10, restMs: 0 },
      { atMs: 600, replyMs: 0, sendMs: 0, restMs: 0 },
      { atMs: 1100, replyMs: 118, sendMs: 60, restMs: 5 },
    ]);
  });

  it('measures a send beyond the engine’s own send of that epoch’s pages where it is given', () => {
    const qemu = [ckpt(1100, 3, 40, 45), ckpt(1600, 1, 20, 45), ckpt(2100, 120, 90, 50)];
    // The second epoch carried part of the set: the engine sends it in 12 ms, so 8 of its 20 were the host's.
    const own = (i: number) => (i === 1 ? 12 : undefined);
    const t = fitHostTimeline(qemu, 1000, { replyMs: 2, sendMs: 30, restMs: 45 }, own);
    expect(t.stalls.map((x) => x.sendMs)).toEqual([10, 8, 60]);
  });

  it('a last checkpoint unfinished at the window’s end meets at least the stall up to that end', () => {
    const base = { replyMs: 2, sendMs: 30, restMs: 45 };
    const sending = { ...ckpt(1600, 4, 0, 0), receivedAt: Number.NaN, runAt: Number.NaN, complete: false };
    const waiting = { ...sending, stopAt: Number.NaN, replyAt: Number.NaN };
    const done = ckpt(1100, 3, 40, 45);
    // Stopped at 1604 and still sending at 1800: 196 ms of send, 166 beyond the engine's own.
    expect(fitHostTimeline([done, sending], 1000, base, undefined, undefined, 1800).stalls[1]).toEqual({
      atMs: 600,
      replyMs: 2,
      sendMs: 166,
      restMs: 0,
    });
    // Never stopped: the reply still awaited at the end.
    expect(fitHostTimeline([done, waiting], 1000, base, undefined, undefined, 1800).stalls[1]).toEqual({
      atMs: 600,
      replyMs: 198,
      sendMs: 0,
      restMs: 0,
    });
    // Without the end, or not the last: nothing is read off it.
    expect(fitHostTimeline([done, sending], 1000, base).stalls).toHaveLength(1);
    expect(fitHostTimeline([sending, done], 1000, base, undefined, undefined, 1800).stalls).toHaveLength(1);
  });

  it('leaves out incomplete checkpoints and refuses a run with none', () => {
    const open = { ...ckpt(0, 1, 1, 1), complete: false };
    expect(gapsOf([open, ckpt(10, 1, 2, 3)])).toEqual([{ replyMs: 1, sendMs: 2, restMs: 3 }]);
    expect(() => fitHostTimeline([open], 0, { replyMs: 0, sendMs: 0, restMs: 0 })).toThrow('no complete');
    expect(() => medianGaps([])).toThrow('no complete');
  });

  it('takes the stalls of the QEMU checkpoint nearest in time', () => {
    const t = oneStall({ replyMs: 7 });
    expect(stallAt(t, -50).atMs).toBe(0);
    expect(stallAt(t, 740).atMs).toBe(500);
    expect(stallAt(t, 760).atMs).toBe(1000);
    expect(stallAt(t, 1000).replyMs).toBe(7);
    expect(stallAt(t, 99_999).atMs).toBe(2000);
  });

  it('a stall before vmstate-received that outlasts the delay loses the tick inside it', () => {
    const plain = run();
    const stalled = run(oneStall({ replyMs: 300, sendMs: 300 }));
    // 500 ms ticks in a 4.2 s window: 8 checkpoints; the stalled one swallows the tick 500 ms after it.
    expect(plain).toHaveLength(8);
    expect(stalled).toHaveLength(7);
    const long = stalled.find((c) => c.receivedAt - c.requestAt > 500);
    expect(long).toBeDefined();
    const next = stalled[stalled.indexOf(long as SideCheckpoint) + 1] as SideCheckpoint;
    expect(next.requestAt - (long as SideCheckpoint).requestAt).toBeGreaterThan(999);
  });

  it('a stall after vmstate-received that outlasts the delay starts the next checkpoint back-to-back', () => {
    const stalled = run(oneStall({ restMs: 600 }));
    expect(stalled).toHaveLength(8);
    const long = stalled.find((c) => c.runAt - c.receivedAt > 500) as SideCheckpoint;
    expect(long).toBeDefined();
    const next = stalled[stalled.indexOf(long) + 1] as SideCheckpoint;
    expect(next.requestAt - long.runAt).toBeLessThan(1);
  });

  it('the stall lands on the gap it was measured in', () => {
    const plain = gapsOf(run());
    const stalled = gapsOf(run(oneStall({ replyMs: 11, sendMs: 13, restMs: 17 })));
    const k = stalled.findIndex((g, i) => g.replyMs > (plain[i] as { replyMs: number }).replyMs + 1);
    expect(k).toBeGreaterThan(-1);
    const p = plain[k] as { replyMs: number; sendMs: number; restMs: number };
    const s = stalled[k] as typeof p;
    expect(s.replyMs - p.replyMs).toBeCloseTo(11, 6);
    // To the µs: vmstate-send's own 64 bytes now cross while the RAM object is held.
    expect(s.sendMs - p.sendMs).toBeCloseTo(13, 3);
    expect(s.restMs - p.restMs).toBeCloseTo(17, 6);
    // Every other checkpoint is the engine's own.
    expect(stalled.filter((_, i) => i !== k)).toEqual(plain.filter((_, i) => i !== k));
  });

  it("each engine resume runs the vCPU as long as QEMU's resume nearest in time did", () => {
    // QEMU resumed at 100, 300 and 700 ms after its ready; the engine's ready is at 5.
    expect(
      vmStartSchedule(5, [
        { atMs: 300, runMs: 4 },
        { atMs: 100, runMs: 0.05 },
        { atMs: 700, runMs: 20 },
      ]),
    ).toEqual([
      { fromMs: 0, runMs: 0.05 },
      { fromMs: 205, runMs: 4 },
      { fromMs: 505, runMs: 20 },
    ]);
  });

  it('the epoch after a back-to-back start carries the pages of its resume’s run', () => {
    const own = runEngineScenario(BASE);
    const timeline = oneStall({ restMs: 600 });
    /** Pages of the back-to-back epoch, with QEMU's resume at `atMs` running `runMs`. */
    const pagesAfter = (runMs: number) => {
      const host = { timeline, readyAt: own.readyAt, vmStartRuns: [{ atMs: 1000, runMs }] };
      const r = runEngineScenario({ ...BASE, host });
      const cs = cutCheckpoints(r.primary, 'primary').checkpoints;
      const long = cs.findIndex((c) => c.runAt - c.receivedAt > 500);
      expect(long).toBeGreaterThan(-1);
      expect((cs[long + 1] as SideCheckpoint).requestAt - (cs[long] as SideCheckpoint).runAt).toBeLessThan(1);
      return r.checkpoints[long + 1]?.pages;
    };
    // A vCPU that got no run inside vm_start dirties only what it wrote before the stop (the guest rewrites
    // its set once per ms); one that ran 5 ms dirtied the whole set.
    expect(pagesAfter(0)).toBeLessThan(BASE.pages);
    expect(pagesAfter(5)).toBe(BASE.pages);
  });

  it("a stretch's wake-up holds at its last tick only; the lateness over the whole stretch", () => {
    // Ready at 5; a stretch due from 100 (3 ticks, 10 ms late, its last request 20 ms after its tick), then one
    // due from 530 without a wake-up. The first's last tick fires at 5 + 0 + 3 × 110 = 335.
    const lateness = [
      { atMs: 100, lateMs: 10, ticks: 3, wakeMs: 20 },
      { atMs: 430, lateMs: 0, ticks: 1, wakeMs: 0 },
    ];
    expect(timerSchedule({ readyAt: 5, lateness }, 100)).toEqual([
      { fromMs: 55, lateMs: 10 },
      { fromMs: 310, lateMs: 10, wakeMs: 20 },
      { fromMs: 360, lateMs: 10 },
      { fromMs: 385, lateMs: 0 },
    ]);
  });

  it('sends the pages the engine carries beyond QEMU’s epoch inside QEMU’s send stall', () => {
    // A link of 1 ms per page (4 112 wire bytes each): the engine's full epoch of 64 pages takes 64 ms.
    // Figures to 0.05 ms: vmstate-send's own 64 bytes (0.016 ms here) cross while the RAM object is held.
    const slow: EngineScenario = { ...BASE, link: { bandwidthBytesPerSec: 4_112_000, latencyMs: 0.1 } };
    const own = runEngineScenario(slow);
    const sendAt1s = (stall: { sendMs: number; pages?: number }) => {
      const r = runEngineScenario({ ...slow, host: { timeline: oneStall(stall), readyAt: own.readyAt } });
      const gaps = gapsOf(cutCheckpoints(r.primary, 'primary').checkpoints);
      const k = cutCheckpoints(r.primary, 'primary').checkpoints.findIndex(
        (c) => Math.abs(c.requestAt - own.readyAt - 1000) < 250,
      );
      expect(k).toBeGreaterThan(-1);
      return (gaps[k] as { sendMs: number }).sendMs;
    };
    const plain = gapsOf(cutCheckpoints(own.primary, 'primary').checkpoints)[2] as { sendMs: number };
    expect(plain.sendMs).toBeGreaterThan(64);
    // QEMU's epoch carried no page and took 100 ms beyond its own send: the engine's 64 pages cross inside
    // that stall, so its send is QEMU's 100 ms plus its fixed part, not 64 ms more.
    expect(sendAt1s({ sendMs: 100, pages: 0 }) - plain.sendMs).toBeCloseTo(100 - 64, 1);
    // The same pages as QEMU's, or pages unknown: the whole stall on top of the engine's own send.
    expect(sendAt1s({ sendMs: 100, pages: 64 }) - plain.sendMs).toBeCloseTo(100, 1);
    expect(sendAt1s({ sendMs: 100 }) - plain.sendMs).toBeCloseTo(100, 1);
    // A stall shorter than the extra pages' send leaves the engine's own send, never less.
    expect(sendAt1s({ sendMs: 30, pages: 0 }) - plain.sendMs).toBeCloseTo(0, 1);
  });

  it('sendStall: QEMU’s stall less the send of the engine’s pages beyond QEMU’s, never below zero', () => {
    const at = { atMs: 0, replyMs: 0, restMs: 0 };
    const bytes = (pages: number) => 64 + pages * 4112;
    expect(sendStall({ ...at, sendMs: 50, pages: 1000 }, bytes(1718), 0.01)).toBeCloseTo(50 - 7.18, 6);
    expect(sendStall({ ...at, sendMs: 50, pages: 4096 }, bytes(1718), 0.01)).toBe(50);
    expect(sendStall({ ...at, sendMs: 50 }, bytes(4096), 0.01)).toBe(50);
    expect(sendStall({ ...at, sendMs: 5, pages: 0 }, bytes(4096), 0.01)).toBe(0);
  });
});
