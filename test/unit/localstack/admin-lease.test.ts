/**
 * The per-VM administration lease (admin-lease.ts) on an in-memory S3: its own lease found after a retried
 * put is its own; a release leaves a lease another command took over; work that throws releases it.
 */
import { PutObjectCommand } from '@aws-sdk/client-s3';
import { describe, expect, it } from 'vitest';
import {
  ADMIN_LEASE_MAX_MS,
  adminLeaseKey,
  withAdminLease,
} from '../../../src/runtime/localstack/admin-lease.ts';
import { MemoryS3 } from '../../helpers/memory-s3.ts';

const KEY = adminLeaseKey('vm-1');

describe('withAdminLease', () => {
  it('a put whose answer was lost and was retried finds its own lease: it goes on, and releases it', async () => {
    const s3 = new MemoryS3();
    let first = true;
    const client = {
      send: async (c: unknown) => {
        const out = await s3.send(c);
        // The first put lands, its answer is lost; the SDK would retry it (here: the caller's next put).
        if (first && c instanceof PutObjectCommand) {
          first = false;
          await s3.send(c).catch(() => undefined);
          throw Object.assign(new Error('PreconditionFailed'), {
            name: 'PreconditionFailed',
            $metadata: { httpStatusCode: 412 },
          });
        }
        return out;
      },
    } as never;
    expect(await withAdminLease(client, 'b', 'vm-1', 'colo vm set', async () => 'done')).toBe('done');
    expect(s3.keys()).toEqual([]);
  });

  it('a release leaves a lease another command took over; work that throws still releases its own', async () => {
    const s3 = new MemoryS3();
    await withAdminLease(s3.client, 'b', 'vm-1', 'colo vm remove', async () => {
      // Taken over meanwhile (this holder stalled past the limit).
      s3.objects.set(KEY, {
        bytes: Buffer.from(JSON.stringify({ command: 'colo vm add/set', at: Date.now(), token: 'other' })),
        etag: '"other"',
      });
    });
    expect(s3.keys()).toEqual([KEY]);
    s3.objects.clear();
    await expect(
      withAdminLease(s3.client, 'b', 'vm-1', 'colo vm add/set', async () => {
        throw new Error('work failed');
      }),
    ).rejects.toThrow('work failed');
    expect(s3.keys()).toEqual([]);
    expect(ADMIN_LEASE_MAX_MS).toBeGreaterThan(5 * 60_000);
  });
});
