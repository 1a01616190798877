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

function body(pair: CloudPair, beat: number): string {
  const m: Heartbeat = { v: 1, vmId: params.vmId, epoch: 1, seq: 0, type: 'heartbeat', beat };
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
        { type: 'message', body: body(pair, sentAt), sentAt, arrivedAt: sentAt },
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
      { type: 'message', body: body(pair, next), sentAt: next, arrivedAt: next },
    ]);
    expect(r.coarseSkips).toBe(0);
    expect(pair.state.stats.saves).toBe(saves + 1);
    expect((await pair.secondaryDoc())?.state.lastHeardAt).toBe(next);
  });

  test('reloaded after coarse saves, the watchdog fires at stored + slack + timeout: never before the last heartbeat + timeout', async () => {
    const { pair, L } = await heard();
    const last = L + S - 1; // the true last heartbeat, unsaved
    pair.clock.setTo(last + 5);
    const r = await pair.secondary([{ type: 'message', body: body(pair, 7), sentAt: last, arrivedAt: last }]);
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
      pair.secondary([{ type: 'message', body: body(pair, 9), sentAt, arrivedAt: sentAt }]),
    ).rejects.toThrow('killed before the save');
    pair.state.beforeSave = undefined;
    expect((await pair.secondaryDoc())?.state.lastHeardAt).toBe(L);
    // SQS hands the record over again 60 s later, with its first send time: it counts from then, not now.
    pair.clock.setTo(sentAt + 60_000);
    const again = await pair.secondary([{ type: 'message', body: body(pair, 9), sentAt, arrivedAt: sentAt }]);
    expect(again.outcomes.map((o) => o.status)).toEqual(['applied']);
    expect((await pair.secondaryDoc())?.state.lastHeardAt).toBe(sentAt);
    // It counts from its send time, not from now: the watchdog is due long since, and the next tick fires.
    const tick = await pair.secondary([{ type: 'tick' }]);
    expect(tick.effects.some((e) => e.type === 'claim')).toBe(true);
    expect(pair.clock.now()).toBeGreaterThanOrEqual(sentAt + H);
  });

  test('a duplicate and a heartbeat overtaken by a later one are applied and save nothing', async () => {
    const { pair, L } = await heard();
    const saves = pair.state.stats.saves;
    pair.clock.setTo(L + 50);
    for (const sentAt of [L, L - 10]) {
      const r = await pair.secondary([{ type: 'message', body: body(pair, 3), sentAt, arrivedAt: L + 40 }]);
      expect(r.outcomes.map((o) => o.status)).toEqual(['applied']);
      expect(r.coarseSkips).toBe(1);
    }
    expect(pair.state.stats.saves).toBe(saves);
    expect((await pair.secondaryDoc())?.state.lastHeardAt).toBe(L);
  });

  test('a heartbeat from the future (sequence ahead) is refused, saved nowhere, and changes nothing', async () => {
    const { pair, L } = await heard();
    const saves = pair.state.stats.saves;
    const ahead = JSON.stringify({ ...JSON.parse(body(pair, 4)), seq: 5 });
    pair.clock.setTo(L + 10);
    const r = await pair.secondary([{ type: 'message', body: ahead, sentAt: L + 10, arrivedAt: L + 10 }]);
    expect(r.outcomes[0]).toMatchObject({ status: 'rejected', code: 'wrong-sequence' });
    expect(pair.state.stats.saves).toBe(saves);
    expect((await pair.secondaryDoc())?.state.lastHeardAt).toBe(L);
  });
});
