/**
 * One `colo vm` command at a time per VM: `add`, `set` and `remove` hold a lease object,
 * `admin/<vmId>.lock`, created only if absent (S3 `If-None-Match: *`) and deleted when the command ends. A
 * remove's stop, settle, unregister and state deletion, and an add's checks and writes, each span several
 * S3 calls: without the lease an add landing between a remove's steps reported success while its state
 * was deleted (outside reviews, 2026-12-02). A lease whose command died is taken over once it is older
 * than {@link ADMIN_LEASE_MAX_MS} (by compare-and-swap on its ETag, so two takers cannot both win).
 */
import { randomUUID } from 'node:crypto';
import { DeleteObjectCommand, PutObjectCommand, type S3Client } from '@aws-sdk/client-s3';
import { isPreconditionFailed, readObject } from '../../../lambda/adapters/s3-common.ts';

/** A lease older than this belongs to a command that died, ms: taken over. (A remove takes ≤ ~2 min.) */
export const ADMIN_LEASE_MAX_MS = 10 * 60_000;

/** S3 key of VM `vmId`'s administration lease (outside `vms/`, whose listing is the fleet). */
export function adminLeaseKey(vmId: string): string {
  return `admin/${vmId}.lock`;
}

/** Another `colo vm` command holds the VM's lease. */
export class AdminLeaseBusyError extends Error {
  override readonly name = 'AdminLeaseBusyError';
}

interface Lease {
  command: string;
  at: number;
  /** This holder's own mark: a retried put that finds it took the lease; a release deletes only it. */
  token: string;
}

/**
 * Runs `work` holding VM `vmId`'s lease (`command` names it in the refusal another command gets).
 *
 * @throws AdminLeaseBusyError, one line, when another command holds a lease younger than
 *   {@link ADMIN_LEASE_MAX_MS} (nothing was done); whatever `work` throws (the lease is released).
 */
export async function withAdminLease<T>(
  s3: S3Client,
  bucket: string,
  vmId: string,
  command: string,
  work: () => Promise<T>,
  now: () => number = Date.now,
): Promise<T> {
  const key = adminLeaseKey(vmId);
  const busy = (e: unknown): never => {
    if (isPreconditionFailed(e))
      throw new AdminLeaseBusyError(
        `${vmId} is being changed by another colo vm command: run this again when it has finished`,
      );
    throw e;
  };
  const token = randomUUID();
  const body = (): string => JSON.stringify({ command, at: now(), token } satisfies Lease);
  const readLease = async (): Promise<{ lease: Partial<Lease>; etag: string | undefined } | undefined> => {
    const held = await readObject(s3, bucket, key, 4096);
    if (held === undefined) return undefined;
    try {
      return {
        lease: JSON.parse(Buffer.from(held.bytes).toString('utf8')) as Partial<Lease>,
        etag: held.etag,
      };
    } catch {
      // An unreadable lease counts as ancient.
      return { lease: {}, etag: held.etag };
    }
  };
  const put = (condition: { IfNoneMatch: '*' } | { IfMatch: string }) =>
    s3.send(
      new PutObjectCommand({
        Bucket: bucket,
        Key: key,
        Body: body(),
        ContentType: 'application/json',
        ...condition,
      }),
    );
  try {
    await put({ IfNoneMatch: '*' });
  } catch (e) {
    if (!isPreconditionFailed(e)) throw e;
    const held = await readLease();
    // Released between the two calls: try once more (a second loss is a real holder).
    if (held === undefined) await put({ IfNoneMatch: '*' }).catch(busy);
    else if (held.lease.token !== token) {
      // (Its own token: the client retried a put whose answer was lost; the lease is this command's.)
      const lease = held.lease;
      const at = typeof lease.at === 'number' ? lease.at : 0;
      if (now() - at < ADMIN_LEASE_MAX_MS) {
        const what = typeof lease.command === 'string' ? lease.command.slice(0, 80) : 'another command';
        throw new AdminLeaseBusyError(
          `${vmId} is being changed by another colo vm command (${what}, since ${new Date(at).toISOString()}): run this again when it has finished (a lease older than ${ADMIN_LEASE_MAX_MS / 60_000} min, left by a command that died, is taken over)`,
        );
      }
      if (held.etag === undefined) throw new Error(`s3://${bucket}/${key}: response has no ETag`);
      await put({ IfMatch: held.etag }).catch(busy);
    }
  }
  try {
    return await work();
  } finally {
    // Only its own (one taken over meanwhile is another's); best effort: a lease left behind is taken over
    // once it is old.
    const mine = await readLease().then(
      (h) => h?.lease.token === token,
      () => false,
    );
    if (mine) await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: key })).catch(() => undefined);
  }
}
