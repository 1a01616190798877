import { describe, expect, it } from 'vitest';
import type { SizePoint } from '../../../src/fidelity/calibrate.ts';
import {
  type KeptRun,
  keptRunOf,
  leaveOneOut,
  parseKeptRuns,
  poolRuns,
} from '../../../src/fidelity/pooled.ts';

/** A run whose median pause is `at(pages)` at four sizes (means alike). */
function run(ranAt: string, at: (pages: number) => number): KeptRun {
  const points: SizePoint[] = [1024, 2048, 4096, 8192].map((pages) => ({
    pages,
    n: 10,
    pauseMs: at(pages),
    sendMs: at(pages) / 2,
    flushMs: pages / 1000,
    replyMs: 10,
    restMs: at(pages) / 2 - pages / 1000,
    pauseMedianMs: at(pages),
  }));
  return { ranAt, points, deviceStateBytes: 12_644, timerLateMs: 5 };
}

const runs = [
  run('2026-12-01T00:00:00Z', (p) => 50 + 0.01 * p),
  run('2026-12-01T01:00:00Z', (p) => 60 + 0.012 * p),
  run('2026-12-01T02:00:00Z', (p) => 200 + 0.03 * p),
];

describe('the pause line over the other kept runs (leave-one-out)', () => {
  it('checks each kept run against the line fitted without it', () => {
    const cross = poolRuns(runs).crossCheck;
    expect(cross).toHaveLength(3);
    // The third run is far from the first two: out of sample it misses; the first two fit each other.
    const worst = (i: number) => Math.max(...(cross?.[i]?.residuals ?? []).map((x) => Math.abs(x.vsMedian)));
    expect(worst(2)).toBeGreaterThan(0.5);
    const without2 = poolRuns(runs.slice(0, 2), false).calibration.pause;
    expect(cross?.[2]?.residuals[0]?.predictedMs).toBeCloseTo(without2.intercept + without2.slope * 1024, 9);
    // In sample the same run would pull the line towards itself.
    const inSample = poolRuns(runs).calibration.residuals.slice(8);
    expect(Math.max(...inSample.map((x) => Math.abs(x.vsMedian)))).toBeLessThan(worst(2));
  });

  it('leaves this run out where it is kept, and takes every kept run where it is not', () => {
    const kept = leaveOneOut(runs, runs[1]?.points ?? []);
    expect(kept?.runs).toBe(2);
    expect(kept?.leftOut).toBe(true);
    expect(kept?.pause).toEqual(poolRuns([runs[0], runs[2]] as KeptRun[], false).calibration.pause);
    const fresh = leaveOneOut(runs, run('new', (p) => 70 + 0.02 * p).points);
    expect(fresh?.runs).toBe(3);
    expect(fresh?.leftOut).toBe(false);
    expect(leaveOneOut([runs[0] as KeptRun], runs[0]?.points ?? [])).toBeUndefined();
    expect(poolRuns([runs[0] as KeptRun]).crossCheck).toBeUndefined();
  });
});

describe('fidelity/runs.json', () => {
  it('refuses a corrupt file with one line naming it', () => {
    const bad = (text: string) => {
      try {
        parseKeptRuns(text);
      } catch (e) {
        const m = (e as Error).message;
        expect(m.startsWith('fidelity/runs.json: ')).toBe(true);
        expect(m).not.toContain('\n');
        return m;
      }
      throw new Error('accepted');
    };
    expect(bad('[{"ranAt": ')).toContain('not JSON');
    expect(bad('{}')).toContain('not a list of kept runs');
    const one = run('2026-12-01T00:00:00Z', (p) => 50 + p / 100);
    expect(parseKeptRuns(JSON.stringify([one]))).toEqual([one]);
    const broken = { ...one, points: [{ ...one.points[0], pauseMedianMs: 'x' }] };
    expect(bad(JSON.stringify([broken]))).toContain('not a list of kept runs');
  });
});

describe('what --keep-run keeps', () => {
  const kept = run('2026-12-01T20:09:04.198Z', (p) => 45 + 0.005 * p);
  const offered = {
    ranAt: kept.ranAt,
    points: kept.points,
    deviceStateBytes: 12_644,
    timerLateMs: 0.1,
    loadAverage: { start: 1.28, end: 1.5 },
  };

  it('keeps a run whose meter acknowledged at once, with its load and ACKs recorded', () => {
    expect(keptRunOf({ ...offered, relay: { quickAck: true, note: 'quick ACKs' } })).toEqual({
      ranAt: kept.ranAt,
      points: kept.points,
      deviceStateBytes: 12_644,
      timerLateMs: 0.1,
      quickAck: true,
      loadAverage: 1.28,
    });
  });

  it('refuses a run with delayed ACKs, or one that did not say, naming why', () => {
    const delayed = keptRunOf({
      ...offered,
      relay: { quickAck: false, note: 'delayed ACKs: no CAP_NET_ADMIN' },
    });
    expect(delayed).toEqual({ refused: expect.stringContaining('delayed ACKs: no CAP_NET_ADMIN') });
    expect(keptRunOf(offered)).toEqual({ refused: expect.stringContaining('did not record quick ACKs') });
  });
});
