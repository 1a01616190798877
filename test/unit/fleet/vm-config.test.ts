import { describe, expect, test } from 'vitest';
import { vmConfigKey, vmIdOfConfigKey } from '../../../lambda/adapters/contract.ts';
import { vmEnvironment } from '../../../lambda/handlers/common/fleet-entry.ts';
import { paramsFromEnv } from '../../../lambda/handlers/common/params.ts';
import { DEPLOY_PROFILE, environmentOf, stackEnvironmentOf } from '../../../src/parameters/deployed.ts';
import {
  checkApplyTimeoutCap,
  checkVmConfigValues,
  encodeVmConfig,
  parseVmConfig,
  VM_CONFIG_KEYS,
  VmConfigError,
  validateVmConfig,
  vmConfigOf,
} from '../../../src/parameters/vm-config.ts';

describe('VM config', () => {
  test('holds exactly the VM-specific deployed parameters; switches stay stack-wide', () => {
    expect([...VM_CONFIG_KEYS].sort()).toEqual(
      [
        'vmId',
        'policy',
        'seed',
        'guestBytes',
        'workload',
        'checkpointDelayMs',
        'pendingCheckIntervalMs',
        'thresholdBytes',
        'applyTimeoutMs',
        'checkpointTimeoutMs',
        'heartbeatIntervalMs',
        'heartbeatTimeoutMs',
        'downtimeBudgetMs',
        'epochCapBytes',
      ].sort(),
    );
    const env = stackEnvironmentOf({ ...DEPLOY_PROFILE, s3ForcePathStyle: true, testFaults: 'allow' });
    expect(env).toEqual({ AWS_S3_FORCE_PATH_STYLE: '1', COLO_TEST_FAULTS: 'allow' });
  });

  test('checks each value alone, leaving the rules between keys to the stored config', () => {
    expect(() => checkVmConfigValues({ checkpointDelayMs: 'soon' })).toThrow(
      /^VM config "checkpointDelayMs" must be an integer in \[1000, 3600000\] ms, got "soon"$/,
    );
    expect(() => checkVmConfigValues({ policy: 'psychic' })).toThrow(VmConfigError);
    expect(() => checkVmConfigValues({ bogus: 1 })).toThrow(/^VM config has no key "bogus"/);
    // Above the deploy profile's heartbeat timeout, but a stored config may have a longer one: not refused here.
    const interval = String(DEPLOY_PROFILE.heartbeatTimeoutMs + 1000);
    expect(() => checkVmConfigValues({ heartbeatIntervalMs: interval })).not.toThrow();
    expect(() => validateVmConfig({ heartbeatIntervalMs: interval })).toThrow(VmConfigError);
    expect(() =>
      validateVmConfig({ heartbeatIntervalMs: interval, heartbeatTimeoutMs: String(Number(interval) * 3) }),
    ).not.toThrow();
  });

  test('sizes and times may carry units, as in scenario files and flags (`--set guestBytes=64GiB`)', () => {
    const c = validateVmConfig({
      guestBytes: '64GiB',
      checkpointDelayMs: '1m30s',
      downtimeBudgetMs: ' 275ms',
    });
    expect(c).toMatchObject({ guestBytes: 64 * 2 ** 30, checkpointDelayMs: 90_000, downtimeBudgetMs: 275 });
    expect(() => checkVmConfigValues({ guestBytes: '1GB' })).toThrow(/multiple of 4096 bytes/);
    expect(() => checkVmConfigValues({ guestBytes: '2TiB' })).toThrow(
      /^VM config "guestBytes" must be an integer in \[4096, 1099511627776\] bytes, got "2TiB"$/,
    );
    // Units belong to sizes and times only: a seed or a count stays a plain integer.
    expect(() => checkVmConfigValues({ seed: '7KiB' })).toThrow(/"seed" must be an integer/);
  });

  test("a number without a unit is in the key's unit however it is written (review C: 5e3 was refused)", () => {
    expect(validateVmConfig({ checkpointDelayMs: '5e3', seed: '7E0' })).toMatchObject({
      checkpointDelayMs: 5000,
      seed: 7,
    });
    expect(validateVmConfig({ checkpointDelayMs: '5000.0' })).toMatchObject({ checkpointDelayMs: 5000 });
    // Still whole and in range, with the range in the message, not a unit hint.
    expect(() => checkVmConfigValues({ checkpointDelayMs: '5.5e3' })).not.toThrow();
    expect(() => checkVmConfigValues({ checkpointDelayMs: '5.5' })).toThrow(
      /^VM config "checkpointDelayMs" must be an integer in \[1000, 3600000\] ms, got "5.5"$/,
    );
    expect(() => checkVmConfigValues({ checkpointDelayMs: '5e9' })).toThrow(/must be an integer in/);
    expect(() => checkVmConfigValues({ checkpointDelayMs: '1e400' })).toThrow(/must be an integer in/);
  });

  test('validates like context, with keys left out taken from the deploy profile', () => {
    const c = validateVmConfig({ vmId: 'vm-7', seed: '42', checkpointDelayMs: 5000 });
    expect(c).toMatchObject({
      vmId: 'vm-7',
      seed: 42,
      checkpointDelayMs: 5000,
      policy: DEPLOY_PROFILE.policy,
    });
    expect(Object.keys(c).sort()).toEqual([...VM_CONFIG_KEYS].sort());
  });

  test.each([
    [{ vmId: 'VM_7' }, /VM config "vmId" must be a string matching/],
    [{ vmId: 'vm-1', seed: -1 }, /VM config "seed" must be an integer in/],
    [{ vmId: 'vm-1', checkpointDelayMs: 500 }, /VM config "checkpointDelayMs"/],
    [{ vmId: 'vm-1', logRetentionDays: 7 }, /VM config has no key "logRetentionDays"/],
    [
      { vmId: 'vm-1', heartbeatIntervalMs: 2000, heartbeatTimeoutMs: 1500 },
      /must be 0 or greater than heartbeatIntervalMs/,
    ],
  ])('refuses %j with one line naming the key', (raw, message) => {
    let error: unknown;
    try {
      validateVmConfig(raw);
    } catch (e) {
      error = e;
    }
    expect(error).toBeInstanceOf(VmConfigError);
    expect((error as Error).message).toMatch(message);
    expect((error as Error).message).not.toContain('\n');
  });

  test('a stored document round-trips; a partial, foreign or misnamed one is refused', () => {
    const c = validateVmConfig({ vmId: 'vm-1' });
    expect(parseVmConfig(encodeVmConfig(c), 'vm-1')).toEqual(c);
    expect(() => parseVmConfig(encodeVmConfig(c), 'vm-2')).toThrow(/stored for vm-2 names VM vm-1/);
    const { seed: _seed, ...partial } = c;
    expect(() => parseVmConfig(JSON.stringify({ v: 1, ...partial }))).toThrow(/lacks seed/);
    expect(() => parseVmConfig(JSON.stringify({ v: 2, ...c }))).toThrow(/version must be 1/);
    expect(() => parseVmConfig('{')).toThrow(/not JSON/);
  });

  test('the config over the stack environment gives the functions what a one-VM stack gave them', () => {
    const values = { ...DEPLOY_PROFILE, vmId: 'vm-9', seed: 9, s3ForcePathStyle: true };
    const stackEnv = { ...stackEnvironmentOf(values), BUCKET_NAME: 'b' };
    const fleet = paramsFromEnv(vmEnvironment(stackEnv, vmConfigOf(values)));
    const single = paramsFromEnv({ ...environmentOf(values), BUCKET_NAME: 'b' });
    expect(fleet).toEqual(single);
    expect(fleet.vmId).toBe('vm-9');
  });

  test("an apply deadline above the stack's cap is refused", () => {
    const c = validateVmConfig({ vmId: 'vm-1', applyTimeoutMs: 9000 });
    expect(() => checkApplyTimeoutCap(c, 5000)).toThrow(/at most 5000 ms on this stack/);
    expect(() => checkApplyTimeoutCap(c, 9000)).not.toThrow();
  });

  test('registry keys map one-to-one to VM ids', () => {
    expect(vmConfigKey('vm-3')).toBe('vms/vm-3.json');
    expect(vmIdOfConfigKey('vms/vm-3.json')).toBe('vm-3');
    expect(vmIdOfConfigKey('vms/Bad_Id.json')).toBeUndefined();
    expect(vmIdOfConfigKey('state/vm-3.json')).toBeUndefined();
  });
});
