/**
 * Deleting the delta objects the secondary has consumed. Once the secondary's document is saved past a
 * message's sequence number, nothing reads that message's object again: a redelivery of the message is a
 * duplicate by its number, acknowledged before any read (driver.ts), and a failover or restart starts from
 * the saved document, never from objects. So the objects go at once instead of waiting a day for the
 * bucket's lifecycle rule — which stays, for the objects a failed or interrupted delete leaves behind.
 *
 * The rule is on the key alone: an object of this VM whose sequence number (in its key) is below the
 * saved `inSeq` has been consumed (or its number was skipped). So a redelivered copy — or a forged message
 * — can only ever name an object that is already done with.
 */
import type { DeltaStore } from '../../engine/ports.ts';
import { objectContextOfKey } from '../../wire/sealed-object.ts';
import type { InputOutcome } from './driver.ts';
import { parseBody } from './inbound.ts';
import { truncateText } from './text.ts';

/** What deleting consumed objects did. */
export interface DeltaRetirement {
  /** Objects deleted (or already gone). */
  deleted: number;
  /** Deletes that failed: those objects stay until the lifecycle rule expires them. */
  failed: number;
  /** The first failure's message, if any. */
  firstError?: string;
}

/** Nothing deleted, nothing failed. */
export const NO_RETIREMENT: DeltaRetirement = { deleted: 0, failed: 0 };

/**
 * The keys of the delta objects that inputs applied or acknowledged as duplicates name, when each key is
 * this VM's and its sequence number is below `inSeq` (the saved document's next expected number).
 *
 * @param bodies - Each input's message body (JSON text), or undefined for an input that is not a message.
 * @param outcomes - One per input, in the same order.
 * @param vmId - This VM.
 * @param inSeq - The saved secondary's next expected sequence number.
 * @returns Distinct keys, in input order.
 */
export function consumedDeltaKeys(
  bodies: readonly (string | undefined)[],
  outcomes: readonly InputOutcome[],
  vmId: string,
  inSeq: number,
): string[] {
  const keys = new Set<string>();
  for (const o of outcomes) {
    if (o.status !== 'applied' && o.status !== 'duplicate') continue;
    const body = bodies[o.index];
    if (body === undefined) continue;
    const key = claimKeyOf(body);
    const ctx = key === undefined ? undefined : objectContextOfKey(key);
    if (key !== undefined && ctx && ctx.vmId === vmId && ctx.seq < inSeq) keys.add(key);
  }
  return [...keys];
}

/** The claim key a `delta` body names, without validating anything else. */
function claimKeyOf(body: string): string | undefined {
  const parsed = parseBody(body);
  if (!parsed.ok || typeof parsed.raw !== 'object' || parsed.raw === null) return undefined;
  const m = parsed.raw as { type?: unknown; claim?: unknown };
  if (m.type !== 'delta' || typeof m.claim !== 'object' || m.claim === null) return undefined;
  const key = (m.claim as { key?: unknown }).key;
  return typeof key === 'string' ? key : undefined;
}

/**
 * Deletes `keys` (all at once; S3 DELETE requests are free). Never throws: a store without `delete`, or a
 * delete that fails, leaves the object to the lifecycle rule and is counted.
 */
export async function retireDeltas(store: DeltaStore, keys: readonly string[]): Promise<DeltaRetirement> {
  const remove = store.delete?.bind(store);
  if (!remove || keys.length === 0) return NO_RETIREMENT;
  const results = await Promise.allSettled(keys.map((k) => remove(k)));
  const failures = results.filter((r): r is PromiseRejectedResult => r.status === 'rejected');
  const first = failures[0]?.reason as unknown;
  return {
    deleted: results.length - failures.length,
    failed: failures.length,
    ...(first === undefined
      ? {}
      : {
          firstError: truncateText(
            first instanceof Error ? `${first.name}: ${first.message}` : String(first),
          ),
        }),
  };
}
