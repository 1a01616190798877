/**
 * One `colo vm` command at a time per VM: `add`, `set` and `remove` hold a lease object,
 * `admin/<vmId>.lock`, created only if absent (S3 `If-None-Match: *`) and deleted when the command ends. A
 * remove's stop, settle, unregister and state deletion, and an add's checks and writes, each span several
 * S3 calls: without the lease an add landing between a remove's steps reported success while its state
 * was deleted (outside reviews, 2026-12-02).
 *
 * The holder rewrites its lease every {@link ADMIN_LEASE_RENEW_MS}; a lease not rewritten for
 * {@link ADMIN_LEASE_MAX_MS} belongs to a command that died (killed, or its machine gone) and is taken
 * over by compare-and-swap on its ETag, so two takers cannot both win. The age is S3's own: the response's
 * `Date` less the object's `Last-Modified`, both from S3's clock, so a client whose clock is off cannot
 * take a live lease. A command stopped by Ctrl-C or SIGTERM releases its lease ({@link releaseAdminLeases}).
 */
import { randomUUID } from 'node:crypto';
import {
  DeleteObjectCommand,
  GetObjectCommand,
  type GetObjectCommandOutput,
  PutObjectCommand,
  type S3Client,
} from '@aws-sdk/client-s3';
import { readBoundedBody } from '../../../lambda/adapters/bounded-body.ts';
import { isNotFound, isPreconditionFailed } from '../../../lambda/adapters/s3-common.ts';

/** How often a holder rewrites its lease, ms. */
export const ADMIN_LEASE_RENEW_MS = 20_000;

/**
 * A lease not rewritten for this long belongs to a command that died, ms: taken over (six renewals
 * missed in a row; a live holder's renewal fails only when S3 is unreachable from it that long).
 */
export const ADMIN_LEASE_MAX_MS = 2 * 60_000;

/** S3 key of VM `vmId`'s administration lease (outside `vms/`, whose listing is the fleet). */
export function adminLeaseKey(vmId: string): string {
  return `admin/${vmId}.lock`;
}

/** Another `colo vm` command holds the VM's lease. */
export class AdminLeaseBusyError extends Error {
  override readonly name = 'AdminLeaseBusyError';
}

/** The holder's lease could not be confirmed before a step: taken over, or S3 out of reach. */
export class AdminLeaseLostError extends Error {
  override readonly name = 'AdminLeaseLostError';
}

/** What the work under a lease may ask of it. */
export interface HeldAdminLease {
  /**
   * Renews the lease now and resolves when S3 confirmed it is still this command's (for the next
   * {@link ADMIN_LEASE_MAX_MS} no one can take it): called before each step that changes the VM, so a
   * command paused past the limit (Ctrl-Z, a laptop asleep) and taken over meanwhile changes nothing more.
   *
   * @throws AdminLeaseLostError when it was taken over, or could not be confirmed
   */
  check(): Promise<void>;
}

interface Lease {
  command: string;
  /** When the holder took it, ms since the epoch by the holder's clock (shown in refusals only). */
  at: number;
  /** This holder's own mark: a retried put that finds it took the lease; a release deletes only it. */
  token: string;
}

/** A lease as read: its body, ETag, and age by S3's clock, ms (`undefined` when S3 gave no dates). */
interface HeldLease {
  lease: Partial<Lease>;
  etag: string | undefined;
  ageMs: number | undefined;
}

/** Options of {@link withAdminLease}. */
export interface AdminLeaseOptions {
  /** The local clock, ms: the lease's `at`, and its age when S3 sends no `Date` (tests' fakes). */
  now?: () => number;
  /** Renewal period, ms (default {@link ADMIN_LEASE_RENEW_MS}). */
  renewMs?: number;
  /** Told once when a renewal finds another command's lease in place of this one (it was taken over). */
  onLost?: (message: string) => void;
}

/** Leases this process holds now, for {@link releaseAdminLeases}. */
const held = new Set<() => Promise<void>>();

/**
 * Releases every lease this process holds (a command stopped by a signal: its steps so far stay done,
 * and the next command need not wait for the lease to age out). Safe to call any time; idempotent.
 */
export async function releaseAdminLeases(): Promise<void> {
  await Promise.all([...held].map((release) => release()));
}

/**
 * Runs `work` holding VM `vmId`'s lease (`command` names it in the refusal another command gets).
 *
 * @throws AdminLeaseBusyError, one line, when another command holds a lease rewritten less than
 *   {@link ADMIN_LEASE_MAX_MS} ago (nothing was done); whatever `work` throws (the lease is released).
 */
export async function withAdminLease<T>(
  s3: S3Client,
  bucket: string,
  vmId: string,
  command: string,
  work: (lease: HeldAdminLease) => Promise<T>,
  options: AdminLeaseOptions = {},
): Promise<T> {
  const now = options.now ?? Date.now;
  const key = adminLeaseKey(vmId);
  const busy = (e: unknown): never => {
    if (isPreconditionFailed(e))
      throw new AdminLeaseBusyError(
        `${vmId} is being changed by another colo vm command: run this again when it has finished`,
      );
    throw e;
  };
  const token = randomUUID();
  const at = now();
  const body = JSON.stringify({ command, at, token } satisfies Lease);
  const readLease = (): Promise<HeldLease | undefined> => readLeaseObject(s3, bucket, key, now);
  const put = async (condition: { IfNoneMatch: '*' } | { IfMatch: string }): Promise<string | undefined> =>
    (
      await s3.send(
        new PutObjectCommand({
          Bucket: bucket,
          Key: key,
          Body: body,
          ContentType: 'application/json',
          ...condition,
        }),
      )
    ).ETag;

  let etag: string | undefined;
  const acquire = async (): Promise<void> => {
    try {
      etag = await put({ IfNoneMatch: '*' });
    } catch (e) {
      if (!isPreconditionFailed(e)) throw e;
      const other = await readLease();
      // Released between the two calls: try once more (a second loss is a real holder).
      if (other === undefined) etag = await put({ IfNoneMatch: '*' }).catch(busy);
      else if (other.lease.token === token) {
        // The client retried a put whose answer was lost: the lease is this command's.
        etag = other.etag;
      } else {
        const age = other.ageMs ?? Number.POSITIVE_INFINITY;
        if (age < ADMIN_LEASE_MAX_MS) {
          const what =
            typeof other.lease.command === 'string' ? other.lease.command.slice(0, 80) : 'another command';
          const since =
            typeof other.lease.at === 'number' ? `, since ${new Date(other.lease.at).toISOString()}` : '';
          throw new AdminLeaseBusyError(
            `${vmId} is being changed by another colo vm command (${what}${since}): run this again when it has finished (a lease its command stopped renewing is taken over ${Math.round(ADMIN_LEASE_MAX_MS / 1000)} s after its last renewal; this one was last written ${Math.max(0, Math.round(age / 1000))} s ago)`,
          );
        }
        if (other.etag === undefined) throw new Error(`s3://${bucket}/${key}: response has no ETag`);
        etag = await put({ IfMatch: other.etag }).catch(busy);
      }
    }
  };

  // Renewal: rewrite over its own ETag; a refusal is either a lost answer (the lease still carries this
  // token: adopt its ETag) or a takeover (stop; the release will leave the other's lease alone).
  let released = false;
  let lost = false;
  let renewing: Promise<unknown> = Promise.resolve();
  let timer: NodeJS.Timeout | undefined;
  // `quiet`: the caller reports the loss itself (a check throws), so `onLost` is not told as well.
  const renew = async (quiet: boolean): Promise<'renewed' | 'unreachable' | 'lost'> => {
    if (lost || released || etag === undefined) return 'lost';
    try {
      etag = await put({ IfMatch: etag });
      return 'renewed';
    } catch (e) {
      // Not found: the object is gone — deleted by the command that took it over and finished — so this
      // one holds nothing (not an S3 outage: "run it again" would undo the other's work).
      if (!isPreconditionFailed(e) && !isNotFound(e)) return 'unreachable'; // the next period tries again
      const found = await readLease().catch(() => 'unreadable' as const);
      if (found === 'unreadable') return 'unreachable';
      if (found?.lease.token === token) {
        etag = found.etag;
        return 'renewed';
      }
      if (!lost) {
        lost = true;
        released = true;
        clearInterval(timer);
        if (!quiet) {
          options.onLost?.(
            `${vmId}: this command's lease was taken over by another colo vm command (it was not renewed for ${Math.round(ADMIN_LEASE_MAX_MS / 1000)} s); check the VM with colo vm show ${vmId}`,
          );
        }
      }
      return 'lost';
    }
  };
  const renewNext = (quiet = false): Promise<'renewed' | 'unreachable' | 'lost'> => {
    const next = renewing.then(() => renew(quiet));
    renewing = next.catch(() => undefined);
    return next;
  };
  const lease: HeldAdminLease = {
    check: async () => {
      const outcome = await renewNext(true);
      if (outcome === 'renewed') return;
      throw new AdminLeaseLostError(
        outcome === 'lost'
          ? `${vmId}: this command's lease was taken over by another colo vm command while this one was stopped or cut off (not renewed for ${Math.round(ADMIN_LEASE_MAX_MS / 1000)} s): it stopped before its next change; see where the VM is with colo vm show ${vmId}`
          : `${vmId}: this command could not confirm its lease (S3 out of reach): it stopped before its next change; run it again`,
      );
    },
  };

  // Registered before the lease is asked for: a signal during the request still releases what it got.
  const acquiring = acquire();
  let stopping = false;
  let releasing: Promise<void> | undefined;
  // Once, however many callers (the signal's and the command's own end).
  const release = (): Promise<void> => {
    stopping = true;
    held.delete(release);
    releasing ??= releaseOnce();
    return releasing;
  };
  const releaseOnce = async (): Promise<void> => {
    await acquiring.catch(() => undefined);
    if (released) return;
    released = true;
    clearInterval(timer);
    await renewing;
    // Only its own (one taken over meanwhile is another's); best effort: a lease left behind is taken
    // over once it has not been renewed for ADMIN_LEASE_MAX_MS.
    const mine = await readLease().then(
      (h) => h?.lease.token === token,
      () => false,
    );
    if (mine) await s3.send(new DeleteObjectCommand({ Bucket: bucket, Key: key })).catch(() => undefined);
  };
  held.add(release);
  try {
    await acquiring;
  } catch (e) {
    held.delete(release);
    throw e;
  }
  if (stopping) {
    await release();
    throw new AdminLeaseBusyError(`${vmId}: stopped before the command began (nothing done)`);
  }
  timer = setInterval(() => {
    void renewNext();
  }, options.renewMs ?? ADMIN_LEASE_RENEW_MS);
  timer.unref();
  try {
    return await work(lease);
  } finally {
    await release();
  }
}

/**
 * Reads the lease at `key` with its age by S3's clock: the response's `Date` header less the object's
 * `Last-Modified` (a client whose fake lacks `Date` uses `now` instead of it).
 */
async function readLeaseObject(
  s3: S3Client,
  bucket: string,
  key: string,
  now: () => number,
): Promise<HeldLease | undefined> {
  const get = new GetObjectCommand({ Bucket: bucket, Key: key });
  let serverNow: number | undefined;
  get.middlewareStack.add(
    (next) => async (args) => {
      const out = await next(args);
      const headers = (out.response as { headers?: Record<string, string | undefined> } | undefined)?.headers;
      const date = headers?.date === undefined ? Number.NaN : Date.parse(headers.date);
      if (Number.isFinite(date)) serverNow = date;
      return out;
    },
    { step: 'deserialize', name: 'adminLeaseServerDate' },
  );
  let out: GetObjectCommandOutput;
  try {
    out = await s3.send(get);
  } catch (e) {
    if (isNotFound(e)) return undefined;
    throw e;
  }
  const where = `s3://${bucket}/${key}`;
  if (out.Body === undefined) throw new Error(`${where}: response has no body`);
  const bytes = await readBoundedBody(out.Body, out.ContentLength, 4096, where);
  const modified = out.LastModified?.getTime();
  const ageMs = modified === undefined ? undefined : (serverNow ?? now()) - modified;
  let lease: Partial<Lease> = {};
  try {
    const parsed: unknown = JSON.parse(Buffer.from(bytes).toString('utf8'));
    if (typeof parsed === 'object' && parsed !== null) lease = parsed as Partial<Lease>;
  } catch {
    // An unreadable lease has no holder to name; its age still decides.
  }
  return { lease, etag: out.ETag, ageMs };
}
