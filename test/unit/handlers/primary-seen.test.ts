/**
 * The deployed handlers (LEAN_INVOCATION, sibling repair): the primary puts no heartbeat on the channel;
 * `heartbeat-monitor` reads the primary's document at each tick and hands it to the secondary
 * (docs/cloud-runtime.md "Heartbeats from the primary's document"). Faults on the new read.
 */
import { describe, expect, test } from 'vitest';
import { PRIMARY_UNSEEN_METRIC } from '../../../lambda/handlers/heartbeat-monitor.ts';
import { heartbeatSlackMs } from '../../../src/engine/secondary/heartbeat.ts';
import { nodeStateKey } from '../../../src/runtime/cloud/keys.ts';
import { HandlerSim, handlerParams } from './sim.ts';

// Checkpoints further apart than the timeout + slack: between them only the evidence keeps the secondary.
const params = handlerParams({ policy: 'none', checkpointDelayMs: 8000, heartbeatTimeoutMs: 4000 });
const T = params.heartbeatTimeoutMs;
const S = heartbeatSlackMs(params);

/** The deployed handlers, armed and run until both nodes replicate. */
async function deployed(): Promise<HandlerSim> {
  const sim = new HandlerSim(params, 'ack', { lean: true, siblingRepair: true });
  await sim.tickArm({ source: 'colo.watchdog', vmId: 'vm-0' });
  await sim.run(1000);
  expect((await sim.primaryDoc())?.state.phase).toBe('running');
  return sim;
}

/** Makes every read of the primary's document by `heartbeat-monitor`'s ticks fail while `on()` is true. */
function failMonitorReads(sim: HandlerSim, on: () => boolean): void {
  const key = nodeStateKey('vm-0', 'primary');
  const load = sim.state.load.bind(sim.state);
  let inMonitor = false;
  const deliver = sim.deliverTicks.bind(sim);
  sim.deliverTicks = async (timer) => {
    inMonitor = timer === 'heartbeat';
    try {
      return await deliver(timer);
    } finally {
      inMonitor = false;
    }
  };
  sim.state.load = async (k) => {
    if (inMonitor && on() && k === key) throw new Error('S3 GetObject: InternalError (injected)');
    return load(k);
  };
}

describe("heartbeat-monitor: the primary's document is its heartbeat", () => {
  test('no heartbeat crosses the channel; the secondary stays with a primary that saves, across several timeouts', async () => {
    const sim = await deployed();
    await sim.run(5 * T);
    expect(sim.deliveredP2S.filter((id) => id.includes('-hb-'))).toEqual([]);
    expect(sim.p2s.size).toBe(0);
    const s = await sim.secondaryDoc();
    expect(s?.state.phase).toBe('idle');
    expect(s?.state.heard).toBe(true);
    expect(s?.state.committedEpoch).toBeGreaterThanOrEqual(2);
    expect(sim.metric('Failovers')).toBe(0);
    expect(sim.metric(PRIMARY_UNSEEN_METRIC)).toBe(0);
  });

  test("one read of the primary's document per tick serves the sibling check and the evidence", async () => {
    const sim = await deployed();
    const key = nodeStateKey('vm-0', 'primary');
    const load = sim.state.load.bind(sim.state);
    let reads = 0;
    let inMonitor = false;
    sim.state.load = async (k) => {
      if (inMonitor && k === key) reads++;
      return load(k);
    };
    let ticks = 0;
    for (let i = 0; i < 40; i++) {
      sim.clock.advance(100);
      inMonitor = true;
      const r = await sim.deliverTicks('heartbeat');
      inMonitor = false;
      if (r !== undefined) ticks++;
      await sim.run(0);
      for (const t of ['pending-check', 'checkpoint'] as const) await sim.deliverTicks(t);
      while ((await sim.deliverToSecondary()) || (await sim.deliverToPrimary()));
    }
    expect(ticks).toBeGreaterThan(1);
    // Every tick checks the 1 s pending-check sibling (one read) and takes its evidence from that read.
    expect(reads).toBe(ticks);
  });

  test('the primary falls silent (its timers stop): failed over after its last save + timeout, within the slack and a tick', async () => {
    const sim = await deployed();
    await sim.run(T);
    await sim.run(100, 100, ['heartbeat']);
    const last = (await sim.primaryDoc())?.updatedAt ?? Number.NaN;
    await sim.run(3 * T, 100, ['heartbeat']);
    const s = await sim.secondaryDoc();
    expect(s?.state.phase).toBe('failed-over');
    expect(s?.exit?.detail).toMatch(/no message from the primary/);
    const at = s?.exit?.at ?? Number.NaN;
    expect(at).toBeGreaterThanOrEqual(last + T);
    // The chain ticks at least every 2 s, and at the wake (1 s granularity).
    expect(at).toBeLessThanOrEqual(last + S + T + 2000);
    expect(sim.metric('Failovers')).toBe(1);
  });

  test("reads of the primary's document that fail for less than the timeout: logged and counted, no failover", async () => {
    const sim = await deployed();
    let failing = false;
    failMonitorReads(sim, () => failing);
    failing = true;
    await sim.run(T - 1500);
    failing = false;
    await sim.run(2 * T);
    expect(sim.metric(PRIMARY_UNSEEN_METRIC)).toBeGreaterThan(0);
    expect(sim.obs.logs.some((l) => l.message.startsWith("primary's document not read"))).toBe(true);
    expect((await sim.secondaryDoc())?.state.phase).toBe('idle');
    expect(sim.metric('Failovers')).toBe(0);
  });

  test('a primary that cannot be read for longer than the timeout + slack is silent: failed over, and the fence decides', async () => {
    const sim = await deployed();
    await sim.run(2000);
    expect((await sim.secondaryDoc())?.state.heard).toBe(true);
    failMonitorReads(sim, () => true);
    await sim.run(T + S + 2000);
    const s = await sim.secondaryDoc();
    expect(s?.state.phase).toBe('failed-over');
    // The primary, which was alive all along, learns at its next tick that it lost the fence.
    expect((await sim.primaryDoc())?.state.phase).toBe('fenced');
  });
});
