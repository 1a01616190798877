/**
 * The per-VM administration lease (admin-lease.ts) on an in-memory S3: its own lease found after a retried
 * put is its own; a release leaves a lease another command took over; work that throws releases it; a
 * holder's renewals keep it from being taken over; a signal's release frees it at once. Over a real S3
 * client and a local HTTP server: the lease's age is S3's clock, not the taker's.
 */
import { createServer, type IncomingMessage, type ServerResponse } from 'node:http';
import type { AddressInfo } from 'node:net';
import { PutObjectCommand, S3Client } from '@aws-sdk/client-s3';
import { describe, expect, it } from 'vitest';
import {
  ADMIN_LEASE_MAX_MS,
  ADMIN_LEASE_RENEW_MS,
  AdminLeaseBusyError,
  adminLeaseKey,
  releaseAdminLeases,
  withAdminLease,
} from '../../../src/runtime/localstack/admin-lease.ts';
import { MemoryS3 } from '../../helpers/memory-s3.ts';

/** Resolves when `check` holds, polling every 5 ms (fails the test after 5 s). */
async function until(check: () => boolean): Promise<void> {
  const end = Date.now() + 5000;
  while (!check()) {
    if (Date.now() > end) throw new Error('condition not reached');
    await new Promise((r) => setTimeout(r, 5));
  }
}

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
    // Several renewals may fail (S3 briefly unreachable) before a live lease counts as dead.
    expect(ADMIN_LEASE_MAX_MS).toBeGreaterThanOrEqual(5 * ADMIN_LEASE_RENEW_MS);
  });

  it("a holder's renewals keep its lease from being taken over, however long its command runs", async () => {
    let clock = 1_000_000;
    const s3 = new MemoryS3(() => clock);
    let taker: unknown;
    await withAdminLease(
      s3.client,
      'b',
      'vm-1',
      'colo vm remove',
      async () => {
        const first = s3.objects.get(KEY)?.etag;
        clock += ADMIN_LEASE_MAX_MS + 60_000; // the command has run long past the limit…
        await until(() => s3.objects.get(KEY)?.etag !== first); // …and renewed meanwhile
        clock += 1000;
        taker = await withAdminLease(s3.client, 'b', 'vm-1', 'colo vm add/set', async () => 'took it', {
          now: () => clock,
        }).catch((e: unknown) => e);
      },
      { now: () => clock, renewMs: 10 },
    );
    expect(taker).toBeInstanceOf(AdminLeaseBusyError);
    expect(String(taker)).toMatch(/colo vm remove.*last written 1 s ago/);
    expect(s3.keys()).toEqual([]);
  });

  it('a lease taken over while its command runs: the holder is told, and leaves the new lease alone', async () => {
    const s3 = new MemoryS3();
    const lost: string[] = [];
    await withAdminLease(
      s3.client,
      'b',
      'vm-1',
      'colo vm remove',
      async () => {
        s3.objects.set(KEY, { bytes: Buffer.from('{"token":"other"}'), etag: '"other"' });
        await until(() => lost.length > 0);
      },
      { renewMs: 10, onLost: (m) => lost.push(m) },
    );
    expect(lost).toEqual([expect.stringMatching(/^vm-1: this command's lease was taken over/)]);
    expect(s3.objects.get(KEY)?.etag).toBe('"other"');
  });

  it('a stopped command releases its lease at once (releaseAdminLeases), before its work ends', async () => {
    const s3 = new MemoryS3();
    let started = false;
    let finish = (): void => undefined;
    const running = withAdminLease(
      s3.client,
      'b',
      'vm-1',
      'colo vm remove',
      () =>
        new Promise<void>((r) => {
          started = true;
          finish = r;
        }),
    );
    await until(() => started);
    expect(s3.keys()).toEqual([KEY]);
    await releaseAdminLeases();
    expect(s3.keys()).toEqual([]);
    // The next command gets the VM at once.
    expect(await withAdminLease(s3.client, 'b', 'vm-1', 'colo vm set', async () => 'next')).toBe('next');
    finish();
    await running;
    expect(s3.keys()).toEqual([]);
  });

  it('stopped while asking for the lease: the work never runs, and no lease is left', async () => {
    const s3 = new MemoryS3();
    let ran = false;
    const asking = withAdminLease(s3.client, 'b', 'vm-1', 'colo vm add/set', async () => {
      ran = true;
    });
    await releaseAdminLeases();
    await expect(asking).rejects.toThrow(/^vm-1: stopped before the command began \(nothing done\)$/);
    expect(ran).toBe(false);
    expect(s3.keys()).toEqual([]);
  });
});

/**
 * A bucket of one lease over HTTP: GET answers with `Last-Modified` and a `Date` set by the test (S3's
 * clock), PUT honours If-None-Match / If-Match, DELETE removes. Records the requests' methods.
 */
function leaseServer(lease: { lastModified: number; serverNow: number }) {
  let object: { body: string; etag: string } | undefined = {
    body: JSON.stringify({ command: 'colo vm remove', at: lease.lastModified, token: 'holder' }),
    etag: '"held"',
  };
  const requests: string[] = [];
  const server = createServer((req: IncomingMessage, res: ServerResponse) => {
    const chunks: Buffer[] = [];
    req.on('data', (c: Buffer) => chunks.push(c));
    req.on('end', () => {
      requests.push(req.method ?? '');
      const date = new Date(lease.serverNow).toUTCString();
      const fail = (status: number, code: string) => {
        res.writeHead(status, { 'content-type': 'application/xml', date });
        res.end(
          `<?xml version="1.0" encoding="UTF-8"?><Error><Code>${code}</Code><Message>${code}</Message></Error>`,
        );
      };
      if (req.method === 'GET') {
        if (!object) return fail(404, 'NoSuchKey');
        res.writeHead(200, {
          'content-type': 'application/json',
          'content-length': Buffer.byteLength(object.body),
          etag: object.etag,
          'last-modified': new Date(lease.lastModified).toUTCString(),
          date,
        });
        return res.end(object.body);
      }
      if (req.method === 'PUT') {
        if (req.headers['if-none-match'] === '*' && object) return fail(412, 'PreconditionFailed');
        if (req.headers['if-match'] !== undefined && req.headers['if-match'] !== object?.etag)
          return fail(412, 'PreconditionFailed');
        object = { body: Buffer.concat(chunks).toString(), etag: `"v${requests.length}"` };
        lease.lastModified = lease.serverNow;
        res.writeHead(200, { etag: object.etag, date });
        return res.end();
      }
      if (req.method === 'DELETE') object = undefined;
      res.writeHead(204, { date });
      res.end();
    });
  });
  return { server, requests };
}

describe('the lease age is S3 clock time', () => {
  const withServer = async (
    lease: { lastModified: number; serverNow: number },
    body: (client: S3Client, requests: string[]) => Promise<void>,
  ): Promise<void> => {
    const { server, requests } = leaseServer(lease);
    await new Promise<void>((r) => server.listen(0, '127.0.0.1', r));
    const client = new S3Client({
      region: 'us-east-1',
      endpoint: `http://127.0.0.1:${(server.address() as AddressInfo).port}`,
      forcePathStyle: true,
      credentials: { accessKeyId: 'test', secretAccessKey: 'test' },
      maxAttempts: 1,
    });
    try {
      await body(client, requests);
    } finally {
      client.destroy();
      await new Promise((r) => server.close(r));
    }
  };

  it('a taker whose clock runs an hour ahead does not take a lease S3 says was last written 10 s ago', async () => {
    const s3Now = Date.UTC(2026, 0, 1, 12, 0, 0);
    await withServer({ lastModified: s3Now - 10_000, serverNow: s3Now }, async (client, requests) => {
      const refused = await withAdminLease(client, 'b', 'vm-1', 'colo vm set', async () => 'took', {
        now: () => s3Now + 3_600_000,
      }).catch((e: unknown) => e);
      expect(refused).toBeInstanceOf(AdminLeaseBusyError);
      expect(String(refused)).toMatch(/last written 10 s ago/);
      expect(requests).toEqual(['PUT', 'GET']);
    });
  });

  it('a taker whose clock runs behind takes a lease S3 says is older than the limit', async () => {
    const s3Now = Date.UTC(2026, 0, 1, 12, 0, 0);
    await withServer(
      { lastModified: s3Now - ADMIN_LEASE_MAX_MS - 5000, serverNow: s3Now },
      async (client, requests) => {
        const done = await withAdminLease(client, 'b', 'vm-1', 'colo vm set', async () => 'took', {
          now: () => s3Now - 3_600_000,
        });
        expect(done).toBe('took');
        // Refused create, read, compare-and-swap, read before release, delete.
        expect(requests).toEqual(['PUT', 'GET', 'PUT', 'GET', 'DELETE']);
      },
    );
  });
});
