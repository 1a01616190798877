// The functions' virtual-clock event (lambda/handlers/test/virtual-clock.ts): off unless enabled, strict, and
// — driven through the real handler entry shape with JSON in and out — a full conformance replay on in-memory
// ports. The same path inside LocalStack's Lambda: test/integration/conformance-stack.test.ts.
import { describe, expect, it } from 'vitest';
import type { NodeHandlerDeps } from '../../../lambda/handlers/common/deps.ts';
import { createPrimaryHandler } from '../../../lambda/handlers/primary.ts';
import { createSecondaryApplyHandler } from '../../../lambda/handlers/secondary-apply.ts';
import {
  VIRTUAL_CLOCK_SOURCE,
  VirtualClockRefusedError,
  type VirtualClockResponse,
  virtualClockStep,
  withVirtualClock,
} from '../../../lambda/handlers/test/virtual-clock.ts';
import { systemNow } from '../../../src/runtime/cloud/clock.ts';
import {
  Keyring,
  MemoryChannel,
  MemoryDeltaStore,
  MemoryStateStore,
  SealedDeltaStore,
  sealingSerializer,
} from '../../../src/runtime/cloud/index.ts';
import { compareRuns, memoryInbox } from '../../../src/runtime/localstack/compare.ts';
import { conformanceScenario } from '../../../src/runtime/localstack/conformance.ts';
import { replaySchedule, type Stepper } from '../../../src/runtime/localstack/replay.ts';
import { recordEmbedded } from '../../../src/runtime/localstack/schedule.ts';
import { deriveVmKey, seedKeySet } from '../../../src/wire/replication-key.ts';
import { sealMessage } from '../../../src/wire/sealed-message.ts';
import { recordingObservability } from '../handlers/sim.ts';

const ALLOW = { COLO_VIRTUAL_CLOCK: 'allow' };
const scenario = conformanceScenario('conf-vc');

function setup() {
  const state = new MemoryStateStore();
  const keys = Keyring.fixed(seedKeySet(scenario.params.seed, scenario.params.vmId));
  const deltas = new SealedDeltaStore(new MemoryDeltaStore(), keys);
  const p2s = new MemoryChannel({ serialize: sealingSerializer(keys) });
  const s2p = new MemoryChannel({ serialize: sealingSerializer(keys) });
  const common = { params: scenario.params, now: systemNow, rejected: 'ack' as const, keys };
  const primary: NodeHandlerDeps = {
    ...common,
    ports: { state, deltas, channel: p2s },
    obs: recordingObservability(),
  };
  const secondary: NodeHandlerDeps = {
    ...common,
    ports: { state, deltas, channel: s2p },
    obs: recordingObservability(),
  };
  return { state, deltas, p2s, s2p, primary, secondary };
}

const event = (now: number, input: unknown, vmId = scenario.params.vmId) => ({
  source: VIRTUAL_CLOCK_SOURCE,
  vmId,
  now,
  input,
});

describe('virtual-clock event', () => {
  it('is refused unless the environment allows it', async () => {
    const { secondary } = setup();
    await expect(virtualClockStep(secondary, 'secondary', event(0, { type: 'start' }), {})).rejects.toThrow(
      /off for this function .*COLO_VIRTUAL_CLOCK=allow/,
    );
    await expect(
      virtualClockStep(secondary, 'secondary', event(0, { type: 'start' }), { COLO_VIRTUAL_CLOCK: 'yes' }),
    ).rejects.toBeInstanceOf(VirtualClockRefusedError);
  });

  it('is strict: shape, VM id, inputs per node', async () => {
    const { primary, secondary } = setup();
    const refused = (deps: NodeHandlerDeps, node: 'primary' | 'secondary', e: unknown, why: RegExp) =>
      expect(virtualClockStep(deps, node, e, ALLOW)).rejects.toThrow(why);
    await refused(secondary, 'secondary', { ...event(0, { type: 'start' }), extra: 1 }, /malformed/);
    await refused(secondary, 'secondary', event(-1, { type: 'start' }), /malformed/);
    await refused(secondary, 'secondary', event(0, { type: 'warp' }), /malformed/);
    await refused(secondary, 'secondary', event(0, { type: 'start' }, 'vm-other'), /for VM vm-other/);
    await refused(primary, 'primary', event(0, { type: 'start' }), /primary takes no start input/);
    await refused(secondary, 'secondary', event(0, { type: 'send-complete', sendId: 1 }), /no send-complete/);
  });

  it('runs one step at the given time and answers with the clock and what was sent', async () => {
    const { secondary, s2p } = setup();
    const r = await virtualClockStep(secondary, 'secondary', event(12.5, { type: 'start' }), ALLOW);
    expect(r).toEqual({
      vmId: scenario.params.vmId,
      node: 'secondary',
      clock: 12.5,
      outcomes: [{ status: 'applied' }],
      sent: [{ type: 'checkpoint-ready', epoch: 1, seq: 0 }],
    });
    expect(s2p.history.map((m) => m.type)).toEqual(['checkpoint-ready']);
  });

  it('authenticates a message body first: one sealed without the key is refused and changes nothing', async () => {
    const { primary, state } = setup();
    const ready = {
      v: 1,
      vmId: scenario.params.vmId,
      epoch: 1,
      seq: 0,
      type: 'checkpoint-ready',
    } as const;
    const forged = sealMessage(
      deriveVmKey('a secret that is not the deployment one!', scenario.params.vmId),
      ready,
    );
    const r = await virtualClockStep(primary, 'primary', event(5, { type: 'message', body: forged }), ALLOW);
    expect(r.outcomes).toEqual([
      { status: 'rejected', code: 'unauthenticated', detail: expect.stringMatching(/unknown-key/) },
    ]);
    expect(r.sent).toEqual([]);
    expect(state.keys()).toEqual([]);
    const sealed = sealMessage((await primary.keys.keys()).signing, ready);
    const ok = await virtualClockStep(primary, 'primary', event(6, { type: 'message', body: sealed }), ALLOW);
    expect(ok.outcomes).toEqual([{ status: 'applied' }]);
  });

  it('leaves every other event to the wrapped handler', async () => {
    const { primary } = setup();
    const wrapped = withVirtualClock(async () => 'inner', primary, 'primary', ALLOW);
    expect(await wrapped({ Records: [] })).toBe('inner');
    expect(await wrapped({ source: 'colo.failover' })).toBe('inner');
  });

  it('a whole conformance replay through the handlers (JSON in, JSON out) conforms', async () => {
    const s = setup();
    const handlers = {
      primary: withVirtualClock(createPrimaryHandler(s.primary), s.primary, 'primary', ALLOW),
      secondary: withVirtualClock(createSecondaryApplyHandler(s.secondary), s.secondary, 'secondary', ALLOW),
    };
    let invocations = 0;
    const stepper: Stepper = async (node, now, input) => {
      invocations++;
      const payload = JSON.parse(JSON.stringify(event(now, input)));
      const answer = JSON.parse(JSON.stringify(await handlers[node](payload))) as VirtualClockResponse;
      return {
        clock: answer.clock,
        outcomes: answer.outcomes.map((o, index) => ({ index, ...o })),
        sent: answer.sent.map((m) => ({ from: node, ...m })),
      };
    };
    const recorded = recordEmbedded(scenario);
    const result = await replaySchedule(
      recorded.steps,
      scenario.params,
      {
        state: s.state,
        deltas: s.deltas,
        p2s: { send: s.p2s, inbox: memoryInbox(s.p2s) },
        s2p: { send: s.s2p, inbox: memoryInbox(s.s2p) },
      },
      { stepper, drainWaitMs: 0 },
    );
    expect(compareRuns(recorded, result)).toEqual([]);
    expect(invocations).toBe(recorded.steps.length);
  });
});
