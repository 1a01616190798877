/**
 * The deployed functions' invocation options (LEAN_INVOCATION: routine log records in batches, heartbeats
 * by the primary's saves instead of messages) cut state writes per tick and change nothing the VM does: the
 * same run with and without them delivers the same COLO messages, commits the same checkpoints, and logs
 * the same records.
 */
import { describe, expect, test } from 'vitest';
import type { ColoParams } from '../../../src/engine/params.ts';
import { HandlerSim, handlerParams } from './sim.ts';

async function run(params: ColoParams, lean: boolean, ms: number) {
  const sim = new HandlerSim(params, 'ack', { lean });
  const saves = { node: 0, log: 0 };
  sim.state.beforeSave = (key) => {
    if (key.endsWith('/node/primary.bin')) saves.node++;
    if (key.includes('/log/primary/')) saves.log++;
  };
  await sim.tickArm({});
  await sim.run(ms);
  const primary = await sim.primaryDoc();
  const secondary = await sim.secondaryDoc();
  // Records still waiting for their batch in the primary's document count as logged.
  const records = [...(await sim.log('primary')), ...(primary?.outbox.records ?? [])].map((r) => ({
    n: r.n,
    type: r.type,
    at: r.at,
  }));
  const commits = (await sim.log('secondary')).filter((r) => r.type === 'commit').map((r) => r.data);
  return {
    sim,
    delivered: sim.deliveredP2S,
    records,
    commits,
    primaryPhase: primary?.state.phase,
    secondaryPhase: secondary?.state.phase,
    saves,
  };
}

describe('lean invocations: the same run with and without them', () => {
  for (const policy of ['fixed', 'none'] as const) {
    test(`${policy}: identical messages, commits and records; fewer state writes`, async () => {
      const params = handlerParams({ policy, checkpointDelayMs: 5000, heartbeatTimeoutMs: 10_000 });
      const plain = await run(params, false, 40_000);
      const lean = await run(params, true, 40_000);
      expect(plain.commits.length).toBeGreaterThanOrEqual(5);
      const heartbeat = (d: string) => /-hb-\d+/.test(d);
      expect(plain.delivered.some(heartbeat)).toBe(true);
      // The same messages but the heartbeats: deployed, the primary's saves are its heartbeat
      // (heartbeat-monitor reads them), and the secondary stays with it all the same.
      expect(lean.delivered).toEqual(plain.delivered.filter((d) => !heartbeat(d)));
      expect(lean.commits).toEqual(plain.commits);
      expect(lean.records).toEqual(plain.records);
      expect([lean.primaryPhase, lean.secondaryPhase]).toEqual([plain.primaryPhase, plain.secondaryPhase]);
      expect(lean.primaryPhase).toBe('running');
      // The levers work: fewer writes of the primary's document and log (a deferred save can move to the
      // next invocation, e.g. one that brings a reply; with `none` a pending check logs nothing).
      expect(lean.sim.metric('TicksClaimed')).toBe(plain.sim.metric('TicksClaimed'));
      expect(plain.sim.metric('SavesDeferred')).toBe(0);
      expect(lean.sim.metric('Failovers')).toBe(0);
      expect(lean.saves.node + lean.saves.log).toBeLessThan(0.9 * (plain.saves.node + plain.saves.log));
      if (policy === 'fixed') expect(lean.saves.log).toBeLessThan(plain.saves.log * 0.6);
    });
  }
});
