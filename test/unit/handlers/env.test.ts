import { describe, expect, test } from 'vitest';
import { rejectedFromEnv } from '../../../lambda/handlers/lib/deps.ts';
import { DEFAULT_WORKLOADS, paramsFromEnv, workloadFromEnv } from '../../../lambda/handlers/lib/params.ts';
import { DEFAULT_PARAMS } from '../../../src/engine/params.ts';
import { STACK_ENV } from './stack-env.ts';

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
    expect(() => paramsFromEnv({ ...STACK_ENV, GUEST_BYTES: '1000' })).toThrow(/multiple of 4096/);
    expect(rejectedFromEnv({})).toBe('ack');
    expect(rejectedFromEnv({ REJECTED_MESSAGES: 'retry' })).toBe('retry');
    expect(() => rejectedFromEnv({ REJECTED_MESSAGES: 'drop' })).toThrow(/ack or retry/);
  });
});
