/**
 * The cloud runtime's heartbeat (docs/cloud-runtime.md "Heartbeats from the primary's document"): the
 * primary sends none on the channel; every save of its document says what a heartbeat would — when its
 * state was committed (`updatedAt`, the primary's clock), whether its loop was replicating, its epoch and
 * the next sequence number it would send. The secondary's timer reads it here and hands it to the engine
 * as a `primary-seen` input, which judges it as it would that heartbeat (`primarySeenAt`).
 */
import { z } from 'zod';
import type { StateStore } from '../../engine/ports.ts';
import type { PrimarySeen } from '../../engine/secondary/heartbeat.ts';
import { decodeContainer } from './container.ts';
import { nodeStateKey } from './keys.ts';

const shellSchema = z.looseObject({
  node: z.literal('primary'),
  vmId: z.string(),
  updatedAt: z.number(),
  exit: z.unknown(),
  state: z.looseObject({
    phase: z.string(),
    stopped: z.boolean().optional(),
    epoch: z.int().min(0),
    outSeq: z.int().min(0),
  }),
});

/**
 * What the primary's stored document shows of it: {@link PrimarySeen} when its loop was replicating at
 * its last save (phase `running`, not stopped, no exit — a primary claiming the fence, fenced, stopped or
 * still waiting for `checkpoint-ready` sends no heartbeat either), else undefined (so is a VM with no
 * primary document yet). Reads one object (the hot document in the lean layout).
 *
 * @throws Error when the document is not the primary document of `vmId` (another VM's, corrupt, another
 *   format); whatever the store throws.
 */
export async function readPrimarySeen(store: StateStore, vmId: string): Promise<PrimarySeen | undefined> {
  const key = nodeStateKey(vmId, 'primary');
  const d = await store.load(key);
  if (!d) return undefined;
  const r = shellSchema.safeParse(decodeContainer(d.value, 'primary-document', key));
  if (!r.success) throw new Error(`${key}: malformed primary document: ${r.error.message.slice(0, 200)}`);
  const doc = r.data;
  // Never one VM's evidence for another: the key names the VM, and so must the document.
  if (doc.vmId !== vmId) throw new Error(`${key}: holds the primary document of VM ${doc.vmId}`);
  if (doc.exit !== null || doc.state.phase !== 'running' || doc.state.stopped === true) return undefined;
  return { at: doc.updatedAt, epoch: doc.state.epoch, seq: doc.state.outSeq };
}
