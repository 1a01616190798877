import fc from 'fast-check';
import { describe, expect, it } from 'vitest';
import type { Effect } from '../../../src/engine/effects.ts';
import type { ColoParams } from '../../../src/engine/params.ts';
import { primaryStep } from '../../../src/engine/primary/primary.ts';
import type { Heartbeat } from '../../../src/engine/protocol/messages.ts';
import {
  heartbeatSlackMs,
  MAX_SENT_AHEAD_MS,
  type PrimarySeen,
  primarySeenAt,
  watchdogAt,
} from '../../../src/engine/secondary/heartbeat.ts';
import { type SecondaryInput, secondaryStep } from '../../../src/engine/secondary/secondary.ts';
import { createSecondary, type SecondaryState } from '../../../src/engine/secondary/state.ts';
import { runEmbedded } from '../../../src/runtime/embedded/run.ts';
import { fingerprint, messageOf, rejections, sent, testParams } from '../../helpers/engine.ts';
import { Pair } from '../../helpers/pair.ts';

const params = testParams({ policy: 'none', heartbeatIntervalMs: 100, heartbeatTimeoutMs: 1000 });
const S = heartbeatSlackMs(params);
const T = params.heartbeatTimeoutMs;

/** A heartbeat at the secondary's position, sealed send time `sentAt` (ms, default 0). */
function heartbeat(state: SecondaryState, beat: number, over: Partial<Heartbeat> = {}): Heartbeat {
  return {
    v: 1,
    vmId: params.vmId,
    epoch: state.epoch,
    seq: state.inSeq,
    type: 'heartbeat',
    beat,
    sentAt: 0,
    ...over,
  };
}

/** Steps `message` at `at`, delivered by a queue that accepted it at `sentAt` (undefined: cannot tell). */
function beat(state: SecondaryState, at: number, message: unknown, sentAt?: number): Effect[] {
  const input: SecondaryInput = { type: 'message', message };
  if (sentAt !== undefined) input.sentAt = sentAt;
  return secondaryStep(state, params, at, input);
}

/** A heartbeat whose sealed and queue send times are both `sentAt`, stepped at `at`. */
function fresh(state: SecondaryState, at: number, n: number, sentAt: number): Effect[] {
  return beat(state, at, heartbeat(state, n, { sentAt }), sentAt);
}

/** A secondary that started at 0 and is idle, not yet heard. */
function started(p: ColoParams = params): SecondaryState {
  const s = createSecondary(p, 0);
  secondaryStep(s, p, 0, { type: 'start' });
  return s;
}

describe('the primary sends heartbeats outside the sequence', () => {
  it('a heartbeat carries the next unused number, consumes none, a strictly increasing beat and its send time', () => {
    const pair = new Pair(params);
    pair.until(() => pair.primary.phase === 'running');
    const before = pair.primary.outSeq;
    const beats: Heartbeat[] = [];
    const at: number[] = [];
    for (let i = 0; i < 3; i++) {
      const t = pair.now + (i + 1) * params.heartbeatIntervalMs;
      const fx = primaryStep(pair.primary, params, t, { type: 'tick' });
      for (const m of sent(fx)) {
        if (m.type !== 'heartbeat') continue;
        beats.push(m);
        at.push(t);
      }
    }
    expect(beats).toHaveLength(3);
    expect(pair.primary.outSeq).toBe(before);
    expect(beats.every((b) => b.seq === before)).toBe(true);
    expect(beats.map((b) => b.sentAt)).toEqual(at);
    for (let i = 1; i < beats.length; i++) {
      expect((beats[i] as Heartbeat).beat).toBeGreaterThan((beats[i - 1] as Heartbeat).beat);
    }
  });
});

describe('the secondary admits a heartbeat by its send time', () => {
  it('moves only lastHeardAt (to the send time, not the arrival) and the highest beat, and arms the watchdog', () => {
    const s = started();
    // The first one arms the watchdog: traced, so a runtime saves it.
    const first = fresh(s, 300, 1, 250);
    expect(first.filter((e) => e.type === 'trace').map((e) => e.type === 'trace' && e.name)).toEqual([
      'colo_receive_message',
    ]);
    expect(s.heard).toBe(true);
    const fx = fresh(s, 500, 2, 420);
    expect(rejections(fx)).toEqual([]);
    expect(s.inSeq).toBe(0);
    expect(s.lastHeardAt).toBe(420);
    expect(s.lastBeat).toBe(2);
    expect(fx.filter((e) => e.type !== 'wake')).toEqual([]);
    expect(fx.find((e) => e.type === 'wake')).toEqual({ type: 'wake', at: 420 + S + T });
  });

  it('counts from the earliest of the sealed send time, the queue’s and now', () => {
    const cases: [string, number, number | undefined, number, number][] = [
      // what, sealed sentAt, queue sentAt, step time, counted
      ['a replay: sealed long before the queue took it', 100, 5_000, 5_010, 100],
      ['a primary clock running ahead of the queue', 480, 450, 500, 450],
      ['both ahead of the secondary (skew): now', 560, 540, 500, 500],
      ['no queue time (a runtime that cannot tell): the sealed one', 480, undefined, 700, 480],
    ];
    for (const [what, sealed, queue, at, counted] of cases) {
      const s = started();
      const fx = beat(s, at, heartbeat(s, 1, { sentAt: sealed }), queue);
      expect(rejections(fx), what).toEqual([]);
      expect(s.lastHeardAt, what).toBe(counted);
    }
  });

  it('a duplicate or a replayed copy (beat not above the highest) is refused as stale and moves nothing', () => {
    const s = started();
    fresh(s, 500, 7, 480);
    for (const [at, n, queue] of [
      [520, 7, 480], // the same record again (a redelivery)
      [60_480, 7, 60_470], // captured and sent again a minute later: a fresh queue time
      [60_490, 3, 60_485], // an older one replayed
    ] as const) {
      const before = fingerprint(s);
      const fx = beat(s, at, heartbeat(s, n, { sentAt: 480 }), queue);
      expect(rejections(fx)).toEqual([
        `stale-heartbeat: heartbeat beat ${n} is not above the highest admitted, 7: a duplicate or a replay`,
      ]);
      expect(s.lastHeardAt).toBe(480);
      expect(fingerprint(s).equals(before)).toBe(true);
    }
    // The replays held nothing off: the next tick fails over from the genuine send time.
    expect(s.phase).toBe('idle');
    secondaryStep(s, params, 60_500, { type: 'tick' });
    expect(s.phase).toBe('claiming');
  });

  it('a replay with a higher beat than any admitted (a reload lost it) counts from its sealed time: never fresher than it was', () => {
    const s = started();
    fresh(s, 500, 7, 480);
    s.lastBeat = 5; // a reload of a coarsely saved document
    const fx = beat(s, 60_480, heartbeat(s, 7, { sentAt: 480 }), 60_470);
    expect(rejections(fx)).toEqual([]);
    expect(s.lastHeardAt).toBe(480);
    secondaryStep(s, params, 60_481, { type: 'tick' });
    expect(s.phase).toBe('claiming');
  });

  it('a send time ahead of the secondary’s clock counts as now, never later', () => {
    const s = started();
    fresh(s, 500, 1, 500 + MAX_SENT_AHEAD_MS);
    expect(s.lastHeardAt).toBe(500);
    expect(watchdogAt(s, params)).toBe(500 + S + T);
  });

  const hostile: [string, (s: SecondaryState) => unknown, number | undefined, RegExp][] = [
    [
      'a sequence number ahead',
      (s) => heartbeat(s, 5, { seq: s.inSeq + 1 }),
      100,
      /^wrong-sequence: heartbeat has sequence 1, ahead/,
    ],
    [
      'an epoch ahead',
      (s) => heartbeat(s, 5, { epoch: s.epoch + 1 }),
      100,
      /^wrong-epoch: heartbeat at sequence 0 is for epoch 2, this secondary is in epoch 1/,
    ],
    [
      'an old epoch at the current sequence',
      (s) => heartbeat(s, 5, { epoch: s.epoch - 1 }),
      100,
      /^wrong-epoch: heartbeat at sequence 0 is for epoch 0, this secondary is in epoch 1/,
    ],
    ['another VM', (s) => heartbeat(s, 5, { vmId: 'vm-other' }), 100, /^wrong-vm: /],
    ['no beat number', (s) => ({ ...heartbeat(s, 5), beat: undefined }), 100, /^invalid-message: /],
    ['no sealed send time', (s) => ({ ...heartbeat(s, 5), sentAt: undefined }), 100, /^invalid-message: /],
    [
      'a sealed send time that is negative',
      (s) => heartbeat(s, 5, { sentAt: -1 }),
      100,
      /^invalid-message: /,
    ],
    [
      'a sealed send time absurdly ahead',
      (s) => heartbeat(s, 5, { sentAt: 1000 + MAX_SENT_AHEAD_MS + 1 }),
      100,
      /^invalid-message: heartbeat sealed send time .* ahead of this secondary's clock/,
    ],
    [
      'a queue send time that is not a number',
      (s) => heartbeat(s, 5),
      Number.NaN,
      /^invalid-message: heartbeat queue send time NaN/,
    ],
    [
      'a negative queue send time',
      (s) => heartbeat(s, 5),
      -5,
      /^invalid-message: heartbeat queue send time -5/,
    ],
    [
      'a queue send time absurdly ahead',
      (s) => heartbeat(s, 5),
      1000 + MAX_SENT_AHEAD_MS + 1,
      /^invalid-message: heartbeat queue send time .* ahead of this secondary's clock/,
    ],
  ];
  for (const [what, build, sentAt, error] of hostile) {
    it(`refuses a heartbeat with ${what}, in one line, changing nothing`, () => {
      const s = started();
      fresh(s, 200, 1, 150);
      const before = fingerprint(s);
      const heardBefore = s.lastHeardAt;
      const fx = beat(s, 1000, build(s), sentAt);
      const errors = rejections(fx);
      expect(errors).toHaveLength(1);
      expect(errors[0]).toMatch(error);
      // One line, but for the schema's own report (the wire codec's format, one line per issue).
      if (!errors[0]?.includes('invalid COLO message')) expect(errors[0]).not.toMatch(/\n/);
      expect(s.lastHeardAt).toBe(heardBefore);
      expect(fingerprint(s).equals(before)).toBe(true);
    });
  }

  it('a heartbeat overtaken by the checkpoint that followed it is refused inside the checkpoint, changing nothing', () => {
    const pair = new Pair(params);
    pair.until(() => pair.secondary.phase === 'ckpt-wait-vmstate-send');
    const s = pair.secondary;
    const before = fingerprint(s);
    const fx = beat(
      s,
      pair.now,
      heartbeat(s, 1e9, { seq: s.inSeq - 1, sentAt: pair.now - 10 }),
      pair.now - 10,
    );
    expect(rejections(fx)[0]).toMatch(/^unexpected-message: unexpected message heartbeat/);
    expect(fingerprint(s).equals(before)).toBe(true);
  });

  it('a heartbeat of an earlier epoch, redelivered after the commit, is refused as stale and moves nothing', () => {
    const pair = new Pair(params);
    pair.until(() => pair.secondary.committedEpoch >= 1 && pair.secondary.phase === 'idle');
    const s = pair.secondary;
    const before = fingerprint(s);
    const fx = beat(s, pair.now, heartbeat(s, 1e9, { epoch: s.epoch - 1, seq: 0, sentAt: 1 }), 1);
    expect(rejections(fx)[0]).toMatch(/^stale-heartbeat: heartbeat at sequence 0 was overtaken/);
    expect(fingerprint(s).equals(before)).toBe(true);
  });

  it('in a background load a heartbeat never abandons the round (it takes no sequence number)', () => {
    const s = started();
    fresh(s, 10, 1, 10);
    secondaryStep(s, params, 20, {
      type: 'message',
      message: messageOf('migrate-ram-background', params.vmId, 1, 0),
    });
    expect(s.phase).toBe('bg-loading');
    const fx = fresh(s, 30, 2, 25);
    expect(rejections(fx)).toEqual([]);
    expect(s.phase).toBe('bg-loading');
    expect(s.inSeq).toBe(1);
    expect(s.lastHeardAt).toBe(25);
  });
});

/**
 * The runtime's rule (src/runtime/cloud/driver.ts): every invocation loads the stored `lastHeardAt` and
 * `lastBeat`; one that only moved them by less than the slack saves nothing; one that dies before its save
 * is delivered again. `replay`: a copy of a genuine sealed body sent again by someone else, later, with the
 * queue's send time of the replay.
 */
interface Delivery {
  at: number;
  sentAt: number;
  queueAt: number;
  beat: number;
  crash: boolean;
  replay: boolean;
}

describe('a heartbeat numbered past a background round’s data slot', () => {
  it('abandons the round (its data was lost or refused), as any message would, and is admitted', () => {
    const s = started();
    fresh(s, 10, 1, 10);
    secondaryStep(s, params, 20, {
      type: 'message',
      message: messageOf('migrate-ram-background', params.vmId, 1, 0),
    });
    const fx = beat(s, 30, heartbeat(s, 2, { seq: s.inSeq + 1, sentAt: 25 }), 25);
    expect(rejections(fx)).toEqual([]);
    expect(fx.some((e) => e.type === 'trace' && e.name === 'colo_background_round_abandoned')).toBe(true);
    expect(s.phase).toBe('idle');
    expect(s.inSeq).toBe(2);
    expect(s.lastHeardAt).toBe(25);
  });
});

describe('failover is never earlier than the last heartbeat + timeout, at most the slack later; replays move nothing', () => {
  it('over random heartbeat schedules with losses, duplicates, late redeliveries, reorders, crashes, reloads and replays', () => {
    const seen = {
      lost: 0,
      duplicated: 0,
      late: 0,
      reordered: 0,
      crashed: 0,
      skipped: 0,
      saved: 0,
      stale: 0,
      replayed: 0,
      replayAdmitted: 0,
      runs: 0,
    };
    const fate = fc.record({
      lost: fc.boolean(),
      delayMs: fc.integer({ min: 0, max: 400 }),
      duplicateAfterMs: fc.option(fc.integer({ min: 1, max: 70_000 }), { nil: undefined }),
      replayAfterMs: fc.option(fc.integer({ min: 1, max: 100_000 }), { nil: undefined }),
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
          let stored = { heard: s.lastHeardAt, beat: s.lastBeat };
          const queue: Delivery[] = [];
          for (let i = 0; i < beats; i++) {
            const f = fates[i];
            if (!f) continue;
            const sentAt = (i + 1) * params.heartbeatIntervalMs;
            const d = { sentAt, queueAt: sentAt, beat: i + 1, crash: f.crash, replay: false };
            // An attacker who read the queue sends the sealed body again, lost or not.
            if (f.replayAfterMs !== undefined) {
              const at = sentAt + f.replayAfterMs;
              queue.push({ ...d, at, queueAt: at, crash: false, replay: true });
            }
            if (f.lost) {
              seen.lost++;
              continue;
            }
            queue.push({ ...d, at: sentAt + f.delayMs });
            if (f.duplicateAfterMs !== undefined) {
              seen.duplicated++;
              if (f.duplicateAfterMs >= 60_000) seen.late++;
              queue.push({ ...d, at: sentAt + f.delayMs + f.duplicateAfterMs, crash: false });
            }
          }
          const byArrival = [...queue].sort((a, b) => a.at - b.at);
          if (byArrival.some((d, k) => k > 0 && d.sentAt < (byArrival[k - 1]?.sentAt ?? 0))) seen.reordered++;
          // The newest send time of a delivery admitted for good (not lost to a crash), and of any the
          // primary made.
          let trueLast = Number.NEGATIVE_INFINITY;
          const sentMax = beats * params.heartbeatIntervalMs;
          // When the first admitted heartbeat armed the watchdog (a secondary never heard never fails over).
          let armedAt: number | undefined;
          let failedAt: number | undefined;
          let now = 0;
          const load = () => {
            // Each invocation starts from the stored document.
            s.lastHeardAt = stored.heard;
            s.lastBeat = stored.beat;
          };
          while (failedAt === undefined && now < 300_000) {
            now += tickMs;
            const due = byArrival.filter((d) => d.at <= now);
            byArrival.splice(0, due.length);
            for (const d of due) {
              load();
              const fx = beat(
                s,
                d.at,
                heartbeat(s, d.beat, { seq: 0, epoch: 1, sentAt: d.sentAt }),
                d.queueAt,
              );
              const refused = rejections(fx);
              if (d.replay) seen.replayed++;
              if (refused.length > 0) {
                // Only ever refused as stale: a copy of a beat already admitted.
                expect(refused).toHaveLength(1);
                expect(refused[0]).toMatch(/^stale-heartbeat: /);
                seen.stale++;
                continue;
              }
              // Never fresher than the newest heartbeat the primary made: a replay fabricates nothing.
              expect(s.lastHeardAt).toBeLessThanOrEqual(sentMax);
              if (d.replay) seen.replayAdmitted++; // only after a reload lost its beat
              if (d.crash) {
                // Died after the step, before any save or acknowledgement: SQS hands the record over
                // again later, with its first send time.
                seen.crashed++;
                byArrival.push({ ...d, at: d.at + 1000, crash: false });
                byArrival.sort((a, b) => a.at - b.at);
                continue;
              }
              trueLast = Math.max(trueLast, d.sentAt);
              armedAt ??= d.at;
              if (s.lastHeardAt - stored.heard >= S && s.lastHeardAt > stored.heard) {
                stored = { heard: s.lastHeardAt, beat: s.lastBeat };
                seen.saved++;
              } else seen.skipped++;
              // The stored value is a lower bound within the slack: L ≤ true lastHeardAt < L + S.
              expect(stored.heard).toBeLessThanOrEqual(trueLast);
              expect(trueLast).toBeLessThan(stored.heard + S);
            }
            load();
            secondaryStep(s, params, now, { type: 'tick' });
            if (s.phase === 'claiming') failedAt = now;
          }
          if (trueLast === Number.NEGATIVE_INFINITY) return;
          expect(failedAt).toBeDefined();
          const at = failedAt as number;
          expect(at).toBeGreaterThanOrEqual(trueLast + T);
          const armed = armedAt ?? Number.NaN;
          expect(at).toBeLessThan(Math.max(trueLast + S + T, armed) + tickMs);
          // Replays came up to 100 s after the primary's last heartbeat: none of them postponed this
          // (one that arrives first, after the timeout, arms the watchdog and it fires on the next tick).
          expect(at).toBeLessThan(Math.max(sentMax + S + T, armed) + tickMs);
        },
      ),
      { numRuns: 300, seed: 0x4b7 },
    );
    // The schedules must have exercised every fault and both save decisions.
    expect(seen.runs).toBe(300);
    for (const k of [
      'lost',
      'duplicated',
      'late',
      'reordered',
      'crashed',
      'skipped',
      'saved',
      'stale',
      'replayed',
      'replayAdmitted',
    ] as const) {
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
        // What the secondary heard: a heartbeat's send time (the earlier of the sealed one and the
        // channel's), any other message's arrival.
        const sealed = (input.message as { sentAt?: number }).sentAt ?? Number.NaN;
        const queue = 'sentAt' in input ? (input.sentAt ?? Number.NaN) : Number.NaN;
        lastHeard = Math.max(lastHeard, type === 'heartbeat' ? Math.min(sealed, queue) : at);
      },
      observe: (at, _primary, _secondary, effects) => {
        if (claimAt === undefined && effects.some((e) => e.type === 'claim' && e.role === 'secondary')) {
          claimAt = at;
        }
      },
    });
    expect(lost).toBeGreaterThan(2);
    expect(duplicated).toBeGreaterThan(10);
    // Each copy is refused as stale (its beat was admitted): nothing else is.
    expect(result.rejections.map((r) => r.error.code)).toEqual(
      result.rejections.map(() => 'stale-heartbeat'),
    );
    expect(result.rejections.length).toBeGreaterThanOrEqual(duplicated - 1);
    expect(result.secondary.phase).toBe('failed-over');
    expect(lastHeard).toBeLessThanOrEqual(2500);
    expect(claimAt).toBe(lastHeard + heartbeatSlackMs(p) + p.heartbeatTimeoutMs);
  });
});

describe("the primary seen in its document (primary-seen: the cloud runtime's heartbeat)", () => {
  /** Evidence of the primary at `at`, at the secondary's position unless `over` says otherwise. */
  function seen(s: SecondaryState, at: number, over: Partial<PrimarySeen> = {}): SecondaryInput {
    return { type: 'primary-seen', at, epoch: s.epoch, seq: s.inSeq, ...over };
  }

  it('counts like a heartbeat: the first arms the watchdog (traced, so it is saved), later ones only move lastHeardAt', () => {
    const s = started();
    expect(s.heard).toBe(false);
    const first = secondaryStep(s, params, 500, seen(s, 400));
    expect(s.heard).toBe(true);
    expect(s.lastHeardAt).toBe(400);
    expect(first.some((e) => e.type === 'trace' && e.name === 'colo_primary_seen')).toBe(true);
    const next = secondaryStep(s, params, 700, seen(s, 650));
    expect(next.map((e) => e.type)).toEqual(['wake']);
    expect(s.lastHeardAt).toBe(650);
    expect(watchdogAt(s, params)).toBe(650 + S + T);
  });

  it('never fires the watchdog itself (evidence read late is no silence); the next tick judges', () => {
    const s = started();
    secondaryStep(s, params, 100, seen(s, 100));
    const late = 100 + S + T + 5000;
    const fx = secondaryStep(s, params, late, seen(s, 150));
    expect(fx.some((e) => e.type === 'claim')).toBe(false);
    expect(s.phase).toBe('idle');
    expect(s.lastHeardAt).toBe(150);
    secondaryStep(s, params, late, { type: 'tick' });
    expect(s.phase).toBe('claiming');
  });

  it('counts for nothing when a heartbeat then would not have been admitted; changes nothing', () => {
    const s = started();
    s.inSeq = 2; // as if two messages were consumed
    secondaryStep(s, params, 100, seen(s, 100));
    const before = fingerprint(s);
    for (const [why, input] of [
      ['another epoch', seen(s, 100, { epoch: s.epoch + 1 })],
      ['an older epoch', seen(s, 100, { epoch: s.epoch - 1 })],
      ['messages still in flight', seen(s, 100, { seq: s.inSeq + 1 })],
      ['a document older than a message consumed since', seen(s, 100, { seq: s.inSeq - 1 })],
      ['an older save', seen(s, 50)],
    ] as const) {
      // Stepped at the same time as the last input: the SVM's own progress is no change of this input's.
      const fx = secondaryStep(s, params, 100, input);
      expect(rejections(fx), why).toEqual([]);
      expect(
        fx.map((e) => e.type),
        why,
      ).toEqual(['wake']);
      expect(fingerprint(s), why).toEqual(before);
    }
  });

  it("between checkpoints only: in bg-loading the round's data slot counts too and abandons nothing; a checkpoint or an ended secondary ignores it", () => {
    const s = started();
    s.heard = true;
    s.phase = 'bg-loading';
    s.loadingSeq = s.inSeq;
    expect(primarySeenAt(s, { at: 10, epoch: s.epoch, seq: s.inSeq + 1 }, 20)).toBe(10);
    expect(primarySeenAt(s, { at: 10, epoch: s.epoch, seq: s.inSeq }, 20)).toBe(10);
    expect(primarySeenAt(s, { at: 10, epoch: s.epoch, seq: s.inSeq + 2 }, 20)).toBeUndefined();
    for (const phase of ['ckpt-wait-ram', 'committing', 'claiming', 'failed-over', 'fenced'] as const) {
      s.phase = phase;
      expect(primarySeenAt(s, { at: 10, epoch: s.epoch, seq: s.inSeq }, 20), phase).toBeUndefined();
    }
  });

  it("a primary clock ahead counts as the secondary's now; absurdly ahead, or not a time or a count, is refused and changes nothing", () => {
    const s = started();
    secondaryStep(s, params, 1000, seen(s, 1000 + MAX_SENT_AHEAD_MS));
    expect(s.lastHeardAt).toBe(1000);
    const before = fingerprint(s);
    for (const bad of [
      seen(s, 2000 + MAX_SENT_AHEAD_MS + 1),
      seen(s, Number.NaN),
      seen(s, -1),
      seen(s, Number.POSITIVE_INFINITY),
      seen(s, 1500, { epoch: 1.5 }),
      seen(s, 1500, { seq: -1 }),
    ]) {
      const fx = secondaryStep(s, params, 2000, bad);
      expect(rejections(fx)).toHaveLength(1);
      expect(rejections(fx)[0]).toMatch(/^invalid-message: primary seen/);
      expect(fingerprint(s)).toEqual(before);
    }
  });

  it('a primary whose evidence stops is failed over by its last evidence + S + timeout, never before its last evidence + timeout', () => {
    fc.assert(
      fc.property(
        fc.integer({ min: 1, max: 40 }),
        fc.integer({ min: 50, max: 400 }),
        fc.integer({ min: 20, max: 300 }),
        (evidences, everyMs, tickMs) => {
          const s = started();
          let t = 0;
          let last = 0;
          for (let i = 0; i < evidences; i++) {
            t += everyMs;
            // The monitor reads a save made a little before it reads it.
            last = t - 10;
            secondaryStep(s, params, t, seen(s, last));
            secondaryStep(s, params, t, { type: 'tick' });
            if (s.phase !== 'idle') return false;
          }
          let failedAt = Number.NaN;
          while (Number.isNaN(failedAt) && t < last + 10 * T) {
            t += tickMs;
            secondaryStep(s, params, t, { type: 'tick' });
            if (s.phase === 'claiming') failedAt = t;
          }
          return failedAt >= last + T && failedAt < last + S + T + tickMs;
        },
      ),
      { numRuns: 200 },
    );
  });
});

describe('a VM started again by its operator (resumed)', () => {
  /** A secondary heard at 0 (a heartbeat sent then), idle. */
  function heard(): SecondaryState {
    const s = started();
    fresh(s, 0, 1, 0);
    return s;
  }
  const failedOver = (fx: Effect[]) => fx.some((e) => e.type === 'claim');

  it('after a pause longer than the timeout, a step at once is no failover; the watchdog counts from the resume', () => {
    const paused = heard();
    // Without the resume: the first tick after the pause fails it over.
    expect(failedOver(secondaryStep(paused, params, 60_000, { type: 'tick' }))).toBe(true);

    const s = heard();
    const fx = secondaryStep(s, params, 60_000, { type: 'resumed', at: 59_000 });
    expect(fx.filter((e) => e.type !== 'wake')).toEqual([]);
    expect(s.lastHeardAt).toBe(59_000);
    expect(failedOver(secondaryStep(s, params, 60_000, { type: 'tick' }))).toBe(false);
    // Nothing heard since: failed over at resume + slack + timeout, not before.
    expect(failedOver(secondaryStep(s, params, 59_000 + S + T - 1, { type: 'tick' }))).toBe(false);
    expect(failedOver(secondaryStep(s, params, 59_000 + S + T, { type: 'tick' }))).toBe(true);
  });

  it('a resume time ahead of the clock counts as now; absurdly ahead, or not a time, is refused and changes nothing', () => {
    const s = heard();
    secondaryStep(s, params, 60_000, { type: 'resumed', at: 60_000 + MAX_SENT_AHEAD_MS });
    expect(s.lastHeardAt).toBe(60_000);
    for (const at of [60_000 + MAX_SENT_AHEAD_MS + 1, Number.NaN, Number.POSITIVE_INFINITY]) {
      const t = heard();
      const before = fingerprint(t);
      const fx = secondaryStep(t, params, 60_000, { type: 'resumed', at });
      expect(rejections(fx)).toEqual([expect.stringMatching(/^invalid-message: resumed at /)]);
      expect(fingerprint(t).equals(before)).toBe(true);
    }
  });

  it('an older resume never moves the evidence back; one inside a checkpoint changes nothing', () => {
    const s = heard();
    fresh(s, 5000, 2, 5000);
    secondaryStep(s, params, 5500, { type: 'resumed', at: 1000 });
    expect(s.lastHeardAt).toBe(5000);
    const c = heard();
    c.phase = 'ckpt-wait-ram';
    const before = fingerprint(c);
    secondaryStep(c, params, 60_000, { type: 'resumed', at: 59_000 });
    expect(fingerprint(c).equals(before)).toBe(true);
  });
});
