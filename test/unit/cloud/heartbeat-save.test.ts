import { describe, expect, test } from 'vitest';
import type { Heartbeat } from '../../../src/engine/protocol/messages.ts';
import { heartbeatSlackMs } from '../../../src/engine/secondary/heartbeat.ts';
import { readControl } from '../../../src/runtime/cloud/index.ts';
import { testParams } from '../../helpers/engine.ts';
import { CloudPair } from './harness.ts';

const params = testParams({ policy: 'none', heartbeatIntervalMs: 100, heartbeatTimeoutMs: 1000 });
const S = heartbeatSlackMs(params);
const H = params.heartbeatTimeoutMs;

/** A started pair whose secondary has heard the primary's first heartbeat (saved: it armed the watchdog). */
async function heard(): Promise<{ pair: CloudPair; L: number }> {
  const pair = new CloudPair(params);
  await pair.start();
  const first = await pair.toSecondary();
  expect(first?.outcomes.map((o) => o.status)).toEqual(['applied']);
  const L = (await pair.secondaryDoc())?.state.lastHeardAt ?? Number.NaN;
  expect((await pair.secondaryDoc())?.state.heard).toBe(true);
  return { pair, L };
}

/** A heartbeat body with its sealed send time (default: the queue's send time it is delivered with). */
function body(pair: CloudPair, beat: number, sentAt: number): string {
  const m: Heartbeat = { v: 1, vmId: params.vmId, epoch: 1, seq: 0, type: 'heartbeat', beat, sentAt };
  expect(pair.params.vmId).toBe(m.vmId);
  return JSON.stringify(m);
}

describe('the secondary saves lastHeardAt coarsely', () => {
  test('a heartbeat that moves it less than the slack saves nothing; the one that reaches the slack saves', async () => {
    const { pair, L } = await heard();
    const saves = pair.state.stats.saves;
    const revision = (await pair.secondaryDoc())?.revision;
    let sentAt = L;
    while (sentAt + params.heartbeatIntervalMs - L < S) {
      sentAt += params.heartbeatIntervalMs;
      pair.clock.setTo(sentAt + 5);
      const r = await pair.secondary([
        { type: 'message', body: body(pair, sentAt, sentAt), sentAt, arrivedAt: sentAt },
      ]);
      expect(r.outcomes.map((o) => o.status)).toEqual(['applied']);
      expect(r.coarseSkips).toBe(1);
      expect(r.document.state.lastHeardAt).toBe(sentAt);
    }
    expect(sentAt).toBeGreaterThan(L); // at least one heartbeat was left unsaved
    expect(pair.state.stats.saves).toBe(saves);
    expect((await pair.secondaryDoc())?.revision).toBe(revision);
    expect((await pair.secondaryDoc())?.state.lastHeardAt).toBe(L);
    // The next one is a slack past the stored value: saved.
    const next = sentAt + params.heartbeatIntervalMs;
    expect(next - L).toBeGreaterThanOrEqual(S);
    pair.clock.setTo(next + 5);
    const r = await pair.secondary([
      { type: 'message', body: body(pair, next, next), sentAt: next, arrivedAt: next },
    ]);
    expect(r.coarseSkips).toBe(0);
    expect(pair.state.stats.saves).toBe(saves + 1);
    expect((await pair.secondaryDoc())?.state.lastHeardAt).toBe(next);
  });

  test('reloaded after coarse saves, the watchdog fires at stored + slack + timeout: never before the last heartbeat + timeout', async () => {
    const { pair, L } = await heard();
    const last = L + S - 1; // the true last heartbeat, unsaved
    pair.clock.setTo(last + 5);
    const r = await pair.secondary([
      { type: 'message', body: body(pair, 10_000, last), sentAt: last, arrivedAt: last },
    ]);
    expect(r.coarseSkips).toBe(1);
    const stored = (await pair.secondaryDoc())?.state.lastHeardAt ?? Number.NaN;
    expect(stored).toBeLessThanOrEqual(last);
    expect(last).toBeLessThan(stored + S);
    // A tick just before stored + S + H: the primary was heard at `last`, so this is not yet a timeout.
    pair.clock.setTo(stored + S + H - 1);
    expect(pair.clock.now()).toBeGreaterThanOrEqual(last + H);
    const early = await pair.secondary([{ type: 'tick' }]);
    expect(early.document.state.phase).toBe('idle');
    expect(early.effects.some((e) => e.type === 'claim')).toBe(false);
    pair.clock.setTo(stored + S + H);
    const late = await pair.secondary([{ type: 'tick' }]);
    expect(late.effects.some((e) => e.type === 'claim')).toBe(true);
    expect((await readControl(pair.state, params.vmId)).owner).toBe('secondary');
    // At most the slack after the true last heartbeat + timeout.
    expect(pair.clock.now() - (last + H)).toBeLessThanOrEqual(S);
  });

  test('killed after admitting a heartbeat, before its save: the redelivery (same send time) saves it; failover never early', async () => {
    const { pair, L } = await heard();
    const sentAt = L + S + 50; // far enough to need a save
    pair.clock.setTo(sentAt + 5);
    pair.state.beforeSave = () => {
      throw new Error('killed before the save');
    };
    await expect(
      pair.secondary([{ type: 'message', body: body(pair, 10_000, sentAt), sentAt, arrivedAt: sentAt }]),
    ).rejects.toThrow('killed before the save');
    pair.state.beforeSave = undefined;
    expect((await pair.secondaryDoc())?.state.lastHeardAt).toBe(L);
    // SQS hands the record over again 60 s later, with its first send time: it counts from then, not now.
    pair.clock.setTo(sentAt + 60_000);
    const again = await pair.secondary([
      { type: 'message', body: body(pair, 10_000, sentAt), sentAt, arrivedAt: sentAt },
    ]);
    expect(again.outcomes.map((o) => o.status)).toEqual(['applied']);
    expect((await pair.secondaryDoc())?.state.lastHeardAt).toBe(sentAt);
    // It counts from its send time, not from now: the watchdog is due long since, and the next tick fires.
    const tick = await pair.secondary([{ type: 'tick' }]);
    expect(tick.effects.some((e) => e.type === 'claim')).toBe(true);
    expect(pair.clock.now()).toBeGreaterThanOrEqual(sentAt + H);
  });

  test('a duplicate or replayed heartbeat (beat not above the highest) is acknowledged as a duplicate and saves nothing', async () => {
    const { pair, L } = await heard();
    const beat = (await pair.secondaryDoc())?.state.lastBeat ?? Number.NaN;
    expect(beat).toBeGreaterThan(0);
    const saves = pair.state.stats.saves;
    // Replayed much later: the queue's send time is the replay's, the sealed one is the first send's.
    pair.clock.setTo(L + 10 * H);
    for (const b of [beat, beat - 1]) {
      const r = await pair.secondary([
        { type: 'message', body: body(pair, b, L), sentAt: L + 10 * H - 5, arrivedAt: L + 10 * H - 5 },
      ]);
      expect(r.outcomes[0]).toMatchObject({ status: 'duplicate' });
      expect(r.outcomes[0]?.detail).toMatch(/^heartbeat beat \d+ is not above the highest admitted/);
    }
    expect(pair.state.stats.saves).toBe(saves);
    expect((await pair.secondaryDoc())?.state.lastHeardAt).toBe(L);
    // The replays held nothing off: the next tick fails over.
    const tick = await pair.secondary([{ type: 'tick' }]);
    expect(tick.effects.some((e) => e.type === 'claim')).toBe(true);
  });

  test('a replay after a reload that lost the highest beat counts from its sealed send time: lastHeardAt never passes the true one', async () => {
    const { pair, L } = await heard();
    const stored = (await pair.secondaryDoc())?.state.lastBeat ?? Number.NaN;
    // A genuine heartbeat admitted but left unsaved (coarse): the stored beat lags behind it.
    const genuine = L + S - 1;
    pair.clock.setTo(genuine + 5);
    const r = await pair.secondary([
      { type: 'message', body: body(pair, stored + 1, genuine), sentAt: genuine, arrivedAt: genuine },
    ]);
    expect(r.coarseSkips).toBe(1);
    expect((await pair.secondaryDoc())?.state.lastBeat).toBe(stored);
    // Its sealed body replayed 10 timeouts later with a fresh queue send time: admitted (the reload lost
    // its beat), but it counts from its sealed send time, so the failover is not postponed.
    const later = genuine + 10 * H;
    pair.clock.setTo(later);
    const replay = await pair.secondary([
      { type: 'message', body: body(pair, stored + 1, genuine), sentAt: later - 1, arrivedAt: later - 1 },
    ]);
    expect(replay.outcomes.map((o) => o.status)).toEqual(['applied']);
    expect(replay.document.state.lastHeardAt).toBe(genuine);
    const tick = await pair.secondary([{ type: 'tick' }]);
    expect(tick.effects.some((e) => e.type === 'claim')).toBe(true);
  });

  test('a heartbeat from the future (sequence ahead) is refused, saved nowhere, and changes nothing', async () => {
    const { pair, L } = await heard();
    const saves = pair.state.stats.saves;
    const ahead = JSON.stringify({ ...JSON.parse(body(pair, 1_000_000, L + 10)), seq: 5 });
    pair.clock.setTo(L + 10);
    const r = await pair.secondary([{ type: 'message', body: ahead, sentAt: L + 10, arrivedAt: L + 10 }]);
    expect(r.outcomes[0]).toMatchObject({ status: 'rejected', code: 'wrong-sequence' });
    expect(pair.state.stats.saves).toBe(saves);
    expect((await pair.secondaryDoc())?.state.lastHeardAt).toBe(L);
  });
});
