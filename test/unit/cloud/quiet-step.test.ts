/**
 * The pulse leaves a quiet pending check unsaved (InvocationOptions.skipQuietSave, docs/cloud.md "The
 * pulse"): the guest is a pure function of seed and guest time, so stepping 0 → 2 s directly must reach the
 * state 0 → 1 → 2 s reaches when the 1 s step did nothing (no round, no checkpoint). What differs is listed
 * and checked here: the send ids of the heartbeats the quiet step decided (kept off the channel by the
 * deployed functions) and the quiet step's own `pending-check` record.
 */
import { describe, expect, it } from 'vitest';
import type { Effect } from '../../../src/engine/effects.ts';
import type { ColoParams } from '../../../src/engine/params.ts';
import { primaryStep } from '../../../src/engine/primary/primary.ts';
import { createPrimary, type PrimaryState } from '../../../src/engine/primary/state.ts';
import { messageOf, rejections, testParams } from '../../helpers/engine.ts';

/** A primary that received `checkpoint-ready` at 0 (running, timers armed). */
function running(params: ColoParams): PrimaryState {
  const p = createPrimary(params, 0);
  const fx = primaryStep(p, params, 0, {
    type: 'message',
    message: messageOf('checkpoint-ready', params.vmId, p.epoch, p.inSeq),
  });
  expect(rejections(fx)).toEqual([]);
  expect(p.phase).toBe('running');
  return p;
}

/** The state as comparable data: typed arrays and bitmaps by value. */
function snapshot(s: PrimaryState): Record<string, unknown> {
  return {
    ...s,
    versions: [...s.versions],
    dirty: [...s.dirty.indices()],
    bgCurrent: [...s.bgCurrent.indices()],
    touched: [...s.touched.indices()],
    regions: undefined,
  };
}

function quiet(fx: readonly Effect[]): boolean {
  return fx.every(
    (e) =>
      e.type === 'trace' ||
      e.type === 'wake' ||
      (e.type === 'pending-check' && e.record.decision === 'none') ||
      (e.type === 'send' && e.message.type === 'heartbeat'),
  );
}

describe('a quiet pending check can be left unsaved', () => {
  for (const workload of [
    { kind: 'hotcold', hotPages: 16, hotRate: 200, coldRate: 100 },
    { kind: 'uniform', rate: 300 },
  ] as const) {
    it(`${workload.kind}: 0 → 2 s directly equals 0 → 1 → 2 s after a quiet 1 s step (fixed policy)`, () => {
      const params = testParams({
        policy: 'fixed',
        workload,
        pendingCheckIntervalMs: 1000,
        heartbeatIntervalMs: 1000,
        checkpointDelayMs: 20_000,
        // High enough that neither check starts a round.
        thresholdBytes: 1024 * 4096,
        miscompareRatePerSec: 0,
      });
      const chained = running(params);
      const direct = running(params);
      const at1 = primaryStep(chained, params, 1000, { type: 'tick' });
      expect(quiet(at1)).toBe(true);
      expect(at1.some((e) => e.type === 'pending-check')).toBe(true);
      const at2chained = primaryStep(chained, params, 2000, { type: 'tick' });
      const at2direct = primaryStep(direct, params, 2000, { type: 'tick' });
      expect(quiet(at2chained)).toBe(true);
      expect(quiet(at2direct)).toBe(true);
      // The guest wrote something, so the equality below is not vacuous.
      expect(chained.dirty.count).toBeGreaterThan(0);
      // Only the send ids of the (unsent) heartbeats differ: one heartbeat fewer on the direct path.
      expect(chained.nextSendId).toBe(direct.nextSendId + 1);
      expect({ ...snapshot(direct), nextSendId: 0 }).toEqual({ ...snapshot(chained), nextSendId: 0 });
      // The same decision and wake at 2 s.
      const decision = (fx: Effect[]) => fx.find((e) => e.type === 'pending-check');
      expect(decision(at2direct)).toEqual(decision(at2chained));
      const wake = (fx: Effect[]) => fx.find((e) => e.type === 'wake');
      expect(wake(at2direct)).toEqual(wake(at2chained));
    });
  }

  it('a step that starts a round is not quiet', () => {
    const params = testParams({
      policy: 'fixed',
      pendingCheckIntervalMs: 1000,
      heartbeatIntervalMs: 1000,
      checkpointDelayMs: 20_000,
      thresholdBytes: 4096,
      miscompareRatePerSec: 0,
    });
    const p = running(params);
    const fx = primaryStep(p, params, 1000, { type: 'tick' });
    expect(quiet(fx)).toBe(false);
    expect(fx.some((e) => e.type === 'send' && e.message.type === 'migrate-ram-background')).toBe(true);
  });
});
