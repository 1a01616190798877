/**
 * The VM's control document, `<vmId>/control.json` in the state store: the **fence** and the stop flag.
 *
 * - `owner`: which side alone may run the VM once replication ends. Set once, by compare-and-swap, by the
 *   first side to claim it (the primary to go on alone after a failed checkpoint, the secondary to take
 *   over after silence or a deadline); never changed afterwards. The loser reads it and stops for good.
 * - `failedOver`: replication has ended (historic name): tick consumers end their chains and the watchdog
 *   stops re-arming them. Set with the owner, or alone by an operator who stops a VM.
 * - `resumedAt`: when an operator started a stopped VM again (`colo vm add` after a plain `remove`): the
 *   secondary's heartbeat watchdog does not count the silence of the pause against the primary.
 */
import { z } from 'zod';
import type { FenceOwner } from '../../engine/effects.ts';
import { StateConflictError, type StateStore } from '../../engine/ports.ts';
import { controlKey } from './keys.ts';
import { MAX_REASON_CHARS, truncateText } from './text.ts';

/**
 * Reason a removed VM's control document carries (`colo vm remove`: its chains end; `add` of the same id
 * starts afresh; channel records still arriving for it are dropped, not dead-lettered).
 */
export const VM_REMOVED_REASON = 'removed by colo vm remove';

/** The control document. */
export interface ControlDocument {
  /** True once replication has ended (timer chains stop). */
  failedOver: boolean;
  /** Why, or null. */
  reason: string | null;
  /** When it was set, ms since the Unix epoch, or null. */
  at: number | null;
  /** The side that won the fence, or null while no side has claimed the VM. */
  owner: FenceOwner | null;
  /**
   * When the VM was last started again after `colo vm remove` stopped it, ms since the Unix epoch (the
   * administering client's clock), or null.
   */
  resumedAt: number | null;
}

/** The control document of a VM no one has stopped or claimed (what a missing document means). */
const REPLICATING: ControlDocument = {
  failedOver: false,
  reason: null,
  at: null,
  owner: null,
  resumedAt: null,
};

const schema = z.strictObject({
  failedOver: z.boolean(),
  reason: z.string().max(4096).nullable().default(null),
  at: z.number().nullable().default(null),
  owner: z.enum(['primary', 'secondary']).nullable().default(null),
  resumedAt: z.number().nullable().default(null),
});

/** Compare-and-swap attempts before giving up on a contended control document. */
const CAS_ATTEMPTS = 8;

function parse(bytes: Uint8Array, key: string): ControlDocument {
  try {
    return schema.parse(JSON.parse(Buffer.from(bytes).toString('utf8')));
  } catch (e) {
    throw new Error(`control document ${key} is malformed: ${e instanceof Error ? e.message : e}`);
  }
}

function encode(doc: ControlDocument): Uint8Array {
  return Buffer.from(JSON.stringify(doc), 'utf8');
}

/** Reads the control document; a missing one means "replicating, no owner". @throws Error when malformed. */
export async function readControl(store: StateStore, vmId: string): Promise<ControlDocument> {
  const key = controlKey(vmId);
  const d = await store.load(key);
  return d ? parse(d.value, key) : { ...REPLICATING };
}

/**
 * Updates the control document by compare-and-swap: `change` gets the current document and returns the new
 * one, or null to leave it alone. Retries lost races.
 *
 * @returns The document as it stands after the call and whether this call wrote it.
 */
async function update(
  store: StateStore,
  vmId: string,
  change: (current: ControlDocument) => ControlDocument | null,
): Promise<{ doc: ControlDocument; wrote: boolean }> {
  const key = controlKey(vmId);
  for (let attempt = 1; ; attempt++) {
    const d = await store.load(key);
    const current = d ? parse(d.value, key) : { ...REPLICATING };
    const next = change(current);
    if (next === null) return { doc: current, wrote: false };
    try {
      await store.save(key, encode(next), d?.etag);
      return { doc: next, wrote: true };
    } catch (e) {
      if (!(e instanceof StateConflictError) || attempt >= CAS_ATTEMPTS) throw e;
    }
  }
}

/**
 * Claims the fence for `role`: the first claim of a VM wins, every later one (by either side) gets the
 * winner. One decision per VM, made by a conditional write, so two sides can never both win.
 *
 * @param at - When, ms since the Unix epoch.
 * @returns The owner: `role` when this claim won (or had won before), the other side when it lost.
 */
export async function claimFence(
  store: StateStore,
  vmId: string,
  role: FenceOwner,
  reason: string,
  at: number,
): Promise<FenceOwner> {
  // The reason is bounded (the document's schema allows 4 096 characters; an error text may be longer).
  const why = truncateText(reason, MAX_REASON_CHARS);
  const { doc } = await update(store, vmId, (c) =>
    c.owner !== null
      ? null
      : { failedOver: true, reason: c.reason ?? why, at: c.at ?? at, owner: role, resumedAt: c.resumedAt },
  );
  return doc.owner as FenceOwner;
}

/**
 * Sets the stop flag (idempotent; the owner is left as it is).
 *
 * @param at - When, ms since the Unix epoch.
 * @returns True if this call set it, false if it was already set.
 */
export async function markFailedOver(
  store: StateStore,
  vmId: string,
  reason: string,
  at: number,
): Promise<boolean> {
  const why = truncateText(reason, MAX_REASON_CHARS);
  const { wrote } = await update(store, vmId, (c) =>
    c.failedOver ? null : { failedOver: true, reason: why, at, owner: c.owner, resumedAt: c.resumedAt },
  );
  return wrote;
}

/**
 * Starts again a VM its operator paused: one `colo vm remove` stopped (its stop flag set with
 * {@link VM_REMOVED_REASON}, no owner) has the flag cleared; one that could not run (its stored config was
 * unreadable) keeps its document. Both record `at` as `resumedAt`. Leaves a fenced VM, or one stopped for
 * another reason, alone (a fence claimed meanwhile stands).
 *
 * @param at - When, ms since the Unix epoch.
 * @returns True if this call wrote the document.
 */
export async function markResumed(store: StateStore, vmId: string, at: number): Promise<boolean> {
  const { wrote } = await update(store, vmId, (c) => {
    if (c.owner !== null) return null;
    if (c.reason === VM_REMOVED_REASON) return { ...REPLICATING, resumedAt: at };
    return c.failedOver ? null : { ...c, resumedAt: at };
  });
  return wrote;
}
