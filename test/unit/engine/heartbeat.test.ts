import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Effect } from '../../../src/engine/effects.ts';
import type { ColoParams } from '../../../src/engine/params.ts';
import { primaryStep } from '../../../src/engine/primary/primary.ts';
import type { Heartbeat } from '../../../src/engine/protocol/messages.ts';
import { heartbeatSlackMs, MAX_SENT_AHEAD_MS, watchdogAt } from '../../../src/engine/secondary/heartbeat.ts';
import { type SecondaryInput, secondaryStep } from '../../../src/engine/secondary/secondary.ts';
import { createSecondary, type SecondaryState } from '../../../src/engine/secondary/state.ts';
import { runEmbedded } from '../../../src/runtime/embedded/run.ts';
import { fingerprint, messageOf, rejections, sent, testParams } from '../../helpers/engine.ts';
import { Pair } from '../../helpers/pair.ts';

const params = testParams({ policy: 'none', heartbeatIntervalMs: 100, heartbeatTimeoutMs: 1000 });
const S = heartbeatSlackMs(params);
const T = params.heartbeatTimeoutMs;

function heartbeat(state: SecondaryState, beat: number, over: Partial<Heartbeat> = {}): Heartbeat {
  return { v: 1, vmId: params.vmId, epoch: state.epoch, seq: state.inSeq, type: 'heartbeat', beat, ...over };
}

function beat(state: SecondaryState, at: number, message: unknown, sentAt?: number): Effect[] {
  const input: SecondaryInput = { type: 'message', message };
  if (sentAt !== undefined) input.sentAt = sentAt;
  return secondaryStep(state, params, at, input);
}

/** A secondary that started at 0 and is idle, not yet heard. */
function started(p: ColoParams = params): SecondaryState {
  const s = createSecondary(p, 0);
  secondaryStep(s, p, 0, { type: 'start' });
  return s;
}

describe('the primary sends heartbeats outside the sequence', () => {
  it('a heartbeat carries the next unused number, consumes none, and has a number of its own', () => {
    const pair = new Pair(params);
    pair.until(() => pair.primary.phase === 'running');
    const before = pair.primary.outSeq;
    const beats: Heartbeat[] = [];
    for (let i = 0; i < 3; i++) {
      const fx = primaryStep(pair.primary, params, pair.now + (i + 1) * params.heartbeatIntervalMs, {
        type: 'tick',
      });
      for (const m of sent(fx)) if (m.type === 'heartbeat') beats.push(m);
    }
    expect(beats).toHaveLength(3);
    expect(pair.primary.outSeq).toBe(before);
    expect(beats.every((b) => b.seq === before)).toBe(true);
    expect(new Set(beats.map((b) => b.beat)).size).toBe(3);
  });
});

describe('the secondary admits a heartbeat by its send time', () => {
  it('moves only lastHeardAt (to the send time, not the arrival) and arms the watchdog', () => {
    const s = started();
    // The first one arms the watchdog: traced, so a runtime saves it.
    const first = beat(s, 300, heartbeat(s, 0), 250);
    expect(first.filter((e) => e.type === 'trace').map((e) => e.type === 'trace' && e.name)).toEqual([
      'colo_receive_message',
    ]);
    expect(s.heard).toBe(true);
    const fx = beat(s, 500, heartbeat(s, 1), 420);
    expect(rejections(fx)).toEqual([]);
    expect(s.inSeq).toBe(0);
    expect(s.lastHeardAt).toBe(420);
    expect(fx.filter((e) => e.type !== 'wake')).toEqual([]);
    expect(fx.find((e) => e.type === 'wake')).toEqual({ type: 'wake', at: 420 + S + T });
  });

  it('an older send time (duplicate, one overtaken by a later heartbeat) moves nothing', () => {
    const s = started();
    beat(s, 500, heartbeat(s, 2), 480);
    for (const [at, sentAt] of [
      [520, 480], // duplicate
      [530, 400], // an earlier heartbeat overtaken by a later one
    ] as const) {
      const fx = beat(s, at, heartbeat(s, 1), sentAt);
      expect(rejections(fx)).toEqual([]);
      expect(s.lastHeardAt).toBe(480);
    }
  });

  it('a heartbeat redelivered 60 s later is no evidence: the watchdog fires from its first send time', () => {
    const s = started();
    beat(s, 500, heartbeat(s, 2), 480);
    const fx = beat(s, 60_480, heartbeat(s, 2), 480);
    expect(rejections(fx)).toEqual([]);
    expect(s.lastHeardAt).toBe(480);
    // A message never fires the watchdog itself (fresher ones may be queued behind it); the next tick does.
    expect(s.phase).toBe('idle');
    const tick = secondaryStep(s, params, 60_481, { type: 'tick' });
    expect(s.phase).toBe('claiming');
    expect(tick.some((e) => e.type === 'claim')).toBe(true);
  });

  it('a send time ahead of the secondary’s clock counts as now, never later', () => {
    const s = started();
    beat(s, 500, heartbeat(s, 1), 500 + MAX_SENT_AHEAD_MS);
    expect(s.lastHeardAt).toBe(500);
    expect(watchdogAt(s, params)).toBe(500 + S + T);
  });

  it('without a send time (a runtime that cannot tell) the step time stands in', () => {
    const s = started();
    beat(s, 700, heartbeat(s, 1));
    expect(s.lastHeardAt).toBe(700);
  });

  const hostile: [string, (s: SecondaryState) => unknown, number | undefined, RegExp][] = [
    [
      'a sequence number ahead',
      (s) => heartbeat(s, 1, { seq: s.inSeq + 1 }),
      100,
      /^wrong-sequence: heartbeat has sequence 1, ahead/,
    ],
    [
      'an epoch ahead',
      (s) => heartbeat(s, 1, { epoch: s.epoch + 1 }),
      100,
      /^wrong-epoch: heartbeat is for epoch 2, ahead/,
    ],
    ['another VM', (s) => heartbeat(s, 1, { vmId: 'vm-other' }), 100, /^wrong-vm: /],
    ['no beat number', (s) => ({ ...heartbeat(s, 1), beat: undefined }), 100, /^invalid-message: /],
    [
      'a send time that is not a number',
      (s) => heartbeat(s, 1),
      Number.NaN,
      /^invalid-message: heartbeat send time NaN/,
    ],
    ['a negative send time', (s) => heartbeat(s, 1), -5, /^invalid-message: heartbeat send time -5/],
    [
      'a send time absurdly ahead',
      (s) => heartbeat(s, 1),
      1000 + MAX_SENT_AHEAD_MS + 1,
      /^invalid-message: heartbeat sent at .* ahead of this secondary's clock/,
    ],
  ];
  for (const [what, build, sentAt, error] of hostile) {
    it(`refuses a heartbeat with ${what}, in one line, changing nothing`, () => {
      const s = started();
      beat(s, 200, heartbeat(s, 0), 150);
      const before = fingerprint(s);
      const heardBefore = s.lastHeardAt;
      const fx = beat(s, 1000, build(s), sentAt);
      const errors = rejections(fx);
      expect(errors).toHaveLength(1);
      expect(errors[0]).toMatch(error);
      if (sentAt !== undefined && what !== 'no beat number') expect(errors[0]).not.toMatch(/\n/);
      expect(s.lastHeardAt).toBe(heardBefore);
      expect(fingerprint(s).equals(before)).toBe(true);
    });
  }

  it('a heartbeat overtaken by the checkpoint that followed it is refused inside the checkpoint, changing nothing', () => {
    const pair = new Pair(params);
    pair.until(() => pair.secondary.phase === 'ckpt-wait-vmstate-send');
    const s = pair.secondary;
    const before = fingerprint(s);
    const fx = beat(s, pair.now, heartbeat(s, 1, { seq: s.inSeq - 1 }), pair.now - 10);
    expect(rejections(fx)[0]).toMatch(/^unexpected-message: unexpected message heartbeat/);
    expect(fingerprint(s).equals(before)).toBe(true);
  });

  it('a heartbeat of an earlier epoch, redelivered after the commit, is admitted and moves nothing', () => {
    const pair = new Pair(params);
    pair.until(() => pair.secondary.committedEpoch >= 1 && pair.secondary.phase === 'idle');
    const s = pair.secondary;
    const heard = s.lastHeardAt;
    const fx = beat(s, pair.now, heartbeat(s, 1, { epoch: s.epoch - 1, seq: 0 }), 1);
    expect(rejections(fx)).toEqual([]);
    expect(s.lastHeardAt).toBe(heard);
  });

  it('in a background load a heartbeat never abandons the round (it takes no sequence number)', () => {
    const s = started();
    beat(s, 10, heartbeat(s, 0), 10);
    secondaryStep(s, params, 20, {
      type: 'message',
      message: messageOf('migrate-ram-background', params.vmId, 1, 0),
    });
    expect(s.phase).toBe('bg-loading');
    const fx = beat(s, 30, heartbeat(s, 1), 25);
    expect(rejections(fx)).toEqual([]);
    expect(s.phase).toBe('bg-loading');
    expect(s.inSeq).toBe(1);
    expect(s.lastHeardAt).toBe(25);
  });
});

/**
 * The runtime's rule (src/runtime/cloud/driver.ts): every invocation loads the stored `lastHeardAt`; one that
 * only moved it by less than the slack saves nothing; one that dies before its save is delivered again.
 */
interface Delivery {
  at: number;
  sentAt: number;
  beat: number;
  crash: boolean;
}

describe('a heartbeat numbered past a background round’s data slot', () => {
  it('abandons the round (its data was lost or refused), as any message would, and is admitted', () => {
    const s = started();
    beat(s, 10, heartbeat(s, 0), 10);
    secondaryStep(s, params, 20, {
      type: 'message',
      message: messageOf('migrate-ram-background', params.vmId, 1, 0),
    });
    const fx = beat(s, 30, heartbeat(s, 1, { seq: s.inSeq + 1 }), 25);
    expect(rejections(fx)).toEqual([]);
    expect(fx.some((e) => e.type === 'trace' && e.name === 'colo_background_round_abandoned')).toBe(true);
    expect(s.phase).toBe('idle');
    expect(s.inSeq).toBe(2);
    expect(s.lastHeardAt).toBe(25);
  });
});

describe('failover is never earlier than the last heartbeat + timeout, at most the slack later', () => {
  it('over random heartbeat schedules with losses, duplicates, late redeliveries, reorders, crashes and reloads', () => {
    const seen = { lost: 0, duplicated: 0, late: 0, reordered: 0, crashed: 0, skipped: 0, saved: 0, runs: 0 };
    const fate = fc.record({
      lost: fc.boolean(),
      delayMs: fc.integer({ min: 0, max: 400 }),
      duplicateAfterMs: fc.option(fc.integer({ min: 1, max: 70_000 }), { nil: undefined }),
      crash: fc.boolean(),
    });
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 30 }),
        fc.array(fate, { minLength: 30, maxLength: 30 }),
        fc.integer({ min: 1, max: 97 }),
        (beats, fates, tickMs) => {
          seen.runs++;
          const s = started();
          let stored = s.lastHeardAt;
          const queue: Delivery[] = [];
          for (let i = 0; i < beats; i++) {
            const f = fates[i];
            if (!f) continue;
            const sentAt = (i + 1) * params.heartbeatIntervalMs;
            if (f.lost) {
              seen.lost++;
              continue;
            }
            queue.push({ at: sentAt + f.delayMs, sentAt, beat: i, crash: f.crash });
            if (f.duplicateAfterMs !== undefined) {
              seen.duplicated++;
              if (f.duplicateAfterMs >= 60_000) seen.late++;
              queue.push({ at: sentAt + f.delayMs + f.duplicateAfterMs, sentAt, beat: i, crash: false });
            }
          }
          const byArrival = [...queue].sort((a, b) => a.at - b.at);
          if (byArrival.some((d, k) => k > 0 && d.sentAt < (byArrival[k - 1]?.sentAt ?? 0))) seen.reordered++;
          let trueLast = Number.NEGATIVE_INFINITY;
          let failedAt: number | undefined;
          let now = 0;
          const load = () => {
            s.lastHeardAt = stored; // each invocation starts from the stored document
          };
          while (failedAt === undefined && now < 200_000) {
            now += tickMs;
            const due = byArrival.filter((d) => d.at <= now);
            byArrival.splice(0, due.length);
            for (const d of due) {
              load();
              const fx = beat(s, d.at, heartbeat(s, d.beat, { seq: 0, epoch: 1 }), d.sentAt);
              expect(rejections(fx)).toEqual([]);
              if (d.crash) {
                // Died after the step, before any save or acknowledgement: as if not yet delivered (as
                // with numbered heartbeats); SQS hands the record over again, with its first send time.
                seen.crashed++;
                byArrival.push({ ...d, at: d.at + 1000, crash: false });
                byArrival.sort((a, b) => a.at - b.at);
                continue;
              }
              trueLast = Math.max(trueLast, d.sentAt);
              if (s.lastHeardAt - stored >= S) {
                stored = s.lastHeardAt;
                seen.saved++;
              } else seen.skipped++;
              // The stored value is a lower bound within the slack: L ≤ true lastHeardAt < L + S.
              expect(stored).toBeLessThanOrEqual(trueLast);
              expect(trueLast).toBeLessThan(stored + S);
            }
            load();
            secondaryStep(s, params, now, { type: 'tick' });
            if (s.phase === 'claiming') failedAt = now;
          }
          if (trueLast === Number.NEGATIVE_INFINITY) return; // never heard: never fails over (pinned above)
          expect(failedAt).toBeDefined();
          const at = failedAt as number;
          expect(at).toBeGreaterThanOrEqual(trueLast + T);
          expect(at).toBeLessThan(trueLast + S + T + tickMs);
        },
      ),
      { numRuns: 300, seed: 0x4b7 },
    );
    // The schedules must have exercised every fault and both save decisions.
    expect(seen.runs).toBe(300);
    for (const k of ['lost', 'duplicated', 'late', 'reordered', 'crashed', 'skipped', 'saved'] as const) {
      expect(seen[k], k).toBeGreaterThan(20);
    }
  });
});

describe('the embedded runtime judges heartbeats by their send time', () => {
  it('a primary that dies, with heartbeats duplicated and some lost on the way, is failed over exactly at the last send + slack + timeout', () => {
    const p = testParams({ policy: 'none', heartbeatIntervalMs: 100, heartbeatTimeoutMs: 1000 });
    let heartbeats = 0;
    let lastHeard = Number.NEGATIVE_INFINITY;
    let claimAt: number | undefined;
    let duplicated = 0;
    let lost = 0;
    const result = runEmbedded({
      params: p,
      link: { bandwidthBytesPerSec: 1e8, latencyMs: 5 },
      durationMs: 6000,
      faults: {
        primaryDiesAt: 2500,
        // Every heartbeat twice (the copy 50 ms later, same send time); every fourth one lost.
        onWireToSecondary: (d) => {
          if (!d.body.includes(' heartbeat ')) return d;
          heartbeats++;
          if (heartbeats % 4 === 0) {
            lost++;
            return null;
          }
          duplicated++;
          return [d, d];
        },
      },
      onStep: (at, node, input) => {
        if (node !== 'secondary' || input.type !== 'message') return;
        const type = (input.message as { type?: unknown }).type;
        // What the secondary heard: a heartbeat's send time, any other message's arrival.
        const sentAt = 'sentAt' in input ? input.sentAt : undefined;
        lastHeard = Math.max(lastHeard, type === 'heartbeat' ? (sentAt ?? Number.NaN) : at);
      },
      observe: (at, _primary, _secondary, effects) => {
        if (claimAt === undefined && effects.some((e) => e.type === 'claim' && e.role === 'secondary')) {
          claimAt = at;
        }
      },
    });
    expect(lost).toBeGreaterThan(2);
    expect(duplicated).toBeGreaterThan(10);
    expect(result.rejections).toEqual([]);
    expect(result.secondary.phase).toBe('failed-over');
    expect(lastHeard).toBeLessThanOrEqual(2500);
    expect(claimAt).toBe(lastHeard + heartbeatSlackMs(p) + p.heartbeatTimeoutMs);
  });
});
