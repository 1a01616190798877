/**
 * The VM's control document, `<vmId>/control.json` in the state store (`{ failedOver, reason, at }`): once
 * `failedOver` is set, tick consumers end their chains and the watchdog stops re-arming them.
 */
import { z } from 'zod';
import { StateConflictError, type StateStore } from '../../../src/engine/ports.ts';
import { controlStateKey } from '../../adapters/contract.ts';

/** The control document. */
export interface ControlDocument {
  /** True once the secondary took over: replication has stopped. */
  failedOver: boolean;
  /** Why (the engine's detail), or null. */
  reason: string | null;
  /** When it was set, ms since the Unix epoch, or null. */
  at: number | null;
}

const schema = z.object({
  failedOver: z.boolean(),
  reason: z.string().nullable().default(null),
  at: z.number().nullable().default(null),
});

function parse(bytes: Uint8Array, key: string): ControlDocument {
  try {
    return schema.parse(JSON.parse(Buffer.from(bytes).toString('utf8')));
  } catch (e) {
    throw new Error(`control document ${key} is malformed: ${e instanceof Error ? e.message : e}`);
  }
}

/** Reads the control document; a missing one means "running". @throws Error when it is malformed. */
export async function readControl(store: StateStore, vmId: string): Promise<ControlDocument> {
  const key = controlStateKey(vmId);
  const d = await store.load(key);
  return d ? parse(d.value, key) : { failedOver: false, reason: null, at: null };
}

/**
 * Sets `failedOver` (compare-and-swap, idempotent).
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
  const key = controlStateKey(vmId);
  for (let attempt = 1; ; attempt++) {
    const d = await store.load(key);
    if (d && parse(d.value, key).failedOver) return false;
    const doc: ControlDocument = { failedOver: true, reason, at };
    try {
      await store.save(key, Buffer.from(JSON.stringify(doc), 'utf8'), d?.etag);
      return true;
    } catch (e) {
      if (!(e instanceof StateConflictError) || attempt >= 5) throw e;
    }
  }
}
