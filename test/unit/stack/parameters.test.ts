import { App } from 'aws-cdk-lib';
import { describe, expect, it } from 'vitest';
import cdkJson from '../../../cdk.json' with { type: 'json' };
import { ColoStack } from '../../../lib/colo-stack.ts';
import {
  ContextValidationError,
  DEFAULT_PARAMETERS,
  PARAMETER_NAMES,
  parametersFromContext,
  validateParameters,
} from '../../../lib/parameters.ts';
import { TEST_CONTEXT } from './helpers.ts';

function fromContext(context: Record<string, unknown>, overrides = {}) {
  return parametersFromContext(new App({ context }).node, overrides);
}

describe('parameters', () => {
  it('defaults to the documented values', () => {
    expect(fromContext({})).toEqual({
      vmId: 'vm-0',
      seed: 42,
      checkpointDelayMs: 20_000,
      pendingCheckIntervalMs: 1000,
      thresholdBytes: 104_857_600,
      applyTimeoutMs: 5000,
      checkpointTimeoutMs: 30_000,
      downtimeBudgetMs: 300,
      epochCapBytes: 0,
      guestBytes: 67_108_864,
      workload: 'hotcold',
      policy: 'fixed',
      heartbeatIntervalMs: 1000,
      heartbeatTimeoutMs: 10_000,
      deltaExpiryDays: 1,
      logRetentionDays: 7,
      s3ForcePathStyle: false,
      testFaults: 'off',
      virtualClock: 'off',
      eventSourceMaxConcurrency: 100,
      channelPollers: 1,
      tickPollers: 1,
      monitorMemoryMb: 256,
      alarmTopic: 'off',
    });
  });

  it('cdk.json carries every parameter with its default', () => {
    const context = cdkJson.context as Record<string, unknown>;
    for (const key of PARAMETER_NAMES) expect(context[key], key).toEqual(DEFAULT_PARAMETERS[key]);
  });

  it('reads -c key=value strings, and context wins over props', () => {
    const p = fromContext(
      { vmId: 'vm-7', checkpointDelayMs: '5000', s3ForcePathStyle: 'true', policy: 'adaptive' },
      { vmId: 'ignored', workload: 'zipf' },
    );
    expect(p).toMatchObject({
      vmId: 'vm-7',
      checkpointDelayMs: 5000,
      s3ForcePathStyle: true,
      policy: 'adaptive',
      workload: 'zipf',
    });
  });

  it('takes a workload kind with rates, validated like the functions parse WORKLOAD', () => {
    expect(fromContext({ workload: 'hotcold:hotPages=256,hotRate=200,coldRate=200' }).workload).toBe(
      'hotcold:hotPages=256,hotRate=200,coldRate=200',
    );
    expect(() => fromContext({ workload: 'hotcold:hotRate=-1' })).toThrow(
      /context "workload" must be one of .*kind:key=value.*hotRate: "-1" is negative.*got "hotcold:hotRate=-1"$/,
    );
    expect(() => fromContext({ workload: 'zipf:speed=3' })).toThrow(ContextValidationError);
  });

  it.each([
    [{ vmId: 'vm/0' }, /context "vmId" must be a string matching/],
    [{ vmId: '' }, /"vmId"/],
    // The wire format refuses upper case and '_' in message vmIds, so the stack must too.
    [{ vmId: 'VM_1' }, /context "vmId" must be a string matching/],
    [
      { checkpointDelayMs: 500 },
      /context "checkpointDelayMs" must be an integer in \[1000, 3600000\] ms, got 500/,
    ],
    [{ checkpointDelayMs: '20S' }, /"checkpointDelayMs".*got "20S": "20S": duration units are lower-case/],
    [{ guestBytes: '64Gb' }, /"guestBytes".*got "64Gb": "64Gb" is in bits/],
    [
      { checkpointDelayMs: '0.5s' },
      /"checkpointDelayMs" must be an integer in \[1000, 3600000\] ms, got "0.5s"$/,
    ],
    [{ pendingCheckIntervalMs: 999 }, /"pendingCheckIntervalMs"/],
    [{ thresholdBytes: -1 }, /"thresholdBytes"/],
    [{ thresholdBytes: 1.5 }, /"thresholdBytes"/],
    [{ applyTimeoutMs: 900_000 }, /"applyTimeoutMs" must be an integer in \[100, 840000\]/],
    [{ guestBytes: 4097 }, /"guestBytes" must be a multiple of 4096 bytes/],
    [{ guestBytes: 0 }, /"guestBytes"/],
    [
      { workload: 'random' },
      /context "workload" must be one of idle, uniform, hotcold, zipf, sequential, buffered-io/,
    ],
    [{ policy: 'greedy' }, /context "policy" must be one of none, fixed, adaptive, got "greedy"/],
    [
      { heartbeatTimeoutMs: 1000 },
      /"heartbeatTimeoutMs" must be 0 or greater than heartbeatIntervalMs \(1000\)/,
    ],
    [{ heartbeatIntervalMs: 100 }, /"heartbeatIntervalMs"/],
    [{ deltaExpiryDays: 0 }, /"deltaExpiryDays"/],
    [{ logRetentionDays: 2 }, /"logRetentionDays" must be one of 1, 3, 5, 7, 14, .*, 3653 days, got 2$/],
    [{ s3ForcePathStyle: 'yes' }, /"s3ForcePathStyle" must be true or false/],
    [{ seed: -3 }, /"seed"/],
  ])('rejects %j', (context, message) => {
    expect(() => fromContext(context)).toThrow(ContextValidationError);
    expect(() => fromContext(context)).toThrow(message);
  });

  it('accepts heartbeatTimeoutMs 0 (no automatic failover)', () => {
    expect(fromContext({ heartbeatTimeoutMs: 0 }).heartbeatTimeoutMs).toBe(0);
  });

  it('the stack refuses a bad context value with the same error', () => {
    const app = new App({ context: { ...TEST_CONTEXT, checkpointDelayMs: 'soon' } });
    expect(() => new ColoStack(app, 'Bad')).toThrow(/context "checkpointDelayMs" must be an integer/);
  });

  it('validateParameters is total over the defaults', () => {
    expect(validateParameters({ ...DEFAULT_PARAMETERS })).toEqual(DEFAULT_PARAMETERS);
  });
});
