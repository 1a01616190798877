import { GetBucketLifecycleConfigurationCommand, ListObjectsV2Command, S3Client } from '@aws-sdk/client-s3';
import { mockClient } from 'aws-sdk-client-mock';
import { beforeEach, describe, expect, it } from 'vitest';
import {
  deltaExpiryDaysOf,
  formatStoredBytes,
  IN_FLIGHT_MS,
  measureStoredBytes,
} from '../../../src/runtime/localstack/stored-bytes.ts';

const s3 = mockClient(S3Client);
const T0 = Date.UTC(2026, 11, 3, 9, 0, 0);
const END = T0 + 300_000;
const obj = (Key: string, Size: number, at: number) => ({ Key, Size, LastModified: new Date(at) });

beforeEach(() => s3.reset());

describe('measureStoredBytes', () => {
  it('sorts deltas into earlier, left over and in flight, and projects the leftovers over the expiry', async () => {
    s3.on(ListObjectsV2Command, { Prefix: 'state/vm-1/' }).resolves({
      Contents: [
        obj('state/vm-1/node/primary.bin', 3000, T0),
        obj('state/vm-1/node/secondary.bin', 1000, T0),
      ],
    });
    s3.on(ListObjectsV2Command, { Prefix: 'deltas/vm-1/' }).resolves({
      Contents: [
        obj('deltas/vm-1/1/4-device-state', 500, T0 - 1), // before the window
        obj('deltas/vm-1/3/9-device-state', 2400, T0 + 10_000), // left over
        obj('deltas/vm-1/9/40-checkpoint-ram', 7000, END - IN_FLIGHT_MS + 1), // in flight
      ],
    });
    const r = await measureStoredBytes(new S3Client({}), 'b', ['vm-1'], { startMs: T0, endMs: END }, 1);
    expect(r).toMatchObject({
      vms: 1,
      stateBytes: 4000,
      inFlightBytes: 7000,
      leftoverObjects: 1,
      leftoverBytes: 2400,
      olderBytes: 500,
      windowMs: 300_000,
    });
    // 2 400 bytes in the 240 s counted, held a day: 2 400 × 86 400 / 240 = 864 000 bytes.
    expect(r.steadyStateBytes).toBeCloseTo(4000 + 7000 + 864_000, 6);
    expect(formatStoredBytes(r)).toMatch(/1\.0 delta objects left behind in 5\.0 min .* held 1 d/);
  });

  it('averages over the VMs and pages through long listings', async () => {
    s3.on(ListObjectsV2Command, { Prefix: 'state/a/' }).resolves({ Contents: [obj('state/a/x', 100, T0)] });
    s3.on(ListObjectsV2Command, { Prefix: 'state/b/' })
      .resolvesOnce({ Contents: [obj('state/b/x', 100, T0)], IsTruncated: true, NextContinuationToken: 't' })
      .resolvesOnce({ Contents: [obj('state/b/y', 100, T0)] });
    s3.on(ListObjectsV2Command, { Prefix: 'deltas/a/' }).resolves({});
    s3.on(ListObjectsV2Command, { Prefix: 'deltas/b/' }).resolves({});
    const r = await measureStoredBytes(new S3Client({}), 'b', ['a', 'b'], { startMs: T0, endMs: END }, 7);
    expect(r.stateBytes).toBe(150);
    expect(r.steadyStateBytes).toBe(150);
  });
});

describe('deltaExpiryDaysOf', () => {
  it('reads the rule on deltas/; undefined without one or when it cannot be read', async () => {
    s3.on(GetBucketLifecycleConfigurationCommand).resolvesOnce({
      Rules: [
        { ID: 'other', Status: 'Enabled', Filter: { Prefix: 'logs/' }, Expiration: { Days: 9 } },
        { ID: 'expire-deltas', Status: 'Enabled', Filter: { Prefix: 'deltas/' }, Expiration: { Days: 3 } },
      ],
    });
    expect(await deltaExpiryDaysOf(new S3Client({}), 'b')).toBe(3);
    s3.on(GetBucketLifecycleConfigurationCommand).resolvesOnce({ Rules: [] });
    expect(await deltaExpiryDaysOf(new S3Client({}), 'b')).toBeUndefined();
    s3.on(GetBucketLifecycleConfigurationCommand).rejectsOnce(new Error('NoSuchLifecycleConfiguration'));
    expect(await deltaExpiryDaysOf(new S3Client({}), 'b')).toBeUndefined();
  });
});
