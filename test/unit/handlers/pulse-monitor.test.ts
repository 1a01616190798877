/**
 * The stack's pulse and monitor (docs/cloud.md "The pulse and the monitor") on in-memory ports and a
 * virtual clock: they replicate a VM as its own chains did with far fewer writes, fail over a VM whose
 * primary stops stepping, isolate one VM's failure from the others, step a large fleet in bounded batches,
 * and refuse a malformed document without changing anything.
 */
import { describe, expect, it } from 'vitest';
import { MONITOR_DOCUMENT_KEY, PULSE_DOCUMENT_KEY } from '../../../lambda/adapters/contract.ts';
import { PULSE_OUTAGE_GRACE_MS, runMonitor } from '../../../lambda/handlers/common/monitor.ts';
import { expectSlow, pulseDue, runPulse, stoppedRecheckMs } from '../../../lambda/handlers/common/pulse.ts';
import type { ColoParams } from '../../../src/engine/params.ts';
import type { StateStore } from '../../../src/engine/ports.ts';
import { markFailedOver, markResumed, VM_REMOVED_REASON } from '../../../src/runtime/cloud/control.ts';
import { primaryInvocation } from '../../../src/runtime/cloud/index.ts';
import { controlKey } from '../../../src/runtime/cloud/keys.ts';
import { encodeMonitor, parseMonitor } from '../../../src/runtime/cloud/monitor-document.ts';
import { parsePulse } from '../../../src/runtime/cloud/pulse-document.ts';
import { handlerParams } from './sim.ts';
import { StackSim } from './stack-sim.ts';

function params(vmId: string, over: Partial<ColoParams> = {}): ColoParams {
  return handlerParams({
    vmId,
    policy: 'fixed',
    checkpointDelayMs: 5000,
    // Above the guest (1 MiB): the pending check never starts a round, so a quiet tick stays quiet.
    thresholdBytes: 1024 * 4096,
    pendingCheckIntervalMs: 1000,
    heartbeatIntervalMs: 1000,
    heartbeatTimeoutMs: 10_000,
    ...over,
  });
}

async function pulseDoc(stack: StackSim) {
  const d = await stack.shared.state.load(PULSE_DOCUMENT_KEY);
  return d ? parsePulse(d.value, PULSE_DOCUMENT_KEY) : undefined;
}

/** The in-flight mark of `vmId` once the pulse's own timer (real time) has written it, or undefined. */
async function inFlightMark(stack: StackSim, vmId: string): Promise<number | undefined> {
  let mark: number | undefined;
  for (let i = 0; i < 300 && mark === undefined; i++) {
    await new Promise((r) => setTimeout(r, 10));
    mark = (await pulseDoc(stack))?.vms[vmId]?.inFlightSince;
  }
  return mark;
}

describe('the pulse and the monitor', () => {
  it('replicate one VM: checkpoints commit, no failover, and quiet pulses save nothing', async () => {
    const stack = new StackSim();
    const sim = await stack.add(params('vm-0'));
    let primarySaves = 0;
    stack.shared.state.beforeSave = (key) => {
      if (key === 'vm-0/node/primary.bin') primarySaves++;
    };
    await stack.run(40_000);
    const commits = (await sim.log('secondary')).filter((r) => r.type === 'commit');
    expect(commits.length).toBeGreaterThanOrEqual(5);
    expect((await sim.primaryDoc())?.state.phase).toBe('running');
    expect((await sim.secondaryDoc())?.state.phase).not.toBe('failed-over');
    expect(sim.metric('Failovers')).toBe(0);
    // Most pulses were quiet: 40 pulses, a handful of saves per checkpoint only.
    const quiet = stack.pulses.reduce((n, p) => n + p.quiet, 0);
    expect(quiet).toBeGreaterThan(20);
    expect(primarySaves).toBeLessThan(commits.length * 6 + 10);
    // The secondary is read only when something is due, not at every monitor tick.
    const stepped = stack.monitors.reduce((n, m) => n + m.stepped, 0);
    expect(stepped).toBeLessThan(stack.monitors.length);
    const doc = await pulseDoc(stack);
    expect(doc?.vms['vm-0']?.seen).not.toBeNull();
  }, 120_000);

  it('a primary that stops stepping is failed over after the heartbeat timeout; the other VM goes on', async () => {
    const stack = new StackSim();
    const a = await stack.add(params('vm-a'));
    const b = await stack.add(params('vm-b'));
    await stack.run(12_000);
    expect((await a.secondaryDoc())?.state.phase).not.toBe('failed-over');
    const silentFrom = stack.clock.now();
    stack.silent.add('vm-a');
    await stack.run(20_000);
    const s = await a.secondaryDoc();
    expect(s?.state.phase).toBe('failed-over');
    // Not before the timeout: the evidence of the last step counts; within timeout + slack + 2 ticks.
    const at = s?.exit?.at ?? 0;
    expect(at - silentFrom).toBeGreaterThanOrEqual(10_000 - 1000);
    expect(at - silentFrom).toBeLessThanOrEqual(10_000 + 2500 + 4000);
    expect(s?.exit?.detail).toMatch(/no message from the primary/);
    expect((await b.secondaryDoc())?.state.phase).not.toBe('failed-over');
    expect((await b.primaryDoc())?.state.phase).toBe('running');
  }, 120_000);

  it('a pulse outage (both pulses hung until the timeout) holds the watchdogs: nothing fails over, replication goes on', async () => {
    // Seen on LocalStack: both pulse invocations of a stack hung 60 s at once (the function's timeout), no
    // pulse ran, and a healthy VM failed over 18 s in — its primary was never silent, only unstepped.
    const stack = new StackSim();
    // A checkpoint every 30 s: the primary's own document says little during the outage either.
    const a = await stack.add(params('vm-a', { checkpointDelayMs: 30_000 }));
    const b = await stack.add(params('vm-b'));
    await stack.run(12_000);
    stack.pulseDown = true;
    await stack.run(65_000);
    const held = stack.monitors.reduce((n, m) => n + m.held, 0);
    // Coverage: watchdogs fell due during the outage and were held.
    expect(held).toBeGreaterThanOrEqual(3);
    for (const sim of [a, b]) expect((await sim.secondaryDoc())?.state.phase).not.toBe('failed-over');
    expect(a.metric('WatchdogsHeldPulseOutage') + b.metric('WatchdogsHeldPulseOutage')).toBeGreaterThan(0);
    stack.pulseDown = false;
    const before = (await a.log('secondary')).filter((r) => r.type === 'commit').length;
    await stack.run(40_000);
    for (const sim of [a, b]) {
      const s = await sim.secondaryDoc();
      expect(s?.state.phase, s?.exit?.detail).not.toBe('failed-over');
      expect(sim.metric('Failovers')).toBe(0);
    }
    // Replicating: vm-a commits again after the outage.
    expect((await a.log('secondary')).filter((r) => r.type === 'commit').length).toBeGreaterThan(before);
  }, 240_000);

  it("a frozen primary alone on its stack still fails over at the timeout: the pulse's write says it ran", async () => {
    // Nothing of this VM is stepped (no news for the pulse document): the pulse writes it anyway, so the
    // monitor does not take a frozen primary for a pulse outage.
    const stack = new StackSim();
    const a = await stack.add(params('vm-a', { checkpointDelayMs: 600_000 }));
    await stack.run(12_000);
    const silentFrom = stack.clock.now();
    stack.silent.add('vm-a');
    await stack.run(25_000);
    const s = await a.secondaryDoc();
    expect(s?.state.phase).toBe('failed-over');
    expect((s?.exit?.at ?? 0) - silentFrom).toBeLessThanOrEqual(10_000 + 2500 + 4000);
    expect(stack.monitors.reduce((n, m) => n + m.held, 0)).toBe(0);
  }, 120_000);

  it.each([
    ['its wake as the monitor left it', false],
    ['a wake that moved since the monitor read it', true],
  ])(
    "a pulse held up by one VM's hung step (%s): that VM is judged at its timeout, the others are held",
    async (_, staleWake) => {
      // Review F on LocalStack: both pulse invocations froze in a frozen primary's step (both tick pollers
      // held, no pulse ran), and the monitor held that VM's watchdog too, for the whole 90 s grace.
      const stack = new StackSim();
      const a = await stack.add(params('vm-a', { checkpointDelayMs: 600_000 }));
      const b = await stack.add(params('vm-b', { checkpointDelayMs: 600_000 }));
      await stack.run(8_000);
      const frozenAt = stack.clock.now();
      const { reached, release } = stack.hold('vm-a');
      const hung = stack.pulse({ lateMarkAfterMs: 10 });
      await reached;
      // The pulse marks the hung step in flight (its own timer, real time), then no pulse runs at all.
      const mark = await inFlightMark(stack, 'vm-a');
      expect(mark).toBeDefined();
      if (staleWake) {
        // The monitor last read vm-a in a long wait; a commit by secondary-apply has since moved its wake to
        // the watchdog, with no pulse to say so (review G): the monitor's entry still says 60 s.
        const d = await stack.shared.state.load(MONITOR_DOCUMENT_KEY);
        const doc = parseMonitor(d?.value ?? new Uint8Array(), MONITOR_DOCUMENT_KEY);
        const { wakeIsWatchdog: _, ...e } = doc.vms['vm-a'] ?? { wakeAt: 0, steppedAt: 0, epoch: 0, seq: 0 };
        doc.vms['vm-a'] = { ...e, wakeAt: stack.clock.now() + 60_000 };
        stack.shared.state.put(MONITOR_DOCUMENT_KEY, encodeMonitor(doc), d?.etag);
      }
      stack.pulseDown = true;
      await stack.run(25_000);
      // Coverage: the outage held watchdogs (vm-b's)…
      expect(stack.monitors.reduce((n, m) => n + m.held, 0)).toBeGreaterThan(0);
      // …but not vm-a's: failed over within its timeout (+ slack and a monitor period) of its last evidence.
      const sa = await a.secondaryDoc();
      expect(sa?.state.phase).toBe('failed-over');
      expect(sa?.exit?.detail).toMatch(/no message from the primary/);
      expect((sa?.exit?.at ?? 0) - frozenAt).toBeLessThanOrEqual(10_000 + 2500 + 4000);
      expect((await b.secondaryDoc())?.state.phase).not.toBe('failed-over');
      stack.held.delete('vm-a');
      release();
      await hung;
    },
    120_000,
  );

  it('a pulse outage longer than the grace is judged: the watchdog fires once the grace has passed', async () => {
    const stack = new StackSim();
    const a = await stack.add(params('vm-a', { checkpointDelayMs: 600_000 }));
    await stack.run(12_000);
    const downAt = stack.clock.now();
    stack.pulseDown = true;
    await stack.run(PULSE_OUTAGE_GRACE_MS + 10_000);
    const s = await a.secondaryDoc();
    expect(s?.state.phase).toBe('failed-over');
    expect(s?.exit?.detail).toMatch(/no message from the primary/);
    // Not before the grace (the pulse document's last write was at most ~2 s before the outage).
    expect((s?.exit?.at ?? 0) - downAt).toBeGreaterThanOrEqual(PULSE_OUTAGE_GRACE_MS - 3000);
  }, 240_000);

  it("a checkpoint that starts as the secondary's watchdog wakes, its request still in the channel: no failover", async () => {
    // The monitor refreshes a secondary's evidence only at its wake (or when the primary moved on); when
    // the primary has just sent a checkpoint request the secondary has not consumed, the pulse's evidence
    // must still say the primary was alive at the secondary's position a moment before, or the watchdog
    // fires on a primary stepped every second (seen on LocalStack at the default 10 s timeout). Checkpoint
    // delays around the wake (timeout + slack = 12.5 s) and two channel latencies line the two up.
    let collisions = 0;
    const outcomes: string[] = [];
    for (let delay = 12_000; delay <= 14_500; delay += 500) {
      for (const latency of [500, 1500]) {
        const stack = new StackSim({ p2sLatencyMs: latency });
        const sim = await stack.add(params('vm-0', { checkpointDelayMs: delay }));
        stack.beforeMonitor = async () => {
          const m = await stack.shared.state.load(MONITOR_DOCUMENT_KEY);
          const entry = m ? parseMonitor(m.value, MONITOR_DOCUMENT_KEY).vms['vm-0'] : undefined;
          const wake = entry?.wakeAt;
          const p = await sim.primaryDoc();
          if (
            wake != null &&
            wake <= stack.clock.now() &&
            p?.state.phase.startsWith('ckpt-') &&
            sim.p2s.size > 0
          )
            collisions++;
        };
        await stack.run(60_000);
        const s = await sim.secondaryDoc();
        const commits = (await sim.log('secondary')).filter((r) => r.type === 'commit').length;
        outcomes.push(
          `${delay} ms, ${latency} ms: ${s?.state.phase}, ${commits} commits ${s?.exit?.detail ?? ''}`,
        );
        expect(s?.state.phase, outcomes.at(-1)).not.toBe('failed-over');
        expect(commits, outcomes.at(-1)).toBeGreaterThanOrEqual(3);
      }
    }
    // Coverage: the situation happened (a due wake, the primary inside a checkpoint, its request unconsumed).
    expect(collisions, outcomes.join('\n')).toBeGreaterThanOrEqual(6);
  }, 240_000);

  it('a slow VM holds one pulse, not every pulse: a concurrent pulse leaves it and records the others', async () => {
    const stack = new StackSim();
    await stack.add(params('vm-a'));
    await stack.run(5_000);
    // A new VM whose first step is slow (a large guest's first state): held until released.
    await stack.add(params('vm-slow'));
    const { reached, release } = stack.hold('vm-slow');
    const first = stack.pulse();
    await reached;
    // The first pulse marked it in flight before stepping it (a new VM is expected to be slow).
    expect((await pulseDoc(stack))?.vms['vm-slow']?.inFlightSince).toBeGreaterThan(0);
    stack.clock.advance(3_000);
    const second = await stack.pulse();
    // The concurrent pulse stepped vm-a only, and finished while vm-slow's step still runs.
    expect(second.due).toBe(1);
    expect(second.stepped).toBe(1);
    const during = await pulseDoc(stack);
    expect(during?.vms['vm-a']?.steppedAt).toBe(stack.clock.now());
    release();
    await first;
    const after = (await pulseDoc(stack))?.vms['vm-slow'];
    expect(after?.inFlightSince).toBeUndefined();
    expect(after?.lastStepMs).toBeGreaterThanOrEqual(3_000);
    // Known slow now: its next step is marked again before it starts, so concurrent pulses still leave it.
    stack.held.delete('vm-slow');
    stack.clock.advance(1_000);
    const third = await stack.pulse();
    expect(third.stepped).toBe(2);
    const fresh = (await pulseDoc(stack))?.vms['vm-slow'];
    expect(fresh?.inFlightSince).toBeUndefined();
    expect(fresh?.lastStepMs).toBeLessThan(2_000);
  }, 60_000);

  it('a step that turns slow unforeseen is marked in flight while it runs; later pulses leave it', async () => {
    const stack = new StackSim();
    await stack.add(params('vm-a'));
    await stack.add(params('vm-b'));
    await stack.run(5_000);
    // Both known fast: neither is marked before its step.
    expect((await pulseDoc(stack))?.vms['vm-a']?.lastStepMs).toBeLessThan(2_000);
    const { reached, release } = stack.hold('vm-a');
    stack.clock.advance(1_000);
    const first = stack.pulse({ lateMarkAfterMs: 20 });
    await reached;
    // The late mark is written while the step is held (real time: the pulse's own timer).
    const mark = await inFlightMark(stack, 'vm-a');
    expect(mark).toBe(stack.clock.now());
    stack.clock.advance(3_000);
    const second = await stack.pulse();
    // The concurrent pulse steps vm-b only.
    expect([second.due, second.stepped]).toEqual([1, 1]);
    release();
    expect((await first).failed).toBe(0);
    const after = (await pulseDoc(stack))?.vms['vm-a'];
    expect(after?.inFlightSince).toBeUndefined();
    expect(after?.lastStepMs).toBeGreaterThanOrEqual(3_000);
    stack.held.delete('vm-a');
  }, 60_000);

  it("one VM's failing step is counted, never stops the others', and is retried next pulse", async () => {
    const stack = new StackSim();
    await stack.add(params('vm-a'));
    const b = await stack.add(params('vm-b'));
    await stack.run(3_000);
    stack.broken.add('vm-a');
    const before = (await pulseDoc(stack))?.vms['vm-a']?.steppedAt ?? 0;
    const p1 = await stack.pulse();
    stack.clock.advance(1000);
    const p2 = await stack.pulse();
    expect(p1.failed).toBe(1);
    expect(p2.failed).toBe(1);
    const doc = await pulseDoc(stack);
    expect(doc?.vms['vm-a']?.failures).toBe(2);
    expect(doc?.vms['vm-a']?.steppedAt).toBe(before);
    expect(doc?.vms['vm-b']?.failures).toBe(0);
    expect(doc?.vms['vm-b']?.steppedAt).toBe(stack.clock.now());
    stack.broken.delete('vm-a');
    stack.clock.advance(1000);
    const p3 = await stack.pulse();
    expect(p3.failed).toBe(0);
    expect((await pulseDoc(stack))?.vms['vm-a']?.failures).toBe(0);
    expect((await b.primaryDoc())?.state.phase).toBe('running');
  }, 60_000);

  it('a big fleet is stepped in bounded batches, the longest-waiting first', async () => {
    const stack = new StackSim({ maxVms: 2 });
    for (const v of ['vm-a', 'vm-b', 'vm-c']) await stack.add(params(v));
    const p1 = await stack.pulse();
    expect([p1.due, p1.stepped, p1.deferred]).toEqual([3, 2, 1]);
    stack.clock.advance(1000);
    const p2 = await stack.pulse();
    // The one left out goes first, then the older of the other two.
    expect(p2.stepped).toBe(2);
    const doc = await pulseDoc(stack);
    const times = ['vm-a', 'vm-b', 'vm-c'].map((v) => doc?.vms[v]?.steppedAt ?? 0);
    expect(times.filter((t) => t === stack.clock.now()).length).toBe(2);
    expect(Math.min(...times)).toBeGreaterThan(0);
  }, 60_000);

  it('a malformed pulse or monitor document is reported and replaced by a fresh one; meanwhile the monitor reads the primaries', async () => {
    const stack = new StackSim();
    const sim = await stack.add(params('vm-0'));
    const garbage = async (key: string, text: string) => {
      const had = await stack.shared.state.load(key);
      await stack.shared.state.save(key, Buffer.from(text), had?.etag);
    };
    await garbage(PULSE_DOCUMENT_KEY, '{"v":1,"at":0,"vms":{"../x":{}}}');
    const deps = {
      state: stack.shared.state,
      vms: async () => ['vm-0'],
      vmDeps: async () => sim.primaryDeps,
      now: stack.clock.now,
      obs: sim.obs,
    };
    // The monitor, first: the pulse's evidence unreadable, it is stale — the VM (new to the monitor) is
    // stepped all the same, and the pulse document is left for the pulse to replace.
    const m = await runMonitor({ ...deps, vmDeps: async () => sim.secondaryDeps });
    expect(m).toMatchObject({ pulseStale: true, stepped: 1, failed: 0 });
    expect(
      Buffer.from((await stack.shared.state.load(PULSE_DOCUMENT_KEY))?.value ?? []).toString(),
    ).toContain('../x');
    // The pulse steps the VM as if new and writes a fresh document over the bad one.
    const p = await runPulse(deps);
    expect(p.stepped).toBe(1);
    expect(sim.metric('PulseDocumentReset')).toBe(1);
    expect((await pulseDoc(stack))?.vms['vm-0']?.steppedAt).toBeGreaterThan(0);
    // A malformed monitor document: the same.
    await garbage(MONITOR_DOCUMENT_KEY, 'not json');
    stack.clock.advance(1000);
    const again = await runMonitor({ ...deps, vmDeps: async () => sim.secondaryDeps });
    expect(again.failed).toBe(0);
    expect(sim.metric('MonitorDocumentReset')).toBe(1);
    const mon = await stack.shared.state.load(MONITOR_DOCUMENT_KEY);
    expect(JSON.parse(Buffer.from(mon?.value ?? []).toString()).vms['vm-0']).toBeDefined();
    // A store that cannot be read is no malformed document: the tick fails and nothing is replaced.
    const down: StateStore = Object.create(stack.shared.state);
    down.load = async () => {
      throw new Error('S3 down');
    };
    await expect(runPulse({ ...deps, state: down })).rejects.toThrow(/S3 down/);
  });

  it('a pulse document that cannot be written: the steps stand, the next pulse records them', async () => {
    const stack = new StackSim();
    const sim = await stack.add(params('vm-0'));
    let failing = true;
    stack.shared.state.beforeSave = (key) => {
      if (failing && key === PULSE_DOCUMENT_KEY) throw new Error('S3 down for the pulse document');
    };
    await expect(stack.pulse()).rejects.toThrow(/S3 down/);
    expect(await pulseDoc(stack)).toBeUndefined();
    failing = false;
    stack.clock.advance(1000);
    const s = await stack.pulse();
    expect(s.failed).toBe(0);
    const entry = (await pulseDoc(stack))?.vms['vm-0'];
    expect(entry?.steppedAt).toBe(stack.clock.now());
    // Waiting for checkpoint-ready: a quiet step, nothing of the primary stored yet.
    expect(entry?.waiting).toBe(true);
    expect(await sim.primaryDoc()).toBeUndefined();
  });

  it('in-flight marks that cannot be written: the pulse steps and records all the same, no mark left', async () => {
    const stack = new StackSim();
    const sim = await stack.add(params('vm-new'));
    let saves = 0;
    stack.shared.state.beforeSave = (key) => {
      // The first write of the pulse document is the new VM's in-flight mark.
      if (key === PULSE_DOCUMENT_KEY && saves++ === 0) throw new Error('S3 down for the mark');
    };
    const s = await stack.pulse();
    expect(saves).toBe(2);
    expect([s.stepped, s.failed]).toEqual([1, 0]);
    const entry = (await pulseDoc(stack))?.vms['vm-new'];
    expect(entry?.steppedAt).toBe(stack.clock.now());
    expect(entry?.inFlightSince).toBeUndefined();
    expect(sim.obs.logs.filter((l) => l.message === 'in-flight marks not written')).toHaveLength(1);
  });

  it('expectSlow: a new VM, a slow last step, a large guest; pulseDue skips a fresh in-flight mark', () => {
    const e = { steppedAt: 1000, seen: null, failures: 0 };
    expect(expectSlow(undefined, 1 << 20)).toBe(true);
    expect(expectSlow({ ...e, lastStepMs: 100 }, 64 << 20)).toBe(false);
    expect(expectSlow(e, 64 << 20)).toBe(false);
    expect(expectSlow({ ...e, lastStepMs: 2000 }, 64 << 20)).toBe(true);
    expect(expectSlow({ ...e, lastStepMs: 10 }, 256 << 20)).toBe(true);
    // In flight elsewhere: not due, even failed; a mark older than the function can live is ignored.
    expect(pulseDue({ ...e, failures: 1, inFlightSince: 50_000 }, 1000, 60_000)).toBe(false);
    expect(pulseDue({ ...e, inFlightSince: 50_000 }, 1000, 50_000 + 75_000)).toBe(true);
  });

  it('pulseDue: new, due by period, failed, stopped (rechecked a quarter heartbeat timeout after its last step)', () => {
    expect(pulseDue(undefined, 1000, 0)).toBe(true);
    const e = { steppedAt: 10_000, seen: null, failures: 0 };
    expect(pulseDue(e, 1000, 10_400)).toBe(false);
    expect(pulseDue(e, 1000, 10_500)).toBe(true);
    expect(pulseDue(e, 5000, 12_000)).toBe(false);
    expect(pulseDue({ ...e, failures: 1 }, 5000, 10_001)).toBe(true);
    expect(pulseDue({ ...e, stoppedAt: 10_000 }, 1000, 30_000)).toBe(false);
    expect(pulseDue({ ...e, stoppedAt: 10_000 }, 1000, 70_000)).toBe(true);
    // From its last recheck, not from when it stopped.
    expect(pulseDue({ ...e, stoppedAt: 0 }, 1000, 69_000)).toBe(false);
    const recheck = stoppedRecheckMs({ heartbeatTimeoutMs: 30_000 });
    expect(recheck).toBe(7500);
    expect(pulseDue({ ...e, stoppedAt: 0 }, 1000, 10_000 + recheck - 600, recheck)).toBe(false);
    expect(pulseDue({ ...e, stoppedAt: 0 }, 1000, 10_000 + recheck, recheck)).toBe(true);
    expect(stoppedRecheckMs({ heartbeatTimeoutMs: 0 })).toBe(60_000);
    expect(stoppedRecheckMs({ heartbeatTimeoutMs: 2000 })).toBe(1000);
    expect(stoppedRecheckMs({ heartbeatTimeoutMs: 600_000 })).toBe(60_000);
  });

  it('a VM removed and added back within seconds is stepped again before its secondary times out, and its stop time is kept', async () => {
    const stack = new StackSim();
    const vm = await stack.add(params('vm-a'));
    await stack.run(12_000);
    const commits = async () => (await vm.log('secondary')).filter((r) => r.type === 'commit').length;
    await markFailedOver(stack.state, 'vm-a', VM_REMOVED_REASON, stack.clock.now());
    await stack.run(6000); // the remove's settle: the pulse records the stop and rechecks it
    const stopped = (await pulseDoc(stack))?.vms['vm-a'];
    expect(stopped?.stoppedAt).toBeDefined();
    // Rechecked (10 s timeout: every 2.5 s) without moving the stop time: the monitor is told once.
    expect(stopped?.steppedAt).toBeGreaterThan(stopped?.stoppedAt ?? Number.POSITIVE_INFINITY);
    const monitorSteps = stack.monitors.reduce((n, m) => n + m.stepped, 0);
    await stack.run(6000);
    expect(stack.monitors.reduce((n, m) => n + m.stepped, 0) - monitorSteps).toBe(0);
    const before = await commits();
    await markResumed(stack.state, 'vm-a', stack.clock.now());
    await stack.run(25_000); // well past the 10 s timeout counted from the resume
    expect((await vm.secondaryDoc())?.state.phase).not.toBe('failed-over');
    expect((await pulseDoc(stack))?.vms['vm-a']?.stoppedAt).toBeUndefined();
    expect(await commits()).toBeGreaterThan(before);
  }, 60_000);

  it('a VM stopped by colo vm remove and added again a minute later is not failed over, even when the monitor steps it first', async () => {
    const outcome = async (restart: (state: StateStore, vmId: string, at: number) => Promise<unknown>) => {
      const stack = new StackSim();
      const vm = await stack.add(params('vm-a'));
      await stack.run(12_000);
      expect((await vm.secondaryDoc())?.state.phase).toBe('idle');
      await markFailedOver(stack.state, 'vm-a', VM_REMOVED_REASON, stack.clock.now());
      await stack.run(3000); // the remove's settle: the chains see the stop
      stack.clock.advance(60_000); // removed: nothing steps it
      await restart(stack.state, 'vm-a', stack.clock.now());
      await stack.monitor(); // before any pulse has stepped the primary again
      return (await vm.secondaryDoc())?.state;
    };
    // What `colo vm add` did before: delete the stop. The first step judges the pause as silence.
    const deleted = await outcome(async (state, vmId) => {
      if (!state.delete) throw new Error('the in-memory state store deletes');
      await state.delete(controlKey(vmId));
    });
    expect(deleted?.phase).toBe('failed-over');
    // markResumed: the watchdog counts from the resume.
    const resumed = await outcome(markResumed);
    expect(resumed?.phase).toBe('idle');
    expect(resumed?.lastHeardAt).toBeGreaterThan(60_000);
  }, 60_000);

  it('a primary stepped while its VM was removed takes up replicating again once the VM is added back', async () => {
    const stack = new StackSim();
    const vm = await stack.add(params('vm-a'));
    await stack.run(12_000);
    const commits = async () => (await vm.log('secondary')).filter((r) => r.type === 'commit').length;
    await markFailedOver(stack.state, 'vm-a', VM_REMOVED_REASON, stack.clock.now());
    // A message for the primary arriving while the control document says removed (a checkpoint's reply,
    // the removal under way): its invocation hands the engine the stop.
    const d = vm.primaryDeps;
    await primaryInvocation(d.ports, d.params, d.now, [{ type: 'tick' }], d.options ?? {});
    await stack.run(3000);
    expect((await vm.primaryDoc())?.state.stopped).toBe(true);
    stack.clock.advance(60_000);
    const before = await commits();
    await markResumed(stack.state, 'vm-a', stack.clock.now());
    await stack.run(30_000);
    // The stop lifted: it checkpoints again (an outside review: it never sent again, and was failed over).
    expect((await vm.primaryDoc())?.state.stopped).toBeUndefined();
    expect(await commits()).toBeGreaterThan(before);
    expect((await vm.secondaryDoc())?.state.phase).not.toBe('failed-over');
  }, 60_000);
});
