/**
 * What VMs keep in the bucket, for the cost model's storage line: their state (documents, chunks, logs)
 * and their delta objects. The secondary deletes each object it consumed (delta-retire.ts), so a healthy
 * VM holds only the few objects in flight; what a failed delete or a replayed put leaves stays until the
 * bucket's lifecycle rule expires it, `deltaExpiryDays` later. Over a month the bucket therefore holds
 * those leftovers at the rate they appear times the expiry: a short run measures the rate and projects it.
 */
import {
  GetBucketLifecycleConfigurationCommand,
  ListObjectsV2Command,
  type S3Client,
} from '@aws-sdk/client-s3';
import { DELTA_PREFIX, STATE_PREFIX } from '../../../lambda/adapters/contract.ts';

/** An object older than this at the end of a run is a leftover, not in flight, ms. */
export const IN_FLIGHT_MS = 60_000;

/** One listed object. */
interface Listed {
  size: number;
  modifiedAt: number;
}

/** The bucket as a run leaves it, per VM (averages over the VMs). */
export interface StoredBytes {
  /** VMs measured. */
  vms: number;
  /** State under `state/<vmId>/`, bytes per VM. */
  stateBytes: number;
  /** Delta objects younger than {@link IN_FLIGHT_MS}: in flight, bytes per VM. */
  inFlightBytes: number;
  /** Delta objects older than that, written in the window: left behind, per VM. */
  leftoverObjects: number;
  /** Their bytes, per VM. */
  leftoverBytes: number;
  /** Delta objects written before the window (earlier runs, or the window's own start), bytes per VM. */
  olderBytes: number;
  /** The window measured, ms (leftovers are counted in all of it but the last {@link IN_FLIGHT_MS}). */
  windowMs: number;
  /** Days a leftover stays (the bucket's lifecycle rule). */
  expiryDays: number;
  /**
   * Bytes per VM averaged over a month: state, in-flight objects, and leftovers at their measured rate
   * held for `expiryDays`.
   */
  steadyStateBytes: number;
}

async function list(s3: S3Client, bucket: string, prefix: string): Promise<Listed[]> {
  const out: Listed[] = [];
  let token: string | undefined;
  do {
    const r = await s3.send(
      new ListObjectsV2Command({
        Bucket: bucket,
        Prefix: prefix,
        ...(token ? { ContinuationToken: token } : {}),
      }),
    );
    for (const o of r.Contents ?? [])
      out.push({ size: o.Size ?? 0, modifiedAt: o.LastModified?.getTime() ?? 0 });
    token = r.IsTruncated ? r.NextContinuationToken : undefined;
  } while (token);
  return out;
}

/**
 * Lists `vmIds`' state and deltas at `endMs` and projects the leftovers written in [`startMs`, `endMs`)
 * over `expiryDays` ({@link StoredBytes.steadyStateBytes}).
 */
export async function measureStoredBytes(
  s3: S3Client,
  bucket: string,
  vmIds: readonly string[],
  window: { startMs: number; endMs: number },
  expiryDays: number,
): Promise<StoredBytes> {
  const n = Math.max(1, vmIds.length);
  const sum = { state: 0, inFlight: 0, leftoverObjects: 0, leftover: 0, older: 0 };
  for (const vmId of vmIds) {
    for (const o of await list(s3, bucket, `${STATE_PREFIX}${vmId}/`)) sum.state += o.size;
    for (const o of await list(s3, bucket, `${DELTA_PREFIX}${vmId}/`)) {
      if (o.modifiedAt < window.startMs) sum.older += o.size;
      else if (o.modifiedAt > window.endMs - IN_FLIGHT_MS) sum.inFlight += o.size;
      else {
        sum.leftoverObjects++;
        sum.leftover += o.size;
      }
    }
  }
  const windowMs = Math.max(1, window.endMs - window.startMs);
  const per = (x: number) => x / n;
  // Leftovers are counted among the objects written before the last IN_FLIGHT_MS: that is their window.
  const countedMs = Math.max(1, windowMs - IN_FLIGHT_MS);
  const held = per(sum.leftover) * ((expiryDays * 86_400_000) / countedMs);
  return {
    vms: vmIds.length,
    stateBytes: per(sum.state),
    inFlightBytes: per(sum.inFlight),
    leftoverObjects: per(sum.leftoverObjects),
    leftoverBytes: per(sum.leftover),
    olderBytes: per(sum.older),
    windowMs,
    expiryDays,
    steadyStateBytes: per(sum.state) + per(sum.inFlight) + held,
  };
}

/**
 * Days the bucket's lifecycle rule keeps a delta object (its rule on `deltas/`), or undefined when it has
 * none (or the rule cannot be read).
 */
export async function deltaExpiryDaysOf(s3: S3Client, bucket: string): Promise<number | undefined> {
  try {
    const r = await s3.send(new GetBucketLifecycleConfigurationCommand({ Bucket: bucket }));
    const rule = (r.Rules ?? []).find(
      (x) => x.Status !== 'Disabled' && (x.Filter?.Prefix ?? x.Prefix) === DELTA_PREFIX,
    );
    return rule?.Expiration?.Days;
  } catch {
    return undefined;
  }
}

/** One line saying what {@link measureStoredBytes} found. */
export function formatStoredBytes(s: StoredBytes): string {
  const kib = (b: number) => `${(b / 1024).toFixed(1)} KiB`;
  return (
    `stored per VM: state ${kib(s.stateBytes)}, deltas in flight ${kib(s.inFlightBytes)}, ` +
    `${s.leftoverObjects.toFixed(1)} delta objects left behind in ${(s.windowMs / 60_000).toFixed(1)} min ` +
    `(${kib(s.leftoverBytes)}, held ${s.expiryDays} d by the lifecycle rule) → ${kib(s.steadyStateBytes)} averaged over a month`
  );
}
