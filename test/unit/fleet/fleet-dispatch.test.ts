import type { SQSBatchResponse, SQSEvent } from 'aws-lambda';
import { describe, expect, test } from 'vitest';
import type { RefusedRecords, VmHandler } from '../../../lambda/handlers/common/fleet-dispatch.ts';
import {
  createFleetHandler,
  vmOfChannelRecord,
  vmOfTickRecord,
} from '../../../lambda/handlers/common/fleet-dispatch.ts';
import { createFleetEntry, refusalPolicy } from '../../../lambda/handlers/common/fleet-entry.ts';
import { VmDirectory } from '../../../lambda/handlers/common/vm-directory.ts';
import type { ColoMessage } from '../../../src/engine/protocol/messages.ts';
import { validateVmConfig } from '../../../src/parameters/vm-config.ts';
import { authenticateBodies, Keyring, sealingSerializer } from '../../../src/runtime/cloud/index.ts';
import { keySetOf } from '../../../src/wire/replication-key.ts';
import { recordingObservability } from '../handlers/sim.ts';
import { MemoryVmRegistry } from './memory-registry.ts';

function record(id: string, body: string, group?: string) {
  return {
    messageId: id,
    body,
    eventSource: 'aws:sqs',
    attributes: group === undefined ? {} : { MessageGroupId: group },
  };
}

function sqs(...records: ReturnType<typeof record>[]): SQSEvent {
  return { Records: records } as unknown as SQSEvent;
}

async function fleet(vms: string[]) {
  const registry = new MemoryVmRegistry();
  for (const vmId of vms) await registry.put(validateVmConfig({ vmId }));
  const seen: { vmId: string; ids: string[] }[] = [];
  const failFor = new Set<string>();
  const refused: RefusedRecords[] = [];
  let now = 0;
  const directory = new VmDirectory<VmHandler>({
    source: registry,
    now: () => now,
    build: (config) => async (event) => {
      const ids = (event as SQSEvent).Records.map((r) => r.messageId);
      seen.push({ vmId: config.vmId, ids });
      if (failFor.has(config.vmId)) throw new Error('boom');
      return { batchItemFailures: [] } satisfies SQSBatchResponse;
    },
  });
  const obs = recordingObservability();
  const handler = createFleetHandler({
    directory,
    vmOfRecord: vmOfChannelRecord,
    refuse: async (r) => {
      refused.push(r);
      return 'ack';
    },
    obs,
  });
  return { registry, seen, failFor, refused, handler, obs, advance: (ms: number) => (now += ms) };
}

describe('fleet dispatch', () => {
  test("each VM's records go, in order, to that VM's handler only", async () => {
    const f = await fleet(['vm-a', 'vm-b']);
    const r = await f.handler(
      sqs(record('1', 'x', 'vm-a'), record('2', 'y', 'vm-b'), record('3', 'z', 'vm-a')),
    );
    expect(r).toEqual({ batchItemFailures: [] });
    expect(f.seen.find((s) => s.vmId === 'vm-a')?.ids).toEqual(['1', '3']);
    expect(f.seen.find((s) => s.vmId === 'vm-b')?.ids).toEqual(['2']);
  });

  test("one batch's VMs run side by side (one slow VM does not hold the others), and the batch's composition is counted", async () => {
    const registry = new MemoryVmRegistry();
    for (const vmId of ['vm-a', 'vm-b', 'vm-c']) await registry.put(validateVmConfig({ vmId }));
    const events: string[] = [];
    let releaseA: () => void = () => {};
    const aGate = new Promise<void>((r) => (releaseA = r));
    const directory = new VmDirectory<VmHandler>({
      source: registry,
      build: (config) => async () => {
        events.push(`start ${config.vmId}`);
        // vm-a finishes only after the others have finished: a serial loop would never get there.
        if (config.vmId === 'vm-a') await aGate;
        events.push(`end ${config.vmId}`);
        if (events.filter((e) => e.startsWith('end')).length === 2) releaseA();
        return { batchItemFailures: [] } satisfies SQSBatchResponse;
      },
    });
    const obs = recordingObservability();
    const handler = createFleetHandler({
      directory,
      vmOfRecord: vmOfChannelRecord,
      refuse: async () => 'ack',
      obs,
    });
    const r = await handler(
      sqs(
        record('1', 'x', 'vm-a'),
        record('2', 'y', 'vm-b'),
        record('3', 'z', 'vm-c'),
        record('4', 'w', 'vm-a'),
      ),
    );
    expect(r).toEqual({ batchItemFailures: [] });
    // vm-a started first and ended last, after the other two: they did not wait for it.
    expect(events[0]).toBe('start vm-a');
    expect(events.at(-1)).toBe('end vm-a');
    expect(events.filter((e) => e.startsWith('start')).sort()).toEqual([
      'start vm-a',
      'start vm-b',
      'start vm-c',
    ]);
    expect(obs.metricValues.get('BatchRecords')).toEqual([4]);
    expect(obs.metricValues.get('BatchVms')).toEqual([3]);
  });

  test('records of an unregistered VM are refused with the reason and never reach a handler', async () => {
    const f = await fleet(['vm-a']);
    const r = await f.handler(sqs(record('1', 'x', 'vm-a'), record('2', 'y', 'vm-z'), record('3', 'w')));
    expect(r).toEqual({ batchItemFailures: [] });
    expect(f.seen.map((s) => s.vmId)).toEqual(['vm-a']);
    expect(f.refused.map((x) => [x.vmId, x.reason, x.records.map((rr) => rr.messageId)])).toEqual([
      [undefined, 'no-vm', ['3']],
      ['vm-z', 'unregistered-vm', ['2']],
    ]);
    expect(f.refused[1]?.detail).toMatch(/VM vm-z is not registered on this stack/);
  });

  test('a malformed stored config refuses its VM as invalid-vm-config', async () => {
    const f = await fleet([]);
    f.registry.docs.set('vm-m', '{"v":1,"vmId":"vm-m"}');
    await f.handler(sqs(record('1', 'x', 'vm-m')));
    expect(f.refused[0]).toMatchObject({ vmId: 'vm-m', reason: 'invalid-vm-config' });
    expect(f.seen).toEqual([]);
  });

  test("one VM's failure is not another's: only its records are delivered again", async () => {
    const f = await fleet(['vm-a', 'vm-b']);
    f.failFor.add('vm-b');
    const r = await f.handler(sqs(record('1', 'x', 'vm-a'), record('2', 'y', 'vm-b')));
    expect(r).toEqual({ batchItemFailures: [{ itemIdentifier: '2' }] });
  });

  test('an unreadable registry redelivers (nothing is refused on it)', async () => {
    const f = await fleet(['vm-a']);
    f.registry.failing = true;
    const r = await f.handler(sqs(record('1', 'x', 'vm-a')));
    expect(r).toEqual({ batchItemFailures: [{ itemIdentifier: '1' }] });
    expect(f.refused).toEqual([]);
  });

  test('configs are cached: a VM removed is refused once its entry expires; one added is served within a second', async () => {
    const f = await fleet(['vm-a']);
    await f.handler(sqs(record('1', 'x', 'vm-a')));
    await f.handler(sqs(record('2', 'x', 'vm-a')));
    expect(f.registry.reads).toBe(1);
    await f.registry.delete('vm-a');
    f.advance(10_000);
    await f.handler(sqs(record('3', 'x', 'vm-a')));
    expect(f.refused.map((r) => r.vmId)).toEqual(['vm-a']);
    await f.registry.put(validateVmConfig({ vmId: 'vm-a' }));
    f.advance(1_000);
    await f.handler(sqs(record('4', 'x', 'vm-a')));
    expect(f.seen.at(-1)).toEqual({ vmId: 'vm-a', ids: ['4'] });
  });

  test('a direct invocation goes to the VM it names; an unregistered one is an error', async () => {
    const f = await fleet(['vm-a']);
    await f.handler({ vmId: 'vm-a', source: 'colo.failover', Records: [] });
    await expect(f.handler({ source: 'colo.failover', vmId: 'vm-q' })).rejects.toThrow(/unregistered-vm/);
    await expect(f.handler({ source: 'colo.failover' })).rejects.toThrow(/names no VM/);
  });

  test('ticks are routed by their vmId; an unreadable tick is failed (to its DLQ), a gone VM’s tick dropped', async () => {
    const registry = new MemoryVmRegistry();
    await registry.put(validateVmConfig({ vmId: 'vm-a' }));
    const got: string[] = [];
    const handler = createFleetEntry(
      'checkpoint-timer',
      { kind: 'tick' },
      registry,
      (env) => async (event) => {
        got.push(`${env.VM_ID}:${(event as SQSEvent).Records.map((r) => r.messageId).join()}`);
        return { batchItemFailures: [] };
      },
      { BUCKET_NAME: 'b' },
      recordingObservability(),
    );
    const tick = (vmId: string) =>
      JSON.stringify({ v: 1, vmId, timer: 'checkpoint', generation: 1, seq: 1, dueAt: 0 });
    const r = await handler(
      sqs(record('1', tick('vm-a')), record('2', '{oops'), record('3', tick('vm-gone'))),
    );
    expect(got).toEqual(['vm-a:1']);
    expect(r).toEqual({ batchItemFailures: [{ itemIdentifier: '2' }] });
    expect(vmOfTickRecord(record('9', tick('vm-q')) as never)).toBe('vm-q');
  });
});

describe('per-VM isolation on one stack (shared replication secret)', () => {
  test("a message sealed for one VM is refused by another VM's keyring, whatever group it arrives in", async () => {
    const secret = 'one-secret-for-the-whole-stack-0123456789abcdef';
    const a = Keyring.fixed(keySetOf('vm-a', secret));
    const b = Keyring.fixed(keySetOf('vm-b', secret));
    const message = {
      v: 1,
      vmId: 'vm-a',
      epoch: 0,
      seq: 1,
      type: 'heartbeat',
      beat: 1,
      sentAt: 0,
    } as ColoMessage;
    const body = await sealingSerializer(a)(message);
    const [asA] = await authenticateBodies(a, [body]);
    const [asB] = await authenticateBodies(b, [body]);
    expect(asA?.ok).toBe(true);
    expect(asB?.ok).toBe(false);
    // A forged header naming vm-b over vm-a's seal fails too.
    const forged = body.replace('"vm-a"', '"vm-b"');
    const [forgedAsB] = await authenticateBodies(b, [forged]);
    expect(forgedAsB?.ok).toBe(false);
  });
});

describe('refused channel records', () => {
  const refused = {
    records: [record('m1', 'body-1', 'vm-z') as never],
    vmId: 'vm-z',
    reason: 'unregistered-vm',
    detail: 'VM vm-z is not registered on this stack',
  };

  test('are dead-lettered in their group with the reason, then acknowledged', async () => {
    const letters: unknown[] = [];
    const policy = refusalPolicy(
      { kind: 'channel', dlqVariable: 'P2S_DLQ_URL' },
      'secondary-apply',
      recordingObservability(),
      {},
      () => 5,
      {
        forward: async (l) => {
          letters.push(...l);
          return [];
        },
      },
      async () => false,
    );
    expect(await policy(refused)).toBe('ack');
    expect(letters).toEqual([
      {
        body: 'body-1',
        groupId: 'vm-z',
        messageId: 'm1',
        code: 'unregistered-vm',
        detail: 'VM vm-z is not registered on this stack',
        rejectedBy: 'secondary-apply',
        at: 5,
      },
    ]);
  });

  test('records of a VM removed with colo vm remove are dropped (acknowledged, counted), not dead-lettered', async () => {
    const letters: unknown[] = [];
    const obs = recordingObservability();
    const asked: string[] = [];
    const policy = refusalPolicy(
      { kind: 'channel', dlqVariable: 'P2S_DLQ_URL' },
      'secondary-apply',
      obs,
      {},
      () => 5,
      {
        forward: async (l) => {
          letters.push(...l);
          return [];
        },
      },
      async (vmId) => {
        asked.push(vmId);
        return vmId === 'vm-z';
      },
    );
    expect(await policy(refused)).toBe('ack');
    expect(letters).toEqual([]);
    expect(asked).toEqual(['vm-z']);
    // A VM that was never registered (or whose control cannot be read) is still dead-lettered.
    expect(
      await policy({ ...refused, vmId: 'vm-y', detail: 'VM vm-y is not registered on this stack' }),
    ).toBe('ack');
    expect(letters).toHaveLength(1);
    // A malformed config (an operator's slip, fixed later) keeps the record on the channel: not dead-lettered.
    expect(await policy({ ...refused, reason: 'invalid-vm-config' })).toBe('retry');
    expect(letters).toHaveLength(1);
    expect(obs.logs.filter((l) => l.level === 'error').map((l) => l.message)).toEqual([
      'VM config malformed: the records stay on the channel until it is fixed',
    ]);
  });

  test('a dead-letter queue that refuses the forward leaves the evidence in the log, and the record is still acknowledged', async () => {
    const obs = recordingObservability();
    const policy = refusalPolicy(
      { kind: 'channel', dlqVariable: 'P2S_DLQ_URL' },
      'primary',
      obs,
      {},
      () => 5,
      {
        forward: async (l) => l.map((letter) => ({ letter, error: 'AccessDenied' })),
      },
      async () => false,
    );
    expect(await policy(refused)).toBe('ack');
    expect(obs.logs.filter((l) => l.level === 'error').map((l) => l.extra.error)).toEqual(['AccessDenied']);
  });
});
