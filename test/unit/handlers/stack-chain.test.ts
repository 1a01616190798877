/**
 * The stack's chains (stack-chain.ts): claimed once per tick like a VM's chain, the successor queued before
 * the work, a failing work never ends the chain, a malformed tick or one of a VM's chain refused with a
 * clear reason, and the two chains repair each other within seconds.
 */
import { describe, expect, it } from 'vitest';
import { STACK_CHAIN_ID } from '../../../lambda/adapters/contract.ts';
import { armStackChains, consumeStackTicks } from '../../../lambda/handlers/common/stack-chain.ts';
import { createStackTickHandler } from '../../../lambda/handlers/common/stack-entry.ts';
import { readChainProgress } from '../../../lambda/handlers/common/tick-chain.ts';
import { MemoryStateStore } from '../../../src/runtime/cloud/index.ts';
import { MemoryTickQueue, recordingObservability, sqsEvent, sqsRecord } from './sim.ts';

function stack() {
  let now = 1_767_225_600_000;
  const state = new MemoryStateStore();
  const ticks = { pulse: new MemoryTickQueue(), monitor: new MemoryTickQueue() };
  const obs = recordingObservability();
  return {
    state,
    ticks,
    obs,
    deps: { state, ticks, now: () => now, obs },
    advance: (ms: number) => {
      now += ms;
    },
    now: () => now,
  };
}

describe('the stack chains', () => {
  it('claim each tick once, queue the successor before the work, and survive a failing work', async () => {
    const s = stack();
    expect(await armStackChains(s.state, s.ticks, s.now())).toMatchObject({
      pulse: { verdict: 'armed', generation: 1 },
      monitor: { verdict: 'armed', generation: 1 },
    });
    let runs = 0;
    const first = s.ticks.pulse.takeDue(s.now());
    expect(first).toHaveLength(1);
    const event = sqsEvent(first.map((m) => sqsRecord(m.body, { messageId: m.id })));
    expect(
      await consumeStackTicks(s.deps, 'pulse', event, async () => {
        runs++;
        throw new Error('S3 down');
      }),
    ).toEqual({ batchItemFailures: [] });
    expect(runs).toBe(1);
    // The successor is on its way although the work failed.
    s.advance(1000);
    const second = s.ticks.pulse.takeDue(s.now());
    expect(second.map((m) => JSON.parse(m.body).seq)).toEqual([2]);
    // A duplicate of the first tick (SQS delivers a copy under another message id) is dropped.
    const copy = sqsEvent(first.map((m) => sqsRecord(m.body, { messageId: `${m.id}-copy` })));
    expect(
      await consumeStackTicks(s.deps, 'pulse', copy, async () => {
        runs++;
      }),
    ).toEqual({ batchItemFailures: [] });
    expect(runs).toBe(1);
    expect((await readChainProgress(s.state, STACK_CHAIN_ID, 'pulse'))?.seq).toBe(1);
  });

  it("a malformed tick fails with its reason; a VM's own tick is dropped; neither runs the work", async () => {
    const s = stack();
    await armStackChains(s.state, s.ticks, s.now());
    let runs = 0;
    const h = createStackTickHandler(
      'pulse',
      s.deps,
      async () => {
        runs++;
      },
      s.obs,
    );
    const bad = sqsRecord('{"v":1,"vmId":"_fleet","timer":"checkpoint","generation":1,"seq":1,"dueAt":0}', {
      messageId: 'bad',
    });
    const garbage = sqsRecord('not json', { messageId: 'garbage' });
    const vmTick = sqsRecord(
      JSON.stringify({ v: 1, vmId: 'vm-0', timer: 'pending-check', generation: 1, seq: 1, dueAt: 0 }),
      { messageId: 'vm' },
    );
    const r = await h(sqsEvent([bad, garbage, vmTick]));
    expect(r.batchItemFailures.map((f) => f.itemIdentifier).sort()).toEqual(['bad', 'garbage']);
    expect(runs).toBe(0);
    expect(s.obs.metricValues.get('TicksDroppedVmChain')).toEqual([1]);
    // Nothing was claimed.
    expect((await readChainProgress(s.state, STACK_CHAIN_ID, 'pulse'))?.seq).toBe(0);
  });

  it('the monitor re-arms a lost pulse within seconds', async () => {
    const s = stack();
    await armStackChains(s.state, s.ticks, s.now());
    const deliver = async (timer: 'pulse' | 'monitor', drop = false) => {
      const due = s.ticks[timer].takeDue(s.now());
      if (due.length === 0 || drop) return;
      await consumeStackTicks(
        s.deps,
        timer,
        sqsEvent(due.map((m) => sqsRecord(m.body, { messageId: m.id }))),
        async () => {},
      );
    };
    // Both run for a few seconds; then every pulse tick is lost (its successor never comes).
    for (let t = 0; t < 4000; t += 1000) {
      await deliver('pulse');
      await deliver('monitor');
      s.advance(1000);
    }
    const lost = await readChainProgress(s.state, STACK_CHAIN_ID, 'pulse');
    expect(lost?.seq).toBeGreaterThanOrEqual(3);
    await deliver('pulse', true);
    let repairedAfter = Number.NaN;
    for (let t = 1000; t <= 12_000 && Number.isNaN(repairedAfter); t += 1000) {
      s.advance(1000);
      await deliver('monitor');
      const p = await readChainProgress(s.state, STACK_CHAIN_ID, 'pulse');
      if ((p?.generation ?? 0) > (lost?.generation ?? 0)) repairedAfter = t;
    }
    // Stale after 3 × 1 s + 2 s without a claim; the monitor checks at each of its 2 s ticks.
    expect(repairedAfter).toBeLessThanOrEqual(8000);
    expect(s.obs.metricValues.get('ChainsRepaired')?.length ?? 0).toBe(1);
    // The new generation's first tick is on the pulse's queue.
    s.advance(1000);
    expect(s.ticks.pulse.takeDue(s.now()).map((m) => JSON.parse(m.body))).toContainEqual(
      expect.objectContaining({ generation: (lost?.generation ?? 0) + 1, seq: 1 }),
    );
  });
});
