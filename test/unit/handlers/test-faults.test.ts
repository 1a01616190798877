// The default-off fault hook (lambda/handlers/common/test-hooks.ts) on in-memory ports and a virtual clock:
// switched on only by COLO_TEST_FAULTS=allow, armed through a JSON document in the state store, counted
// faults taken exactly by compare-and-swap, and each fault doing what the integration tests rely on.
import { describe, expect, test } from 'vitest';
import { controlStateKey } from '../../../lambda/adapters/contract.ts';
import { primaryDepsFromEnv, secondaryDepsFromEnv } from '../../../lambda/handlers/common/deps.ts';
import { hungPut } from '../../../lambda/handlers/common/hung-call.ts';
import {
  type ArmedFaults,
  type ArmedFaultsInput,
  type CapturedRecords,
  deltaKindOf,
  encodeArmedFaults,
  MAX_FREEZE_MS,
  parseArmedFaults,
  TestFaultError,
  TestFaults,
  testCapturedKey,
  testFaultsFromEnv,
  testFaultsKey,
} from '../../../lambda/handlers/common/test-hooks.ts';
import {
  MemoryChannel,
  MemoryDeltaStore,
  MemoryStateStore,
  VirtualClock,
} from '../../../src/runtime/cloud/index.ts';
import { HandlerSim, handlerParams, recordingObservability, sqsEvent, sqsRecord } from './sim.ts';
import { STACK_ENV } from './stack-env.ts';

const VM = 'vm-0';

/** Writes the armed-faults document (replacing whatever is there). */
async function arm(state: MemoryStateStore, faults: ArmedFaultsInput, vmId = VM): Promise<void> {
  const key = testFaultsKey(vmId);
  const d = await state.load(key);
  await state.save(key, encodeArmedFaults(faults), d?.etag);
}

async function armed(state: MemoryStateStore, vmId = VM): Promise<ArmedFaults> {
  const d = await state.load(testFaultsKey(vmId));
  if (!d) throw new Error('nothing armed');
  return parseArmedFaults(d.value, 'test');
}

function hookOn(
  state: MemoryStateStore,
  clock: VirtualClock,
  over: Partial<ConstructorParameters<typeof TestFaults>[0]> = {},
) {
  const obs = recordingObservability();
  const faults = new TestFaults({
    node: 'secondary',
    service: 'secondary-apply',
    vmId: VM,
    state,
    now: clock.now,
    sleep: clock.sleep,
    logger: obs.logger,
    ...over,
  });
  return { faults, obs };
}

async function started(sim: HandlerSim): Promise<void> {
  await sim.tickArm({ source: 'colo.watchdog', vmId: VM });
  await sim.run(100);
  expect((await sim.secondaryDoc())?.state.phase).toBe('idle');
  expect((await sim.primaryDoc())?.state.phase).toBe('running');
}

async function commitsMatchCheckpoints(sim: HandlerSim): Promise<number> {
  const checkpoints = (await sim.log('primary')).flatMap((r) => (r.type === 'checkpoint' ? [r.data] : []));
  const commits = (await sim.log('secondary')).flatMap((r) => (r.type === 'commit' ? [r.data] : []));
  const byEpoch = new Map(checkpoints.map((c) => [c.epoch, c.digest]));
  for (const c of commits) expect(byEpoch.get(c.epoch), `epoch ${c.epoch}`).toBe(c.digest);
  // Each epoch committed once.
  expect(new Set(commits.map((c) => c.epoch)).size).toBe(commits.length);
  return commits.length;
}

async function owner(sim: HandlerSim): Promise<string | null> {
  const d = await sim.state.load(controlStateKey(VM));
  return d ? (JSON.parse(Buffer.from(d.value).toString('utf8')).owner ?? null) : null;
}

describe('fault hook: switched on only by COLO_TEST_FAULTS=allow', () => {
  test('off when unset or empty, on with allow, an error otherwise', () => {
    expect(testFaultsFromEnv({})).toBe(false);
    expect(testFaultsFromEnv({ COLO_TEST_FAULTS: ' ' })).toBe(false);
    expect(testFaultsFromEnv({ COLO_TEST_FAULTS: 'allow' })).toBe(true);
    expect(() => testFaultsFromEnv({ COLO_TEST_FAULTS: 'yes' })).toThrow(/COLO_TEST_FAULTS must be allow/);
  });

  test('node deps from the stack environment have no hook; with allow, the hook and wrapped ports', () => {
    const plain = primaryDepsFromEnv('primary', STACK_ENV);
    expect(plain.faults).toBeUndefined();
    const hooked = primaryDepsFromEnv('primary', { ...STACK_ENV, COLO_TEST_FAULTS: 'allow' });
    expect(hooked.faults).toBeInstanceOf(TestFaults);
    expect(hooked.ports.deltas).not.toBe(plain.ports.deltas);
    expect(
      secondaryDepsFromEnv('secondary-apply', { ...STACK_ENV, COLO_TEST_FAULTS: 'allow' }).faults,
    ).toBeInstanceOf(TestFaults);
    expect(() => secondaryDepsFromEnv('x', { ...STACK_ENV, COLO_TEST_FAULTS: 'on' })).toThrow(
      /COLO_TEST_FAULTS/,
    );
  });

  test('delta kinds are read from the key suffix', () => {
    expect(deltaKindOf('vm-0/0000000003/000000000012-background-ram')).toBe('background-ram');
    expect(deltaKindOf('vm-0/3/12-checkpoint-ram')).toBe('checkpoint-ram');
    expect(deltaKindOf('vm-0/3/13-device-state')).toBe('device-state');
    expect(deltaKindOf('vm-0/3/13-other')).toBeUndefined();
  });
});

describe('fault hook: the armed-faults document', () => {
  test('nothing armed: no fault; bad JSON or an unknown field: a clear error in the log, no fault', async () => {
    const state = new MemoryStateStore();
    const clock = new VirtualClock(1000);
    const deltas = new MemoryDeltaStore();
    const { faults, obs } = hookOn(state, clock);
    const ports = faults.wrap({ state, deltas, channel: new MemoryChannel() });
    await faults.begin();
    await ports.deltas.put('vm-0/1/1-background-ram', new Uint8Array([1]));
    expect(obs.logs.filter((l) => l.level === 'error')).toEqual([]);

    await state.save(testFaultsKey(VM), Buffer.from('{"failPuts": {"background-ram": 2'), undefined);
    await faults.begin();
    expect(faults.armed).toBeUndefined();
    await ports.deltas.put('vm-0/1/2-background-ram', new Uint8Array([2]));
    expect(obs.logs.at(-1)).toMatchObject({
      level: 'error',
      message: 'test hook: armed faults ignored',
      extra: { key: 'vm-0/test-faults.json', error: expect.stringMatching(/is not JSON/) },
    });

    const d = await state.load(testFaultsKey(VM));
    await state.save(
      testFaultsKey(VM),
      Buffer.from(JSON.stringify({ failPuts: { 'background-ram': 2 }, explode: true })),
      d?.etag,
    );
    await faults.begin();
    await ports.deltas.put('vm-0/1/3-background-ram', new Uint8Array([3]));
    expect(String(obs.logs.at(-1)?.extra.error)).toMatch(/not a valid armed-faults document.*explode/);
    expect(() => parseArmedFaults(Buffer.from('{"crash":{"point":"nowhere","count":1}}'), 'k')).toThrow(
      /crash\.point/,
    );
    expect(deltas.keys()).toHaveLength(3);
  });

  test('"the next N" is exact across concurrent invocations (compare-and-swap on the document)', async () => {
    const state = new MemoryStateStore();
    const clock = new VirtualClock(1000);
    const deltas = new MemoryDeltaStore();
    await arm(state, { failPuts: { 'background-ram': 3, 'checkpoint-ram': 1 } });
    const invocations = Array.from({ length: 12 }, () => hookOn(state, clock).faults);
    await Promise.all(invocations.map((f) => f.begin()));
    const outcomes = await Promise.allSettled(
      invocations.map((f, i) =>
        f
          .wrap({ state, deltas, channel: new MemoryChannel() })
          .deltas.put(`vm-0/1/${i}-background-ram`, new Uint8Array([i])),
      ),
    );
    const failed = outcomes.filter((o) => o.status === 'rejected');
    expect(failed).toHaveLength(3);
    for (const f of failed) expect((f as PromiseRejectedResult).reason).toBeInstanceOf(TestFaultError);
    const after = await armed(state);
    expect(after.failPuts).toEqual({ 'background-ram': 0, 'checkpoint-ram': 1 });
    expect(after.fired.map((x) => x.fault)).toEqual([
      'put:background-ram',
      'put:background-ram',
      'put:background-ram',
    ]);
    expect(state.stats.conflicts).toBeGreaterThan(0);
  });

  test('failObjects: the next object of a kind cannot be stored by anyone; later objects can', async () => {
    const state = new MemoryStateStore();
    const clock = new VirtualClock(1000);
    const deltas = new MemoryDeltaStore();
    const a = hookOn(state, clock, { node: 'primary', service: 'pending-check-timer' }).faults;
    const b = hookOn(state, clock, { node: 'primary', service: 'primary' }).faults;
    await a.begin();
    await b.begin();
    // Armed after both invocations began: their puts still see it.
    await arm(state, { failObjects: { 'background-ram': 1 } });
    const pa = a.wrap({ state, deltas, channel: new MemoryChannel() });
    const pb = b.wrap({ state, deltas, channel: new MemoryChannel() });
    const key = 'vm-0/2/9-background-ram';
    for (let i = 0; i < 3; i++) {
      await expect(pa.deltas.put(key, new Uint8Array([1]))).rejects.toThrow(/cannot be stored/);
      await expect(pb.deltas.put(key, new Uint8Array([1]))).rejects.toThrow(/cannot be stored/);
    }
    await pb.deltas.put('vm-0/2/11-background-ram', new Uint8Array([2]));
    await pa.deltas.put('vm-0/2/10-checkpoint-ram', new Uint8Array([3]));
    expect(deltas.keys()).toEqual(['vm-0/2/10-checkpoint-ram', 'vm-0/2/11-background-ram']);
    const doc = await armed(state);
    expect(doc.failingKeys).toEqual([key]);
    expect(doc.failObjects?.['background-ram']).toBe(0);
    expect(doc.fired).toHaveLength(6);
  });

  test('hangPuts: the next put of a kind is made for real to a silent server, times out and fails; later puts store', async () => {
    const state = new MemoryStateStore();
    const clock = new VirtualClock(1000);
    const deltas = new MemoryDeltaStore();
    // Short timeouts keep the test quick; the deployed hook uses the functions' own (CALL_TIMEOUTS).
    const short = { connectionTimeoutMs: 1000, socketIdleTimeoutMs: 200, maxAttempts: 2 };
    const { faults, obs } = hookOn(state, clock, {
      node: 'primary',
      service: 'pending-check-timer',
      hungPut: (key, bytes) => hungPut(key, bytes, short),
    });
    await arm(state, { hangPuts: { 'background-ram': 1 } });
    await faults.begin();
    const ports = faults.wrap({ state, deltas, channel: new MemoryChannel() });
    const key = 'vm-0/2/9-background-ram';
    const error = await ports.deltas.put(key, new Uint8Array(70_000).fill(7)).then(
      () => undefined,
      (e: unknown) => e,
    );
    expect((error as Error).name).toBe('TimeoutError');
    expect(deltas.keys()).toEqual([]);
    // The count is spent: the same put again stores.
    await ports.deltas.put(key, new Uint8Array([1]));
    expect(deltas.keys()).toEqual([key]);
    const doc = await armed(state);
    expect(doc.hangPuts?.['background-ram']).toBe(0);
    expect(doc.fired.map((f) => f.fault)).toEqual(['hang-put:background-ram', 'hung-put:background-ram']);
    expect(doc.fired[1]?.detail).toMatch(/: TimeoutError after \d+ ms, 2 attempt\(s\)$/);
    expect(obs.logs.some((l) => /hung delta put failed/.test(l.message))).toBe(true);
  }, 20_000);

  test('hangPuts refuses what is not a count, like every fault', () => {
    expect(() => encodeArmedFaults({ hangPuts: { 'background-ram': -1 } })).toThrow();
    expect(() => encodeArmedFaults({ hangPuts: { 'no-such-kind': 1 } } as never)).toThrow();
  });

  test('get faults by kind or any; a hard crash calls exit(1)', async () => {
    const state = new MemoryStateStore();
    const clock = new VirtualClock(1000);
    const deltas = new MemoryDeltaStore();
    await deltas.put('vm-0/1/5-device-state', new Uint8Array([5]));
    const exits: number[] = [];
    const { faults } = hookOn(state, clock, { exit: (c) => exits.push(c) });
    const ports = faults.wrap({ state, deltas, channel: new MemoryChannel() });
    await arm(state, {
      failGets: { any: 1 },
      crash: { point: 'secondary-save-after-device-state', mode: 'exit', count: 1 },
    });
    await faults.begin();
    await expect(ports.deltas.get('vm-0/1/5-device-state')).rejects.toThrow(/get of vm-0\/1\/5-device-state/);
    // A save before any device state was fetched is not the crash point.
    await ports.state.save('vm-0/node/secondary.bin', new Uint8Array([1]), undefined);
    expect(Array.from(await ports.deltas.get('vm-0/1/5-device-state'))).toEqual([5]);
    const d = await state.load('vm-0/node/secondary.bin');
    await expect(ports.state.save('vm-0/node/secondary.bin', new Uint8Array([2]), d?.etag)).rejects.toThrow(
      TestFaultError,
    );
    expect(exits).toEqual([1]);
    expect(state.peek('vm-0/node/secondary.bin')).toEqual(new Uint8Array([1]));
    expect((await armed(state)).crash?.count).toBe(0);
  });
});

describe('fault hook: deletes of consumed deltas', () => {
  test('failDeletes fails the next N deletes (recorded); the objects stay; later deletes go through', async () => {
    const state = new MemoryStateStore();
    const clock = new VirtualClock(1000);
    const deltas = new MemoryDeltaStore();
    const keys = ['vm-0/1/5-background-ram', 'vm-0/1/6-checkpoint-ram', 'vm-0/1/7-device-state'];
    for (const k of keys) await deltas.put(k, new Uint8Array([1]));
    const { faults } = hookOn(state, clock);
    const ports = faults.wrap({ state, deltas, channel: new MemoryChannel() });
    await arm(state, { failDeletes: 2 });
    await faults.begin();
    await expect(ports.deltas.delete?.(keys[0] as string)).rejects.toThrow(TestFaultError);
    await expect(ports.deltas.delete?.(keys[1] as string)).rejects.toThrow(/delete of vm-0\/1\/6/);
    await ports.deltas.delete?.(keys[2] as string);
    expect(deltas.keys()).toEqual(keys.slice(0, 2));
    const a = await armed(state);
    expect(a.failDeletes).toBe(0);
    expect(a.fired.map((f) => `${f.fault} ${f.detail}`)).toEqual([`delete ${keys[0]}`, `delete ${keys[1]}`]);
  });
});

describe('fault hook: faults in a running session (handlers on in-memory ports)', () => {
  test('a background put failing 3 times is retried in place; failing 4 times retires its round (skip); no fence', async () => {
    const sim = new HandlerSim(handlerParams({ policy: 'fixed' }), 'ack', { faults: true });
    await started(sim);
    await arm(sim.state, { failPuts: { 'background-ram': 3 } });
    await sim.run(3000);
    let a = await armed(sim.state);
    expect(a.fired.map((f) => f.fault)).toEqual(Array(3).fill('put:background-ram'));
    const stored = a.fired[0]?.detail ?? '';
    // Stored at the fourth try and sent; the secondary, having consumed it, deleted it.
    const named = (key: string) => sim.p2s.history.some((m) => m.type === 'delta' && m.claim.key === key);
    expect(named(stored)).toBe(true);
    expect(sim.deltas.keys()).not.toContain(stored);
    // All four tries of one object fail: its sequence number is retired with a skip; the round is lost.
    await arm(sim.state, { failPuts: { 'background-ram': 4 } });
    await sim.run(5000);
    a = await armed(sim.state);
    expect(a.fired).toHaveLength(4);
    const lost = a.fired[0]?.detail ?? '';
    expect(a.fired.every((f) => f.detail === lost)).toBe(true);
    expect(sim.deltas.keys()).not.toContain(lost);
    expect(named(lost)).toBe(false);
    const retired = (await sim.log('primary')).filter((r) => r.type === 'send-retired');
    expect(retired.map((r) => r.type === 'send-retired' && r.data.kind)).toEqual(['background-ram']);
    expect(sim.p2s.history.some((m) => m.type === 'skip')).toBe(true);
    expect(sim.deadLetters).toEqual([]);
    expect(sim.metric('BackgroundRounds')).toBeGreaterThan(0);
    expect(await commitsMatchCheckpoints(sim)).toBeGreaterThanOrEqual(2);
    expect(await owner(sim)).toBeNull();
    expect((await sim.primaryDoc())?.state.phase).not.toMatch(/exited|fenced|claiming/);
  });

  test('a checkpoint chunk that fails to upload twice is retried; the checkpoint commits; no fence', async () => {
    // The outbox retries a failed put in place (backoff 100, 300, 900 ms) before it would retire it.
    const sim = new HandlerSim(
      handlerParams({
        policy: 'none',
        applyTimeoutMs: 5000,
        heartbeatTimeoutMs: 10_000,
        checkpointTimeoutMs: 30_000,
      }),
      'ack',
      { faults: true },
    );
    await started(sim);
    await arm(sim.state, { failPuts: { 'checkpoint-ram': 2 } });
    await sim.run(8000);
    const a = await armed(sim.state);
    expect(a.fired.map((f) => f.fault)).toEqual(['put:checkpoint-ram', 'put:checkpoint-ram']);
    const failedKey = a.fired[0]?.detail ?? '';
    const epoch = Number(failedKey.split('/')[1]);
    const commits = (await sim.log('secondary')).flatMap((r) => (r.type === 'commit' ? [r.data] : []));
    expect(commits.some((c) => c.epoch === epoch)).toBe(true);
    await commitsMatchCheckpoints(sim);
    expect(await owner(sim)).toBeNull();
  });

  test('a crash after the device state arrived: redelivered, the commit happens exactly once', async () => {
    const sim = new HandlerSim(handlerParams({ policy: 'none' }), 'ack', { faults: true });
    await started(sim);
    await arm(sim.state, { crash: { point: 'secondary-save-after-device-state', count: 1 } });
    await sim.run(8000);
    const a = await armed(sim.state);
    expect(a.crash?.count).toBe(0);
    expect(a.fired).toHaveLength(1);
    const detail = a.fired[0]?.detail ?? '';
    expect(detail).toMatch(
      /^throw: save of vm-0\/node\/secondary.bin after fetching vm-0\/\d+\/\d+-device-state$/,
    );
    const epoch = Number(detail.split('after fetching ')[1]?.split('/')[1]);
    expect(sim.obs.logs.some((l) => l.level === 'error' && /whole batch/.test(l.message))).toBe(true);
    expect(await commitsMatchCheckpoints(sim)).toBeGreaterThanOrEqual(2);
    const commits = (await sim.log('secondary')).flatMap((r) => (r.type === 'commit' ? [r.data] : []));
    expect(commits.filter((c) => c.epoch === epoch)).toHaveLength(1);
    expect(await owner(sim)).toBeNull();
  });

  test('a crash after the commit was saved, before its replies were sent: the outbox sends them', async () => {
    const sim = new HandlerSim(handlerParams({ policy: 'none' }), 'ack', { faults: true });
    await started(sim);
    await arm(sim.state, { crash: { point: 'secondary-send-after-device-state', count: 1 } });
    await sim.run(8000);
    expect((await armed(sim.state)).crash?.count).toBe(0);
    expect(await commitsMatchCheckpoints(sim)).toBeGreaterThanOrEqual(2);
    expect(await owner(sim)).toBeNull();
  });

  test('secondary-apply down for a while: every batch fails, then it catches up; no fence', async () => {
    const sim = new HandlerSim(handlerParams({ policy: 'fixed' }), 'ack', { faults: true });
    await started(sim);
    await arm(sim.state, { secondaryApplyDownUntil: sim.clock.now() + 1500 });
    await sim.run(1500);
    expect((await armed(sim.state)).fired.some((f) => f.fault === 'secondary-down')).toBe(true);
    await sim.run(6000);
    expect(await commitsMatchCheckpoints(sim)).toBeGreaterThanOrEqual(1);
    expect(await owner(sim)).toBeNull();
  });

  test('secondary-apply down for a duration: the window opens at the first batch after arming, however late', async () => {
    const sim = new HandlerSim(handlerParams({ policy: 'fixed' }), 'ack', { faults: true });
    await started(sim);
    await arm(sim.state, { secondaryApplyDownForMs: 1500 });
    // Nothing consumed yet: the window has not opened, however long (here 1 s, inside the heartbeat timeout).
    sim.clock.advance(1000);
    expect((await armed(sim.state)).secondaryApplyDownUntil).toBeUndefined();
    const opened = sim.clock.now();
    await sim.run(1500);
    const a = await armed(sim.state);
    expect(a.secondaryApplyDownForMs).toBeUndefined();
    expect(a.secondaryApplyDownUntil).toBeGreaterThanOrEqual(opened + 1500);
    expect(a.fired.filter((f) => f.fault === 'secondary-down').length).toBeGreaterThanOrEqual(2);
    await sim.run(6000);
    expect(await commitsMatchCheckpoints(sim)).toBeGreaterThanOrEqual(1);
    expect(await owner(sim)).toBeNull();
  });

  test('primary silent: frozen past the heartbeat timeout, the secondary wins the fence; the primary is fenced', async () => {
    const sim = new HandlerSim(handlerParams({ policy: 'none' }), 'ack', { faults: true });
    await started(sim);
    const until = sim.clock.now() + 6000;
    await arm(sim.state, { primarySilentUntil: until });
    // The next primary tick freezes (the virtual clock jumps to the end of the silence); the secondary's
    // watchdog then finds no message from the primary for longer than its timeout.
    const order: string[] = [];
    for (let i = 0; i < 100 && sim.clock.now() < until + 3000; i++) {
      sim.clock.advance(100);
      await sim.deliverTicks('heartbeat');
      if ((await sim.secondaryDoc())?.state.phase === 'failed-over' && !order.includes('s')) order.push('s');
      if (sim.clock.now() > until - 5000) {
        await sim.deliverTicks('pending-check');
        await sim.deliverTicks('checkpoint');
      }
    }
    expect(await owner(sim)).toBe('secondary');
    expect((await sim.secondaryDoc())?.state.phase).toBe('failed-over');
    await sim.run(2000);
    expect((await sim.primaryDoc())?.state.phase).toBe('fenced');
    expect((await armed(sim.state)).fired.some((f) => f.fault === 'primary-silent')).toBe(true);
  });

  test('a frozen invocation waits at most MAX_FREEZE_MS', async () => {
    const state = new MemoryStateStore();
    const clock = new VirtualClock(1000);
    await arm(state, { primarySilentUntil: 1000 + 10 * MAX_FREEZE_MS });
    const { faults } = hookOn(state, clock, { node: 'primary', service: 'primary' });
    await faults.begin();
    await faults.gate('tick');
    expect(clock.now()).toBe(1000 + MAX_FREEZE_MS);
    // The secondary is not frozen by a silent primary.
    const secondary = hookOn(state, clock).faults;
    await secondary.begin();
    await secondary.gate('channel');
    expect(clock.now()).toBe(1000 + MAX_FREEZE_MS);
  });

  test('capture copies consumed records with their outcome; a copy delivered again is a duplicate', async () => {
    const sim = new HandlerSim(handlerParams({ policy: 'fixed' }), 'ack', { faults: true });
    await started(sim);
    await arm(sim.state, { captureUntil: sim.clock.now() + 60_000 });
    await sim.run(2000);
    const load = async () =>
      JSON.parse(
        Buffer.from((await sim.state.load(testCapturedKey(VM)))?.value ?? new Uint8Array()).toString('utf8'),
      ) as CapturedRecords;
    const captured = await load();
    const original = captured.records.find((r) => r.service === 'secondary' && r.status === 'applied');
    expect(original).toBeDefined();
    if (!original) return;
    const before = await sim.secondaryDoc();
    const copy = sqsRecord(original.body, {
      messageId: 'copy-1',
      fifo: { group: VM, dedup: 'copy-1' },
      queue: 'p2s.fifo',
    });
    const response = await sim.secondaryApply(sqsEvent([copy]));
    expect(response.batchItemFailures).toEqual([]);
    const entry = (await load()).records.find((r) => r.messageId === 'copy-1');
    expect(entry).toMatchObject({ status: 'duplicate', body: original.body });
    expect((await sim.secondaryDoc())?.state.inSeq).toBe(before?.state.inSeq);
    expect(sim.deadLetters).toEqual([]);
  });
});
