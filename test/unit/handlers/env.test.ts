import { describe, expect, test } from 'vitest';
import { rejectedFromEnv, secondaryApplyDepsFromEnv } from '../../../lambda/handlers/common/deps.ts';
import { DEFAULT_WORKLOADS, paramsFromEnv, workloadFromEnv } from '../../../lambda/handlers/common/params.ts';
import { delayedDeltaStore, fetchDelayFromEnv } from '../../../lambda/handlers/common/test-hooks.ts';
import { DEFAULT_PARAMS } from '../../../src/engine/params.ts';
import { MemoryDeltaStore, VirtualClock } from '../../../src/runtime/cloud/index.ts';
import { STACK_ENV } from './stack-env.ts';

process.env.AWS_SDK_JS_NODE_VERSION_SUPPORT_WARNING_DISABLED = 'true';

describe('parameters from the environment', () => {
  test('the stack parameters override the engine defaults', () => {
    const p = paramsFromEnv(STACK_ENV);
    expect(p).toMatchObject({
      vmId: 'vm-0',
      seed: 7,
      guestBytes: 1024 * 1024,
      policy: 'fixed',
      checkpointDelayMs: 20_000,
      thresholdBytes: 40 * 4096,
      heartbeatTimeoutMs: 3000,
      workload: DEFAULT_WORKLOADS.hotcold,
    });
    expect(p.checkpointTimeoutMs).toBe(DEFAULT_PARAMS.checkpointTimeoutMs);
    expect(p.payload).toBe('materialised');
  });

  test('a workload kind takes default rates; kind:key=value overrides them', () => {
    expect(workloadFromEnv('uniform')).toEqual({ kind: 'uniform', rate: 2000 });
    expect(workloadFromEnv('hotcold:hotPages=64,coldRate=10')).toEqual({
      ...DEFAULT_WORKLOADS.hotcold,
      hotPages: 64,
      coldRate: 10,
    });
    expect(() => workloadFromEnv('warp')).toThrow(/WORKLOAD="warp" is invalid/);
    expect(() => workloadFromEnv('zipf:exponent=-1')).toThrow(/WORKLOAD/);
  });

  test('missing or malformed variables are named', () => {
    const { SEED: _seed, ...noSeed } = STACK_ENV;
    expect(() => paramsFromEnv(noSeed)).toThrow(/SEED is not set/);
    expect(() => paramsFromEnv({ ...STACK_ENV, POLICY: 'eager' })).toThrow(
      /POLICY must be one of none, fixed, adaptive/,
    );
    expect(() => paramsFromEnv({ ...STACK_ENV, GUEST_BYTES: '8193' })).toThrow(/multiple of 4096/);
    expect(rejectedFromEnv({})).toBe('ack');
    expect(rejectedFromEnv({ REJECTED_MESSAGES: 'retry' })).toBe('retry');
    expect(() => rejectedFromEnv({ REJECTED_MESSAGES: 'drop' })).toThrow(/ack or retry/);
  });
});

describe('secondary-apply from the environment', () => {
  test('the DLQ sink comes from P2S_DLQ_URL; without it refused messages are only logged', () => {
    expect(
      secondaryApplyDepsFromEnv({ ...STACK_ENV, P2S_DLQ_URL: 'https://q.invalid/d.fifo' }),
    ).toMatchObject({ service: 'primary', deadLetters: expect.any(Object) });
    expect(secondaryApplyDepsFromEnv(STACK_ENV).deadLetters).toBeUndefined();
  });

  test('the fetch-delay test hook is off unless COLO_TEST_FETCH_DELAY_MS is set, and validated', () => {
    expect(fetchDelayFromEnv({})).toBe(0);
    expect(fetchDelayFromEnv({ COLO_TEST_FETCH_DELAY_MS: ' 2500 ' })).toBe(2500);
    for (const bad of ['-1', '1.5', 'soon', '900001']) {
      expect(() => fetchDelayFromEnv({ COLO_TEST_FETCH_DELAY_MS: bad })).toThrow(/COLO_TEST_FETCH_DELAY_MS/);
    }
    const plain = secondaryApplyDepsFromEnv(STACK_ENV);
    const hooked = secondaryApplyDepsFromEnv({ ...STACK_ENV, COLO_TEST_FETCH_DELAY_MS: '2500' });
    expect(hooked.ports.deltas).not.toBe(plain.ports.deltas);
    expect(hooked.ports.state.constructor).toBe(plain.ports.state.constructor);
  });

  test('a delayed delta store waits before every read and leaves writes alone', async () => {
    const clock = new VirtualClock(0);
    const inner = new MemoryDeltaStore();
    const store = delayedDeltaStore(inner, 2500, clock.sleep);
    await store.put('k', new Uint8Array([1, 2, 3]));
    expect(clock.now()).toBe(0);
    expect(Array.from(await store.get('k'))).toEqual([1, 2, 3]);
    expect(clock.now()).toBe(2500);
  });
});
