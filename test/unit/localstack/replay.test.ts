// The conformance driver on in-memory ports: the embedded runtime's onStep schedule, its replay on the cloud
// runtime, the comparison, and that the comparison catches dropped and reordered messages. The same driver
// runs over real S3 and SQS in test/integration/conformance.test.ts.
import { describe, expect, it } from 'vitest';
import type { ColoMessage } from '../../../src/engine/protocol/messages.ts';
import { MemoryChannel, MemoryDeltaStore, MemoryStateStore } from '../../../src/runtime/cloud/index.ts';
import { runEmbedded } from '../../../src/runtime/embedded/run.ts';
import { compareRuns, memoryInbox, tamperedChannel } from '../../../src/runtime/localstack/compare.ts';
import { conformanceScenario } from '../../../src/runtime/localstack/conformance.ts';
import {
  type ReplayOptions,
  type ReplayPorts,
  replaySchedule,
} from '../../../src/runtime/localstack/replay.ts';
import {
  deliveredKeys,
  type RecordedRun,
  recordEmbedded,
  scheduledStep,
  sentKeys,
} from '../../../src/runtime/localstack/schedule.ts';

const scenario = conformanceScenario('conf-unit');
const recorded: RecordedRun = recordEmbedded(scenario);

function memoryPorts(
  tamper?: (from: 'primary' | 'secondary', batch: readonly ColoMessage[]) => readonly ColoMessage[],
): ReplayPorts {
  const p2s = new MemoryChannel();
  const s2p = new MemoryChannel();
  const wrap = (c: MemoryChannel, from: 'primary' | 'secondary') =>
    tamper ? tamperedChannel(c, (b) => tamper(from, b)) : c;
  return {
    state: new MemoryStateStore(),
    deltas: new MemoryDeltaStore(),
    p2s: { send: wrap(p2s, 'primary'), inbox: memoryInbox(p2s) },
    s2p: { send: wrap(s2p, 'secondary'), inbox: memoryInbox(s2p) },
  };
}

function replay(ports = memoryPorts(), options: ReplayOptions = {}) {
  return replaySchedule(recorded.steps, scenario.params, ports, { drainWaitMs: 0, ...options });
}

describe('embedded onStep schedule', () => {
  it('sees every engine step, in order, and does not change the run', () => {
    let observed = 0;
    const seen: number[] = [];
    const plain = runEmbedded(scenario);
    const hooked = runEmbedded({
      ...scenario,
      onStep: (at) => seen.push(at),
      observe: () => observed++,
    });
    expect(seen.length).toBe(observed);
    expect(seen.length).toBe(recorded.steps.length);
    expect([...seen].sort((a, b) => a - b)).toEqual(seen);
    expect(hooked.final).toEqual(plain.final);
    expect(sentKeys(hooked)).toEqual(sentKeys(plain));
  });

  it('records every delivery, and each direction is delivered in send order', () => {
    const delivered = deliveredKeys(recorded.steps);
    const sent = sentKeys(recorded.result);
    for (const from of ['primary', 'secondary'] as const) {
      const d = delivered.filter((k) => k.from === from);
      expect(d).toEqual(sent.filter((k) => k.from === from).slice(0, d.length));
    }
  });

  it('the scenario is non-trivial and timing-sensitive', () => {
    const { checkpoints, rounds, pendingChecks } = recorded.result;
    expect(checkpoints.length).toBeGreaterThanOrEqual(3);
    expect(rounds.filter((r) => r.ok).length).toBeGreaterThanOrEqual(1);
    // Checkpoints that started when a round's send completed, and pending checks that found one in flight.
    expect(checkpoints.filter((c) => rounds.some((r) => r.endedAt === c.requestedAt)).length).toBeGreaterThan(
      0,
    );
    expect(pendingChecks.filter((p) => p.decision === 'busy').length).toBeGreaterThan(0);
    expect(recorded.steps.filter((s) => s.input === 'send-complete').length).toBeGreaterThan(0);
  });

  it('refuses inputs it cannot replay', () => {
    expect(() => scheduledStep(5, 'secondary', { type: 'progress' })).toThrow(/progress/);
    expect(() => scheduledStep(5, 'secondary', { type: 'message', message: 'junk' })).toThrow(/malformed/);
  });
});

describe('replay on the cloud runtime (in-memory ports)', () => {
  it('conforms: same messages sent and delivered, same records, same digests', async () => {
    const r = await replay();
    expect(compareRuns(recorded, r)).toEqual([]);
    expect(r.steps).toBe(recorded.steps.length);
    expect(r.sent).toEqual(sentKeys(recorded.result));
    expect(r.final).toEqual(recorded.result.final);
    expect(r.checkpoints.map((c) => c.digest)).toEqual(recorded.result.checkpoints.map((c) => c.digest));
  });

  it('parts from the embedded run when the runtime completes sends itself (why completions are scheduled)', async () => {
    const r = await replay(memoryPorts(), { runtimeCompletions: true });
    // Rounds end when they are sent, not when the link is done; latched checkpoints start too early.
    const problems = compareRuns(recorded, r).join('\n');
    expect(problems).toMatch(/round 0: endedAt/);
    expect(problems).toMatch(/checkpoint 0: requestedAt/);
  });

  it('catches a dropped message', async () => {
    let dropped = false;
    const r = await replay(
      memoryPorts((from, batch) => {
        if (from !== 'primary' || dropped) return batch;
        const i = batch.findIndex((m) => m.type === 'vmstate-size' && m.epoch === 2);
        if (i < 0) return batch;
        dropped = true;
        return batch.filter((_, j) => j !== i);
      }),
    );
    expect(dropped).toBe(true);
    const problems = compareRuns(recorded, r);
    expect(problems.join('\n')).toMatch(/expected P→S vmstate-size e2/);
    expect(problems.join('\n')).toMatch(/final committedEpoch/);
  });

  it('catches reordered messages', async () => {
    let swapped = false;
    const r = await replay(
      memoryPorts((from, batch) => {
        if (from !== 'primary' || swapped || batch.length < 2) return batch;
        swapped = true;
        return [batch[1] as ColoMessage, batch[0] as ColoMessage, ...batch.slice(2)];
      }),
    );
    expect(swapped).toBe(true);
    expect(r.divergence).toMatch(/expected P→S/);
    expect(compareRuns(recorded, r).length).toBeGreaterThan(0);
  });

  it('catches a channel that lost a message the schedule never asked for (delivered + left over vs sent)', async () => {
    const r = await replay();
    // The last P→S message went missing after its delivery step: only the channel check can see it.
    const last = r.delivered.map((k) => k.from).lastIndexOf('primary');
    const tampered = { ...r, delivered: r.delivered.filter((_, i) => i !== last) };
    const problems = compareRuns(recorded, tampered).join('\n');
    expect(problems).toMatch(/channel P→S \(delivered \+ left over vs sent\)/);
    expect(r.leftover).toEqual([]);
  });
});
